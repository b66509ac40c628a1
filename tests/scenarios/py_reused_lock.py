"""py_reused_lock.py — a threading.Lock is used, dropped, and the next Lock gets its memory
(CPython frees a lock's semaphore and malloc hands the same block to the next one). The
new lock is a lock of its own: "reuser" takes guard -> fresh (through the same Python line
that took the old one, under the same hold of guard), "other" takes fresh -> guard, one
after the other: a lock-order inversion between guard and fresh. (A fast path that
remembered the old lock for that address and line would miss the first order.)"""
import ctypes
import threading

libc = ctypes.CDLL(None)
libc.pthread_self.restype = ctypes.c_ulong


def name_thread(name):
    libc.pthread_setname_np(ctypes.c_ulong(libc.pthread_self()), name.encode())


def take(lock):
    lock.acquire()


def reuser(guard):
    name_thread("reuser")
    with guard:
        old = threading.Lock()
        for _ in range(4):
            take(old)
            old.release()
        del old  # its semaphore destroyed: the next lock's takes its memory
        fresh = threading.Lock()
        for _ in range(4):
            take(fresh)  # the same line, under the same guard, as the old lock
            fresh.release()
    return fresh


def other(guard, fresh):
    name_thread("other")
    with fresh:
        with guard:
            pass


def main():
    guard = threading.Lock()
    result = []
    t = threading.Thread(target=lambda: result.append(reuser(guard)))
    t.start()
    t.join()
    t = threading.Thread(target=other, args=(guard, result[0]))
    t.start()
    t.join()
    print("done", flush=True)


main()
