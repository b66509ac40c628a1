// Everything the shim knows of CPython's private structures, in one place, per minor version:
// where the GIL lives (its mutex, condition variable, `locked` and `last_holder`), how a
// thread state, an interpreter, a frame and a code object are laid out, and how a code
// object maps an instruction to a line. The offsets come from each version's own headers
// (Include/internal/pycore_*.h compiled with Py_BUILD_CORE, x86_64): 3.10, 3.11, 3.12, 3.13.
//
// The running CPython is found at start-up (its exported _PyRuntime and Py_GetVersion, in the
// executable or in libpython) and its version matched against this table: on a version it
// does not know the shim tracks no GIL and reads no frame, and says so in the dump
// (FileHeader::python_note): silent rather than wrong.
//
// How the GIL is seen without any Py* interception (the interpreter's own calls never reach
// a preload when libpython is linked -Bsymbolic-functions, or is the executable): take_gil()
// and drop_gil() lock the GIL's own mutex, set `locked` and `last_holder`, wait on its
// condition in timed slices and signal it when they let go. So an unlock of that mutex that
// leaves `locked` set with a holder of this thread is an acquisition; a signal of that
// condition is a release; a wait on it is a wait for the GIL.
#ifndef LOCKSCOPE_SHIM_PYTHON_LAYOUT_H_
#define LOCKSCOPE_SHIM_PYTHON_LAYOUT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace lockscope::python {

// How a thread's Python frames are chained.
enum class Frames : uint8_t {
  kFrameObjects,       // 3.10: PyFrameObject, one per C-level eval call; f_lasti in code units
  kEntryFlag,          // 3.11: _PyInterpreterFrame, `is_entry` on the first frame of a C call
  kCStackOwnedShim,    // 3.12+: a shim frame owned by the C stack (owner 3) below each C call
};

// How a code object maps an instruction offset to a line.
enum class LineTable : uint8_t {
  kPep626,             // 3.10: (byte delta, line delta) pairs
  kLocations,          // 3.11+: PEP 657 location entries
};

struct Layout {
  int minor;  // 3.minor
  // From &_PyRuntime: the main interpreter's GIL (struct _gil_runtime_state), and the
  // Py_tss_t whose key holds each thread's PyGILState thread state.
  uint32_t main_gil, autotss;
  // From &_PyRuntime: the current thread state (the GIL holder's) in 3.10 and 3.11, a plain
  // load; -1 from 3.12 on (a thread-local: the shim calls _PyThreadState_UncheckedGet).
  int32_t tstate_current;
  // From &_PyRuntime: the thread state finalising the runtime (non-null from then on: thread
  // states may be freed under their threads, and the shim stops reading them).
  uint32_t finalizing;
  // struct _gil_runtime_state
  uint32_t gil_last_holder, gil_locked, gil_cond, gil_mutex, gil_switch_cond, gil_switch_mutex;
  // PyInterpreterState
  uint32_t interp_id;
  // PyThreadState
  uint32_t tstate_interp, tstate_thread_id;
  uint32_t tstate_frame;      // 3.10 frame, 3.11/3.12 cframe, 3.13 current_frame
  int32_t cframe_frame;       // 3.11/3.12: _PyCFrame::current_frame; -1: tstate_frame is it
  Frames frames;
  uint32_t frame_code, frame_previous, frame_instr;  // 3.10: f_code, f_back, f_lasti
  uint32_t frame_entry;       // 3.11 is_entry, 3.12+ owner; unused in 3.10
  // PyCodeObject
  uint32_t code_filename, code_name, code_firstlineno, code_linetable;
  int32_t code_instructions;  // 3.11+: offset of co_code_adaptive; -1 (3.10): indexes only
  LineTable lines;
  // str (compact ASCII) and bytes
  uint32_t ascii_header, ascii_length, ascii_state;
  uint32_t bytes_size, bytes_data;
  // Every thread state, for a reader from outside the process (attach, core files): from
  // &_PyRuntime the first interpreter; an interpreter's next one and its first thread state;
  // a thread state's next one.
  uint32_t runtime_interp_head, interp_next, interp_tstate_head, tstate_next;
};

// clang-format off
inline constexpr Layout kLayouts[] = {
  // minor gil  tss   cur  fin  holder locked cond mutex scond smutex  iid  interp tid  frame cfr frames                     code prev instr entry  file name first ltab  instr lines                  asc  alen ast  bsz bdat  ihead inext  thead tnext
  {10, 352,   584,  568,  16,   8,  16,  32,  80, 120, 168,             24,  16,  176,  24,  -1, Frames::kFrameObjects,     32,  24,  96,  0,     104, 112, 40,  120,  -1,  LineTable::kPep626,    48,  16,  32,  16,  32,  32,  0,     8,    8},
  {11, 360,   592,  576,  24,   8,  16,  32,  80, 120, 168,             48,  16,  152,  56,   8, Frames::kEntryFlag,        32,  48,  56,  68,    112, 128, 72,  136, 184,  LineTable::kLocations,  48,  16,  32,  16,  32,  40,  0,     16,   8},
  {12, 77432, 1544,  -1,  24,   8,  16,  32,  80, 120, 168,              8,  16,  136,  56,   0, Frames::kCStackOwnedShim,   0,   8,  56,  70,    112, 128, 68,  136, 192,  LineTable::kLocations,  40,  16,  32,  16,  32,  40,  0,     72,   8},
  {13, 96104, 2160,  -1, 608,   8,  16,  32,  80, 120, 168,           7272,  16,  152,  72,  -1, Frames::kCStackOwnedShim,   0,   8,  56,  70,    112, 128, 68,  136, 200,  LineTable::kLocations,  40,  16,  32,  16,  32,  632, 7264,  7344, 8},
};
// clang-format on
// (code_name is co_qualname from 3.11 on: "Class.method".)

// The layout of CPython `major`.`minor`, or null when this lockscope does not know that
// version. (The shim and attach both choose through this, and say why not with WhyNotRead.)
inline const Layout* LayoutFor(int major, int minor) {
  for (const Layout& l : kLayouts)
    if (major == 3 && l.minor == minor) return &l;
  return nullptr;
}

// Why the CPython of `version` ("3.11.2") is not read, for a note: a free-threaded build (no
// GIL, other layouts), or a version this lockscope does not know.
inline void WhyNotRead(const char* version, bool free_threaded, char* out, size_t cap) {
  if (free_threaded)
    snprintf(out, cap,
             "CPython %s is a free-threaded build: there is no GIL to track, and its Python "
             "stacks are not read",
             version);
  else
    snprintf(out, cap,
             "CPython %s is not a version this lockscope knows (3.%d to 3.%d): the GIL and "
             "Python stacks are not read",
             version, kLayouts[0].minor, kLayouts[sizeof(kLayouts) / sizeof(kLayouts[0]) - 1].minor);
}

// 3.12+: a frame whose `owner` is this belongs to the C stack (a shim between C and Python).
inline constexpr uint8_t kFrameOwnedByCStack = 3;

// The CPython of this process, once found (Detect).
struct Runtime {
  const Layout* layout = nullptr;  // null: no CPython, or one we do not know
  uint64_t runtime = 0;            // &_PyRuntime
  uint64_t gil = 0;                // the main GIL: struct _gil_runtime_state
  uint64_t gil_mutex = 0, gil_cond = 0, gil_switch_mutex = 0, gil_switch_cond = 0;
  uint64_t eval_begin = 0, eval_end = 0;  // _PyEval_EvalFrameDefault's code
  uint64_t code_type = 0;                 // &PyCode_Type: what a code object's ob_type is
  // _PyThreadState_UncheckedGet (PyThreadState_GetUnchecked in 3.13): the calling thread's
  // current thread state in 3.12+, the GIL holder's (the runtime's current one) before.
  uint64_t (*unchecked_get)() = nullptr;
  char version[24] = {};
  // For the hot path (RunningSite while holding the GIL, on every acquisition): a copy of
  // *layout and the absolute addresses it reads, so that it loads no pointer first.
  Layout flat = {};
  uint64_t finalizing_at = 0;      // &_PyRuntime.<finalizing>
  uint64_t tstate_current_at = 0;  // &_PyRuntime.<tstate_current>; 0 from 3.12 on
};
extern constinit Runtime g_python;
extern std::atomic<bool> g_python_known;  // g_python is filled (release-stored)

// Whether the runtime is finalising. From then on, other threads' thread states (and their
// frames) may be freed under them: the shim stops following them and tracking the GIL.
inline bool Finalizing(const Runtime& py) {
  return __atomic_load_n(reinterpret_cast<const uint64_t*>(py.runtime + py.layout->finalizing),
                         __ATOMIC_ACQUIRE) != 0;
}
// The CPython of this process when it is one we know (its objects' addresses), else null.
inline const Runtime* Detected() {
  return g_python_known.load(std::memory_order_acquire) ? &g_python : nullptr;
}
// The same, when its memory may also be read: not finalising.
inline const Runtime* Known() {
  const Runtime* py = Detected();
  return py != nullptr && !Finalizing(*py) ? py : nullptr;
}

// A Python call site hashed to 16 bits, never 0: one multiply, whose high bits mix every
// bit of the key. The key is where the frame is in its code: from 3.11 on an instruction
// pointer, which lies inside its code object and so tells both apart alone; in 3.10 an
// offset, which needs the code object beside it (FrameSite: the offset spread over the
// word by a multiply of its own).
inline uint16_t SiteHash(uint64_t key) {
  const uint16_t site = static_cast<uint16_t>((key * 0x9e3779b97f4a7c15ULL) >> 48);
  return site == 0 ? 1 : site;
}
inline bool SiteNeedsCode(const Layout& l) { return l.frames == Frames::kFrameObjects; }
// The call site of a frame at `instr` in `code` (code is read only when SiteNeedsCode).
inline uint16_t FrameSite(const Layout& l, uint64_t code, uint64_t instr) {
  return SiteHash(SiteNeedsCode(l) ? code ^ (instr * 0xff51afd7ed558ccdULL) : instr);
}

// The call site (FrameSite) of the innermost frame of a thread state that runs on the
// calling thread (plain loads: only that thread changes it); 0 when it runs no frame.
inline uint16_t RunningSite(const Layout& l, uint64_t tstate) {
  uint64_t frame = *reinterpret_cast<const uint64_t*>(tstate + l.tstate_frame);
  if (frame != 0 && l.cframe_frame >= 0)
    frame = *reinterpret_cast<const uint64_t*>(frame + static_cast<uint32_t>(l.cframe_frame));
  if (frame == 0) return 0;
  if (SiteNeedsCode(l))
    return FrameSite(l, *reinterpret_cast<const uint64_t*>(frame + l.frame_code),
                     uint64_t(*reinterpret_cast<const int32_t*>(frame + l.frame_instr)));
  return FrameSite(l, 0, *reinterpret_cast<const uint64_t*>(frame + l.frame_instr));
}

// RunningSite's common case on the hot path: the calling thread holds the GIL (holds_gil)
// with the thread state it took it with (`taken`), which is still the runtime's current one
// (3.10, 3.11), and the runtime is not finalising (3.10's interpreter teardown frees the
// current thread state before it stops being current). -1 for anything else (the caller
// then asks python_frames.h, which knows every case). No test of g_python_known: a thread
// holds the GIL only once it is known, and before that tstate_current_at is 0 (constinit).
inline int32_t QuickRunningSite(bool holds_gil, uint64_t taken) {
  const Runtime& py = g_python;
  if (!holds_gil || py.tstate_current_at == 0 || taken == 0 ||
      __atomic_load_n(reinterpret_cast<const uint64_t*>(py.tstate_current_at), __ATOMIC_RELAXED) !=
          taken ||
      __atomic_load_n(reinterpret_cast<const uint64_t*>(py.finalizing_at), __ATOMIC_ACQUIRE) != 0)
    return -1;
  return RunningSite(py.flat, taken);
}

// One of the GIL's own mutexes (take_gil and drop_gil lock them): not a lock of the program.
inline bool IsGilMutex(const Runtime& py, uint64_t address) {
  return address == py.gil_mutex || address == py.gil_switch_mutex;
}

// Looks for CPython in the process, once it is there (the executable, libpython, or a
// libpython dlopen'ed later: call again after new modules appear; cheap once found or
// refused). Fills g_python for a version it knows. Returns a note for the dump when it found
// a CPython it does not know, else nullptr.
const char* Detect();

// Of a thread state of the calling thread (its memory is alive while the thread runs):
// its interpreter's id (-1 when unknown), and the thread (pthread_self) it belongs to.
int64_t InterpreterId(uint64_t tstate);
uint64_t TstateThread(uint64_t tstate);
// The calling thread's PyGILState thread state (what PyGILState_Ensure would run with), or 0.
uint64_t GilStateTstate();

}  // namespace lockscope::python

#endif  // LOCKSCOPE_SHIM_PYTHON_LAYOUT_H_
