"""fork_python.py — the fork story in CPython: a thread inside a small C library (ctypes)
holds the library's logging mutex while the main thread calls os.fork(); the child logs
through the library and blocks forever. usage: fork_python.py PATH/TO/libfork_hold.so"""
import ctypes
import os
import sys
import threading
import time

lib = ctypes.CDLL(sys.argv[1])
logger = threading.Thread(target=lib.ext_logger_write_slowly, args=(3000,), daemon=True)
logger.start()
while not lib.ext_logger_is_holding():
    time.sleep(0.01)
pid = os.fork()
if pid == 0:
    lib.ext_log_line()  # blocks forever: the logger thread does not exist here
    os._exit(0)
os.waitpid(pid, 0)
