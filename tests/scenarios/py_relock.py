"""py_relock.py — a threading.Lock taken again by the thread that holds it: flush() holds
the cache lock and calls save(), which takes it too (a plain Lock, not an RLock). The lock
was taken and released before, so it is known to be a lock: a self-deadlock on it, with
both Python lines."""
import ctypes
import threading

libc = ctypes.CDLL(None)
libc.pthread_self.restype = ctypes.c_ulong
cache_lock = threading.Lock()


def save():
    with cache_lock:  # already held by flush(): waits forever
        pass


def flush():
    with cache_lock:
        save()


def worker():
    libc.pthread_setname_np(ctypes.c_ulong(libc.pthread_self()), b"flusher")
    save()   # fine: the lock is free
    flush()  # hangs


t = threading.Thread(target=worker, daemon=True)
t.start()
t.join()
