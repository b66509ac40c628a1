// gilstate_ext.cc — a C extension module whose init takes the GIL "to be safe", as many
// third-party libraries do: PyGILState_Ensure / PyGILState_Release. Harmless in the main
// interpreter; inside a sub-interpreter of CPython <= 3.11, PyGILState_Ensure picks the
// thread's first thread state (the main interpreter's), which is not the current one, and
// waits in take_gil for the GIL its own thread holds: forever.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyModuleDef gilstate_ext_module = {PyModuleDef_HEAD_INIT, "gilstate_ext", nullptr, -1,
                                          nullptr, nullptr, nullptr, nullptr, nullptr};

__attribute__((noinline)) static void register_with_runtime() {
  PyGILState_STATE state = PyGILState_Ensure();  // the sub-interpreter hangs here
  PyGILState_Release(state);
}

PyMODINIT_FUNC PyInit_gilstate_ext() {
  register_with_runtime();
  return PyModule_Create(&gilstate_ext_module);
}
