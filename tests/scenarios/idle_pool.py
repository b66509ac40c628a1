"""idle_pool.py — an idle worker is not a hang: a daemon thread waits on an empty queue
(sem_clockwait in CPython 3.11) while the main thread works for 3 seconds and exits 0.
Under `run --hang-timeout 2` nothing may be killed or reported."""
import queue
import threading
import time

jobs = queue.Queue()
threading.Thread(target=jobs.get, daemon=True, name="idle-worker").start()
time.sleep(3)
print("main done", flush=True)
