"""fork_python_lock.py — the fork story with a pure-Python lock ("Don't mix threads and
forks"): thread "py-holder" holds a threading.Lock (in CPython 3.11 a semaphore, taken with
sem_wait and given back with sem_post) while the main thread calls os.fork(); the child
takes the lock and blocks forever. The thread names itself through libc so that the report
can say who held the lock."""
import ctypes
import os
import threading
import time

libc = ctypes.CDLL(None)
libc.pthread_self.restype = ctypes.c_ulong
log_lock = threading.Lock()
holding = threading.Event()


def write_log_slowly():
    libc.pthread_setname_np(ctypes.c_ulong(libc.pthread_self()), b"py-holder")
    with log_lock:
        holding.set()
        time.sleep(3)


threading.Thread(target=write_log_slowly, daemon=True).start()
holding.wait()
pid = os.fork()
if pid == 0:
    with log_lock:  # blocks forever: py-holder does not exist here
        pass
    os._exit(0)
os.waitpid(pid, 0)
