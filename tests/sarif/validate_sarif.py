#!/usr/bin/python3
"""Validates SARIF files against tests/sarif/sarif-2.1.0.schema.json.

usage: validate_sarif.py FILE...

Every file must be valid; URIs are checked as RFC 3986 references, which python3-jsonschema
does with python3-rfc3987: without it this refuses to run (exit 2) rather than skip them.
Prints one line per error (file, JSON path, message) and exits 1 on any; 0 when all are valid.
Needs Debian's python3-jsonschema and python3-rfc3987 (./scripts/test installs both).
"""

import json
import os
import sys

try:
    import jsonschema
except ImportError:
    print("validate_sarif: python3-jsonschema is not installed", file=sys.stderr)
    sys.exit(2)

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sarif-2.1.0.schema.json")


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    checker = jsonschema.FormatChecker()
    if "uri-reference" not in checker.checkers or "uri" not in checker.checkers:
        print("validate_sarif: URIs cannot be checked (install python3-rfc3987)", file=sys.stderr)
        return 2
    with open(SCHEMA) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema, format_checker=checker)
    bad = 0
    for path in sys.argv[1:]:
        with open(path) as f:
            log = json.load(f)
        for error in sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in error.absolute_path)
            print("%s: /%s: %s" % (path, where, error.message[:300]))
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
