// ceph_mgr.cc — the ceph-mgr hang, as an embedding program linked to libpython3.11.so:
// load_modules() holds the module registry's mutex, creates a sub-interpreter with
// Py_NewInterpreter and imports a pybind11 module there (pybind_gilstate). The module's
// init reaches PyGILState_Ensure, which in CPython <= 3.11 restores the thread's first
// thread state (the main interpreter's) and waits in take_gil for the GIL its own thread
// holds, forever, in 5 ms pthread_cond_timedwait slices. Then "ms_dispatch" and
// "safe_timer" block on the registry mutex. Argument: the directory holding the module.
#include <Python.h>
#include <pthread.h>
#include <unistd.h>

#include <string>

pthread_mutex_t g_registry_lock = PTHREAD_MUTEX_INITIALIZER;  // PyModuleRegistry::lock

__attribute__((noinline)) void load_modules(const char* module_dir) {
  pthread_mutex_lock(&g_registry_lock);
  PyThreadState* main_state = PyThreadState_Get();
  PyThreadState* sub = Py_NewInterpreter();  // the module's own interpreter
  const std::string code = std::string("import sys\nsys.path.insert(0, '") + module_dir +
                           "')\nimport pybind_gilstate\n";
  PyRun_SimpleString(code.c_str());  // hangs in the module's init
  Py_EndInterpreter(sub);
  PyThreadState_Swap(main_state);
  pthread_mutex_unlock(&g_registry_lock);
}

__attribute__((noinline)) void* dispatch(void* name) {
  pthread_setname_np(pthread_self(), static_cast<const char*>(name));
  usleep(300 * 1000);
  pthread_mutex_lock(&g_registry_lock);  // behind the stuck loader
  pthread_mutex_unlock(&g_registry_lock);
  return nullptr;
}

int main(int argc, char** argv) {
  pthread_setname_np(pthread_self(), "mgr-loader");
  Py_Initialize();
  pthread_t a, b;
  pthread_create(&a, nullptr, dispatch, const_cast<char*>("ms_dispatch"));
  pthread_create(&b, nullptr, dispatch, const_cast<char*>("safe_timer"));
  load_modules(argc > 1 ? argv[1] : ".");
  pthread_join(a, nullptr);
  pthread_join(b, nullptr);
  Py_Finalize();
  return 0;
}
