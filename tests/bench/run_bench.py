#!/usr/bin/python3
"""Runs lockscope's benchmarks side by side and prints the table for the README.

usage: run_bench.py --build BUILD_DIR [--quick]

Every case runs natively and under liblockscope.so in the same invocation (and under
ThreadSanitizer, recompiled, and Helgrind where they exist); the table gives the median of
5 repetitions in ns per operation (native and lockscope alternating) and the ratio to native. Speeds are never asserted: the
machines are shared and noisy, so this prints numbers and the targets beside them.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CASES = [  # (benchmark name, label, target ratio)
    ("BM_UncontendedPair", "uncontended lock/unlock pair, 1 thread", 2.0),
    ("BM_NestedHeld/1", "1 lock held, then one more", 2.5),
    ("BM_NestedHeld/2", "2 locks held, then one more", 2.5),
    ("BM_NestedHeld/4", "4 locks held, then one more", 2.5),
    ("BM_Contended/real_time/threads:2", "2 threads, one mutex", 1.3),
    ("BM_Disjoint/real_time/threads:2", "2 threads, disjoint mutexes", 1.3),
    ("BM_Disjoint/real_time/threads:16", "16 threads, 16 mutexes", 1.3),
    ("BM_CondvarPingPong/real_time/threads:2", "condvar ping-pong (per hand-off)", 1.3),
]


PY_THREADS = """
import queue, threading
lock, counter, q = threading.Lock(), [0], queue.Queue()
def worker():
    for i in range(%d):
        with lock:
            counter[0] += 1
        if i %% 100 == 0:
            q.put(i)
            q.get()
threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


PY_GIL = """
import threading
def spin():
    total = 0
    for i in range(%d):
        total += i * i
threads = [threading.Thread(target=spin) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def gbench(cmd, env, reps, min_time):
    """Medians (ns) per benchmark name from a Google Benchmark JSON run."""
    out = subprocess.run(cmd + ["--benchmark_format=json", "--benchmark_repetitions=%d" % reps,
                                "--benchmark_report_aggregates_only=true",
                                "--benchmark_min_time=%g" % min_time],
                         env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError("%s failed: %s" % (cmd[0], out.stderr[-500:]))
    medians = {}
    for b in json.loads(out.stdout)["benchmarks"]:
        # With one repetition there are no aggregates: the single run is the median.
        if b.get("aggregate_name") == "median" or (reps == 1 and b.get("run_type") == "iteration"):
            medians[b["run_name"]] = b["real_time"] if "real_time" in b["run_name"] else b["cpu_time"]
    return medians


def timed(cmd, env, reps, cpu=None):
    """Median wall time of `cmd` (on that one CPU only, when `cpu` is given)."""
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    times = []
    for _ in range(reps):
        start = time.monotonic()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, preexec_fn=pin)
        times.append(time.monotonic() - start)
    return statistics.median(times)


def fmt_ratio(r, target=None):
    if r is None:
        return "-"
    mark = "" if target is None else (" ok" if r <= target else " over")
    return "%.2fx%s" % (r, mark)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, smaller inputs")
    opts = ap.parse_args()
    build = os.path.abspath(opts.build)
    shim = os.path.join(build, "shim", "liblockscope.so")
    bench = os.path.join(build, "tests", "bench", "lock_bench")
    tsan = os.path.join(build, "tests", "bench", "lock_bench_tsan")
    reps = 3 if opts.quick else 5
    min_time = 0.05 if opts.quick else 0.2
    work = tempfile.mkdtemp(prefix="lockscope-bench-")
    native_env = dict(os.environ)
    native_env.pop("LD_PRELOAD", None)
    shim_env = dict(native_env, LD_PRELOAD=shim, LOCKSCOPE_DIR=work)

    print("machine: %s, %d cores, %s; %s" % (platform.processor() or platform.machine(),
                                             os.cpu_count(), platform.platform(),
                                             time.strftime("%Y-%m-%d")))
    rows = []
    # Native and lockscope alternate, one repetition each per round, so that a slow spell of
    # this shared machine hits both sides alike; the table gives each side's median.
    native_runs, shim_runs = {}, {}
    for _ in range(reps):
        for env, runs in ((native_env, native_runs), (shim_env, shim_runs)):
            for name, ns in gbench([bench], env, 1, min_time).items():
                runs.setdefault(name, []).append(ns)
    native = {k: statistics.median(v) for k, v in native_runs.items()}
    shimmed = {k: statistics.median(v) for k, v in shim_runs.items()}
    tsan_res = gbench([tsan], dict(native_env, TSAN_OPTIONS="report_bugs=0"), reps, min_time) \
        if os.path.exists(tsan) else {}
    helgrind = {}
    if shutil.which("valgrind"):
        for name, _, _ in CASES[:4]:  # Helgrind is slow: the single-thread cases only
            flt = "^%s$" % name.replace("/", "/")
            try:
                r = gbench(["valgrind", "--tool=helgrind", "-q", bench,
                            "--benchmark_filter=" + flt], native_env, 1, 0.01)
                helgrind.update(r)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass

    print()
    print("| case | native ns | lockscope ns | lockscope | target | TSan | Helgrind |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, label, target in CASES:
        n, s = native.get(name), shimmed.get(name)
        if n is None or s is None:
            continue
        t = tsan_res.get(name)
        h = helgrind.get(name)
        print("| %s | %.1f | %.1f | %s | %.1fx | %s | %s |" % (
            label, n, s, fmt_ratio(s / n, target), target,
            fmt_ratio(t / n) if t else "-", fmt_ratio(h / n) if h else "-"))

    # 1M distinct mutexes, each locked once: first-contact cost and the dump it leaves.
    # Native and shim runs alternate, and each side's median is taken: a single run of each
    # (a tenth of a second) moved the ratio by a third on a shared machine.
    distinct = os.path.join(build, "tests", "bench", "distinct_locks")
    d_rounds = []
    for _ in range(2 * reps + 1):
        ddir = tempfile.mkdtemp(dir=work)
        d_rounds.append((timed([distinct], native_env, 1),
                         timed([distinct], dict(shim_env, LOCKSCOPE_DIR=ddir), 1)))
        dumps = [os.path.join(ddir, f) for f in os.listdir(ddir)]
        apparent = sum(os.path.getsize(f) for f in dumps) / 2**20
        on_disk = sum(os.stat(f).st_blocks * 512 for f in dumps) / 2**20
        shutil.rmtree(ddir)
    d_native = statistics.median(r[0] for r in d_rounds)
    d_shim = statistics.median(r[1] for r in d_rounds)
    print("| 1,000,000 distinct mutexes, each locked once | %.0f ms | %.0f ms | %s | %.1fx | - | - |"
          % (d_native * 1e3, d_shim * 1e3, fmt_ratio(d_shim / d_native, 3.0), 3.0))
    print()
    print("dump left by the 1M-mutex run: %.2f MiB (apparent size; target < 64), %.1f MiB on disk"
          % (apparent, on_disk))

    # Process creation: a process makes its dump at its first lock operation, and a fork
    # child that takes no lock makes none. A fork + exit loop (target 1.5x), the same with a
    # lock in each child (each child then makes a dump: no target, the cost of a dump), a
    # shell that runs /bin/true (fork + exec, target 1.25x), and the files each leaves (the
    # target: none for a process that takes no lock).
    fork_n = 500 if opts.quick else 2000
    fork_loop = os.path.join(build, "tests", "bench", "fork_loop")
    execs = 100 if opts.quick else 300
    shell = ["sh", "-c", "i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done" % execs]
    for label, cmd, target in (
            ("fork + exit, %d children" % fork_n, [fork_loop, str(fork_n)], 1.5),
            ("fork + lock + exit, %d children" % fork_n, [fork_loop, str(fork_n), "lock"], None),
            ("a shell running /bin/true %d times" % execs, shell, 1.25)):
        pdir = tempfile.mkdtemp(dir=work)
        rounds = [(timed(cmd, native_env, 1), timed(cmd, dict(shim_env, LOCKSCOPE_DIR=pdir), 1))
                  for _ in range(reps)]
        p_native = statistics.median(r[0] for r in rounds)
        p_shim = statistics.median(r[1] for r in rounds)
        files = len(os.listdir(pdir)) // reps
        print("process creation: %s: native %.2f s, lockscope %.2f s: %s%s; %d dump file(s) "
              "left per run" % (label, p_native, p_shim, fmt_ratio(p_shim / p_native, target),
                                " (target %.2fx)" % target if target else "", files))
        shutil.rmtree(pdir, ignore_errors=True)

    # Macro workload: a real multi-threaded program from Debian, xz -T2, on a generated file
    # (text with random runs: compressible, but not trivially).
    if shutil.which("xz"):
        size_mb = 50 if opts.quick else 200
        data = os.path.join(work, "macro.bin")
        with open(data, "wb") as f:
            written = 0
            line = 0
            while written < size_mb * 2**20:
                chunk = b"".join(b"%08d lockscope macro %s\n" % (line + i, os.urandom(8).hex().encode())
                                 for i in range(2000))
                line += 2000
                f.write(chunk)
                written += len(chunk)
        cmd = ["xz", "-T2", "-1", "-k", "-f", "-c", data]
        m_env = dict(shim_env, LOCKSCOPE_DIR=tempfile.mkdtemp(dir=work))
        rounds = [(timed(cmd, native_env, 1), timed(cmd, m_env, 1)) for _ in range(reps)]
        m_native = statistics.median(r[0] for r in rounds)
        m_shim = statistics.median(r[1] for r in rounds)
        print("macro: xz -T2 -1 on %d MiB: native %.2f s, lockscope %.2f s: %s (target 1.10x)"
              % (size_mb, m_native, m_shim, fmt_ratio(m_shim / m_native, 1.10)))

    # Second macro workload: CPython 3.11 threads (the GIL is a pthread mutex and condition
    # variable; threading.Lock a semaphore) on a lock and a queue.
    # Debian's interpreter by path: a `python3.11` earlier on PATH may be a pyenv shim, a
    # shell script that runs dozens of processes before Python starts.
    # The Lock/Queue workload runs twice: on every CPU (the program as it is), and on one CPU
    # (native and lockscope alike). On two CPUs CPython may fall into a lock convoy (a thread
    # woken on a Lock needs the GIL, whose holder then blocks on that Lock: about 100 times
    # the context switches and twice the time, native or not), or not, at random in a short
    # run (always in a long one, on this project's machines); on one CPU there is no convoy
    # and every run is the same program, which gives the shim's own cost per lock operation.
    python = "/usr/bin/python3.11"
    one_cpu = max(os.sched_getaffinity(0))
    if os.access(python, os.X_OK):
        for name, text, n, what, cpus in (
                ("py_threads.py", PY_THREADS, 300000 if opts.quick else 1500000,
                 "4 threads on a threading.Lock and a queue.Queue", [None, one_cpu]),
                ("py_gil.py", PY_GIL, 2000000 if opts.quick else 10000000,
                 "4 CPU-bound threads (GIL hand-offs every 5 ms)", [None])):
            script = os.path.join(work, name)
            with open(script, "w") as f:
                f.write(text % n)
            p_env = dict(shim_env, LOCKSCOPE_DIR=tempfile.mkdtemp(dir=work))
            for cpu in cpus:
                pinned = cpu is not None
                # The Lock/Queue row's runs spread: on every CPU a convoy's context switches
                # vary by a third from run to run, native or not, and the median of 11 rounds
                # still moved the ratio by about 4% (one standard deviation, from 31 rounds
                # resampled); on one CPU the machine's load drifts by a few percent between
                # rounds. More rounds than the others, most on every CPU.
                n_rounds = reps if len(cpus) == 1 else 2 * reps + 1 if pinned else 4 * reps + 1
                rounds = [(timed([python, script], native_env, 1, cpu),
                           timed([python, script], p_env, 1, cpu))
                          for _ in range(n_rounds)]
                p_native = statistics.median(r[0] for r in rounds)
                p_shim = statistics.median(r[1] for r in rounds)
                print("macro: CPython 3.11, %s%s: native %.2f s, lockscope %.2f s: %s "
                      "(target 1.10x)" % (what, ", on one CPU" if pinned else "", p_native,
                                          p_shim, fmt_ratio(p_shim / p_native, 1.10)))

    # attach: a process of 1,000 threads (all blocked on one mutex), reported without a watch
    # (--watch 0: the snapshot alone); how long its threads were stopped is in the note.
    crowd = subprocess.Popen([os.path.join(build, "tests", "bench", "many_threads"), "1000"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        crowd.stdout.readline()  # "ready": every thread started
        time.sleep(1)  # (and asleep on the mutex)
        analyzer = os.path.join(build, "analyzer", "lockscope")
        attach_runs, stopped = [], []
        for _ in range(reps):
            start = time.monotonic()
            r = subprocess.run([analyzer, "attach", "--watch", "0", str(crowd.pid)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("attach failed: %s" % r.stderr[-300:])
            attach_runs.append(time.monotonic() - start)
            m = re.search(r"from the first to the last over ([0-9.]+) s", r.stderr)
            stopped.append(float(m.group(1)) if m else float("nan"))
        print("attach: 1000 threads: report in %.2f s (target < 2 s; --watch 0), the threads "
              "stopped for %.2f s from the first to the last (each only while its own stack "
              "is read)" % (statistics.median(attach_runs), statistics.median(stopped)))
    finally:
        crowd.kill()
        crowd.wait()

    # Analyzer throughput on a large synthetic dump.
    maker = os.path.join(build, "tests", "bench", "make_big_dump")
    analyzer = os.path.join(build, "analyzer", "lockscope")
    locks, edges, events = (100000, 10000, 5000000) if opts.quick else (1000000, 100000, 50000000)
    bdir = tempfile.mkdtemp(dir=work)
    path = subprocess.run([maker, bdir, str(locks), str(edges), str(events)], check=True,
                          capture_output=True, text=True).stdout.strip()
    start = time.monotonic()
    proc = subprocess.Popen([analyzer, "report", "--format", "json", path],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - start
    findings = len(json.loads(out)["findings"]) if proc.returncode in (0, 66) else -1
    print("analyzer: %d locks, %d edges, %d ring events (%.0f MiB dump): report in %.2f s "
          "(%.1fM events/s; targets: < 30 s, >= 5M events/s), peak RSS %.0f MiB "
          "(target < 2048); %d findings"
          % (locks, edges, events, os.path.getsize(path) / 2**20, elapsed,
             events / elapsed / 1e6, usage.ru_maxrss / 1024, findings))

    # A test suite's dumps merged at class level: 1,000 processes (as many runs of a program
    # that takes g_first -> g_second, g_second -> g_first, or two heap locks behind a
    # wrapper), one report over them all.
    suite = tempfile.mkdtemp(dir=work)
    class_abba = os.path.join(build, "tests", "scenarios", "class_abba")
    orders = ["ab", "ba", "heap-ab", "heap-ba"]
    runs = 1000
    for i in range(runs):
        subprocess.run([class_abba, orders[i % len(orders)]], env=dict(shim_env, LOCKSCOPE_DIR=suite),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    proc = subprocess.Popen([analyzer, "report", "--format", "json", suite],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - start
    found = json.loads(out)["findings"] if proc.returncode in (0, 66) else []
    print("analyzer: %d dumps of one program's runs merged by lock class: report in %.2f s "
          "(target < 30 s), peak RSS %.0f MiB (target < 2048); %d class-level findings"
          % (len(os.listdir(suite)), elapsed, usage.ru_maxrss / 1024,
             sum(1 for f in found if f.get("level") == "class")))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
