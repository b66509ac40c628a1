#!/usr/bin/python3
"""Command-line tests for lockscope: the contract's surface beyond single scenarios.

usage: cli_tests.py --lockscope LOCKSCOPE --bin-dir BUILD/tests/scenarios [--filter S]

LOCKSCOPE is scripts/lockscope or the built analyzer.

Covers: plain LD_PRELOAD dumps (name, mode, never following a symlink), `report` on the
dump of a process that is still running and after kill -9, bad input (exit 2 with one
line), exit statuses, output formats, suppressions, and that `run --hang-timeout` kills
only for a finding it prints. Prints "PASS name" / "FAIL name:
reason" lines and finally "cli: N passed, N failed". Python 3 standard library only
(the SARIF check runs tests/sarif/validate_sarif.py with Debian's python3-jsonschema).
"""

import argparse
import glob
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Failure, excerpt  # noqa: E402

TIMEOUT = 60

# Every directory a test makes lives under one scratch root, removed at the end; `run`
# without --dump-dir makes its directory under $TMPDIR, so TMPDIR points there too.
SCRATCH = tempfile.mkdtemp(prefix="lockscope-cli-")
os.environ["TMPDIR"] = SCRATCH


def run(cmd, env=None, timeout=TIMEOUT, stdin=subprocess.DEVNULL):
    """(status, stdout, stderr) of `cmd` under the time bound (a Failure past it)."""
    result = harness.run(cmd, timeout, env, stdin)
    if result.timed_out:
        raise Failure("timed out: %s" % cmd)
    return result.status, result.stdout, result.stderr


def expect_usage_error(cmd, what, env=None):
    rc, out, err = run(cmd, env=env)
    if rc != 2:
        raise Failure("%s: want exit 2, got %d; stderr: %s" % (what, rc, err[-300:]))
    lines = [l for l in err.splitlines() if l.strip()]
    if not lines or not lines[0].startswith("lockscope: "):
        raise Failure("%s: want a 'lockscope: ...' message, got %r" % (what, err[-300:]))
    if "Traceback" in err or "terminate called" in err or "Segmentation" in err:
        raise Failure("%s: crashed: %s" % (what, err[-300:]))
    return lines[0]


def describe(report):
    return excerpt([(f["kind"], f["summary"][:80]) for f in report.get("findings", [])])


def inversions(report_json):
    report = json.loads(report_json)
    return [f for f in report["findings"] if f["kind"] == "lock-order-inversion"]


class Tests:
    def __init__(self, lockscope, bin_dir):
        self.ls = lockscope
        self.bin = bin_dir
        self.shim = subprocess.check_output([lockscope, "libpath"], text=True).strip()

    def prog(self, name):
        return os.path.join(self.bin, name)

    # ---- plain LD_PRELOAD -------------------------------------------------------------

    def test_libpath(self):
        if not (os.path.isabs(self.shim) and os.path.isfile(self.shim)
                and self.shim.endswith("liblockscope.so")):
            raise Failure("libpath printed %r" % self.shim)

    def test_preload_dump_name_and_mode(self):
        d = tempfile.mkdtemp(dir=SCRATCH)
        proc = subprocess.run([self.prog("three_cycle")], env=dict(
            os.environ, LD_PRELOAD=self.shim, LOCKSCOPE_DIR=d), capture_output=True)
        if proc.returncode != 0:
            raise Failure("program exit status changed under the shim: %d" % proc.returncode)
        names = os.listdir(d)
        if len(names) != 1 or not names[0].startswith("lockscope.") or not names[0].endswith(".dump"):
            raise Failure("want one lockscope.<pid>.dump, got %s" % names)
        mode = stat.S_IMODE(os.stat(os.path.join(d, names[0])).st_mode)
        if mode != 0o600:
            raise Failure("dump mode is %o, want 600" % mode)
        rc, out, err = run([self.ls, "report", "--format", "json", d])
        if rc != 66 or len(inversions(out)) != 1:
            raise Failure("report on the plain-preload dump: exit %d, %s" % (rc, out[:300]))

    def test_preload_never_follows_symlink(self):
        d = tempfile.mkdtemp(dir=SCRATCH)
        victim = os.path.join(d, "victim")
        with open(victim, "w") as f:
            f.write("precious")
        # Fork a child that waits until the symlink named after its pid is planted.
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(w)
            os.read(r, 1)
            env = dict(os.environ, LD_PRELOAD=self.shim, LOCKSCOPE_DIR=d)
            os.execve(self.prog("abba"), [self.prog("abba")], env)
        os.close(r)
        os.symlink(victim, os.path.join(d, "lockscope.%d.dump" % pid))
        os.write(w, b"x")
        os.close(w)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise Failure("program failed: %s" % status)
        with open(victim) as f:
            if f.read() != "precious":
                raise Failure("the shim wrote through a symlink")
        if not os.path.exists(os.path.join(d, "lockscope.%d.1.dump" % pid)):
            raise Failure("want lockscope.%d.1.dump next to the symlink, got %s"
                          % (pid, os.listdir(d)))

    # ---- hostile environments: the program runs as it would without the shim ----------

    def expect_as_native(self, what, argv, env, wrap):
        """`argv` with the shim preloaded, under `wrap` (a limit, a namespace: a command that
        ends by running its arguments, itself without the shim), prints and returns what it
        does without the shim, and the shim says in one line why it does not record: one
        line per process that tried to make its dump (a fork child that locks before its
        parent did tries too), all the same."""
        native = subprocess.run(wrap(argv), capture_output=True, timeout=60)
        preload = ["env", "LD_PRELOAD=" + self.shim] + ["%s=%s" % kv for kv in env.items()]
        shimmed = subprocess.run(wrap(preload + argv), capture_output=True, timeout=60)
        if (shimmed.returncode, shimmed.stdout) != (native.returncode, native.stdout):
            raise Failure("%s: want status %d and %r as without the shim, got %d and %r"
                          % (what, native.returncode, native.stdout[:100], shimmed.returncode,
                             shimmed.stdout[:100]))
        lines = shimmed.stderr.decode().splitlines()
        if (not lines or len(set(lines)) != 1
                or not lines[0].startswith("lockscope: cannot create the dump")):
            raise Failure("%s: want one line on stderr, got %r" % (what, lines))
        return lines[0]

    def test_file_size_limit_is_no_signal(self):
        # Under `ulimit -f 10000` (10 MB) the dump may not be sized: before, SIGXFSZ (153).
        d = tempfile.mkdtemp(dir=SCRATCH)
        line = self.expect_as_native(
            "ulimit -f", [self.prog("busy_clean")], {"LOCKSCOPE_DIR": d},
            lambda argv: ["bash", "-c", 'ulimit -f 10000 && exec "$@"', "bash"] + argv)
        if "ulimit -f" not in line or os.listdir(d):
            raise Failure("want the limit named and no file left: %r, %s" % (line, os.listdir(d)))

    def test_full_filesystem_is_no_signal(self):
        # LOCKSCOPE_DIR on a 4 MiB tmpfs (in a mount namespace of its own): before, a threaded
        # program died of SIGBUS (135) when a page of its sparse dump could not be allocated.
        if os.geteuid() != 0:
            print("  (not root: cannot mount a small tmpfs here)")
            return
        tiny = tempfile.mkdtemp(dir=SCRATCH)
        mount = 'mount -t tmpfs -o size=4m lockscope-full "$0" && exec "$@"'
        for program in ("hand_over_hand", "deep_nesting", "fork_storm"):
            line = self.expect_as_native(
                program, [self.prog(program)], {"LOCKSCOPE_DIR": tiny},
                lambda argv: ["unshare", "--mount", "sh", "-c", mount, tiny] + argv)
            if "space free" not in line:
                raise Failure("%s: want the reason: %r" % (program, line))
        if os.listdir(tiny):
            raise Failure("files left under the mount: %s" % os.listdir(tiny))

    def test_bad_variables_are_named_and_defaults_used(self):
        # Each bad LOCKSCOPE_* value (and a name that is none of ours) is one line on stderr
        # naming it and the default used; the program runs and prints as it would, and
        # records with the defaults (before: silence).
        d = tempfile.mkdtemp(dir=SCRATCH)
        env = dict(os.environ, LD_PRELOAD=self.shim, LOCKSCOPE_DIR=d, LOCKSCOPE_LOCKS="abc",
                   LOCKSCOPE_RING_EVENTS="99999999999", LOCKSCOPE_STACK_DEPTH="-3",
                   LOCKSCOPE_DISABLE="yes", LOCKSCOPE_LOKS="1")
        native = subprocess.run([self.prog("busy_clean")], capture_output=True, timeout=60)
        r = subprocess.run([self.prog("busy_clean")], capture_output=True, timeout=60, env=env)
        if (r.returncode, r.stdout) != (native.returncode, native.stdout):
            raise Failure("want status %d and %r, got %d and %r" % (
                native.returncode, native.stdout, r.returncode, r.stdout))
        lines = r.stderr.decode().splitlines()
        want = [("LOCKSCOPE_LOCKS=abc", "the default 2097152 is used"),
                ("LOCKSCOPE_RING_EVENTS=99999999999", "the default 2048 is used"),
                ("LOCKSCOPE_STACK_DEPTH=-3", "the default 32 is used"),
                ("LOCKSCOPE_DISABLE=yes", "recording on"),
                ("LOCKSCOPE_LOKS", "is not a lockscope variable")]
        if len(lines) != len(want) or not all(
                any(l.startswith("lockscope: " + name) and what in l for l in lines)
                for name, what in want):
            raise Failure("want one line for each of %s, got %r" % ([w[0] for w in want], lines))
        rc, out, err = run([self.ls, "report", "--format", "json", d])
        if rc != 0 or not json.loads(out)["dumps"]:
            raise Failure("no dump recorded with the defaults: %d %s" % (rc, err[-200:]))

    def test_secure_execution_records_nothing(self):
        # A setuid-root copy of a program, run by nobody (AT_SECURE), with the shim where the
        # loader takes it for such a process (a setuid library in a system directory, here an
        # overlay in a mount namespace of its own). As root the same setup records (the
        # check is not vacuous); in the secure process nothing is written.
        if os.geteuid() != 0:
            print("  (not root: cannot make a setuid program here)")
            return
        # (Under /tmp, not the scratch directory: nobody must reach the program.)
        work = tempfile.mkdtemp(prefix="lockscope-secure-", dir="/tmp")
        try:
            self.secure_execution_in(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def secure_execution_in(self, work):
        os.chmod(work, 0o755)
        for sub in ("upper", "work", "dumps"):
            os.mkdir(os.path.join(work, sub))
        dumps = os.path.join(work, "dumps")
        os.chmod(dumps, 0o777)
        prog = os.path.join(work, "three_cycle")
        shutil.copy(self.prog("three_cycle"), prog)
        os.chmod(prog, 0o4755)
        libdir = "/usr/lib/x86_64-linux-gnu"
        if not os.path.isdir(libdir):
            print("  (no %s here)" % libdir)
            return
        script = (
            'mount -t overlay overlay -o lowerdir=%(lib)s,upperdir=%(w)s/upper,workdir=%(w)s/work'
            ' %(lib)s || exit 97\n'
            'cp %(shim)s %(lib)s/liblockscope-sectest.so && chmod 4755 %(lib)s/liblockscope-sectest.so\n'
            'env LD_PRELOAD=liblockscope-sectest.so LOCKSCOPE_DIR=%(d)s %(prog)s || exit 98\n'
            'ls %(d)s | grep -q dump || exit 99\n'
            'rm -f %(d)s/*\n'
            'setpriv --reuid=65534 --regid=65534 --clear-groups env LD_PRELOAD=liblockscope-sectest.so'
            ' LOCKSCOPE_DIR=%(d)s %(prog)s\n'
            % {"lib": libdir, "w": work, "shim": self.shim, "d": dumps, "prog": prog})
        r = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True,
                           timeout=60)
        if r.returncode == 97:
            print("  (no overlay filesystem here)")
            return
        if r.returncode != 0:
            raise Failure("want status 0 (as root the shim recorded; the program ran), got %d: %r"
                          % (r.returncode, r.stderr[-300:]))
        if os.listdir(dumps) or r.stderr:
            raise Failure("a secure-execution process wrote %s, stderr %r"
                          % (os.listdir(dumps), r.stderr[-300:]))

    # ---- live process and kill -9 ------------------------------------------------------

    def test_report_live_then_after_kill9(self):
        d = tempfile.mkdtemp(dir=SCRATCH)
        env = dict(os.environ, LD_PRELOAD=self.shim, LOCKSCOPE_DIR=d)
        proc = subprocess.Popen([self.prog("inversion_then_wait")], env=env,
                                stdout=subprocess.PIPE, start_new_session=True)
        try:
            line = proc.stdout.readline()
            if line.strip() != b"ready":
                raise Failure("program did not get ready: %r" % line)
            rc, out, err = run([self.ls, "report", "--format", "json", d])
            inv = inversions(out) if rc in (0, 66) else []
            if rc != 66 or len(inv) != 1:
                raise Failure("live: want exit 66 and one inversion, got %d: %s %s"
                              % (rc, out[:300], err[-300:]))
            names = sorted(t["name"] for t in inv[0]["threads"])
            if names != ["live-ab", "live-ba"]:
                raise Failure("live: threads %s" % names)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        rc, out, err = run([self.ls, "report", "--format", "json", d])
        inv = inversions(out) if rc in (0, 66) else []
        if rc != 66 or len(inv) != 1:
            raise Failure("after kill -9: want exit 66 and one inversion, got %d: %s" % (rc, err[-300:]))
        funcs = {fr["function"] for s in inv[0]["stacks"] for fr in s["frames"]}
        if not any("live_a_then_b" in f for f in funcs):
            raise Failure("after kill -9: stacks lack live_a_then_b: %s" % sorted(funcs))

    def test_hung_abba_report_live_then_after_kill9(self):
        d = tempfile.mkdtemp(dir=SCRATCH)
        env = dict(os.environ, LD_PRELOAD=self.shim, LOCKSCOPE_DIR=d)
        proc = subprocess.Popen([self.prog("abba_hang")], env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL)

        def deadlocks():
            rc, out, err = run([self.ls, "report", "--format", "json", d])
            if rc not in (0, 66):
                raise Failure("report failed: %d %s" % (rc, err[-300:]))
            return rc, [f for f in json.loads(out)["findings"] if f["kind"] == "deadlock"]

        def check(found, when):
            if len(found) != 1:
                raise Failure("%s: want one deadlock, got %d" % (when, len(found)))
            names = sorted(t["name"] for t in found[0]["threads"])
            funcs = {fr["function"] for s in found[0]["stacks"] for fr in s["frames"]}
            if names != ["hang-ab", "hang-ba"]:
                raise Failure("%s: threads %s" % (when, names))
            for want in ("hang_lock_a_then_b", "hang_lock_b_then_a"):
                if not any(want in f for f in funcs):
                    raise Failure("%s: stacks lack %s: %s" % (when, want, sorted(funcs)))

        try:
            deadline = time.monotonic() + 20
            found = []
            while time.monotonic() < deadline:
                rc, found = deadlocks()
                if found:
                    break
                time.sleep(0.3)
            if proc.poll() is not None:
                raise Failure("the program ended: it should hang")
            if rc != 66:
                raise Failure("live: exit %d, want 66" % rc)
            check(found, "live process")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        rc, found = deadlocks()
        if rc != 66:
            raise Failure("after kill -9: exit %d, want 66" % rc)
        check(found, "after kill -9")

    # ---- bad input ---------------------------------------------------------------------

    def test_bad_options(self):
        expect_usage_error([self.ls, "report", "--bogus", "x"], "unknown option")
        expect_usage_error([self.ls, "report", "--format", "xml", "x"], "bad format")
        expect_usage_error([self.ls, "run", "--error-exitcode", "many", "--", "true"],
                           "bad exit code")
        expect_usage_error([self.ls, "frobnicate"], "unknown command")
        expect_usage_error([self.ls, "report"], "no input")
        expect_usage_error([self.ls, "run"], "no program")
        line = expect_usage_error([self.ls, "report", "--sysroot", "/no/such/dir", "x"],
                                  "a sysroot that is not a directory")
        if "--sysroot needs a directory" not in line:
            raise Failure("bad --sysroot: %r" % line)

    def test_help_lists_every_option_and_variable(self):
        # Every variable the shim reads: the section table's capacities, and the others.
        shim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shim")
        source = "".join(open(os.path.join(shim, f)).read()
                         for f in ("config.cc", os.path.join("format", "dump_format.h")))
        variables = sorted(set(re.findall(r'"LOCKSCOPE_([A-Z_]+)"', source)))
        if len(variables) < 15:
            raise Failure("found only %s in the shim's sources" % variables)
        common = ["--format", "--output", "--suppressions", "--verbose", "--wrapper",
                  "--baseline", "--write-baseline", "--error-exitcode", "--source-root"]
        own = {"run": ["--dump-dir", "--hang-timeout"],
               "report": ["--sysroot", "--timeline", "--threads"],
               "attach": ["--watch", "--dump-dir"]}
        for command, options in own.items():
            rc, out, err = run([self.ls, command, "--help"])
            missing = [o for o in common + options if o not in out]
            missing += ["LOCKSCOPE_" + v for v in variables
                        if "LOCKSCOPE_" + v not in out and "_" + v not in out]
            if rc != 0 or missing or "exit status" not in out:
                raise Failure("%s --help: exit %d, missing %s" % (command, rc, missing))
        rc, out, err = run([self.ls, "--version"])
        if rc != 0 or not re.match(r"lockscope \d+\.\d+\.\d+ \(dump format \d+\.\d+\)$",
                                   out.strip()):
            raise Failure("--version: %d %r" % (rc, out))

    def test_meson_install_gives_a_working_lockscope(self):
        # `meson install`: the analyzer as lockscope, the shim in libdir (found by the installed
        # analyzer), the man page.
        build = os.path.dirname(os.path.dirname(self.shim))
        if not os.path.isdir(os.path.join(build, "meson-info")):
            raise Failure("the shim %s is not in a meson build directory" % self.shim)
        dest = tempfile.mkdtemp(dir=SCRATCH)
        rc, out, err = run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild",
                            "--quiet"], timeout=300)
        installed = {os.path.relpath(os.path.join(d, f), dest)
                     for d, _, files in os.walk(dest) for f in files}
        exe = [f for f in installed if f.endswith("bin/lockscope")]
        lib = [f for f in installed if f.endswith("/liblockscope.so")]
        man = [f for f in installed if f.endswith("man/man1/lockscope.1")]
        if rc != 0 or len(exe) != 1 or len(lib) != 1 or len(man) != 1:
            raise Failure("meson install: %d, installed %s: %s" % (rc, sorted(installed), err[-300:]))
        lockscope = os.path.join(dest, exe[0])
        rc, out, err = run([lockscope, "libpath"], env={"LOCKSCOPE_SHIM": ""})
        if rc != 0 or os.path.realpath(out.strip()) != os.path.realpath(os.path.join(dest, lib[0])):
            raise Failure("the installed lockscope finds %r, not %s" % (out.strip(), lib[0]))
        rc, out, err = run([lockscope, "run", "--format", "json", "--", self.prog("abba")],
                           env={"LOCKSCOPE_SHIM": ""})
        if rc != 66 or len(inversions(out)) != 1:
            raise Failure("the installed lockscope: %d %s" % (rc, (err or out)[-300:]))
        if ".TH LOCKSCOPE 1" not in open(os.path.join(dest, man[0])).read():
            raise Failure("the man page is not one")

    def test_missing_program(self):
        msg = expect_usage_error([self.ls, "run", "--", "/nonexistent/program"], "missing program")
        if "/nonexistent/program" not in msg:
            raise Failure("message does not name the program: %r" % msg)
        expect_usage_error([self.ls, "run", "--", "no-such-command-lockscope"], "not in PATH")

    def test_corrupt_dumps(self):
        d = tempfile.mkdtemp(dir=SCRATCH)
        rc, _, _ = run([self.ls, "run", "--dump-dir", d, "--", self.prog("abba")])
        dump = [os.path.join(d, n) for n in os.listdir(d)][0]
        data = open(dump, "rb").read()
        cases = {
            "missing": None,
            "empty": b"",
            "garbage": os.urandom(8192),
            "bad-magic": b"X" + data[1:],
            "truncated": data[: len(data) // 2],
            "bad-version": data[:8] + b"\x63\x00" + data[10:],
        }
        for name, content in cases.items():
            path = os.path.join(d, "case-%s.dump" % name)
            if content is not None:
                with open(path, "wb") as f:
                    f.write(content)
            line = expect_usage_error([self.ls, "report", path], "corrupt dump (%s)" % name)
            if path not in line:
                raise Failure("%s: message does not name the file: %r" % (name, line))
        # In a directory, a file that is not a dump (a process killed while creating it) is
        # skipped with a note.
        open(os.path.join(d, "lockscope.1.dump"), "wb").close()
        rc, out, err = run([self.ls, "report", "--format", "json", d])
        notes = json.loads(out)["notes"] if rc in (0, 66) else []
        if rc != 66 or not any("skipped" in n for n in notes):
            raise Failure("directory with bad files: exit %d, notes %s, %s" % (rc, notes, err[-200:]))
        # The original still reads fine: nothing the user had is lost.
        rc, out, err = run([self.ls, "report", "--format", "json", dump])
        if rc != 66:
            raise Failure("original dump no longer reads: %d %s" % (rc, err[-200:]))

    # ---- exit status, formats, suppressions -------------------------------------------

    def test_program_status_preserved(self):
        rc, _, err = run([self.ls, "run", "--", "/bin/sh", "-c", "exit 7"])
        if rc != 7:
            raise Failure("want the program's status 7, got %d: %s" % (rc, err[-300:]))
        rc, _, _ = run([self.ls, "run", "--error-exitcode", "3", "--", self.prog("abba")])
        if rc != 3:
            raise Failure("--error-exitcode 3: got %d" % rc)

    # (program, its arguments, run's options): between them, every kind of finding.
    SARIF_RUNS = [
        ("abba", [], []),
        ("misuse", ["unlock-not-owner"], []),
        ("misuse", ["destroy-locked"], []),
        ("misuse", ["relock-error"], []),
        ("misuse", ["exit-holding"], []),
        ("abba_hang", [], ["--hang-timeout", "2"]),
        ("self_relock", [], ["--hang-timeout", "2"]),
        ("worker_pool", [], ["--hang-timeout", "2"]),
        ("fork_exec", [], []),
        ("py_abba.py", ["apart"], []),
        ("consistent_order", [], []),
    ]

    def validate_sarif(self, paths):
        """Fails unless every SARIF file in `paths` is valid against the schema in tests/."""
        validator = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sarif",
                                 "validate_sarif.py")
        rc, out, err = run(["/usr/bin/python3", validator] + paths)
        if rc != 0:
            raise Failure("SARIF not valid against tests/sarif/sarif-2.1.0.schema.json (%d): %s"
                          % (rc, excerpt(out + err, 600)))

    def test_sarif_schema(self):
        """Each kind of finding, as SARIF, is valid SARIF 2.1.0; and the check can fail."""
        d = tempfile.mkdtemp(dir=SCRATCH)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        paths, rules = [], set()
        for i, (name, args, options) in enumerate(self.SARIF_RUNS):
            path = os.path.join(d, "%d-%s.sarif" % (i, name))
            cmd = [self.prog(name)] + args
            if name.endswith(".py"):
                cmd = ["/usr/bin/python3.11"] + cmd
            run([self.ls, "run", "--format", "sarif", "--source-root", root, "--output", path]
                + options + ["--"] + cmd, timeout=90)
            if not os.path.exists(path):
                raise Failure("%s: no SARIF written" % name)
            with open(path) as f:
                log = json.load(f)
            rules |= {r["ruleId"] for r in log["runs"][0]["results"]}
            paths.append(path)
        want = {"lock-order-inversion", "deadlock", "self-deadlock", "stall", "unlock-not-owner",
                "destroy-locked", "relock-error", "exit-holding", "held-across-fork"}
        if rules != want:
            raise Failure("the runs must give every kind: missing %s, extra %s"
                          % (sorted(want - rules), sorted(rules - want)))
        self.validate_sarif(paths)
        # The rules name every kind used, with its description; results point at their rule.
        with open(paths[1]) as f:
            run0 = json.load(f)["runs"][0]
        rule = run0["tool"]["driver"]["rules"][run0["results"][0]["ruleIndex"]]
        if rule["id"] != "unlock-not-owner" or not rule.get("shortDescription", {}).get("text"):
            raise Failure("rules: %s" % excerpt(run0["tool"], 300))
        for path in paths:  # every kind a report gives is in the table of kinds
            with open(path) as f:
                for r in json.load(f)["runs"][0]["tool"]["driver"]["rules"]:
                    if not r.get("shortDescription", {}).get("text"):
                        raise Failure("%s: rule %s has no description" % (path, r["id"]))
        # The check can fail: three logs the standard forbids, each caught.
        with open(paths[0]) as f:
            good = json.load(f)
        broken = []
        for label, spoil in [
                ("a thread flow with no locations", lambda log: log["runs"][0]["results"][0][
                    "codeFlows"][0]["threadFlows"][0].update(locations=[])),
                ("a property the standard does not define", lambda log: log["runs"][0][
                    "results"][0].update(ruleid="x")),
                ("a URI with a space", lambda log: log["runs"][0]["results"][0]["locations"][0][
                    "physicalLocation"]["artifactLocation"].update(uri="my file.cc"))]:
            log = json.loads(json.dumps(good))
            spoil(log)
            path = os.path.join(d, "broken-%d.sarif" % len(broken))
            with open(path, "w") as f:
                json.dump(log, f)
            rc, out, _ = run(["/usr/bin/python3", os.path.join(root, "tests", "sarif",
                                                               "validate_sarif.py"), path])
            if rc != 1 or path not in out:
                raise Failure("the validator passed %s: %d %s" % (label, rc, out[-300:]))
            broken.append(label)

    def test_formats(self):
        d = tempfile.mkdtemp(dir=SCRATCH)
        rc, _, _ = run([self.ls, "run", "--dump-dir", d, "--", self.prog("abba")])
        rc, out, _ = run([self.ls, "report", "--format", "dot", d])
        if rc != 66 or "digraph" not in out or "color=red" not in out or "g_accounts_lock" not in out:
            raise Failure("dot: %d %s" % (rc, out[:300]))
        rc, out, _ = run([self.ls, "report", "--format", "sarif", d])
        sarif = json.loads(out)
        results = sarif["runs"][0]["results"]
        if sarif["version"] != "2.1.0" or len(results) != 1 or results[0]["ruleId"] != "lock-order-inversion":
            raise Failure("sarif: %s" % out[:300])
        # --source-root: the program's files relative to it, the result located in them.
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        rc, out, _ = run([self.ls, "report", "--format", "sarif", "--source-root", root, d])
        run0 = json.loads(out)["runs"][0]
        where = run0["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        if (where != {"uri": "examples/abba.cc", "uriBaseId": "SRCROOT"}
                or run0["originalUriBaseIds"]["SRCROOT"]["uri"] != "file://%s/" % root):
            raise Failure("sarif --source-root: %s" % excerpt(run0, 400))
        expect_usage_error([self.ls, "report", "--source-root", "/no/such/dir", d],
                           "a source root that is not a directory")
        svg = os.path.join(d, "graph.svg")
        rc, out, _ = run([self.ls, "report", "--format", "svg", "--output", svg, d])
        drawn = open(svg).read() if os.path.exists(svg) else ""
        if (rc != 66 or "<svg" not in drawn or 'stroke="red"' not in drawn
                or "g_accounts_lock" not in drawn):
            raise Failure("svg: %d %s" % (rc, drawn[:300]))
        fake = tempfile.mkdtemp(dir=SCRATCH)  # a graphviz that fails: one line, exit 2
        with open(os.path.join(fake, "dot"), "w") as f:
            f.write("#!/bin/sh\nexit 3\n")
        os.chmod(os.path.join(fake, "dot"), 0o755)
        line = expect_usage_error([self.ls, "report", "--format", "svg", d], "a failing dot",
                                  env={"PATH": fake + os.pathsep + os.environ["PATH"]})
        if "dot failed" not in line:
            raise Failure("failing dot: %r" % line)
        rc, out, _ = run([self.ls, "report", "--format", "junit", d])
        import xml.dom.minidom
        suites = xml.dom.minidom.parseString(out).getElementsByTagName("testsuite")
        cases = suites[0].getElementsByTagName("testcase") if suites else []
        if (rc != 66 or suites[0].getAttribute("failures") != "1" or len(cases) != 1
                or cases[0].getAttribute("classname") != "lockscope.lock-order-inversion"
                or "worker_lock_a_then_b" not in out):
            raise Failure("junit: %d %s" % (rc, out[:400]))
        outfile = os.path.join(d, "report.json")
        rc, out, _ = run([self.ls, "report", "--format", "json", "--output", outfile, d])
        if rc != 66 or out.strip() or len(inversions(open(outfile).read())) != 1:
            raise Failure("--output: rc %d, stdout %r" % (rc, out[:100]))

    # ---- lock classes across processes ------------------------------------------------

    def class_runs(self, *orders):
        """Runs class_abba once per order, each under `run` in a directory of its own."""
        dirs = []
        for order in orders:
            d = tempfile.mkdtemp(dir=SCRATCH)
            rc, out, err = run([self.ls, "run", "--format", "json", "--dump-dir", d, "--",
                                self.prog("class_abba"), order])
            if rc != 0 or json.loads(out)["findings"]:
                raise Failure("class_abba %s alone: want exit 0 and no finding, got %d: %s"
                              % (order, rc, describe(json.loads(out))))
            dirs.append(d)
        return dirs

    def class_inversion(self, dirs, extra=()):
        rc, out, err = run([self.ls, "report", "--format", "json"] + list(extra) + dirs)
        found = [f for f in inversions(out) if f.get("level") == "class"]
        if rc != 66 or len(found) != 1:
            raise Failure("want exit 66 and one class-level inversion, got %d: %s"
                          % (rc, describe(json.loads(out))))
        f = found[0]
        pids = {t["pid"] for t in f["threads"]}
        frames = [fr for s in f["stacks"] for fr in s["frames"]]
        if (len(pids) != 2 or f["severity"] != "error"
                or not any("take_in_order" in (fr["function"] or "")
                           and fr["file"].endswith("class_abba.cc") and fr["line"] > 0
                           for fr in frames)
                or not all(any(str(pid) in d for d in f["details"]) for pid in pids)):
            raise Failure("the finding must name both processes and the program's frames: %s"
                          % excerpt(f, 600))
        return sorted(l["class"] for l in f["locks"])

    def test_class_inversion_across_runs(self):
        # One run takes g_first -> g_second, another g_second -> g_first: neither shows a
        # cycle, both together do, between the lock classes of the two globals.
        ab, ba = self.class_runs("ab", "ba")
        classes = self.class_inversion([ab, ba])
        if classes != ["class_abba:g_first", "class_abba:g_second"]:
            raise Failure("classes: %s" % classes)
        rc, out, err = run([self.ls, "report", "--format", "json", ab, ab])
        if rc != 0 or inversions(out):
            raise Failure("the same run twice: want exit 0, got %d: %s" % (rc, out[:300]))
        rc, out, err = run([self.ls, "report", ab, ba])
        if rc != 66 or "lock-order-inversion [error, lock classes]" not in err:
            raise Failure("text: %d %s" % (rc, err[-600:]))

    def test_class_of_a_heap_lock_is_its_first_site_past_wrappers(self):
        # A Registry's and a Cache's mutexes, taken through the program's Mutex::Lock():
        # classed by their constructors' lines, not by the wrapper (one class for all).
        hab, hba = self.class_runs("heap-ab", "heap-ba")
        classes = self.class_inversion([hab, hba])
        if (len(classes) != 2 or not classes[0].startswith("Cache::Cache() at class_abba.cc:")
                or not classes[1].startswith("Registry::Registry() at class_abba.cc:")):
            raise Failure("classes: %s" % classes)
        # --wrapper: the constructors declared wrappers too, the classes move to their callers.
        classes = self.class_inversion([hab, hba], ["--wrapper", "^(Registry|Cache)::"])
        if not all(c.startswith("take_in_order(void*) at class_abba.cc:") for c in classes):
            raise Failure("--wrapper: classes %s" % classes)
        line = expect_usage_error([self.ls, "report", "--wrapper", "(", hab], "a bad --wrapper")
        if "--wrapper needs a regular expression" not in line:
            raise Failure("bad --wrapper: %r" % line)

    def test_class_of_a_python_lock_is_where_it_was_made(self):
        # Two runs of one script, each taking two threading.Locks in one order, at the same
        # two lines: their classes are the Python lines that made them (not the lines that
        # took them, which are the same in both runs; not the interpreter's C frames, which
        # every Python lock shares), so the runs together show the cycle.
        d = tempfile.mkdtemp(dir=SCRATCH)
        script = os.path.join(d, "py_orders.py")
        with open(script, "w") as f:
            f.write("import sys, threading\n"
                    "def make_config():\n"
                    "    return threading.Lock()\n"
                    "def make_journal():\n"
                    "    return threading.Lock()\n"
                    "config, journal = make_config(), make_journal()\n"
                    "def take(a, b):\n"
                    "    with a:\n"
                    "        with b:\n"
                    "            pass\n"
                    "locks = (config, journal) if sys.argv[1] == 'ab' else (journal, config)\n"
                    "t = threading.Thread(target=take, args=locks)\n"
                    "t.start()\n"
                    "t.join()\n")
        dirs = []
        for order in ("ab", "ba"):
            dirs.append(tempfile.mkdtemp(dir=SCRATCH))
            rc, out, err = run([self.ls, "run", "--format", "json", "--dump-dir", dirs[-1], "--",
                                "/usr/bin/python3", script, order])
            if rc != 0 or inversions(out):
                raise Failure("py_orders %s alone: %d %s" % (order, rc, out[-300:]))
        classes = self.class_inversion_py(dirs)
        if classes != ["make_config at py_orders.py:3", "make_journal at py_orders.py:5"]:
            raise Failure("python lock classes: %s" % classes)

    def test_python_stacks_name_each_line_again(self):
        # One thread takes two pairs of locks through take(), then another thread takes them
        # in the other orders: two inversions. The first thread's second acquisition meets
        # take()'s line 5 again, whose line the shim then has from its per-thread cache: every
        # acquisition's stack must still name take() at line 5 and its caller at its own line.
        d = tempfile.mkdtemp(dir=SCRATCH)
        script = os.path.join(d, "py_lines.py")
        with open(script, "w") as f:
            f.write("import threading\n"
                    "first, second, third = threading.Lock(), threading.Lock(), threading.Lock()\n"
                    "def take(a, b):\n"
                    "    with a:\n"
                    "        with b:\n"
                    "            pass\n"
                    "def forward():\n"
                    "    take(first, second)\n"
                    "    take(third, second)\n"
                    "def backward():\n"
                    "    take(second, first)\n"
                    "    take(second, third)\n"
                    "for work in (forward, backward):\n"
                    "    t = threading.Thread(target=work)\n"
                    "    t.start()\n"
                    "    t.join()\n")
        rc, out, err = run([self.ls, "run", "--format", "json", "--dump-dir",
                            tempfile.mkdtemp(dir=SCRATCH), "--", "/usr/bin/python3", script])
        found = inversions(out)
        pairs = []
        for f in found:
            sites = []
            for s in f["stacks"]:
                py = [(fr.get("function"), fr.get("line")) for fr in s["frames"]
                      if fr.get("language") == "python"]
                acquiring = "acquired here" in s.get("role", "")
                if not py or py[0] != ("take", 5 if acquiring else 4):
                    raise Failure("stack %r names %s" % (s.get("role"), py[:2]))
                if acquiring:
                    sites.append(py[1])
            pairs.append(sorted(sites))
        want = [[("backward", 11), ("forward", 8)], [("backward", 12), ("forward", 9)]]
        if rc != 66 or sorted(pairs) != want:
            raise Failure("want two inversions acquired at %s: %d %s" % (want, rc, sorted(pairs)))

    def class_inversion_py(self, dirs):
        rc, out, err = run([self.ls, "report", "--format", "json"] + dirs)
        found = [f for f in inversions(out) if f.get("level") == "class"]
        frames = [fr for f in found for s in f["stacks"] for fr in s["frames"]]
        if (rc != 66 or len(found) != 1
                or not any(fr.get("function") == "take" and fr.get("language") == "python"
                           for fr in frames)):
            raise Failure("want one class-level inversion through take(): %d %s"
                          % (rc, describe(json.loads(out))))
        return sorted(l["class"] for l in found[0]["locks"])

    def class_report(self, dirs, extra=(), want_rc=None):
        rc, out, err = run([self.ls, "report", "--format", "json"] + list(extra) + dirs)
        if want_rc is not None and rc != want_rc:
            raise Failure("report %s: want exit %d, got %d: %s"
                          % (" ".join(extra), want_rc, rc, (err or out)[-400:]))
        return inversions(out)

    def test_baseline_accepts_a_cycle_once_then_fails_only_on_a_new_one(self):
        ab, ba, ac, ca = self.class_runs("ab", "ba", "ac", "ca")
        base = os.path.join(tempfile.mkdtemp(dir=SCRATCH), "lockscope.baseline")
        # Accepting: the baseline holds the class edges, and this report's cycle is known.
        found = self.class_report([ab, ba], ["--write-baseline", base], want_rc=0)
        edges = [l for l in open(base).read().splitlines() if l and not l.startswith("#")]
        if sorted(edges) != ["class_abba:g_first\tclass_abba:g_second",
                             "class_abba:g_second\tclass_abba:g_first"]:
            raise Failure("baseline edges: %s" % edges)
        if [f.get("baseline") for f in found] != ["known"]:
            raise Failure("written baseline: %s" % excerpt(found, 300))
        known = self.class_report([ab, ba], ["--baseline", base], want_rc=0)
        if ([(f.get("baseline"), f["severity"]) for f in known] != [("known", "warning")]
                or known[0]["fingerprint"] != found[0]["fingerprint"]):
            raise Failure("known cycle: %s" % excerpt(known, 300))
        # Two other runs of the same cycle (other pids, other addresses): the same fingerprint.
        ab2, ba2 = self.class_runs("ab", "ba")
        again = self.class_report([ab2, ba2], [], want_rc=66)
        if [f["fingerprint"] for f in again] != [found[0]["fingerprint"]]:
            raise Failure("fingerprint moved: %s then %s" % (found[0]["fingerprint"],
                                                             [f["fingerprint"] for f in again]))
        # A new cycle fails the report; the known one stays known.
        both = self.class_report([ab, ba, ac, ca], ["--baseline", base], want_rc=66)
        states = sorted((f.get("baseline"), sorted(l["class"] for l in f["locks"])) for f in both)
        if states != [("known", ["class_abba:g_first", "class_abba:g_second"]),
                      ("new", ["class_abba:g_first", "class_abba:g_third"])]:
            raise Failure("with a new cycle: %s" % states)
        new = [f for f in both if f.get("baseline") == "new"][0]
        if not any("new: not in the baseline: class_abba:g_" in d for d in new["details"]):
            raise Failure("the new finding must name its new edge: %s" % new["details"])
        rc, out, err = run([self.ls, "report", "--format", "dot", "--baseline", base,
                            ab, ba, ac, ca])
        colours = {(m.group(1), m.group(2)): m.group(3) for m in re.finditer(
            r'n(\d+) -> n(\d+) \[label="[^"]*", color=(\w+)', out)}
        if sorted(colours.values()) != ["orange", "orange", "red", "red"]:
            raise Failure("dot with a baseline: the known cycle orange, the new one red: %s"
                          % out[-600:])
        rc, out, err = run([self.ls, "report", "--format", "sarif", "--baseline", base,
                            ab, ba, ac, ca])
        results = json.loads(out)["runs"][0]["results"]
        sarif_path = os.path.join(SCRATCH, "baseline.sarif")
        with open(sarif_path, "w") as f:
            f.write(out)
        self.validate_sarif([sarif_path])
        if sorted(r.get("baselineState") for r in results) != ["new", "unchanged"] or not all(
                len(r.get("partialFingerprints", {}).get("lockscope/v1", "")) == 16
                for r in results):
            raise Failure("sarif: %s" % excerpt(results, 300))
        # A bad baseline is a usage error, before anything runs.
        with open(base, "w") as f:
            f.write("class_abba:g_first -> class_abba:g_second\n")
        line = expect_usage_error([self.ls, "report", "--baseline", base, ab], "a bad baseline")
        if "not a baseline edge" not in line:
            raise Failure("bad baseline: %r" % line)
        expect_usage_error([self.ls, "run", "--baseline", base + ".missing", "--", "true"],
                           "a missing baseline")

    # ---- the README's CI recipes ------------------------------------------------------

    ORDER_C = r"""
#include <pthread.h>
#include <string.h>
pthread_mutex_t g_first = PTHREAD_MUTEX_INITIALIZER, g_second = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_third = PTHREAD_MUTEX_INITIALIZER, g_fourth = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t* lock_of(char c) {
  return c == 'a' ? &g_first : c == 'b' ? &g_second : c == 'c' ? &g_third : &g_fourth;
}
static void* take(void* order) {  /* "ab": g_first, then g_second while holding it */
  const char* o = (const char*)order;
  pthread_mutex_lock(lock_of(o[0]));
  pthread_mutex_lock(lock_of(o[1]));
  pthread_mutex_unlock(lock_of(o[1]));
  pthread_mutex_unlock(lock_of(o[0]));
  return 0;
}
int main(int argc, char** argv) {  /* "both": "cd" and "dc" on two threads, one after the other */
  pthread_t t;
  const char* orders[2] = {argv[1], argv[1]};
  if (strcmp(argv[1], "both") == 0) { orders[0] = "cd"; orders[1] = "dc"; }
  for (int i = 0; i < 2; ++i) { pthread_create(&t, 0, take, (void*)orders[i]); pthread_join(t, 0); }
  return 0;
}
"""

    def recipe_project(self, build_file, name):
        d = tempfile.mkdtemp(dir=SCRATCH)
        with open(os.path.join(d, "order.c"), "w") as f:
            f.write(self.ORDER_C)
        with open(os.path.join(d, name), "w") as f:
            f.write(build_file)
        return d

    def suite_verdicts(self, dumps, out, what):
        """The recipe's suite: test `both` failed (its own cycle, g_third and g_fourth), `ab`
        and `ba` passed; the suite's dumps merged show the class-level cycle of ab and ba."""
        # Each test's `run` made a directory of its own under TMPDIR: all of them, merged.
        rc, rep, err = run([self.ls, "report", "--format", "json"]
                           + sorted(glob.glob(os.path.join(dumps, "lockscope.*"))))
        found = inversions(rep)
        levels = sorted(f.get("level") for f in found)
        if rc != 66 or levels != ["class", "instance"]:
            raise Failure("%s: the suite's dumps: %d, levels %s" % (what, rc, levels))

    def test_recipe_meson_test_setup(self):
        d = self.recipe_project(
            "project('recipe', 'c')\n"
            "lockscope = find_program('lockscope')\n"
            "add_test_setup('lockscope', exe_wrapper : [lockscope, 'run', '--'])\n"
            "order = executable('order', 'order.c', dependencies : dependency('threads'),\n"
            "                   c_args : ['-g'])\n"
            "foreach t : ['ab', 'ba', 'both']\n"
            "  test(t, order, args : [t])\n"
            "endforeach\n", "meson.build")
        ls_dir = os.path.dirname(os.path.abspath(self.ls))
        env = {"PATH": ls_dir + os.pathsep + os.environ["PATH"]}
        rc, out, err = run(["meson", "setup", os.path.join(d, "build"), d], env=env, timeout=300)
        if rc != 0:
            raise Failure("meson setup: %s" % (out + err)[-400:])
        dumps = tempfile.mkdtemp(dir=SCRATCH)
        env["TMPDIR"] = dumps  # each test's `run` makes its dump directory there
        rc, out, err = run(["meson", "test", "-C", os.path.join(d, "build"), "--setup",
                            "lockscope", "--print-errorlogs"], env=env, timeout=300)
        if (rc == 0 or not re.search(r"\bboth\s+FAIL", out) or not re.search(r"\bab\s+OK", out)
                or not re.search(r"\bba\s+OK", out)):
            raise Failure("meson test --setup lockscope: %d %s" % (rc, out[-600:]))
        self.suite_verdicts(dumps, out, "meson")

    def test_recipe_ctest_emulator(self):
        d = self.recipe_project(
            "cmake_minimum_required(VERSION 3.16)\n"
            "project(recipe C)\n"
            "find_package(Threads REQUIRED)\n"
            "add_executable(order order.c)\n"
            "target_link_libraries(order Threads::Threads)\n"
            "enable_testing()\n"
            "foreach(t ab ba both)\n"
            "  add_test(NAME ${t} COMMAND order ${t})\n"
            "endforeach()\n", "CMakeLists.txt")
        build = os.path.join(d, "build")
        rc, out, err = run(["cmake", "-S", d, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                            "-DCMAKE_CROSSCOMPILING_EMULATOR=%s;run;--" % os.path.abspath(self.ls)],
                           timeout=300)
        if rc == 0:
            rc, out, err = run(["cmake", "--build", build], timeout=300)
        if rc != 0:
            raise Failure("cmake: %s" % (out + err)[-400:])
        dumps = tempfile.mkdtemp(dir=SCRATCH)
        rc, out, err = run(["ctest", "--test-dir", build, "--output-on-failure"],
                           env={"TMPDIR": dumps}, timeout=300)
        if (rc == 0 or not re.search(r"both \.+\**\s*Failed", out)
                or not re.search(r"ab \.+\s+Passed", out)):
            raise Failure("ctest: %d %s" % (rc, out[-600:]))
        self.suite_verdicts(dumps, out, "ctest")

    def test_recipe_pytest(self):
        d = tempfile.mkdtemp(dir=SCRATCH)
        with open(os.path.join(d, "test_orders.py"), "w") as f:
            f.write("import threading\n"
                    "first, second = threading.Lock(), threading.Lock()\n"
                    "def take(a, b):\n"
                    "    with a:\n"
                    "        with b:\n"
                    "            pass\n"
                    "def run_on_a_thread(*locks):\n"
                    "    t = threading.Thread(target=take, args=locks)\n"
                    "    t.start()\n"
                    "    t.join()\n"
                    "def test_first_then_second():\n"
                    "    run_on_a_thread(first, second)\n"
                    "def test_second_then_first():\n"
                    "    run_on_a_thread(second, first)\n")
        report = os.path.join(d, "lockscope.json")  # pytest's own output is on stdout
        rc, out, err = run([self.ls, "run", "--format", "json", "--output", report, "--",
                            "/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", d],
                           timeout=300)
        if "2 passed" not in out:
            raise Failure("pytest's own verdict changed: %s" % out[-300:])
        found = inversions(open(report).read()) if os.path.exists(report) else []
        frames = [fr for f in found for s in f["stacks"] for fr in s["frames"]]
        if (rc != 66 or len(found) != 1
                or not any(fr.get("function") == "take" and fr.get("language") == "python"
                           and (fr.get("file") or "").endswith("test_orders.py") for fr in frames)):
            raise Failure("pytest under lockscope: %d %s" % (rc, (err or out)[-600:]))

    def test_suppressions(self):
        d = tempfile.mkdtemp(dir=SCRATCH)
        supp = os.path.join(d, "supp.txt")
        with open(supp, "w") as f:
            f.write("# the accounts path is known\nlock-order-inversion:worker_lock_a_then_b*\n")
        rc, out, err = run([self.ls, "run", "--format", "json", "--suppressions", supp,
                            "--", self.prog("abba")])
        if rc != 0 or inversions(out):
            raise Failure("suppressed run: want exit 0 and no finding, got %d: %s" % (rc, out[:300]))
        # By fingerprint; --verbose names the rules that matched nothing.
        rc, out, err = run([self.ls, "run", "--format", "json", "--", self.prog("abba")])
        fingerprint = inversions(out)[0]["fingerprint"]
        with open(supp, "w") as f:
            f.write("fingerprint:%s\nstall:never_called_anywhere\n" % fingerprint)
        rc, out, err = run([self.ls, "run", "--verbose", "--suppressions", supp, "--",
                            self.prog("abba")])
        if (rc != 0 or "unused suppression %s:2: stall:never_called_anywhere" % supp not in err
                or "%s:1" % supp in err):
            raise Failure("fingerprint rule and --verbose: %d %s" % (rc, err[-500:]))
        with open(supp, "w") as f:
            f.write("not a rule\n")
        expect_usage_error([self.ls, "run", "--suppressions", supp, "--", self.prog("abba")],
                           "bad suppressions file")
        # A misspelt kind would match nothing: refused, with the kinds there are.
        with open(supp, "w") as f:
            f.write("lock-order-inversions:worker_lock_a_then_b*\n")
        line = expect_usage_error([self.ls, "report", "--suppressions", supp, d],
                                  "a suppression of no finding kind")
        if "no finding kind 'lock-order-inversions'" not in line or "held-across-fork" not in line:
            raise Failure("unknown kind: %r" % line)

    def test_rebuilt_binary_is_noted(self):
        # The program's file replaced after the run (a rebuild): its frames may be named
        # wrongly, and the report says so rather than print wrong lines silently.
        d = tempfile.mkdtemp(dir=SCRATCH)
        exe = os.path.join(d, "abba")
        shutil.copy(self.prog("abba"), exe)
        rc, out, err = run([exe], env={"LD_PRELOAD": self.shim, "LOCKSCOPE_DIR": d})
        shutil.copy(self.prog("three_cycle"), exe)
        rc, out, err = run([self.ls, "report", d])
        if rc != 66 or "%s changed since the dump was written" % exe not in err:
            raise Failure("want exit 66 and the note, got %d: %s" % (rc, err[-400:]))

    def test_unknown_glibc_records_nothing_and_says_why(self):
        # Under a glibc the shim does not know it never reads its locks: the program runs as
        # it would, and the report says why there is nothing to report.
        d = tempfile.mkdtemp(dir=SCRATCH)
        fake = os.path.join(self.bin, "libfake_glibc_version.so")
        rc, out, err = run([self.prog("abba")],
                           env={"LD_PRELOAD": "%s:%s" % (fake, self.shim), "LOCKSCOPE_DIR": d})
        if rc != 0 or err:
            raise Failure("the program changed: exit %d, stderr %r" % (rc, err[:200]))
        rc, out, err = run([self.ls, "report", d])
        if rc != 0 or "the shim recorded nothing: glibc 2.99 is not a version" not in err:
            raise Failure("want exit 0 and the note, got %d: %s" % (rc, err[-400:]))

    # ---- CPython ----------------------------------------------------------------------

    def json_after(self, out):
        """The JSON report at the end of `out` (after what the program printed)."""
        if "{" not in out:
            raise Failure("no JSON report in %r" % out[-300:])
        return json.loads(out[out.index("{"):])

    def test_unknown_python_version_notes_and_tracks_no_gil(self):
        # The ceph-mgr hang under an embedding program (libpython3.11.so), first as CPython
        # 3.11 (a self-deadlock on the GIL), then with CPython saying it is 3.99: no GIL, no
        # Python frame, a note saying why, and only what libc itself shows.
        args = [self.prog("py_embed"), os.path.join(self.bin, "subinterp_import.py"),
                "gilstate_ext"]
        rc, out, _ = run([self.ls, "run", "--hang-timeout", "2", "--format", "json", "--"] + args)
        known = self.json_after(out)
        kinds = [(f["kind"], sorted({l["kind"] for l in f["locks"]})) for f in known["findings"]]
        if rc != 66 or ("self-deadlock", ["gil"]) not in kinds:
            raise Failure("as 3.11: want a self-deadlock on the GIL, got %d %s" % (rc, kinds))
        fake = os.path.join(self.bin, "libfake_python_version.so")
        rc, out, _ = run([self.ls, "run", "--hang-timeout", "2", "--format", "json", "--"] + args,
                         env={"LD_PRELOAD": fake})
        report = self.json_after(out)
        gil = [f["kind"] for f in report["findings"]
               if any(l["kind"] == "gil" for l in f["locks"]) or f["kind"] == "self-deadlock"]
        python = [fr for f in report["findings"] for s in f["stacks"] for fr in s["frames"]
                  if fr.get("language") == "python"]
        if gil or python:
            raise Failure("as 3.99: GIL findings %s, Python frames %s" % (gil, python[:2]))
        if not any("CPython 3.99.0 is not a version this lockscope knows" in n
                   for n in report["notes"]):
            raise Failure("as 3.99: no note: %s" % report["notes"])

    def test_other_cpython_versions(self):
        # The layouts of 3.10, 3.12 and 3.13 at work, with the CPythons pyenv installed here
        # (none is required): the pure-Python ABBA names the exact Python line of the inner
        # `with`, and the timeline shows the GIL taken at a Python line. Debian's 3.11 is
        # every scenario's.
        script = os.path.join(self.bin, "py_abba.py")
        with open(script) as f:
            lines = f.read().splitlines()
        start = next(i for i, l in enumerate(lines) if l.startswith("def transfer("))
        inner = next(i + 1 for i in range(start, len(lines)) if "with ledger:" in lines[i])
        named = next(i + 1 for i, l in enumerate(lines) if "pthread_setname_np(" in l)
        found = 0
        for minor in (10, 11, 12, 13):
            for python in sorted(glob.glob(os.path.expanduser(
                    "~/.pyenv/versions/3.%d.*/bin/python3.%d" % (minor, minor)))):
                found += 1
                d = tempfile.mkdtemp(dir=SCRATCH)
                rc, out, err = run([self.ls, "run", "--dump-dir", d, "--format", "json", "--",
                                    python, script, "apart"])
                report = self.json_after(out)
                lines_seen = [fr.get("line") for f in report["findings"]
                              if f["kind"] == "lock-order-inversion"
                              for st in f["stacks"] for fr in st["frames"]
                              if fr.get("language") == "python" and fr.get("function") == "transfer"]
                if rc != 66 or inner not in lines_seen:
                    raise Failure("%s: want the inversion at py_abba.py:%d, got %d, lines %s: %s"
                                  % (python, inner, rc, lines_seen, describe(report)))
                rc, out, err = run([self.ls, "report", "--timeline", "--threads", "transfer", d])
                if rc != 0 or "name_thread (py_abba.py:%d)" % named not in out:
                    raise Failure("%s: no GIL taken at py_abba.py:%d in the timeline: %s"
                                  % (python, named, out[:400]))
        if found == 0:
            print("(no pyenv CPython 3.10-3.13 here: only Debian's 3.11 was exercised)")

    def test_timeline_shows_the_worker_ran_after_main_moved_on(self):
        # CPython bpo-37224: the test's main thread destroyed the interpreter and went on to
        # join the worker before the worker had run its code there.
        script = os.path.join(self.bin, "subinterp_thread.py")
        with open(script) as f:
            lines = f.read().splitlines()
        join_line = next(i + 1 for i, l in enumerate(lines) if l.strip() == "t.join()")
        # The worker takes the GIL back when its delay ends, to run its code.
        run_line = next(i + 1 for i, l in enumerate(lines) if "time.sleep(" in l)
        d = tempfile.mkdtemp(dir=SCRATCH)
        rc, out, err = run([self.ls, "run", "--dump-dir", d, "--", "/usr/bin/python3.11", script])
        if rc != 0 or "worker: unrecognized interpreter ID" not in out:
            raise Failure("the story did not happen: %d %r %s" % (rc, out, err[-300:]))
        rc, out, err = run([self.ls, "report", "--timeline", "--threads",
                            "test-main,subinterp-run", "--format", "json", d])
        if rc != 0:
            raise Failure("timeline: exit %d: %s" % (rc, err[-300:]))
        events = json.loads(out)["timeline"]
        times = [e["time"] for e in events]
        if times != sorted(times) or {e["thread"] for e in events} != {"test-main",
                                                                      "subinterp-run"}:
            raise Failure("not one time-ordered timeline of the two threads: %s" % out[:400])
        joined = [e["time"] for e in events if e["thread"] == "test-main"
                  and e["what"].startswith("waits for")
                  and "test_already_running (subinterp_thread.py:%d)" % join_line in e["where"]]
        ran = [e["time"] for e in events if e["thread"] == "subinterp-run"
               and e["what"].startswith("takes the GIL")
               and "run_in_interpreter (subinterp_thread.py:%d)" % run_line in e["where"]]
        if not joined or not ran or not joined[0] < ran[0]:
            raise Failure("want main waiting in join (line %d) before the worker runs its code "
                          "(line %d): %s" % (join_line, run_line, excerpt(events)))
        # One thread asked for by its tid and by its name: both found.
        worker_tid = next(e["tid"] for e in events if e["thread"] == "subinterp-run")
        rc, out, err = run([self.ls, "report", "--timeline", "--threads",
                            "%d,subinterp-run" % worker_tid, "--format", "json", d])
        if rc != 0 or {e["thread"] for e in json.loads(out)["timeline"]} != {"subinterp-run"}:
            raise Failure("timeline by tid and name of one thread: exit %d: %s %s"
                          % (rc, out[:200], err[-300:]))
        rc, out, err = run([self.ls, "report", "--timeline", d])
        if rc != 0 or "takes the GIL" not in out or "starts (its first lock call)" not in out:
            raise Failure("text timeline: %d %s" % (rc, out[:300]))
        expect_usage_error([self.ls, "report", "--timeline", "--threads", "nosuch", d],
                           "--threads of no thread")
        expect_usage_error([self.ls, "report", "--threads", "1", d], "--threads alone")

    # ---- run --hang-timeout: the kill and the report agree ---------------------------

    def test_hang_timeout_kills_only_for_a_printed_finding(self):
        # A 3 s wait under a 1 s timeout: the stall that justifies the kill is printed,
        # and the status is the one that finding implies.
        rc, out, err = run([self.ls, "run", "--hang-timeout", "1", "--format", "json", "--",
                            self.prog("slow_holder")])
        if out.startswith("slow_holder done"):
            raise Failure("the program was not stopped: %s" % out[:200])
        report = json.loads(out)
        stalls = [f for f in report["findings"]
                  if f["kind"] == "stall" and f["severity"] == "error"]
        if rc != 66 or len(stalls) != 1:
            raise Failure("want exit 66 and one stall, got %d: %s" % (rc, out[:400]))
        names = [t["name"] for t in stalls[0]["threads"]]
        if "slow-holder" not in names or "g_slow_lock" not in stalls[0]["summary"]:
            raise Failure("the stall names %s: %s" % (names, stalls[0]["summary"]))
        # The same stall suppressed: nothing justifies a kill, the program runs to its end.
        d = tempfile.mkdtemp(dir=SCRATCH)
        supp = os.path.join(d, "supp.txt")
        with open(supp, "w") as f:
            f.write("stall:take_slow_lock*\n")
        rc, out, err = run([self.ls, "run", "--hang-timeout", "1", "--format", "json",
                            "--suppressions", supp, "--", self.prog("slow_holder")])
        if rc != 0 or not out.startswith("slow_holder done"):
            raise Failure("suppressed: want the program's own end and exit 0, got %d: %s"
                          % (rc, (out + err)[:400]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lockscope", required=True)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--filter", default="")
    opts = ap.parse_args()
    tests = Tests(os.path.abspath(opts.lockscope), os.path.abspath(opts.bin_dir))
    return harness.run_test_methods("cli", tests, opts.filter, SCRATCH)


if __name__ == "__main__":
    sys.exit(main())
