// pybind_gilstate.cc — a plain pybind11 module. Its init (PYBIND11_MODULE) reaches
// pybind11::detail::get_internals(), which takes the GIL with PyGILState_Ensure before it
// looks for the shared internals: inside a sub-interpreter of CPython <= 3.11 that waits for
// the GIL the thread already holds (the ceph-mgr hang).
#include <pybind11/pybind11.h>

__attribute__((noinline)) static int answer() { return 42; }

PYBIND11_MODULE(pybind_gilstate, m) { m.def("answer", &answer); }
