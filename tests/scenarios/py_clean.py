"""py_clean.py — Python programs that are correct must stay clean under lockscope: no
finding, exit 0. One case per argument:
  rlock       an RLock re-entered by its owner, shared by threads
  condition   producer/consumer on a threading.Condition (its waiter locks are acquired by
              one thread and released by another: hand-offs, not owned locks)
  binsem      a Lock used as a binary semaphore between threads (released by another)
  queue       queue.Queue with four workers
  pool        concurrent.futures.ThreadPoolExecutor
  released    a pybind11 extension that lets the GIL go before it locks its mutex
  subinterp   sub-interpreters importing pure-Python modules
  notify      a Condition notified while its owner holds another lock taken inside it
              (notify's ownership probe, acquire(False) by the holder, takes nothing)
  forklog     os.fork() while threads log (logging re-creates its handlers' locks in the
              child; the handler keeps records in memory: a stream's own buffer lock is not
              re-created, and a child that writes to a stream another thread was writing to
              at fork() can hang, which lockscope reports)
"""
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))


def rlock():
    lock = threading.RLock()

    def nested(depth):
        with lock:
            if depth:
                nested(depth - 1)

    threads = [threading.Thread(target=nested, args=(3,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def condition():
    cond = threading.Condition()
    items = []

    def produce():
        for i in range(200):
            with cond:
                items.append(i)
                cond.notify()

    def consume():
        taken = 0
        while taken < 200:
            with cond:
                while not items:
                    cond.wait()
                items.pop()
                taken += 1

    threads = [threading.Thread(target=consume), threading.Thread(target=produce)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def binsem():
    ready = threading.Lock()
    ready.acquire()
    guard = threading.Lock()

    def signal():
        with guard:
            pass
        ready.release()  # another thread's release: a hand-off

    t = threading.Thread(target=signal)
    t.start()
    with guard:
        pass
    ready.acquire()  # waits for the signal
    t.join()


def queue_workers():
    import queue
    jobs, results = queue.Queue(), queue.Queue()

    def work():
        while (job := jobs.get()) is not None:
            results.put(job * 2)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for i in range(400):
        jobs.put(i)
    for _ in workers:
        jobs.put(None)
    for w in workers:
        w.join()
    assert results.qsize() == 400


def pool():
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=4) as ex:
        assert sum(ex.map(lambda x: x * x, range(200))) == sum(x * x for x in range(200))


def released():
    sys.path.insert(0, HERE)
    import gil_mutex_ext

    def update(n):
        for i in range(100):
            gil_mutex_ext.update_cache_released(n * 1000 + i)

    threads = [threading.Thread(target=update, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def subinterp():
    import _xxsubinterpreters as interpreters
    for _ in range(3):
        interp = interpreters.create()
        interpreters.run_string(interp, "import json, textwrap\njson.dumps({'a': 1})\n")
        interpreters.destroy(interp)


def notify():
    cond = threading.Condition(threading.Lock())
    journal = threading.Lock()
    pending = []

    def producer(n):
        for i in range(50):
            with cond:
                with journal:  # cond's lock -> journal, in every thread
                    pending.append(n * 100 + i)
                    cond.notify()  # probes cond's lock while holding journal: no journal -> cond

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(pending) == 100


def forklog():
    import logging
    import time

    class MemoryHandler(logging.Handler):
        def __init__(self):
            super().__init__()
            self.records = []

        def emit(self, record):
            self.records.append(record.getMessage())

    logging.getLogger().addHandler(MemoryHandler())
    logging.getLogger().setLevel(logging.INFO)
    stop = threading.Event()

    def chatter():
        while not stop.is_set():
            logging.info("working")

    threads = [threading.Thread(target=chatter) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in range(5):
        pid = os.fork()
        if pid == 0:
            logging.info("in the child")  # logging's own locks were re-created at fork
            os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()


CASES = {"rlock": rlock, "condition": condition, "binsem": binsem, "queue": queue_workers,
         "pool": pool, "released": released, "subinterp": subinterp, "notify": notify,
         "forklog": forklog}

CASES[sys.argv[1]]()
print("clean", sys.argv[1], flush=True)
