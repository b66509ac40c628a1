// gil_mutex_ext.cc — a pybind11 extension whose cache is guarded by a mutex, used two ways:
//   read_cache() locks the mutex while its caller (Python) holds the GIL: GIL -> M;
//   the native worker (a std::thread) holds the mutex and calls into Python with
//   PyGILState_Ensure: M -> GIL.
// start_native_worker(True) returns once the worker holds the mutex, and the worker asks for
// the GIL only after the Python thread is blocked on the mutex: a deadlock every time. With
// False the worker runs alone first (join_native_worker): the program ends, and only the
// lock order tells. update_cache_released() is the correct pattern: it lets the GIL go
// before it locks (py::gil_scoped_release), so nothing is ordered after the GIL.
#include <pthread.h>
#include <pybind11/pybind11.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace py = pybind11;

pthread_mutex_t g_cache_lock = PTHREAD_MUTEX_INITIALIZER;
int g_cache_value = 0;
std::atomic<bool> g_worker_holds{false};
std::thread g_worker;

__attribute__((noinline)) void refresh_from_python() {
  PyGILState_STATE state = PyGILState_Ensure();  // M -> GIL
  g_cache_value = static_cast<int>(PyLong_AsLong(PyLong_FromLong(42)));
  PyGILState_Release(state);
}

__attribute__((noinline)) void native_worker(bool deterministic) {
  pthread_setname_np(pthread_self(), "native-worker");
  pthread_mutex_lock(&g_cache_lock);
  g_worker_holds = true;
  if (deterministic) usleep(300 * 1000);  // the Python thread blocks on the lock meanwhile
  refresh_from_python();
  pthread_mutex_unlock(&g_cache_lock);
}

void start_native_worker(bool deterministic) {
  g_worker_holds = false;
  g_worker = std::thread(native_worker, deterministic);
  if (!deterministic) return;
  py::gil_scoped_release release;
  while (!g_worker_holds) usleep(1000);
}

void join_native_worker() {
  py::gil_scoped_release release;
  g_worker.join();
}

__attribute__((noinline)) int read_cache() {
  pthread_mutex_lock(&g_cache_lock);  // GIL -> M: the caller holds the GIL
  const int value = g_cache_value;
  pthread_mutex_unlock(&g_cache_lock);
  return value;
}

__attribute__((noinline)) void update_cache_released(int value) {
  py::gil_scoped_release release;  // the GIL goes first: no order with the mutex
  pthread_mutex_lock(&g_cache_lock);
  g_cache_value = value;
  pthread_mutex_unlock(&g_cache_lock);
}

PYBIND11_MODULE(gil_mutex_ext, m) {
  m.def("start_native_worker", &start_native_worker);
  m.def("join_native_worker", &join_native_worker);
  m.def("read_cache", &read_cache);
  m.def("update_cache_released", &update_cache_released);
}
