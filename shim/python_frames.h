// Python frames of the calling thread, read from its own thread state (python_layout.h says
// where things are): the Python call site that goes into an acquisition's chain key, and the
// Python frames a recorded stack interleaves with the native ones.
//
// Whose frames: a thread runs Python only while it holds the GIL, so its Python frames
// change only then. While it holds it, its current thread state is the runtime's current
// one (read directly, plain loads: nobody else touches it). When it has let the GIL go
// (blocked in a lock, in sleep(), in I/O), its frames are frozen as they were when it let
// go, in the thread state it let go with (ThreadCtx::py_tstate): that one is read with
// SafeRead, since another thread may free it meanwhile (interpreter finalisation does).
//
// Cost: PythonSite is a call and a handful of loads (while holding the GIL) or one load
// (not holding it); it runs on every acquisition of a thread that has run Python, which the
// mutex fast paths then skip (kGuardSlowPaths). Frames are read only when a stack is
// recorded (a chain never seen before): a few loads per frame, a few SafeReads per frame
// when the thread does not hold the GIL, and the code objects' names and line tables, which
// each thread caches by code object.
#ifndef LOCKSCOPE_SHIM_PYTHON_FRAMES_H_
#define LOCKSCOPE_SHIM_PYTHON_FRAMES_H_

#include <cstdint>

#include "shim/format/dump_format.h"
#include "shim/python_memory.h"

namespace lockscope::core {

struct ThreadCtx;

// The thread's innermost Python frame (code object and instruction) hashed to 16 bits, for
// the chain key (SiteOf); 0 when it runs no Python.
uint16_t PythonSite(ThreadCtx& t);

// The thread state the thread runs Python with now: the current one, when this thread holds
// the GIL and it is this thread's; else 0.
uint64_t CurrentTstate(ThreadCtx& t);

// A hash of the thread's whole Python call path (each frame's code object and instruction),
// for the keys of stacks cached by call site (WaitSiteStack): 0 when it runs no Python. A
// walk of the frame chain while the thread holds the GIL; the value taken when it let the
// GIL go otherwise (its frames cannot change before it takes the GIL again).
uint64_t PythonPath(ThreadCtx& t);

// The GIL changed hands (gil_hooks.cc): `tstate` is the thread state the thread took it with
// or let it go with. Keeps the thread's Python site and frozen thread state current.
void NoteGilTaken(ThreadCtx& t, uint64_t tstate);
void NoteGilLetGo(ThreadCtx& t, uint64_t tstate);
// The Python site and path of `tstate`, this thread's, kept as the ones it lets the GIL go
// at (NoteGilLetGo's reads), for a caller that will let it go next and reads them first.
void NotePlaceLettingGo(ThreadCtx& t, uint64_t tstate);

// The thread's Python frames, innermost first (python_memory.h), their code objects copied
// into the dump's Python code table.
void ReadPythonFrames(ThreadCtx& t, python::PythonFrames* out);

// The thread's innermost Python frame as a format::PythonFrame (its function's code record and
// its line), when the thread runs Python now (holds the GIL); else 0. A few loads, the line
// table's walk and, for a function not seen before, its names copied into the dump.
uint64_t InnermostPythonFrame(ThreadCtx& t);

// The dump's record of a Python function (found or inserted; format::PyCodeRecord), 0 when
// the table is full. (The fork child re-inserts the ones its inherited stacks name.)
uint32_t PythonCodeRecord(const char* name, const char* filename, int32_t first_line);
// Forgets the calling thread's cache of code records (the fork child's new dump).
void ForgetPythonCodes();

}  // namespace lockscope::core

#endif  // LOCKSCOPE_SHIM_PYTHON_FRAMES_H_
