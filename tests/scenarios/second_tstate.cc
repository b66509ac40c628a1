// second_tstate.cc — pybind11 #1276: a thread started from Python (threading.Thread: its
// thread state is the one PyGILState knows) calls C++ that releases the GIL; there the code
// takes it back the way pybind11 <= 2.2's gil_scoped_acquire did, with a thread state of its
// own (PyThreadState_New + PyEval_AcquireThread), then calls a third-party library that uses
// PyGILState_Ensure. PyGILState_Ensure finds the thread's first thread state, which is not
// the current one, restores it, and waits for the GIL its own thread holds: forever. The main
// thread waits for the worker in Thread.join() (the worker hangs only once it is there).
#include <pthread.h>
#include <pybind11/embed.h>

namespace py = pybind11;

__attribute__((noinline)) void third_party_library() {
  PyGILState_STATE state = PyGILState_Ensure();  // hangs here
  PyGILState_Release(state);
}

// pybind11 <= 2.2's gil_scoped_acquire: a new thread state for this thread.
__attribute__((noinline)) void call_with_own_thread_state() {
  PyThreadState* own = PyThreadState_New(PyInterpreterState_Main());
  PyEval_AcquireThread(own);
  third_party_library();
  PyEval_ReleaseThread(own);
  PyThreadState_Clear(own);
  PyThreadState_Delete(own);
}

void worker() {
  pthread_setname_np(pthread_self(), "py-worker");
  call_with_own_thread_state();
}

PYBIND11_EMBEDDED_MODULE(testmod, m) {
  m.def("func", &worker, py::call_guard<py::gil_scoped_release>());
}

int main() {
  pthread_setname_np(pthread_self(), "embedder");
  py::scoped_interpreter interpreter;
  py::exec(R"(
import sys
import threading
import time
import testmod

def in_join(ident):
    frame = sys._current_frames().get(ident)
    while frame is not None and frame.f_code.co_name != "join":
        frame = frame.f_back
    return frame is not None

def work(waiter):
    # The main thread is in Thread.join() before the worker hangs (else, on a busy machine,
    # it may still be on its way out of Thread.start(), waiting for the GIL).
    while not in_join(waiter):
        time.sleep(0.01)
    testmod.func()

def start_worker():
    t = threading.Thread(target=work, args=(threading.get_ident(),))
    t.start()
    t.join()

start_worker()
)");
  return 0;
}
