"""gil_inversion.py — the GIL/mutex inversion of an extension (gil_mutex_ext): the Python
thread holds the GIL and locks the extension's mutex (GIL -> M) while a native thread holds
the mutex and asks for the GIL (M -> GIL). "hang": they overlap, a deadlock with the GIL in
the cycle. "lucky": the native thread finishes first; the program ends, the lock order
shows the inversion through the GIL."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gil_mutex_ext  # noqa: E402


def show_cache():
    print("cache:", gil_mutex_ext.read_cache(), flush=True)


def main(mode):
    if mode == "hang":
        gil_mutex_ext.start_native_worker(True)  # returns while the worker holds the mutex
        show_cache()  # blocks on the mutex, holding the GIL
    else:
        gil_mutex_ext.start_native_worker(False)
        gil_mutex_ext.join_native_worker()
        show_cache()


main(sys.argv[1])
