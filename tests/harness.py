"""The small harness the Python test suites share (scenarios/run_scenarios.py, cli_tests.py):
running a command under a time bound in a process group of its own (killed whole when the
bound passes), finding processes a test left behind, and a suite runner that prints one
"PASS name" or "FAIL name: reason" line per check and then "<suite>: N passed, N failed"
(the line scripts/test counts). Python 3 standard library only."""

import os
import signal
import subprocess
import shutil
import sys


class Failure(Exception):
    """One failed check; the message is the reason printed after FAIL."""


def excerpt(text, limit=300):
    text = text if isinstance(text, str) else repr(text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class Run:
    """What a command did: its exit status, output, and whether the time bound killed it."""

    def __init__(self, status, stdout, stderr, timed_out):
        self.status, self.stdout, self.stderr, self.timed_out = status, stdout, stderr, timed_out

    def describe(self):
        return "exit %s; stdout: %s; stderr: %s" % (self.status, excerpt(self.stdout, 200),
                                                    excerpt(self.stderr, 200))


def run(cmd, timeout, env=None, stdin=subprocess.DEVNULL):
    """Runs `cmd` (a list) with `env` added to the environment, in a session of its own; past
    `timeout` seconds the whole process group is killed and the Run says timed_out."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, env=full_env)
    except OSError as e:
        raise Failure("cannot start %s: %s" % (cmd[0], e))
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # something outside the group holds the pipes
            proc.kill()
            out, err = b"", b""
    return Run(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
               timed_out)


def leftover_processes(program, args):
    """Processes still running `program` with all of `args` (a hung program must leave none
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


def kill_leftovers(program, args):
    """Kills what leftover_processes finds; raises Failure naming them."""
    left = leftover_processes(program, args)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        raise Failure("processes left behind: %s" % left)


def run_suite(label, checks, name_filter=""):
    """Runs `checks`, a list of (name, callable) whose callable raises Failure (or anything)
    to fail, or returns an optional note for the PASS line. Prints one line each and the
    summary line; returns the process exit status (0 when everything passed)."""
    passed = failed = 0
    for name, check in checks:
        if name_filter not in name:
            continue
        try:
            note = check()
            print("PASS %s%s" % (name, " (%s)" % note if note else ""))
            passed += 1
        except Failure as e:
            print("FAIL %s: %s" % (name, e))
            failed += 1
        except Exception as e:  # an unexpected error is a failure too, with its type
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            failed += 1
        sys.stdout.flush()
    if passed + failed == 0:
        print("no check matches %r" % name_filter, file=sys.stderr)
    print("%s: %d passed, %d failed" % (label, passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


def run_test_methods(label, tests, name_filter, scratch):
    """run_suite over the `test_*` methods of `tests`, by name; `scratch` (the suite's
    temporary directory) is removed when everything passed, kept (and named) otherwise."""
    checks = [(name, getattr(tests, name))
              for name in sorted(n for n in dir(tests) if n.startswith("test_"))]
    status = run_suite(label, checks, name_filter)
    if status == 0:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        print("scratch directory kept in %s" % scratch)
    return status
