"""subinterp_thread.py — CPython bpo-37224: test_already_running started a thread that runs
code in a sub-interpreter, then moved on (destroying the interpreter) before that thread had
run at all; the thread then failed with "unrecognized interpreter ID". The scheduler's delay
is played by a sleep, so that the story happens every time. Nothing hangs: the evidence is
the order of events, which `report --timeline` shows (the worker takes the GIL to run its
code only after the main thread destroyed the interpreter and went on)."""
import _xxsubinterpreters as interpreters
import ctypes
import threading
import time

libc = ctypes.CDLL(None)
libc.pthread_self.restype = ctypes.c_ulong


def name_thread(name):
    libc.pthread_setname_np(ctypes.c_ulong(libc.pthread_self()), name.encode())


def run_in_interpreter(interp):
    name_thread("subinterp-run")
    time.sleep(0.3)  # not scheduled yet, as under 300 parallel tests
    try:
        interpreters.run_string(interp, "print('spam')")
    except RuntimeError as e:
        print("worker:", e, flush=True)


def test_already_running():
    interp = interpreters.create()
    t = threading.Thread(target=run_in_interpreter, args=(interp,))
    t.start()
    interpreters.destroy(interp)  # the worker has not run yet
    t.join()


name_thread("test-main")
test_already_running()
print("main done", flush=True)
