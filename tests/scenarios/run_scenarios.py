#!/usr/bin/python3
"""Scenario tests for lockscope: each scenario program runs under `lockscope run --format
json` and its report is checked against the expectations written beside the program.

usage: run_scenarios.py --lockscope LOCKSCOPE --bin-dir DIR [--filter SUBSTRING] [--timeout S]

LOCKSCOPE is scripts/lockscope or the built analyzer; DIR holds the built scenario programs
(and libraries, and the Python scenarios copied beside them). A scenario is a program in this
directory (NAME.cc, or NAME.py for CPython) and NAME.expect.json beside it: a list of runs,
each an object with the keys below. Prints "PASS <name>" or "FAIL <name>: <reason>" per run,
then "scenarios: N passed, N failed". Python 3 standard library only.

Keys of a run (anything else is an error, so that a mistyped key cannot pass unseen):
  name          the run's name (what --filter matches); unique
  about         what the run shows, for people
  binary        program in DIR (default: name), or an absolute path (an interpreter)
  args          program arguments; "{bin_dir}" is replaced by DIR
  env           extra environment for `lockscope run` (e.g. small LOCKSCOPE_* tables)
  run_args      extra `lockscope run` options, e.g. ["--hang-timeout", "2"]
  format        "text": check the default text report instead (must_contain, source_line)
  exit          exact exit status of `lockscope run` (66 = an error finding)
  errors        exact multiset of the kinds of findings with severity "error"
  warnings      exact multiset of the kinds of "warning" findings (default: none); the
                number of lock-order-inversion findings must equal errors + warnings of it
  warnings_any  warning kinds whose count is not checked (timing-dependent)
  notes         substrings that must appear in the report's notes
  no_notes      substrings that must not appear in any note
  dumps         exact number of dump files the run must leave (default: at least 1)
  max_seconds   a generous bound on the run (hang detection, report, kill)
  stdout_prefix what the program itself prints first (before the JSON report)
  expect        findings that must be present, each an object:
                  kind, severity (default "error"),
                  threads        names that must all appear in threads[].name
                  thread_prefix  [prefix, n]: at least n threads whose name starts so
                  functions      [[function substring, source basename], ...]: some frame of
                                 the finding names it, in that file, with a line > 0
                  python_functions  the same, for frames whose "language" is "python"
                  summary        substrings of the summary
                  details        substrings that must each appear in some line of details
                  lock_kinds     locks[].kind values that must all appear
  inversion     what every lock-order-inversion finding must show:
                  locks       number of locks in the cycle
                  lock_names  exact set of locks[].name (omit to skip)
                  lock_kind   locks[].kind of every lock (omit to skip)
                  threads     names that must appear in threads[].name
                  source      basename of the source file the frames must point into
                  frames      [[function substring, thread name], ...]: some stack of a
                              thread of that name has a frame naming it, in `source`, line > 0
  must_contain  (format text) substrings of the text report on stderr
  source_line   (format text) a regex with a group: some match is a line > 0
"""

import argparse
import collections
import glob
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Failure, excerpt, kill_leftovers, run, run_suite  # noqa: E402

RUN_KEYS = {
    "name", "about", "binary", "args", "env", "run_args", "format", "exit", "errors", "warnings",
    "warnings_any", "notes", "no_notes", "dumps", "max_seconds", "stdout_prefix", "expect",
    "inversion", "must_contain", "source_line",
}
EXPECT_KEYS = {"kind", "severity", "threads", "thread_prefix", "functions", "python_functions",
               "absent_functions", "modules", "summary", "details", "lock_kinds"}
INVERSION_KEYS = {"locks", "lock_names", "lock_kind", "threads", "source", "frames"}

DEFAULT_TIMEOUT = 120  # seconds per lockscope run

FINDING_KINDS = {
    "lock-order-inversion", "deadlock", "self-deadlock", "held-across-fork", "unlock-not-owner",
    "destroy-locked", "exit-holding", "relock-error", "stall",
}
SEVERITIES = {"error", "warning", "info"}
LOCK_KINDS = {"mutex", "recursive-mutex", "errorcheck-mutex", "rwlock", "spinlock", "gil",
              "semaphore"}
DUMP_NAME = re.compile(r"^lockscope\.[0-9]+(\.[0-9]+)?\.dump$")


def load_scenarios(directory):
    """Every run of every NAME.expect.json in `directory`, checked for unknown keys."""
    runs, names = [], set()
    for path in sorted(glob.glob(os.path.join(directory, "*.expect.json"))):
        where = os.path.basename(path)
        with open(path) as f:
            try:
                entries = json.load(f)
            except ValueError as e:
                raise SystemExit("%s: not JSON: %s" % (where, e))
        for run_spec in entries if isinstance(entries, list) else [entries]:
            unknown = set(run_spec) - RUN_KEYS
            unknown |= {k for e in run_spec.get("expect", []) for k in set(e) - EXPECT_KEYS}
            unknown |= set(run_spec.get("inversion", {})) - INVERSION_KEYS
            if unknown or "name" not in run_spec or run_spec["name"] in names:
                raise SystemExit("%s: run %r: unknown keys %s, or a missing or repeated name"
                                 % (where, run_spec.get("name"), sorted(unknown)))
            names.add(run_spec["name"])
            runs.append(run_spec)
    return runs


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
    """Raises Failure when the JSON does not have the shape docs/usage.md gives."""
    def bad(msg):
        raise Failure("report does not match the contract: " + msg)

    if not isinstance(report, dict):
        bad("top level is not an object")
    if report.get("version") != 1:
        bad("version is %r, want 1" % report.get("version"))
    dumps = report.get("dumps")
    # Empty when no process took a lock (none made a dump).
    if not isinstance(dumps, list) or not all(isinstance(d, str) for d in dumps):
        bad("dumps is not a list of paths: %s" % excerpt(dumps, 100))
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

    # docs/findings.md: every edge of the cycle comes with the stack that took the
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
        for key, language in (("functions", None), ("python_functions", "python")):
            for func, source in want.get(key, []):
                if not any(func in (fr.get("function") or "")
                           and os.path.basename(fr.get("file") or "") == source
                           and (fr.get("line") or 0) > 0
                           and language in (None, fr.get("language")) for fr in frames):
                    bad.append(func)
        if bad:
            problems.append("no frame names %s in its source with a line; functions seen: %s"
                            % (bad, excerpt(sorted({fr.get("function") or "?" for fr in frames}))))
            continue
        # Functions no stack of the finding may name (a stack given to the wrong caller).
        wrong = [func for func in want.get("absent_functions", [])
                 if any(func in (fr.get("function") or "") for fr in frames)]
        if wrong:
            problems.append("frames name %s, which no stack of this finding passes through"
                            % wrong)
            continue
        # [function, module]: a frame of that function symbolized in that module (of two
        # modules loaded one after the other at the same address, the one it ran in).
        bad = [pair for pair in want.get("modules", [])
               if not any(pair[0] in (fr.get("function") or "") and fr.get("module") == pair[1]
                          for fr in frames)]
        if bad:
            problems.append("no frame of %s in module %s; seen %s" % (
                bad, [p[1] for p in bad], excerpt(sorted({(fr.get("function") or "?",
                                                           fr.get("module") or "?")
                                                          for fr in frames}))))
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
    """Checks a JSON report against the scenario's expectations."""
    if run.timed_out:
        raise Failure("timed out; process group killed; %s" % run.describe())
    stdout = run.stdout
    if "stdout_prefix" in scenario:
        if not stdout.startswith(scenario["stdout_prefix"]):
            raise Failure("the program's output is missing (killed?): %s" % excerpt(stdout, 100))
        stdout = stdout[len(scenario["stdout_prefix"]):]
    try:
        report = json.loads(stdout)
    except ValueError as e:
        raise Failure("stdout is not JSON (%s); %s" % (e, run.describe()))
    validate_report(report)

    dumps = [n for n in os.listdir(dump_dir) if DUMP_NAME.match(n)]
    if not dumps and scenario.get("dumps") != 0:
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
    if (len(inversions) != want_inversions
            and "lock-order-inversion" not in scenario.get("warnings_any", [])):
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
        raise Failure("timed out; process group killed; %s" % run.describe())
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


def run_scenario(sc, lockscope, bin_dir, timeout):
    """Runs one scenario and checks it; returns a note for the PASS line."""
    binary = sc.get("binary", sc["name"])
    program = binary if os.path.isabs(binary) else os.path.join(bin_dir, binary)
    if not os.access(program, os.X_OK):
        raise Failure("scenario binary %s not found or not executable" % program)
    dump_dir = tempfile.mkdtemp(prefix="lockscope-scenario-%s-" % sc["name"])
    text = sc.get("format") == "text"
    cmd = [lockscope, "run"] + list(sc.get("run_args", [])) + ([] if text else
                                                              ["--format", "json"])
    cmd += ["--dump-dir", dump_dir, "--", program]
    cmd += [a.replace("{bin_dir}", bin_dir) for a in sc.get("args", [])]
    try:
        started = time.monotonic()
        result = run(cmd, timeout, sc.get("env"))
        elapsed = time.monotonic() - started
        if text:
            check_text(sc, result)
        else:
            check_report(sc, result, dump_dir)
        if "max_seconds" in sc and elapsed > sc["max_seconds"]:
            raise Failure("the run took %.1f s, want at most %d" % (elapsed, sc["max_seconds"]))
        kill_leftovers(os.path.realpath(program), cmd[cmd.index("--") + 2:])
    except Failure as e:
        raise Failure("%s (dumps kept in %s)" % (e, dump_dir))
    shutil.rmtree(dump_dir, ignore_errors=True)
    return "%.1f s" % elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lockscope", required=True, help="scripts/lockscope or the analyzer")
    parser.add_argument("--bin-dir", required=True, help="directory of built scenario programs")
    parser.add_argument("--filter", default="", help="only runs whose name contains this")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds per run (default %(default)s)")
    opts = parser.parse_args()
    lockscope = os.path.abspath(opts.lockscope)
    bin_dir = os.path.abspath(opts.bin_dir)
    if not os.path.isfile(lockscope):
        parser.error("no such file: %s" % lockscope)
    if not os.path.isdir(bin_dir):
        parser.error("no such directory: %s" % bin_dir)
    scenarios = load_scenarios(os.path.dirname(os.path.abspath(__file__)))
    checks = [(sc["name"],
               lambda sc=sc: run_scenario(sc, lockscope, bin_dir, opts.timeout))
              for sc in scenarios]
    return run_suite("scenarios", checks, opts.filter)


if __name__ == "__main__":
    sys.exit(main())
