"""py_abba.py — two threading.Lock objects taken in opposite orders. "apart": two threads
one after the other, which never overlap: the program ends, and only the lock order
(transfer's accounts -> audit's, audit's -> transfer's) tells. "overlap": both threads
hold their first lock when they ask for the second: a deadlock. "warm": as "apart", but
transfer first takes accounts alone a few times from warm_up(), so that its nested take of
accounts is a known lock taken again at another Python line: the report must name that
line (transfer's), not warm_up's."""
import ctypes
import sys
import threading

libc = ctypes.CDLL(None)
libc.pthread_self.restype = ctypes.c_ulong

accounts = threading.Lock()
ledger = threading.Lock()
both_hold_one = threading.Barrier(2)


def name_thread(name):
    libc.pthread_setname_np(ctypes.c_ulong(libc.pthread_self()), name.encode())


def warm_up():
    for _ in range(3):
        with accounts:
            pass


def transfer(overlap, warm=False):
    name_thread("transfer")
    if warm:
        warm_up()
    with accounts:
        if overlap:
            both_hold_one.wait()
        with ledger:
            pass


def audit(overlap):
    name_thread("audit")
    with ledger:
        if overlap:
            both_hold_one.wait()
        with accounts:
            pass


def main(mode):
    overlap = mode == "overlap"
    workers = [threading.Thread(target=transfer, args=(overlap, mode == "warm")),
               threading.Thread(target=audit, args=(overlap,))]
    for w in workers:
        w.start()
        if not overlap:
            w.join()
    for w in workers:
        w.join()
    print("done", flush=True)


main(sys.argv[1])
