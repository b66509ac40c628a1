"""subinterp_import.py — the ceph-mgr hang from Debian's plain python3: load_plugin() runs
`import <module>` in a new sub-interpreter (_xxsubinterpreters.run_string). The module is a
C extension (gilstate_ext) or a pybind11 one (pybind_gilstate) whose init calls
PyGILState_Ensure, which in CPython <= 3.11 waits for the GIL the thread already holds
(under the main interpreter's thread state): forever. Argument: the module's name."""
import _xxsubinterpreters as interpreters
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load_plugin(name):
    interp = interpreters.create()
    interpreters.run_string(interp, f"import sys\nsys.path.insert(0, {HERE!r})\nimport {name}\n")
    return interp


load_plugin(sys.argv[1])
print("loaded", flush=True)
