"""py_cond_lock.py — a threading.Condition over a plain Lock (as queue.Queue builds its
own). Condition.notify checks that its caller holds the lock by trying to take it
(lock.acquire(False) fails: held), which must not make the Lock look like a signal: it is
a lock, and its order counts (from its second use: the first one's release proves it). "notifier" takes state -> journal (notifying while it holds
state), "flusher" takes journal -> state, one after the other: a lock-order inversion."""
import ctypes
import threading

libc = ctypes.CDLL(None)
libc.pthread_self.restype = ctypes.c_ulong

state = threading.Lock()
changed = threading.Condition(state)
journal = threading.Lock()


def name_thread(name):
    libc.pthread_setname_np(ctypes.c_ulong(libc.pthread_self()), name.encode())


def notifier():
    name_thread("notifier")
    for _ in range(2):  # (the first time, the probe leaves `state` unjudged until its release)
        with changed:
            changed.notify()
            with journal:
                pass


def flusher():
    name_thread("flusher")
    with journal:
        with state:
            pass


for f in (notifier, flusher):
    t = threading.Thread(target=f)
    t.start()
    t.join()
print("done", flush=True)
