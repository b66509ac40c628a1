// CPython in a process read from outside (attach, core files): which CPython it runs, its GIL
// and the thread state that holds it, every thread state and the Python frames of each. The
// version knowledge is the shim's (shim/python_layout.h); the frames are read by the shim's
// own reader (shim/python_memory.h) over the process's memory.
//
// What it reads: _PyRuntime and the symbols beside it (from the modules' symbol tables),
// Py_Version (3.11+; before that, the version in the module's file name), the GIL's `locked`
// and `last_holder`, each interpreter's thread states and their frame chains. On a version it
// does not know it reads nothing and says so (`note`).
//
// Threads are matched to thread states by pthread_self (PyThreadState.thread_id), which is
// the thread's fs base on x86_64 glibc: the snapshot reads it from each thread's registers.
//
// Cost: a symbol-table lookup in the modules (until _PyRuntime), a few reads per thread state and
// per frame; done after the threads were let go (a running thread's frames may be read while
// they change: each chain is bounded and every read checked).
#ifndef LOCKSCOPE_ANALYZER_PYTHON_SNAPSHOT_H_
#define LOCKSCOPE_ANALYZER_PYTHON_SNAPSHOT_H_

#include <elfutils/libdwfl.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "shim/python_memory.h"
#include "shim/tables.h"

namespace lockscope {

// Reads `size` bytes of the process at `address`; false when it cannot.
using ReadMemory = std::function<bool(uint64_t address, void* out, size_t size)>;

struct PythonSnapshot {
  const python::Layout* layout = nullptr;  // null: no CPython, or one we do not read
  std::string version;                     // "3.11" ("" when none)
  std::string note;                        // why it was not read ("" when it was, or none)
  uint64_t gil = 0, gil_mutex = 0, gil_cond = 0, gil_switch_mutex = 0, gil_switch_cond = 0;
  uint64_t eval_begin = 0, eval_end = 0, code_type = 0;
  // The GIL's holder, when it is locked: its thread state, and that state's thread
  // (pthread_self; 0 when the GIL is free).
  uint64_t holder_tstate = 0, holder_thread = 0;
  struct State {
    uint64_t tstate;
    int64_t interp;  // its interpreter's id (0: the main one)
  };
  // Every thread state, by the thread (pthread_self) it belongs to.
  std::map<uint64_t, std::vector<State>> states;

  int64_t InterpreterOf(uint64_t tstate) const;
};

// Finds CPython among the modules of `dwfl` and reads its state through `read`.
PythonSnapshot ReadPython(Dwfl* dwfl, const ReadMemory& read);

// The Python frames of the thread whose pthread_self is `thread`: those of the thread state
// it holds the GIL with first, then its other ones (a thread running a sub-interpreter's, or
// a second one of its own, came there from the frames of its first). Their code objects go
// into `codes`.
void ReadPythonStack(const PythonSnapshot& py, const ReadMemory& read, uint64_t thread,
                     PyCodeTable& codes, python::PythonFrames* out);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_PYTHON_SNAPSHOT_H_
