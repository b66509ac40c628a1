#!/usr/bin/python3
"""Checks shim/python_layout.h against CPython's own headers: for every CPython whose
headers (internal ones included) are on this machine — Debian's python3.11-dev always, and
any ~/.pyenv/versions/3.X.Y of a minor version the table knows — compiles layout_probe.c
against them and compares each offset with the shim's table (print_layouts).

usage: python_layouts.py --print-layouts BUILD/tests/python/print_layouts [--cc gcc]
Prints "PASS 3.X.Y (path)" / "FAIL ..." lines, then "python-layouts: N passed, N failed".
Python 3 standard library only."""

import argparse
import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def table(print_layouts):
    """{minor: {field: value}} from the shim's table."""
    out, current = {}, None
    for line in subprocess.check_output([print_layouts], text=True).splitlines():
        key, value = line.split()
        if key == "minor":
            current = out.setdefault(int(value), {})
        else:
            current[key] = int(value)
    return out


def header_dirs():
    """(label, include directory) of each CPython with its internal headers here."""
    found = []
    for inc in sorted(glob.glob("/usr/include/python3.*")):
        if os.path.isdir(os.path.join(inc, "internal")):
            found.append(("Debian " + os.path.basename(inc), inc))
    for root in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*"))):
        for inc in glob.glob(os.path.join(root, "include", "python3.*")):
            if os.path.isdir(os.path.join(inc, "internal")):
                found.append(("pyenv " + os.path.basename(root), inc))
    return found


def probe(cc, inc, workdir):
    exe = os.path.join(workdir, "probe")
    subprocess.run([cc, "-w", "-I", inc, "-o", exe, os.path.join(HERE, "layout_probe.c")],
                   check=True, capture_output=True, text=True)
    values = {}
    for line in subprocess.check_output([exe], text=True).splitlines():
        key, value = line.split()
        values[key] = int(value)
    return values


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--print-layouts", required=True)
    ap.add_argument("--cc", default="gcc")
    opts = ap.parse_args()
    known = table(opts.print_layouts)
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="lockscope-layouts-") as work:
        for label, inc in header_dirs():
            dir_minor = os.path.basename(inc).rstrip("dmu").split(".")[-1]
            if not dir_minor.isdigit() or int(dir_minor) not in known:
                print("SKIP %s: 3.%s is not in the shim's table" % (label, dir_minor))
                continue
            try:
                got = probe(opts.cc, inc, work)
            except subprocess.CalledProcessError as e:
                print("FAIL %s (%s): the probe does not build: %s"
                      % (label, inc, (e.stderr or "")[-300:]))
                failed += 1
                continue
            minor = got.pop("minor")
            if minor not in known:
                print("SKIP %s: 3.%d is not in the shim's table" % (label, minor))
                continue
            want = known[minor]
            wrong = ["%s: headers %d, table %d" % (k, v, want.get(k, -999))
                     for k, v in sorted(got.items()) if want.get(k) != v]
            if wrong:
                print("FAIL %s (%s): %s" % (label, inc, "; ".join(wrong)))
                failed += 1
            else:
                print("PASS %s (%s): %d offsets" % (label, inc, len(got)))
                passed += 1
    if passed + failed == 0:
        print("FAIL no CPython headers found (python3-dev is installed by ./scripts/test)")
        failed = 1
    print("python-layouts: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
