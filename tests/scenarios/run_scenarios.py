#!/usr/bin/python3
"""Scenario tests for lockscope: run each scenario program under
`lockscope run --format json` and check the report against CONTRACT.md.

usage: run_scenarios.py --lockscope PATH/TO/scripts/lockscope --bin-dir DIR [--filter SUBSTRING]

DIR holds the built scenario programs, each named after its .cc file without the
extension, plus libdl_inversion.so.  Prints one "PASS <name>" or
"FAIL <name>: <reason>" line per check group, then "scenarios: N passed, N failed".
Exit status 0 only if everything passed.  Python 3 standard library only.
"""

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# ---------------------------------------------------------------------------
# Expectations: one entry per scenario.
#
#   name       check-group name (also what --filter matches)
#   binary     program in --bin-dir (default: name)
#   args       program arguments; "{bin_dir}" is replaced by --bin-dir
#   exit       exact exit status of `lockscope run` (66 = an error finding)
#   errors     exact multiset of the kinds of findings with severity "error"
#   warnings   exact multiset of the kinds of findings with severity "warning"
#              (default: none); the number of lock-order-inversion findings of
#              any severity must equal errors + warnings of that kind
#   warnings_any  warning kinds whose count is not checked (timing-dependent)
#   env        extra environment for `lockscope run` (e.g. small LOCKSCOPE_* tables)
#   notes      substrings that must appear in the report's "notes"
#   no_notes   substrings that must not appear in any of the report's "notes"
#   dumps      exact number of dump files the run must leave (default: at least 1)
#   run_args   extra `lockscope run` options, e.g. ["--hang-timeout", "2"]
#   max_seconds  the run (hang detection, report, kill) must end within this many seconds
#   expect     findings that must be present, each a dict:
#                kind, severity (default "error"),
#                threads      names that must all appear in threads[].name
#                thread_prefix  (prefix, n): at least n threads whose name starts so
#                functions    (function substring, source basename): some frame of the
#                             finding names it, in that file, with a line > 0
#                summary      substrings of the summary
#                details      substrings that must each appear in some line of details
#                lock_kinds   locks[].kind values that must all appear
#   inversion  for scenarios with a cycle, what the lock-order-inversion error
#              finding must show:
#                locks       number of locks in the cycle
#                lock_names  exact set of locks[].name (omit to skip)
#                lock_kind   locks[].kind of every lock (omit to skip)
#                threads     names that must appear in threads[].name
#                source      basename of the .cc file the frames must point into
#                frames      (function substring, thread name): some stack whose
#                            tid belongs to a thread of that name has a frame
#                            whose demangled function contains the substring,
#                            with file ending in `source` and line > 0
# ---------------------------------------------------------------------------
SCENARIOS = [
    dict(name="abba", exit=66, errors={"lock-order-inversion": 1},
         inversion=dict(locks=2, lock_names=["g_accounts_lock", "g_journal_lock"],
                        lock_kind="mutex", threads=["abba-1", "abba-2"], source="abba.cc",
                        frames=[("worker_lock_a_then_b", "abba-1"),
                                ("worker_lock_b_then_a", "abba-2")])),
    dict(name="three_cycle", exit=66, errors={"lock-order-inversion": 1},
         inversion=dict(locks=3, lock_names=["g_cycle_lock_a", "g_cycle_lock_b", "g_cycle_lock_c"],
                        lock_kind="mutex", threads=["cycle-1", "cycle-2", "cycle-3"],
                        source="three_cycle.cc",
                        frames=[("cycle_lock_a_then_b", "cycle-1"),
                                ("cycle_lock_b_then_c", "cycle-2"),
                                ("cycle_lock_c_then_a", "cycle-3")])),
    dict(name="philosophers", exit=66, errors={"lock-order-inversion": 1},
         inversion=dict(locks=5, lock_kind="mutex",
                        threads=["philosopher-%d" % i for i in range(5)],
                        source="philosophers.cc",
                        frames=[("philosopher", "philosopher-%d" % i) for i in range(5)])),
    dict(name="dl_inversion", binary="dl_inversion_main", args=["{bin_dir}/libdl_inversion.so"],
         exit=66, errors={"lock-order-inversion": 1},
         inversion=dict(locks=2, lock_names=["g_dl_first", "g_dl_second"], lock_kind="mutex",
                        threads=["dl-first", "dl-second"], source="dl_inversion_lib.cc",
                        frames=[("dl_lock_first_then_second", "dl-first"),
                                ("dl_lock_second_then_first", "dl-second")])),
    # ---- hung processes: reported by `run --hang-timeout`, then the tree is killed ----
    dict(name="abba_hang", exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"deadlock": 1, "lock-order-inversion": 1},
         expect=[dict(kind="deadlock", threads=["hang-ab", "hang-ba"],
                      functions=[("hang_lock_a_then_b", "abba_hang.cc"),
                                 ("hang_lock_b_then_a", "abba_hang.cc")],
                      summary=["g_hang_a", "g_hang_b"])]),
    dict(name="self_relock", exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"self-deadlock": 1},
         expect=[dict(kind="self-deadlock", threads=["reloader"],
                      functions=[("reload_config_inner", "self_relock.cc"),
                                 ("reload_config", "self_relock.cc")],
                      summary=["g_config_lock"])]),
    dict(name="cond_stall", exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"stall": 1},
         expect=[dict(kind="stall", threads=["waiter-1", "waiter-2", "waiter-3", "holder"],
                      functions=[("waiter_take_registry", "cond_stall.cc"),
                                 ("holder_wait_for_event", "cond_stall.cc")],
                      summary=["g_registry_lock", "3 thread(s)"])]),
    dict(name="worker_pool", exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"stall": 1, "exit-holding": 1},
         expect=[dict(kind="stall", thread_prefix=("worker-", 4),
                      functions=[("run_task", "worker_pool.cc"), ("worker_main", "worker_pool.cc")],
                      summary=["g_resource_lock", "3 thread(s)"]),
                 dict(kind="exit-holding", thread_prefix=("worker-", 1),
                      functions=[("run_task", "worker_pool.cc")],
                      summary=["g_resource_lock"])]),
    # A new user's stall chain: two unnamed threads wait for g_l1, held by a thread in a
    # condition wait nobody signals (at two thresholds: the verdict must not depend on when
    # the monitor looks).
    dict(name="stall_chain", exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"stall": 1},
         expect=[dict(kind="stall", threads=["p-holder"], thread_prefix=("stall_chain", 2),
                      functions=[("unnamed_take_l1", "stall_chain.cc"),
                                 ("p_hold_and_wait", "stall_chain.cc")],
                      summary=["g_l1", "2 thread(s)"],
                      details=["is held by", "(p-holder), which waits", "never signalled"])]),
    dict(name="stall_chain_5s", binary="stall_chain", exit=66,
         run_args=["--hang-timeout", "5"], max_seconds=30, errors={"stall": 1},
         expect=[dict(kind="stall", threads=["p-holder"], thread_prefix=("stall_chain", 2),
                      summary=["g_l1", "2 thread(s)"], details=["(p-holder), which waits"])]),
    # Waits made of timed slices (pthread_mutex_timedlock, pthread_cond_timedwait) are one
    # wait each: a stall, with the poller's condition wait in the chain.
    dict(name="timed_polling", exit=66, run_args=["--hang-timeout", "3"], max_seconds=25,
         errors={"stall": 1},
         expect=[dict(kind="stall", threads=["retry-1", "retry-2", "poller"],
                      functions=[("retry_state_lock", "timed_polling.cc"),
                                 ("poll_for_change", "timed_polling.cc")],
                      summary=["g_state_lock", "2 thread(s)"],
                      details=["(poller), which waits", "condition variable"])]),
    # Woken from a condition wait, stuck re-acquiring its mutex inside glibc.
    dict(name="cond_reacquire", exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"stall": 1},
         expect=[dict(kind="stall", threads=["sleeper", "waker"],
                      functions=[("sleeper_wait_for_wakeup", "cond_reacquire.cc"),
                                 ("waker_signal_then_block", "cond_reacquire.cc")],
                      summary=["g_state_mutex", "(sleeper)"],
                      details=["(sleeper) was woken from condition variable", "re-acquire",
                               "is held by", "(waker), which waits"])]),
    # Spinlocks: a self-deadlock recorded before spinning.
    dict(name="spin_self", binary="spinlocks", args=["self"], exit=66,
         run_args=["--hang-timeout", "3"], max_seconds=25, errors={"self-deadlock": 1},
         expect=[dict(kind="self-deadlock", threads=["spinner"], lock_kinds=["spinlock"],
                      functions=[("bump_counter_locked", "spinlocks.cc"),
                                 ("spin_relock", "spinlocks.cc")],
                      summary=["g_spin_a"])]),
    # A thread spinning behind a spinlock held by a thread in a condition wait: a stall
    # while it spins.
    dict(name="spin_stall", binary="spinlocks", args=["stall"], exit=66,
         run_args=["--hang-timeout", "2"], max_seconds=25, errors={"stall": 1},
         expect=[dict(kind="stall", threads=["spin-waiter", "spin-holder"],
                      lock_kinds=["spinlock"],
                      functions=[("spin_behind_holder", "spinlocks.cc"),
                                 ("hold_spin_and_wait", "spinlocks.cc")],
                      summary=["g_spin_a", "1 thread(s)"],
                      details=["(spin-holder), which waits", "never signalled"])]),
    # A spinlock held by another thread at fork(): the child spins on it forever.
    dict(name="spin_fork", binary="spinlocks", args=["fork"], exit=66,
         run_args=["--hang-timeout", "2"], max_seconds=25, errors={"held-across-fork": 1},
         dumps=2,
         expect=[dict(kind="held-across-fork", threads=["spin-holder"], lock_kinds=["spinlock"],
                      functions=[("hold_spin_and_wait", "spinlocks.cc"),
                                 ("child_spin_on_b", "spinlocks.cc")],
                      summary=["g_spin_b", "(spin-holder)"])]),
    # A read/read cycle on writer-preferring rwlocks, happening: four threads in a wait-for
    # cycle through the queued writers.
    dict(name="rw_pref_deadlock", exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"deadlock": 1, "lock-order-inversion": 1},
         expect=[dict(kind="deadlock", threads=["rd-ab", "rd-ba", "wr-a", "wr-b"],
                      lock_kinds=["rwlock"],
                      functions=[("read_a_then_b", "rw_pref_deadlock.cc"),
                                 ("read_b_then_a", "rw_pref_deadlock.cc")],
                      summary=["queued to write", "g_pref_a", "g_pref_b"])]),
    dict(name="tree_hang", exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"self-deadlock": 1}, dumps=2,
         expect=[dict(kind="self-deadlock", functions=[("tree_lock_twice", "tree_hang.cc")])]),
    dict(name="sem_pool", exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"stall": 1},
         expect=[dict(kind="stall", threads=["sem-2", "sem-3", "sem-4", "sem-1"],
                      functions=[("process_with_token", "sem_pool.cc"),
                                 ("other_worker", "sem_pool.cc")],
                      summary=["semaphore", "3 thread(s)", "last taken by", "(sem-1) [exited]"])]),
    # ---- fork ----
    dict(name="fork_logger", exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"held-across-fork": 1}, dumps=2,
         expect=[dict(kind="held-across-fork", threads=["logger"],
                      functions=[("logger_write_slowly", "fork_logger.cc"),
                                 ("child_log_message", "fork_logger.cc"),
                                 ("fork_worker", "fork_logger.cc")],
                      summary=["g_log_lock", "(logger)"])]),
    dict(name="fork_python", binary="/usr/bin/python3.11",
         args=["{bin_dir}/fork_python.py", "{bin_dir}/libfork_hold.so"],
         exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"held-across-fork": 1},
         expect=[dict(kind="held-across-fork", threads=["py-logger"],
                      functions=[("ext_logger_write_slowly", "fork_hold_lib.cc"),
                                 ("ext_log_line", "fork_hold_lib.cc")],
                      summary=["g_ext_log_lock", "(py-logger)"])]),
    # The same story with a pure-Python lock (a semaphore in CPython 3.11): no stall, the
    # held-across-fork error naming the thread that had taken it.
    dict(name="fork_python_lock", binary="/usr/bin/python3.11",
         args=["{bin_dir}/fork_python_lock.py"],
         exit=66, run_args=["--hang-timeout", "2"], max_seconds=25,
         errors={"held-across-fork": 1},
         expect=[dict(kind="held-across-fork", threads=["py-holder"],
                      summary=["semaphore 0x", "had taken and not posted back", "(py-holder)"])]),
    dict(name="fork_atfork", exit=0, errors={}, dumps=2),
    dict(name="fork_exec", exit=3, errors={}, warnings={"held-across-fork": 1},
         expect=[dict(kind="held-across-fork", severity="warning", threads=["logger"],
                      functions=[("logger_write_slowly", "fork_exec.cc")],
                      summary=["g_log_lock"])]),
    dict(name="spawn_family", exit=9, errors={}),
    dict(name="fork_storm", exit=0, errors={}, warnings_any=["held-across-fork"]),
    dict(name="cancel_wait", exit=0, errors={}),
    # ---- rwlocks ----
    dict(name="rw_inversion", exit=66, errors={"lock-order-inversion": 1},
         inversion=dict(locks=2, lock_names=["g_index_lock", "g_table_rwlock"],
                        threads=["rw-reader", "rw-writer"], source="rw_inversion.cc",
                        frames=[("read_table_then_index", "rw-reader"),
                                ("index_then_write_table", "rw-writer")])),
    dict(name="rw_read_read", exit=0, errors={}, notes=["only ever read"]),
    # Writer-preferring rwlocks: a read/read cycle is an inversion when both locks are
    # written too; with one of them never written it cannot deadlock.
    dict(name="rw_writer_pref", args=["written"], exit=66, errors={"lock-order-inversion": 1},
         inversion=dict(locks=2, lock_names=["g_pref_a", "g_pref_b"], lock_kind="rwlock",
                        threads=["rd-ab", "rd-ba"], source="rw_writer_pref.cc",
                        frames=[("read_a_then_b", "rd-ab"), ("read_b_then_a", "rd-ba")])),
    dict(name="rw_writer_pref_one_written", binary="rw_writer_pref", args=["one-written"],
         exit=0, errors={}, notes=["only ever read"]),
    dict(name="rw_writer_pref_never_written", binary="rw_writer_pref", args=["never"],
         exit=0, errors={}, notes=["only ever read"]),
    # Spinlocks are locks: an A->B / B->A order over two of them.
    dict(name="spin_abba", binary="spinlocks", args=["abba"], exit=66,
         errors={"lock-order-inversion": 1},
         inversion=dict(locks=2, lock_names=["g_spin_a", "g_spin_b"], lock_kind="spinlock",
                        threads=["spin-ab", "spin-ba"], source="spinlocks.cc",
                        frames=[("spin_a_then_b", "spin-ab"), ("spin_b_then_a", "spin-ba")])),
    dict(name="rw_read_gate", exit=66, errors={"lock-order-inversion": 1},
         inversion=dict(locks=2, lock_names=["g_gate_a", "g_gate_b"], lock_kind="mutex",
                        threads=["rgate-ab", "rgate-ba"], source="rw_read_gate.cc",
                        frames=[("read_gate_a_then_b", "rgate-ab"),
                                ("read_gate_b_then_a", "rgate-ba")])),
    # An idle Python worker parked on a queue is not a hang: nothing killed, nothing reported.
    dict(name="idle_pool", binary="/usr/bin/python3.11", args=["{bin_dir}/idle_pool.py"],
         exit=0, errors={}, run_args=["--hang-timeout", "2"], stdout_prefix="main done"),
    # CPython's lock churn (a semaphore per threading.Lock) does not fill the sync table.
    dict(name="py_pool_churn", binary="/usr/bin/python3.11", args=["{bin_dir}/py_pool_churn.py"],
         exit=0, errors={}, stdout_prefix="pool done", no_notes=["were not tracked"]),
    # ---- misuse ----
    dict(name="misuse_unlock_not_owner", binary="misuse", args=["unlock-not-owner"], exit=66,
         errors={"unlock-not-owner": 1},
         expect=[dict(kind="unlock-not-owner", threads=["intruder", "owner"],
                      functions=[("intruder_unlock", "misuse.cc"), ("owner_thread", "misuse.cc")],
                      summary=["g_misused_lock"])]),
    dict(name="misuse_destroy_locked", binary="misuse", args=["destroy-locked"], exit=66,
         errors={"destroy-locked": 1},
         expect=[dict(kind="destroy-locked", functions=[("destroy_while_locked", "misuse.cc")],
                      summary=["g_misused_lock"])]),
    dict(name="misuse_relock_error", binary="misuse", args=["relock-error"], exit=66,
         errors={"relock-error": 1},
         expect=[dict(kind="relock-error", functions=[("relock_errorcheck", "misuse.cc")],
                      summary=["g_misused_lock"])]),
    dict(name="misuse_exit_holding", binary="misuse", args=["exit-holding"], exit=66,
         errors={"exit-holding": 1},
         expect=[dict(kind="exit-holding", threads=["leaver"],
                      functions=[("exit_while_holding", "misuse.cc")],
                      summary=["g_misused_lock"])]),
    # ---- lock order ----
    dict(name="early_ctor", binary="early_ctor_main", exit=66,
         errors={"lock-order-inversion": 1},
         inversion=dict(locks=2, lock_names=["g_early_a", "g_early_b"], lock_kind="mutex",
                        threads=["early-late"], source="early_ctor_lib.cc",
                        frames=[("early_ctor_lock_a_then_b", "early_ctor_main")])),
    dict(name="single_thread_inversion", exit=0, errors={},
         warnings={"lock-order-inversion": 1},
         inversion=dict(locks=2, lock_names=["g_single_a", "g_single_b"], lock_kind="mutex",
                        threads=["single"], source="single_thread_inversion.cc",
                        frames=[("single_a_then_b", "single"), ("single_b_then_a", "single")])),
    dict(name="fork_child_inversion", exit=66, errors={"lock-order-inversion": 1}, dumps=2,
         inversion=dict(locks=2, lock_names=["g_child_a", "g_child_b"], lock_kind="mutex",
                        threads=["child-ab", "child-ba"], source="fork_child_inversion.cc",
                        frames=[("child_a_then_b", "child-ab"), ("child_b_then_a", "child-ba")])),
    dict(name="gate_lock", exit=0, errors={}, notes=["gate lock"]),
    dict(name="lock_table_overflow", binary="hand_over_hand", exit=0, errors={},
         env={"LOCKSCOPE_LOCKS": "64"}, notes=["locks were not tracked", "LOCKSCOPE_LOCKS"]),
    dict(name="consistent_order", exit=0, errors={}),
    dict(name="condvar_pc", exit=0, errors={}),
    dict(name="recursive", exit=0, errors={}),
    # A condition wait that failed (EPERM) leaves no phantom held mutex (and so no inversion).
    dict(name="cond_wait_eperm", exit=0, errors={}),
    dict(name="scoped_lock", exit=0, errors={}),
    dict(name="trylock_backoff", exit=0, errors={}),
    dict(name="hand_over_hand", exit=0, errors={}),
    dict(name="reuse_address", exit=0, errors={}),
    dict(name="deep_nesting", exit=0, errors={}),
    # glibc's mutex state stays exact under the shim's own fast path (exits 1 otherwise).
    dict(name="mutex_state", exit=0, errors={}),
    # A signal handler locking in the middle of the fast path leaves no trace.
    dict(name="signal_lock", exit=0, errors={}),
]

# The default text format, once: report on stderr.
TEXT_CHECK = dict(name="abba_text", binary="abba", exit=66,
                  must_contain=["lock-order-inversion", "abba-1", "abba-2"],
                  source_line=r"abba\.cc:([0-9]+)")

DEFAULT_TIMEOUT = 120  # seconds per lockscope run

FINDING_KINDS = {
    "lock-order-inversion", "deadlock", "self-deadlock", "held-across-fork", "unlock-not-owner",
    "destroy-locked", "exit-holding", "relock-error", "stall",
}
SEVERITIES = {"error", "warning", "info"}
LOCK_KINDS = {"mutex", "recursive-mutex", "errorcheck-mutex", "rwlock", "spinlock", "gil"}
DUMP_NAME = re.compile(r"^lockscope\.[0-9]+(\.[0-9]+)?\.dump$")


class Failure(Exception):
    """One failed check; the message is the reason printed after FAIL."""


def excerpt(text, limit=300):
    text = text if isinstance(text, str) else repr(text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------
class Run:
    def __init__(self, status, stdout, stderr, timed_out):
        self.status, self.stdout, self.stderr, self.timed_out = status, stdout, stderr, timed_out


def run_lockscope(cmd, timeout, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, env=full_env)
    except OSError as e:
        raise Failure("cannot start %s: %s" % (cmd[0], e))
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: lockscope + program
        except ProcessLookupError:
            pass
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # something outside the group holds the pipes
            proc.kill()
            out, err = b"", b""
    return Run(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
               timed_out)


def describe_run(run):
    return "exit %s; stdout: %s; stderr: %s" % (run.status, excerpt(run.stdout, 200),
                                                excerpt(run.stderr, 200))


# ---------------------------------------------------------------------------
# Report checks
# ---------------------------------------------------------------------------
def describe_findings(report):
    parts = []
    for f in report.get("findings", []):
        if not isinstance(f, dict):
            parts.append(repr(f))
            continue
        names = [t.get("name") for t in f.get("threads", []) if isinstance(t, dict)]
        locks = [l.get("name") or l.get("id") for l in f.get("locks", []) if isinstance(l, dict)]
        parts.append("%s/%s locks=%s threads=%s" % (f.get("kind"), f.get("severity"), locks, names))
    return excerpt("[" + "; ".join(parts) + "]") if parts else "no findings"


def validate_report(report):
    """Raises Failure when the JSON does not have the shape CONTRACT.md gives."""
    def bad(msg):
        raise Failure("report does not match the contract: " + msg)

    if not isinstance(report, dict):
        bad("top level is not an object")
    if report.get("version") != 1:
        bad("version is %r, want 1" % report.get("version"))
    dumps = report.get("dumps")
    if not isinstance(dumps, list) or not dumps or not all(isinstance(d, str) for d in dumps):
        bad("dumps is not a non-empty list of paths: %s" % excerpt(dumps, 100))
    findings = report.get("findings")
    if not isinstance(findings, list):
        bad("findings is not a list")
    for i, f in enumerate(findings):
        where = "findings[%d]" % i
        if not isinstance(f, dict):
            bad(where + " is not an object")
        if f.get("kind") not in FINDING_KINDS:
            bad("%s.kind is %r" % (where, f.get("kind")))
        if f.get("severity") not in SEVERITIES:
            bad("%s.severity is %r" % (where, f.get("severity")))
        if not isinstance(f.get("summary"), str) or not f["summary"].strip():
            bad(where + ".summary is missing or empty")
        for key in ("threads", "locks", "stacks"):
            if not isinstance(f.get(key), list):
                bad("%s.%s is not a list" % (where, key))
        if not (isinstance(f.get("details"), list)
                and all(isinstance(d, str) for d in f["details"])):
            bad(where + ".details is not a list of lines")
        for t in f["threads"]:
            if not (isinstance(t, dict) and isinstance(t.get("tid"), int)
                    and isinstance(t.get("pid"), int)
                    and (t.get("name") is None or isinstance(t.get("name"), str))):
                bad("%s.threads entry %s" % (where, excerpt(t, 100)))
        for l in f["locks"]:
            if not (isinstance(l, dict) and isinstance(l.get("id"), str)
                    and isinstance(l.get("address"), str) and l["address"].startswith("0x")
                    and l.get("kind") in LOCK_KINDS
                    and (l.get("name") is None or isinstance(l.get("name"), str))):
                bad("%s.locks entry %s" % (where, excerpt(l, 100)))
        for s in f["stacks"]:
            if not (isinstance(s, dict) and isinstance(s.get("role"), str)
                    and isinstance(s.get("tid"), int) and isinstance(s.get("frames"), list)):
                bad("%s.stacks entry %s" % (where, excerpt(s, 100)))
            for fr in s["frames"]:
                if not (isinstance(fr, dict) and isinstance(fr.get("pc"), str)
                        and fr["pc"].startswith("0x")
                        and all(fr.get(k) is None or isinstance(fr.get(k), str)
                                for k in ("module", "function", "file"))
                        and (fr.get("line") is None or isinstance(fr.get("line"), int))):
                    bad("%s frame %s" % (where, excerpt(fr, 100)))


def check_inversion(finding, inv):
    """Checks one lock-order-inversion finding against the `inversion` entry."""
    locks = finding["locks"]
    if len(locks) != inv["locks"]:
        raise Failure("want %d locks in the cycle, got %d: %s"
                      % (inv["locks"], len(locks), excerpt(locks)))
    if "lock_names" in inv:
        names = sorted(str(l.get("name")) for l in locks)
        if names != sorted(inv["lock_names"]):
            raise Failure("lock names: want %s, got %s" % (sorted(inv["lock_names"]), names))
    if "lock_kind" in inv:
        kinds = [l.get("kind") for l in locks]
        if any(k != inv["lock_kind"] for k in kinds):
            raise Failure("lock kinds: want all %r, got %s" % (inv["lock_kind"], kinds))
    ids = [l.get("id") for l in locks]
    if len(set(ids)) != len(ids):
        raise Failure("lock ids are not distinct: %s" % ids)

    thread_names = [t.get("name") for t in finding["threads"]]
    missing = [n for n in inv["threads"] if n not in thread_names]
    if missing:
        raise Failure("threads %s missing from the finding; threads seen: %s"
                      % (missing, excerpt(thread_names)))
    tids_by_name = collections.defaultdict(set)
    for t in finding["threads"]:
        tids_by_name[t.get("name")].add(t["tid"])

    # CONTRACT.md: every edge of the cycle comes with the stack that took the
    # earlier lock and the stack that took the later one while holding it.
    stacks = finding["stacks"]
    if len(stacks) < 2 * inv["locks"]:
        raise Failure("want 2 stacks per edge (>= %d), got %d" % (2 * inv["locks"], len(stacks)))

    source = inv["source"]
    for func, thread in inv["frames"]:
        tids = tids_by_name.get(thread, set())
        named = [(s, fr) for s in stacks for fr in s["frames"]
                 if func in (fr.get("function") or "")]
        if not named:
            functions = sorted({fr.get("function") or "?" for s in stacks for fr in s["frames"]})
            raise Failure("no frame names %s; functions seen: %s" % (func, excerpt(functions)))
        mangled = sorted({fr["function"] for _, fr in named if fr["function"].startswith("_Z")})
        if mangled:
            raise Failure("function names are not demangled: %s" % excerpt(mangled))
        good_file = [(s, fr) for s, fr in named
                     if os.path.basename(fr.get("file") or "") == source
                     and isinstance(fr.get("line"), int) and fr["line"] > 0]
        if not good_file:
            raise Failure("frames naming %s lack file %s with line > 0: %s"
                          % (func, source, excerpt(sorted({(str(fr.get("file")), fr.get("line"))
                                                           for _, fr in named}))))
        if not any(s["tid"] in tids for s, _ in good_file):
            raise Failure("no stack of thread %s (tids %s) names %s; such stacks have tids %s"
                          % (thread, sorted(tids), func,
                             sorted({s["tid"] for s, _ in good_file})))


def check_expected(findings, want):
    """Some finding of want["kind"] shows everything `want` asks for."""
    candidates = [f for f in findings if f["kind"] == want["kind"]
                  and f["severity"] == want.get("severity", "error")]
    if not candidates:
        raise Failure("no %s finding of severity %s" % (want["kind"], want.get("severity", "error")))
    problems = []
    for f in candidates:
        names = [t.get("name") or "" for t in f["threads"]]
        missing = [n for n in want.get("threads", []) if n not in names]
        if missing:
            problems.append("threads %s missing (seen %s)" % (missing, names))
            continue
        if "thread_prefix" in want:
            prefix, n = want["thread_prefix"]
            if sum(1 for name in names if name.startswith(prefix)) < n:
                problems.append("want %d threads named %s*, seen %s" % (n, prefix, names))
                continue
        frames = [fr for s in f["stacks"] for fr in s["frames"]]
        bad = []
        for func, source in want.get("functions", []):
            if not any(func in (fr.get("function") or "")
                       and os.path.basename(fr.get("file") or "") == source
                       and (fr.get("line") or 0) > 0 for fr in frames):
                bad.append(func)
        if bad:
            problems.append("no frame names %s in its source with a line; functions seen: %s"
                            % (bad, excerpt(sorted({fr.get("function") or "?" for fr in frames}))))
            continue
        missing = [x for x in want.get("summary", []) if x not in f["summary"]]
        if missing:
            problems.append("summary lacks %s: %s" % (missing, excerpt(f["summary"], 150)))
            continue
        missing = [x for x in want.get("details", [])
                   if not any(x in line for line in f.get("details", []))]
        if missing:
            problems.append("details lack %s: %s" % (missing, excerpt(f.get("details"), 300)))
            continue
        kinds = {l.get("kind") for l in f["locks"]}
        missing = [k for k in want.get("lock_kinds", []) if k not in kinds]
        if missing:
            problems.append("lock kinds %s missing (seen %s)" % (missing, sorted(kinds)))
            continue
        return
    raise Failure("%s: %s" % (want["kind"], "; ".join(problems)))


def check_report(scenario, run, dump_dir):
    if run.timed_out:
        raise Failure("timed out; process group killed; %s" % describe_run(run))
    stdout = run.stdout
    if "stdout_prefix" in scenario:
        if not stdout.startswith(scenario["stdout_prefix"]):
            raise Failure("the program's output is missing (killed?): %s" % excerpt(stdout, 100))
        stdout = stdout[len(scenario["stdout_prefix"]):]
    try:
        report = json.loads(stdout)
    except ValueError as e:
        raise Failure("stdout is not JSON (%s); %s" % (e, describe_run(run)))
    validate_report(report)

    dumps = [n for n in os.listdir(dump_dir) if DUMP_NAME.match(n)]
    if not dumps:
        raise Failure("no lockscope.<pid>.dump in --dump-dir %s: %s"
                      % (dump_dir, excerpt(os.listdir(dump_dir))))
    if "dumps" in scenario and len(dumps) != scenario["dumps"]:
        raise Failure("want %d dumps, got %s" % (scenario["dumps"], sorted(dumps)))
    notes = report.get("notes", [])
    for want in scenario.get("notes", []):
        if not any(want in n for n in notes):
            raise Failure("no note mentions %r; notes: %s" % (want, excerpt(notes)))
    for unwanted in scenario.get("no_notes", []):
        if any(unwanted in n for n in notes):
            raise Failure("a note mentions %r; notes: %s" % (unwanted, excerpt(notes)))

    if run.status != scenario["exit"]:
        raise Failure("want exit status %d, got %s; findings: %s; stderr: %s"
                      % (scenario["exit"], run.status, describe_findings(report),
                         excerpt(run.stderr, 200)))

    findings = report["findings"]
    errors = collections.Counter(f["kind"] for f in findings if f["severity"] == "error")
    want_errors = collections.Counter(scenario["errors"])
    if errors != want_errors:
        raise Failure("error findings: want %s, got %s; findings: %s"
                      % (dict(want_errors), dict(errors), describe_findings(report)))
    warnings = collections.Counter(f["kind"] for f in findings if f["severity"] == "warning"
                                   and f["kind"] not in scenario.get("warnings_any", []))
    want_warnings = collections.Counter(scenario.get("warnings", {}))
    if warnings != want_warnings:
        raise Failure("warning findings: want %s, got %s; findings: %s"
                      % (dict(want_warnings), dict(warnings), describe_findings(report)))
    inversions = [f for f in findings if f["kind"] == "lock-order-inversion"]
    want_inversions = want_errors["lock-order-inversion"] + want_warnings["lock-order-inversion"]
    if len(inversions) != want_inversions:
        raise Failure("want %d lock-order-inversion findings of any severity, got %d: %s"
                      % (want_inversions, len(inversions), describe_findings(report)))

    for want in scenario.get("expect", []):
        check_expected(findings, want)

    if "inversion" in scenario:
        for f in inversions:
            try:
                check_inversion(f, scenario["inversion"])
            except Failure as e:
                raise Failure("%s; finding summary: %s" % (e, excerpt(f.get("summary"), 120)))


def check_text(check, run):
    if run.timed_out:
        raise Failure("timed out; process group killed; %s" % describe_run(run))
    if run.status != check["exit"]:
        raise Failure("want exit status %d, got %s; stderr: %s"
                      % (check["exit"], run.status, excerpt(run.stderr)))
    missing = [s for s in check["must_contain"] if s not in run.stderr]
    if missing:
        raise Failure("text report on stderr lacks %s: %s" % (missing, excerpt(run.stderr)))
    lines = [int(m) for m in re.findall(check["source_line"], run.stderr)]
    if not any(n > 0 for n in lines):
        raise Failure("text report lacks %s with a line > 0: %s"
                      % (check["source_line"], excerpt(run.stderr)))


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
def leftover_processes(program, args):
    """Processes still running `program` with `args` (a hung scenario must leave none
    behind; the arguments tell an interpreter's scenario from other uses of it)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/exe" % pid) != program:
                continue
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read().split(b"\0")
            if all(a.encode() in cmdline for a in args):
                out.append(int(pid))
        except OSError:
            pass
    return out


def run_group(name, binary, args, lockscope, bin_dir, fmt, timeout, check, env=None,
              run_args=(), max_seconds=None):
    """Runs one check group; returns True on PASS.  Keeps the dump dir on FAIL."""
    program = os.path.join(bin_dir, binary)
    if not os.access(program, os.X_OK):
        print("FAIL %s: scenario binary %s not found or not executable" % (name, program))
        return False
    dump_dir = tempfile.mkdtemp(prefix="lockscope-scenario-%s-" % name)
    cmd = [lockscope, "run"] + list(run_args) + (["--format", fmt] if fmt else []) + [
        "--dump-dir", dump_dir, "--", program]
    cmd += [a.replace("{bin_dir}", bin_dir) for a in args]
    try:
        started = time.monotonic()
        run = run_lockscope(cmd, timeout, env)
        elapsed = time.monotonic() - started
        check(run, dump_dir)
        if max_seconds is not None and elapsed > max_seconds:
            raise Failure("the report took %.1f s, want at most %d" % (elapsed, max_seconds))
        left = leftover_processes(os.path.realpath(program), cmd[cmd.index("--") + 2:])
        if left:
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            raise Failure("processes left behind: %s" % left)
    except Failure as e:
        print("FAIL %s: %s (dumps kept in %s)" % (name, e, dump_dir))
        return False
    shutil.rmtree(dump_dir, ignore_errors=True)
    print("PASS %s (%.1f s)" % (name, elapsed))
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lockscope", required=True, help="path to scripts/lockscope")
    parser.add_argument("--bin-dir", required=True, help="directory of built scenario programs")
    parser.add_argument("--filter", default="", help="only check groups whose name contains this")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds per run (default %(default)s)")
    opts = parser.parse_args()

    lockscope = os.path.abspath(opts.lockscope)
    bin_dir = os.path.abspath(opts.bin_dir)
    if not os.path.isfile(lockscope):
        parser.error("no such file: %s" % lockscope)
    if not os.path.isdir(bin_dir):
        parser.error("no such directory: %s" % bin_dir)

    groups = []
    for sc in SCENARIOS:
        groups.append((sc["name"], sc.get("binary", sc["name"]), sc.get("args", []), "json",
                       lambda run, d, sc=sc: check_report(sc, run, d), sc.get("env"),
                       sc.get("run_args", ()), sc.get("max_seconds")))
        if sc["name"] == TEXT_CHECK["binary"]:
            groups.append((TEXT_CHECK["name"], TEXT_CHECK["binary"], [], None,
                           lambda run, d: check_text(TEXT_CHECK, run), None, (), None))
    groups = [g for g in groups if opts.filter in g[0]]
    if not groups:
        print("no scenario matches --filter %r" % opts.filter, file=sys.stderr)
        print("scenarios: 0 passed, 0 failed")
        return 2

    passed = failed = 0
    for name, binary, args, fmt, check, env, run_args, max_seconds in groups:
        ok = run_group(name, binary, args, lockscope, bin_dir, fmt, opts.timeout, check, env,
                       run_args, max_seconds)
        passed += ok
        failed += not ok
        sys.stdout.flush()
    print("scenarios: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
