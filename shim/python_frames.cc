#include "shim/python_frames.h"

#include <pthread.h>
#include <string.h>

#include "shim/python_layout.h"
#include "shim/python_memory.h"
#include "shim/recorder_core.h"

namespace lockscope::core {

namespace {

using python::Code;
using python::Layout;
using python::Memory;
using python::RawFrame;

// The thread's own memory (plain loads), or memory another thread may free under it (a
// frozen thread state: SafeRead).
bool SafeReader(void*, uint64_t address, void* out, size_t size) {
  return SafeRead(address, out, size);
}
Memory ThreadMemory(bool safe) { return safe ? Memory(SafeReader, nullptr) : Memory(); }

// The call path of a thread state that is the caller's own (plain loads), hashed: its few
// innermost frames, which tell apart the callers of a shared helper and cost a few loads
// (it runs whenever the thread lets the GIL go). With the call site of the innermost one
// (FrameSite; 0 when it runs no frame) into `*site`, from the same walk.
constexpr uint32_t kPathFrames = 4;
uint64_t PathOfTstate(const Layout& l, uint64_t tstate, uint16_t* site = nullptr) {
  const Memory mem;
  uint64_t h = 0;
  if (site != nullptr) *site = 0;
  uint64_t frame = CurrentFrame(mem, l, tstate);
  for (uint32_t steps = 0; frame != 0 && steps < kPathFrames; ++steps) {
    RawFrame f;
    if (!ReadFrame(mem, l, frame, &f)) break;
    if (steps == 0 && site != nullptr) *site = python::FrameSite(l, f.code, f.instr);
    h = format::Mix64(h ^ f.code ^ (f.instr << 17));
    frame = f.previous;
  }
  return h;
}

// The thread state the thread runs Python with right now: the current one, when it is this
// thread's and this thread holds the GIL (then nobody else changes it or frees it). The one
// it took the GIL with needs no check; another (a sub-interpreter's, swapped in) is checked
// against the thread. Right after take_gil, before the runtime makes it current, the one it
// took the GIL with (ThreadCtx::taking_gil).
uint64_t RunningTstate(const ThreadCtx& t, const python::Runtime& py) {
  if (!t.holds_gil) return 0;
  uint64_t tstate;
  if (py.layout->tstate_current >= 0)  // 3.10, 3.11: a field of _PyRuntime
    tstate = __atomic_load_n(reinterpret_cast<const uint64_t*>(
                                 py.runtime + static_cast<uint32_t>(py.layout->tstate_current)),
                             __ATOMIC_RELAXED);
  else if (py.unchecked_get != nullptr)
    tstate = py.unchecked_get();
  else
    return 0;
  if (__builtin_expect(tstate == t.py_tstate, 1)) return tstate;
  if (tstate == 0 && t.taking_gil) return t.py_tstate;
  if (tstate == 0 || python::TstateThread(tstate) != static_cast<uint64_t>(pthread_self()))
    return 0;
  return tstate;
}

// ---- code objects --------------------------------------------------------------------------

// The dump's record for a Python function: found or inserted (tables.h). 0 when the table is
// full (counted).
uint32_t CodeRecord(const char* name, const char* filename, int32_t first_line) {
  return PyCodeTable(g_shim.dump.py_code, g_shim.dump.py_code_capacity,
                     &g_shim.dump.header->counters)
      .FindOrInsert(name, filename, first_line);
}

// Per thread: code object -> its record, checked against the fields it was made from (a
// code object freed and another made at its address is a miss).
struct CachedCode {
  uint64_t code, filename, name;
  int32_t first_line;
  uint32_t record;
};
constexpr uint32_t kCodeCache = 16;
__thread CachedCode t_code_cache[kCodeCache] __attribute__((tls_model("initial-exec")));

// Per thread: (code object, instruction) -> its line. Walking a line table costs a few
// thousand instructions in a long function, and the same sites come back again and again
// (every import runs the same importlib frames, each making new locks). Checked against the
// code object's line table and first line: a code object freed and another made at its
// address is a miss unless it also got the same line table's address and first line.
struct CachedLine {
  uint64_t code, instr, linetable;
  int32_t first_line, line;
};
constexpr uint32_t kLineCache = 32;
__thread CachedLine t_line_cache[kLineCache] __attribute__((tls_model("initial-exec")));

// The dump's records of the code objects a thread's frames name, and their lines, through
// its caches.
struct CachedRecorder final : python::CodeRecorder {
  uint32_t Record(const Memory& mem, const Layout& l, uint64_t address, const Code& code) override;
  int32_t Line(const Memory& mem, const Layout& l, uint64_t address, const Code& code,
               uint64_t instr) override;
};

int32_t CachedRecorder::Line(const Memory& mem, const Layout& l, uint64_t address, const Code& code,
                             uint64_t instr) {
  CachedLine& slot = t_line_cache[format::Mix64(address ^ (instr << 7)) % kLineCache];
  if (slot.code == address && slot.instr == instr && slot.linetable == code.linetable &&
      slot.first_line == code.first_line)
    return slot.line;
  const int32_t line = python::LineOf(mem, l, code, instr);
  slot = {address, instr, code.linetable, code.first_line, line};
  return line;
}

uint32_t CachedRecorder::Record(const Memory& mem, const Layout& l, uint64_t address,
                                const Code& code) {
  CachedCode& slot = t_code_cache[(address >> 4) % kCodeCache];
  if (slot.code == address && slot.filename == code.filename && slot.name == code.name &&
      slot.first_line == code.first_line)
    return slot.record;
  char name[sizeof(format::PyCodeRecord::name)];
  char filename[sizeof(format::PyCodeRecord::filename)];
  python::NameCode(mem, l, code, name, filename);
  const uint32_t record = CodeRecord(name, filename, code.first_line);
  if (record != 0) slot = {address, code.filename, code.name, code.first_line, record};
  return record;
}

}  // namespace

uint32_t PythonCodeRecord(const char* name, const char* filename, int32_t first_line) {
  char n[sizeof(format::PyCodeRecord::name)] = {};
  char f[sizeof(format::PyCodeRecord::filename)] = {};
  memcpy(n, name, strnlen(name, sizeof(n) - 1));
  memcpy(f, filename, strnlen(filename, sizeof(f) - 1));
  return CodeRecord(n, f, first_line);
}

void ForgetPythonCodes() {
  memset(t_code_cache, 0, sizeof(t_code_cache));
  memset(t_line_cache, 0, sizeof(t_line_cache));
}

uint64_t CurrentTstate(ThreadCtx& t) {
  const python::Runtime* py = python::Known();
  return py ? RunningTstate(t, *py) : 0;
}

uint16_t PythonSite(ThreadCtx& t) {
  const python::Runtime* py = python::Known();
  if (py == nullptr) return 0;
  if (const uint64_t tstate = RunningTstate(t, *py))
    return python::RunningSite(*py->layout, tstate);
  return t.py_site;  // frozen since it let the GIL go
}

uint64_t PythonPath(ThreadCtx& t) {
  const python::Runtime* py = python::Known();
  if (py == nullptr) return 0;
  if (const uint64_t tstate = RunningTstate(t, *py)) return PathOfTstate(*py->layout, tstate);
  return t.py_path;
}

void NoteGilTaken(ThreadCtx& t, uint64_t tstate) {
  t.python = true;
  t.holds_gil = true;
  t.py_tstate = tstate;
}

void NotePlaceLettingGo(ThreadCtx& t, uint64_t tstate) {
  // Still its own: drop_gil runs on the thread that lets go, before anything can free it.
  const python::Runtime* py = python::Known();
  t.py_site = 0;
  t.py_path = py && tstate ? PathOfTstate(*py->layout, tstate, &t.py_site) : 0;
}

void NoteGilLetGo(ThreadCtx& t, uint64_t tstate) {
  t.holds_gil = false;
  t.py_tstate = tstate;
  NotePlaceLettingGo(t, tstate);
}

uint64_t InnermostPythonFrame(ThreadCtx& t) {
  const python::Runtime* py = python::Known();
  if (py == nullptr || !t.python) return 0;
  const uint64_t tstate = RunningTstate(t, *py);
  if (tstate == 0) return 0;
  const Memory mem = ThreadMemory(false);
  const Layout& l = *py->layout;
  uint64_t frame = CurrentFrame(mem, l, tstate);
  // Bounded like AppendFrames; a few steps past the C stack's own frames (3.12+) and shims.
  for (uint32_t steps = 0; frame != 0 && steps < 8; ++steps) {
    RawFrame f;
    if (!ReadFrame(mem, l, frame, &f)) return 0;
    frame = f.previous;
    Code code;
    if (!ReadCode(mem, l, py->code_type, f.code, &code)) continue;
    CachedRecorder recorder;
    const uint32_t record = recorder.Record(mem, l, f.code, code);
    const int32_t line = recorder.Line(mem, l, f.code, code, f.instr);
    return record != 0 ? format::PythonFrame(record, line > 0 ? line : 0) : 0;
  }
  return 0;
}

void ReadPythonFrames(ThreadCtx& t, python::PythonFrames* out) {
  out->count = 0;
  CachedRecorder recorder;
  const python::Runtime* py = python::Known();
  if (py == nullptr || !t.python) return;
  uint64_t tstate = RunningTstate(t, *py);
  const bool running = tstate != 0;
  if (!running) tstate = t.py_tstate;
  if (tstate != 0)
    AppendFrames(ThreadMemory(!running), *py->layout, py->code_type, tstate, recorder, out);
  // A thread that runs another thread state than its PyGILState one (a sub-interpreter's, a
  // second one of its own) called it from the frames of that one: they come further out.
  const uint64_t own = python::GilStateTstate();
  if (own != 0 && own != tstate)
    AppendFrames(ThreadMemory(true), *py->layout, py->code_type, own, recorder, out);
}

}  // namespace lockscope::core
