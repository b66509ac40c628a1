#!/usr/bin/python3
"""`lockscope attach PID` and `lockscope report CORE`: hung scenario programs started natively
(no shim), attached to while they hang, and read from their core files (gcore).

usage: attach_tests.py --lockscope LOCKSCOPE --analyzer BUILD/analyzer/lockscope
                       --bin-dir BUILD/tests/scenarios [--filter S]

(--analyzer: the built analyzer itself, which the permission check runs as another user.)

Each check asserts the finding's kind, threads, lock names and the scenario's own functions
(with file and line) in the JSON report, the exit status, and that the process is still
there afterwards, blocked where it was (attach leaves it as it found it); every program is
killed at the end, its children too. A clean program attached to mid-run finishes with its
normal output and status. Bad input exits 2 with one line. Prints "PASS name" / "FAIL name:
reason" lines and finally "attach: N passed, N failed". Python 3 standard library only.
"""

import argparse
import glob
import json
import os
import signal
import subprocess
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Failure, excerpt  # noqa: E402

TIMEOUT = 60
PYTHON = "/usr/bin/python3.11"  # Debian's: libpython linked into the executable
SCRATCH = tempfile.mkdtemp(prefix="lockscope-attach-")
os.environ["TMPDIR"] = SCRATCH


def futex_waiters(pid):
    """{tid: futex address} of the threads of `pid` asleep in futex()."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                fields = f.read().split()
        except OSError:
            continue
        if fields and fields[0] == "202":
            out[int(tid)] = fields[1]
    return out


def asleep(pid, seconds, enough=lambda seen: False):
    """{tid: {futex addresses}} of the threads of `pid` seen asleep in futex() over `seconds`
    (looked at every 10 ms; stops early once `enough(seen)`). A thread that waits in timed
    slices (CPython's take_gil: 5 ms) is out of its futex now and then: one look misses it."""
    seen = {}
    deadline = time.monotonic() + seconds
    while True:
        for tid, futex in futex_waiters(pid).items():
            seen.setdefault(tid, set()).add(futex)
        if enough(seen) or time.monotonic() >= deadline:
            return seen
        time.sleep(0.01)


def same_sleepers(before, after):
    """The same threads asleep, each again on a futex it slept on before."""
    return set(after) == set(before) and all(after[t] & before[t] for t in before)


def descendants(pid):
    """Every process below `pid` (children, their children...), even in other sessions."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for tid in tasks:
            try:
                with open("/proc/%d/task/%s/children" % (p, tid)) as f:
                    kids = [int(c) for c in f.read().split()]
            except OSError:
                kids = []
            found += kids
            todo += kids
    return found


class Hung:
    """A scenario program (a path, or an argv list) started natively, until it has `blocked`
    threads asleep in futex()
    (in itself, or in its first child when `in_child`): every thread its hang puts to sleep,
    main's pthread_join included, so that no check reads a hang still forming. Killed with
    its whole tree on exit."""

    def __init__(self, program, blocked, in_child=False, wrapper=()):
        argv = list(program) if isinstance(program, (list, tuple)) else [program]
        self.proc = subprocess.Popen(list(wrapper) + argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self.target = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            candidates = descendants(self.proc.pid) if in_child else [self.proc.pid]
            for pid in candidates:
                if len(futex_waiters(pid)) >= blocked:
                    self.target = pid
                    break
            if self.target:
                break
            time.sleep(0.05)
        if self.target is None:
            self.kill()
            raise Failure("%s never blocked %d thread(s)" % (program, blocked))

    def kill(self):
        for pid in descendants(self.proc.pid) + [self.proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def frames_of(finding):
    return [fr for s in finding.get("stacks", []) for fr in s.get("frames", [])]


def expect_functions(finding, functions):
    for name, source in functions:
        if not any(name in (fr.get("function") or "") and (fr.get("file") or "").endswith(source)
                   and fr.get("line", 0) > 0 for fr in frames_of(finding)):
            raise Failure("no frame %s (%s:line) in the %s stacks: %s" % (
                name, source, finding["kind"],
                excerpt([fr.get("function") for fr in frames_of(finding)])))


class Tests:
    def __init__(self, lockscope, analyzer, bin_dir):
        self.lockscope, self.analyzer, self.bin = lockscope, analyzer, bin_dir

    def attach(self, pid, *args):
        r = harness.run([self.lockscope, "attach"] + list(args) + [str(pid)], TIMEOUT)
        if r.timed_out:
            raise Failure("attach timed out")
        return r

    def attach_json(self, pid, want_status):
        r = self.attach(pid, "--format", "json")
        if r.status != want_status:
            raise Failure("want exit %d, got: %s" % (want_status, r.describe()))
        try:
            return json.loads(r.stdout)
        except ValueError:
            raise Failure("not JSON: %s" % excerpt(r.stdout))

    def one(self, report, kind):
        found = [f for f in report["findings"] if f["kind"] == kind]
        if len(found) != 1:
            raise Failure("want one %s, got %s" % (
                kind, excerpt([(f["kind"], f["summary"]) for f in report["findings"]])))
        return found[0]

    def program(self, program):
        """A scenario's argv, from its name in the scenarios directory and its arguments (a
        list); a script.py runs under Debian's python3.11."""
        name, args = (program[0], list(program[1:])) if isinstance(program, list) else (program, [])
        path = os.path.join(self.bin, name)
        return ([PYTHON, path] if name.endswith(".py") else [path]) + args

    def hung_case(self, program, blocked, kind, threads, locks, functions, in_child=False,
                  wrapper=(), details=()):
        with Hung(self.program(program), blocked, in_child, wrapper) as h:
            before = asleep(h.target, 0.2)
            report = self.attach_json(h.target, 66)
            f = self.one(report, kind)
            names = sorted(t["name"] for t in f["threads"])
            for t in threads:
                if t not in names:
                    raise Failure("thread %s not in %s" % (t, names))
            for lock in locks:
                if lock not in f["summary"]:
                    raise Failure("lock %s not in the summary: %s" % (lock, f["summary"]))
            expect_functions(f, functions)
            for d in details:
                if not any(d in line for line in f.get("details", [])):
                    raise Failure("no detail %r in %s" % (d, excerpt(f.get("details"))))
            if not any("read without the shim" in n and "stopped one at a time" in n
                       for n in report.get("notes", [])):
                raise Failure("no note on what attach cannot see: %s" % report.get("notes"))
            if any("not found here" in n for n in report.get("notes", [])):
                raise Failure("files said missing: %s" % report.get("notes"))
            # Still there, blocked where it was. (A thread that waits for the GIL does so in
            # 5 ms slices: it is out of its futex for a moment now and then.)
            time.sleep(0.2)
            if h.proc.poll() is not None:
                raise Failure("the program ended after attach (status %s)" % h.proc.returncode)
            # Every thread seen asleep on its futex again within 2 s, and no other.
            after = asleep(h.target, 2, lambda seen: same_sleepers(before, seen))
            if not same_sleepers(before, after):
                raise Failure("threads in futex() before %s, after %s" % (before, after))

    def core_case(self, program, blocked, kind, locks, functions):
        """The same program's core file (gcore), read by `report` after the program is gone."""
        with Hung(self.program(program), blocked) as h:
            name = program[0] if isinstance(program, list) else program
            prefix = os.path.join(SCRATCH, name.replace(".py", ""))
            r = harness.run(["gcore", "-o", prefix, str(h.target)], TIMEOUT)
            core = "%s.%d" % (prefix, h.target)
            if r.status != 0 or not os.path.exists(core):
                raise Failure("gcore failed: %s" % r.describe())
        try:
            r = harness.run([self.lockscope, "report", "--format", "json", core], TIMEOUT)
            if r.status != 66:
                raise Failure("want exit 66, got: %s" % r.describe())
            report = json.loads(r.stdout)
            f = self.one(report, kind)
            for lock in locks:
                if lock not in f["summary"]:
                    raise Failure("lock %s not in the summary: %s" % (lock, f["summary"]))
            expect_functions(f, functions)
            if not any("read without the shim" in n for n in report.get("notes", [])):
                raise Failure("no note on what a core cannot tell: %s" % report.get("notes"))
        finally:
            os.unlink(core)

    def test_core_abba_deadlock(self):
        self.core_case("abba_hang", 3, "deadlock", ["g_hang_a", "g_hang_b"],
                       [("hang_lock_a_then_b", "abba_hang.cc"),
                        ("hang_lock_b_then_a", "abba_hang.cc")])

    def test_core_three_thread_cycle(self):
        self.core_case("cycle3_hang", 4, "deadlock", ["g_ring_a", "g_ring_b", "g_ring_c"],
                       [("ring_take_mine_then_next", "cycle3_hang.cc")])

    def test_core_self_relock(self):
        self.core_case("self_relock", 2, "self-deadlock", ["g_config_lock"],
                       [("reload_config_inner", "self_relock.cc")])

    def test_core_lock_never_returned(self):
        self.core_case("worker_pool", 4, "exit-holding", ["g_resource_lock"], [])

    def test_gil_deadlock(self):
        # CPython (Debian's executable): the Python thread holds the GIL and waits for the
        # extension's mutex; the native thread holding the mutex waits for the GIL.
        self.hung_case(["gil_inversion.py", "hang"], 2, "deadlock",
                       ["native-worker", "python3.11"], ["g_cache_lock", "the GIL"],
                       [("read_cache", "gil_mutex_ext.cc"),
                        ("refresh_from_python", "gil_mutex_ext.cc"),
                        ("show_cache", "gil_inversion.py"), ("main", "gil_inversion.py")])

    def test_core_gil_deadlock(self):
        self.core_case(["gil_inversion.py", "hang"], 2, "deadlock", ["g_cache_lock", "the GIL"],
                       [("read_cache", "gil_mutex_ext.cc"),
                        ("refresh_from_python", "gil_mutex_ext.cc"),
                        ("show_cache", "gil_inversion.py")])

    def test_gil_self_deadlock_in_a_subinterpreter(self):
        # The ceph-mgr hang in an embedding program (libpython3.11.so): the module's init in a
        # sub-interpreter waits for the GIL its own thread holds; two threads wait behind it.
        self.hung_case(["ceph_mgr", self.bin], 3, "self-deadlock", ["mgr-loader", "ms_dispatch", "safe_timer"],
                       ["the GIL"],
                       [("PyInit_pybind_gilstate", "pybind_gilstate.cc"),
                        ("dispatch", "ceph_mgr.cc"),
                        ("_find_and_load", "<frozen importlib._bootstrap>")],
                       details=["holds the GIL with thread state 0x", "of sub-interpreter 1",
                                "(g_registry_lock) held by"])

    def test_python_frames_of_every_known_version(self):
        # The layouts of 3.10 to 3.13 read from outside: Debian's 3.11, and the CPythons pyenv
        # installed here (none is required). py_abba.py "overlap" leaves both threads blocked
        # on a threading.Lock each (an ownerless semaphore, or 3.13's parking lot): stalls,
        # since nothing else runs, whose stacks name the Python functions and lines.
        pythons = [PYTHON]
        for minor in (10, 11, 12, 13):
            pythons += sorted(glob.glob(os.path.expanduser(
                "~/.pyenv/versions/3.%d.*/bin/python3.%d" % (minor, minor))))
        script = os.path.join(self.bin, "py_abba.py")
        for python in pythons:
            with Hung([python, script, "overlap"], 3) as h:
                report = self.attach_json(h.target, 66)
                if any("CPython" in n for n in report.get("notes", [])):
                    raise Failure("%s: %s" % (python, report["notes"]))
                frames = [fr for f in report["findings"] for fr in frames_of(f)
                          if fr.get("language") == "python"]
                for name in ("transfer", "audit"):
                    if not any(fr.get("function") == name and
                               (fr.get("file") or "").endswith("py_abba.py") and
                               fr.get("line", 0) > 0 for fr in frames):
                        raise Failure("%s: no Python frame %s (py_abba.py:line): %s" % (
                            python, name, excerpt([(f["kind"], f["summary"])
                                                   for f in report["findings"]])))

    def test_unknown_python_version(self):
        # A program that exports CPython's runtime with a version we do not know: nothing of it
        # is read, and the report says so; its own hang is still reported.
        with Hung(os.path.join(self.bin, "unknown_python"), 1) as h:
            report = self.attach_json(h.target, 66)
            self.one(report, "self-deadlock")
            if not any("CPython 3.99 is not a version this lockscope knows" in n
                       for n in report.get("notes", [])):
                raise Failure("no note on the unknown CPython: %s" % report.get("notes"))
            if any(f["kind"] != "self-deadlock" or "GIL" in f["summary"]
                   for f in report["findings"]):
                raise Failure("findings beyond the self-deadlock: %s" % excerpt(report["findings"]))

    def test_core_with_sysroot(self):
        # A core whose program has moved since (as on another machine): named again with
        # --sysroot, where a copy of its files is, by the paths the core names.
        moved = os.path.join(SCRATCH, "moved")
        os.makedirs(moved, exist_ok=True)
        program = os.path.join(moved, "abba_hang")
        shutil.copy(os.path.join(self.bin, "abba_hang"), program)
        with Hung(program, 3) as h:
            prefix = os.path.join(SCRATCH, "moved-core")
            harness.run(["gcore", "-o", prefix, str(h.target)], TIMEOUT)
            core = "%s.%d" % (prefix, h.target)
        sysroot = os.path.join(SCRATCH, "sysroot")
        os.makedirs(sysroot + os.path.dirname(moved))
        os.rename(moved, sysroot + moved)
        try:
            r = harness.run([self.lockscope, "report", "--format", "json", core], TIMEOUT)
            report = json.loads(r.stdout)
            f = self.one(report, "deadlock")
            if "g_hang_a" in f["summary"] or not any(
                    "its files not found here" in n and program in n and "--sysroot" in n
                    for n in report.get("notes", [])):
                raise Failure("want unnamed locks and a note on the missing program: %s %s"
                              % (f["summary"], report.get("notes")))
            r = harness.run([self.lockscope, "report", "--sysroot", sysroot, "--format", "json",
                             core], TIMEOUT)
            if r.status != 66:
                raise Failure("want exit 66, got: %s" % r.describe())
            f = self.one(json.loads(r.stdout), "deadlock")
            if "g_hang_a" not in f["summary"] or "g_hang_b" not in f["summary"]:
                raise Failure("locks not named with --sysroot: %s" % f["summary"])
            expect_functions(f, [("hang_lock_a_then_b", "abba_hang.cc")])
        finally:
            os.unlink(core)

    def test_core_unreadable(self):
        # A core cut short (its notes gone) and a file that only starts like ELF.
        with Hung(os.path.join(self.bin, "self_relock"), 2) as h:
            prefix = os.path.join(SCRATCH, "cut")
            harness.run(["gcore", "-o", prefix, str(h.target)], TIMEOUT)
            core = "%s.%d" % (prefix, h.target)
        with open(core, "rb") as f:
            head = f.read(5000)
        os.unlink(core)
        for name, data in (("cut.core", head), ("elf.bad", b"\x7fELF")):
            path = os.path.join(SCRATCH, name)
            with open(path, "wb") as f:
                f.write(data)
            r = harness.run([self.lockscope, "report", path], TIMEOUT)
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            if r.status != 2 or len(lines) != 1 or not lines[0].startswith("lockscope: "):
                raise Failure("%s: want exit 2 and one line, got: %s" % (name, r.describe()))

    def test_abba_deadlock(self):
        self.hung_case("abba_hang", 3, "deadlock", ["hang-ab", "hang-ba"],
                       ["g_hang_a", "g_hang_b"],
                       [("hang_lock_a_then_b", "abba_hang.cc"),
                        ("hang_lock_b_then_a", "abba_hang.cc")])

    def test_abba_deadlock_in_a_pid_namespace(self):
        # As in a container: the lock words hold the namespace's tids, not ours.
        if os.geteuid() != 0:
            print("  (not root: no PID namespace here)")
            return
        self.hung_case("abba_hang", 3, "deadlock", ["hang-ab", "hang-ba"],
                       ["g_hang_a", "g_hang_b"],
                       [("hang_lock_a_then_b", "abba_hang.cc"),
                        ("hang_lock_b_then_a", "abba_hang.cc")],
                       in_child=True, wrapper=("unshare", "--pid", "--fork"))

    def test_static_program_is_not_read(self):
        # No libc.so.6: the lock words could follow another glibc's layout; none is read, and
        # the report says so. What is left: every thread asleep on a futex of unknown kind for
        # the whole watch, in a process where nothing else runs: stalls on those futexes.
        with Hung(os.path.join(self.bin, "abba_hang_static"), 3) as h:
            report = self.attach_json(h.target, 66)
            if not any("no libc.so.6 is loaded" in n for n in report.get("notes", [])):
                raise Failure("no note: %s" % report.get("notes"))
            findings = report["findings"]
            if not findings or any(f["kind"] != "stall" or "futex 0x" not in f["summary"] or
                                   "every thread of the process is blocked" not in f["summary"]
                                   for f in findings):
                raise Failure("want stalls on futexes only: %s"
                              % excerpt([f["summary"] for f in findings]))
            for f in findings:
                if "hang-ab" in f["summary"]:
                    expect_functions(f, [("hang_lock_a_then_b", "abba_hang.cc")])

    def test_three_thread_cycle(self):
        self.hung_case("cycle3_hang", 4, "deadlock", ["ring-a", "ring-b", "ring-c"],
                       ["g_ring_a", "g_ring_b", "g_ring_c"],
                       [("ring_take_mine_then_next", "cycle3_hang.cc")])

    def test_join_deadlock(self):
        # main holds the lock and joins the thread that waits for it.
        self.hung_case("join_deadlock", 2, "deadlock", ["join_deadlock", "updater"],
                       ["pthread_join", "g_table_lock"],
                       [("update_under_lock", "join_deadlock.cc"),
                        ("worker_update_table", "join_deadlock.cc")])

    def test_core_join_deadlock(self):
        self.core_case("join_deadlock", 2, "deadlock", ["pthread_join", "g_table_lock"],
                       [("update_under_lock", "join_deadlock.cc"),
                        ("worker_update_table", "join_deadlock.cc")])

    def test_rwlock_deadlock(self):
        # The writer holds the rwlock (its __cur_writer) and waits for the indexer's mutex.
        self.hung_case("rw_hang", 3, "deadlock", ["rw-writer", "indexer"],
                       ["g_table_rw", "g_index_lock"],
                       [("write_table_then_index", "rw_hang.cc"),
                        ("index_then_read_table", "rw_hang.cc")])

    def test_core_rwlock_deadlock(self):
        self.core_case("rw_hang", 3, "deadlock", ["g_table_rw", "g_index_lock"],
                       [("write_table_then_index", "rw_hang.cc"),
                        ("index_then_read_table", "rw_hang.cc")])

    def test_self_relock(self):
        self.hung_case("self_relock", 2, "self-deadlock", [], ["g_config_lock"],
                       [("reload_config_inner", "self_relock.cc")])

    def test_self_relock_single_threaded(self):
        # The main thread, alone in its process (its child lives in another session).
        self.hung_case("tree_hang", 1, "self-deadlock", [], ["g_tree_lock"],
                       [("tree_lock_twice", "tree_hang.cc")])

    def test_lock_never_returned(self):
        # The worker that ended holding the resource lock is not there any more: its waiters
        # wait for a thread id the process does not have.
        self.hung_case("worker_pool", 4, "exit-holding", [], ["g_resource_lock"], [])

    def test_stall_behind_condition_wait(self):
        # Waits seen for the whole watch (1 s by default) are stalls: the crowd on the
        # registry lock, behind its holder asleep on a condition.
        self.hung_case("cond_stall", 5, "stall", ["waiter-1", "waiter-2", "waiter-3", "holder"],
                       ["g_registry_lock"],
                       [("waiter_take_registry", "cond_stall.cc"),
                        ("holder_wait_for_event", "cond_stall.cc")])

    def test_stall_chain(self):
        self.hung_case("stall_chain", 4, "stall", ["p-holder"], ["g_l1"],
                       [("unnamed_take_l1", "stall_chain.cc"), ("p_hold_and_wait", "stall_chain.cc")])

    def test_no_stall_without_a_watch(self):
        # --watch 0: no wait is known to be long.
        with Hung(os.path.join(self.bin, "cond_stall"), 5) as h:
            r = self.attach(h.target, "--watch", "0", "--format", "json")
            kinds = [f["kind"] for f in json.loads(r.stdout)["findings"]]
            if r.status != 0 or kinds:
                raise Failure("want exit 0 and no finding, got %s: %s" % (r.status, kinds))

    def test_fork_child_blocked_on_parents_lock(self):
        # The fork child of a program whose logger thread held the lock at fork().
        # (The logger ends 2 s after the fork: its name is read before anything else.)
        self.hung_case("fork_logger", 1, "held-across-fork", ["logger"], ["g_log_lock"],
                       [("child_log_message", "fork_logger.cc")], in_child=True)

    def test_clean_program_finishes_as_it_would(self):
        # busy_clean runs about 3 s; the analyzer itself (not the script, which may build
        # first) attaches within its first second, with a short watch.
        program = os.path.join(self.bin, "busy_clean")
        proc = subprocess.Popen([program], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            time.sleep(0.3)
            r = harness.run([self.analyzer, "attach", "--watch", "0.2", "--format", "json",
                             str(proc.pid)], TIMEOUT)
            if proc.poll() is not None:
                raise Failure("the program ended before attach was done: the check proves nothing")
            if r.status != 0:
                raise Failure("want exit 0 for a clean program, got: %s" % r.describe())
            report = json.loads(r.stdout)
            if report["findings"]:
                raise Failure("findings in a clean program: %s" % excerpt(r.stdout))
            if any("could not be unwound" in n for n in report.get("notes", [])):
                raise Failure("stacks not read: %s" % report["notes"])
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            raise Failure("the program did not finish after attach")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.returncode != 7 or out.decode() != "tally 600\n":
            raise Failure("want 'tally 600' and status 7, got %r and %d" % (out, proc.returncode))

    def expect_error(self, args, what, words, usage=False):
        r = harness.run([self.lockscope, "attach"] + args, TIMEOUT)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        if (r.status != 2 or not lines or not lines[0].startswith("lockscope: ") or
                (len(lines) != 1 and not (usage and lines[1].startswith("usage:")))):
            raise Failure("%s: want exit 2 and one line, got: %s" % (what, r.describe()))
        for w in words:
            if w not in lines[0]:
                raise Failure("%s: %r not in %r" % (what, w, lines[0]))

    def test_no_such_process(self):
        pid = 4194304  # above the kernel's largest pid
        self.expect_error([str(pid)], "a pid that does not exist", ["no process %d" % pid])
        self.expect_error(["not-a-pid"], "not a number", ["process id"])
        self.expect_error([], "no pid", ["process id"], usage=True)

    def test_already_traced(self):
        # Another tracer (PTRACE_SEIZE: it does not even stop the program) holds the process.
        seize = ("import ctypes, sys, time\n"
                 "libc = ctypes.CDLL(None, use_errno=True)\n"
                 "libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]\n"
                 "if libc.ptrace(0x4206, int(sys.argv[1]), None, None) != 0: sys.exit(3)\n"
                 "print('seized', flush=True)\n"
                 "time.sleep(30)\n")
        with Hung(os.path.join(self.bin, "self_relock"), 2) as h:
            tracer = subprocess.Popen([sys.executable, "-c", seize, str(h.target)],
                                      stdout=subprocess.PIPE)
            try:
                if tracer.stdout.readline().strip() != b"seized":
                    raise Failure("the helper could not trace the program")
                self.expect_error([str(h.target)], "a traced process",
                                  ["already traced by process %d" % tracer.pid])
            finally:
                tracer.kill()
                tracer.wait()

    def test_not_allowed_to_trace(self):
        if os.geteuid() != 0:
            print("  (not root: cannot run attach as another user here)")
            return
        # Another user may not trace our processes: attach as nobody to a root program.
        with Hung(os.path.join(self.bin, "self_relock"), 2) as h:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                   self.analyzer, "attach", str(h.target)]
            r = harness.run(cmd, TIMEOUT, env={"TMPDIR": "/tmp"})  # (ours is root's only)
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            if r.status != 2 or len(lines) != 1 or "cannot trace process" not in lines[0]:
                raise Failure("want exit 2 with 'cannot trace process', got: %s" % r.describe())
            if h.proc.poll() is not None:
                raise Failure("the program ended")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lockscope", required=True)
    ap.add_argument("--analyzer", required=True)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--filter", default="")
    opts = ap.parse_args()
    tests = Tests(os.path.abspath(opts.lockscope), os.path.abspath(opts.analyzer),
                  os.path.abspath(opts.bin_dir))
    return harness.run_test_methods("attach", tests, opts.filter, SCRATCH)


if __name__ == "__main__":
    sys.exit(main())
