#include "shim/python_frames.h"

#include <pthread.h>
#include <string.h>

#include "shim/python_layout.h"
#include "shim/recorder_core.h"

namespace lockscope::core {

namespace {

using python::Layout;

// Reads of the interpreter's memory: plain loads when the thread holds the GIL with the
// thread state being read (it owns everything reached from it), SafeRead otherwise.
class Memory {
 public:
  explicit Memory(bool safe) : safe_(safe) {}
  bool Read(uint64_t address, void* out, size_t size) const {
    if (address < 4096) return false;
    if (!safe_) {
      memcpy(out, reinterpret_cast<const void*>(address), size);
      return true;
    }
    return SafeRead(address, out, size);
  }
  template <typename T>
  bool Get(uint64_t address, T* value) const {
    return Read(address, value, sizeof(T));
  }

 private:
  bool safe_;
};

// The thread state's innermost frame (3.10: PyFrameObject; 3.11+: _PyInterpreterFrame).
uint64_t CurrentFrame(const Memory& mem, const Layout& l, uint64_t tstate) {
  uint64_t p = 0;
  if (!mem.Get(tstate + l.tstate_frame, &p) || p == 0) return 0;
  if (l.cframe_frame < 0) return p;  // 3.10, 3.13: the frame itself
  uint64_t frame = 0;
  return mem.Get(p + static_cast<uint32_t>(l.cframe_frame), &frame) ? frame : 0;
}

// One frame as read: its code object, its instruction (3.10: f_lasti, an index; 3.11+: a
// pointer into the code object's instructions), the next frame out, and the byte that marks
// the C-call boundaries (3.11: is_entry; 3.12+: owner).
struct RawFrame {
  uint64_t code = 0, instr = 0, previous = 0;
  uint8_t entry = 0;
};

bool ReadFrame(const Memory& mem, const Layout& l, uint64_t frame, RawFrame* f) {
  if (!mem.Get(frame + l.frame_code, &f->code) || !mem.Get(frame + l.frame_previous, &f->previous))
    return false;
  if (l.frames == python::Frames::kFrameObjects) {
    int32_t lasti = 0;
    if (!mem.Get(frame + l.frame_instr, &lasti)) return false;
    f->instr = static_cast<uint64_t>(static_cast<int64_t>(lasti));
    f->entry = 1;  // one frame object per eval call
    return true;
  }
  return mem.Get(frame + l.frame_instr, &f->instr) && mem.Get(frame + l.frame_entry, &f->entry);
}

// One multiply: the instruction pointer differs between lines, the code object between
// functions; the high bits of the product mix both.
uint16_t SiteHash(uint64_t code, uint64_t instr) {
  const uint64_t h = (code ^ (instr << 21) ^ (instr >> 3)) * 0x9e3779b97f4a7c15ULL;
  const uint16_t site = static_cast<uint16_t>(h >> 48);
  return site == 0 ? 1 : site;
}

uint16_t SiteOfTstate(const Memory& mem, const Layout& l, uint64_t tstate) {
  const uint64_t frame = CurrentFrame(mem, l, tstate);
  RawFrame f;
  if (frame == 0 || !ReadFrame(mem, l, frame, &f)) return 0;
  return SiteHash(f.code, f.instr);
}

// The call path of a thread state that is the caller's own (plain loads), hashed: its few
// innermost frames, which tell apart the callers of a shared helper and cost a few loads
// (it runs whenever the thread lets the GIL go).
constexpr uint32_t kPathFrames = 4;
uint64_t PathOfTstate(const Layout& l, uint64_t tstate) {
  const Memory mem(false);
  uint64_t h = 0;
  uint64_t frame = CurrentFrame(mem, l, tstate);
  for (uint32_t steps = 0; frame != 0 && steps < kPathFrames; ++steps) {
    RawFrame f;
    if (!ReadFrame(mem, l, frame, &f)) break;
    h = format::Mix64(h ^ f.code ^ (f.instr << 17));
    frame = f.previous;
  }
  return h;
}

// The thread state the thread runs Python with right now: the current one, when it is this
// thread's and this thread holds the GIL (then nobody else changes it or frees it). The one
// it took the GIL with needs no check; another (a sub-interpreter's, swapped in) is checked
// against the thread.
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
  if (tstate == 0 || python::TstateThread(tstate) != static_cast<uint64_t>(pthread_self()))
    return 0;
  return tstate;
}

// SiteOfTstate for the running thread state: plain loads, only what the site needs.
uint16_t RunningSite(const Layout& l, uint64_t tstate) {
  uint64_t frame = *reinterpret_cast<const uint64_t*>(tstate + l.tstate_frame);
  if (frame != 0 && l.cframe_frame >= 0)
    frame = *reinterpret_cast<const uint64_t*>(frame + static_cast<uint32_t>(l.cframe_frame));
  if (frame == 0) return 0;
  const uint64_t code = *reinterpret_cast<const uint64_t*>(frame + l.frame_code);
  const uint64_t instr = l.frames == python::Frames::kFrameObjects
                             ? uint64_t(*reinterpret_cast<const int32_t*>(frame + l.frame_instr))
                             : *reinterpret_cast<const uint64_t*>(frame + l.frame_instr);
  return SiteHash(code, instr);
}

// ---- code objects --------------------------------------------------------------------------

// A code object's fields that name its frames.
struct Code {
  uint64_t filename = 0, name = 0, linetable = 0;
  int32_t first_line = 0;
  uint64_t instructions = 0;  // 3.11+: address of its first instruction
};

bool ReadCode(const Memory& mem, const python::Runtime& py, uint64_t address, Code* c) {
  const Layout& l = *py.layout;
  uint64_t type = 0;
  if (!mem.Get(address + 8, &type) || type != py.code_type) return false;  // ob_type
  if (!mem.Get(address + l.code_filename, &c->filename) ||
      !mem.Get(address + l.code_name, &c->name) ||
      !mem.Get(address + l.code_firstlineno, &c->first_line) ||
      !mem.Get(address + l.code_linetable, &c->linetable))
    return false;
  c->instructions = l.code_instructions >= 0 ? address + static_cast<uint32_t>(l.code_instructions)
                                             : 0;
  return true;
}

// A compact ASCII str into `out` (NUL-terminated); anything else reads as "?". With
// `keep_tail`, a string too long keeps its end ("...tail"): what tells files apart.
void ReadAscii(const Memory& mem, const Layout& l, uint64_t str, char* out, size_t cap,
               bool keep_tail) {
  out[0] = '?';
  out[1] = '\0';
  int64_t length = 0;
  uint32_t state = 0;
  if (!mem.Get(str + l.ascii_length, &length) || !mem.Get(str + l.ascii_state, &state)) return;
  constexpr uint32_t kCompact = 1u << 5, kAscii = 1u << 6;  // PyASCIIObject.state bits
  if ((state & (kCompact | kAscii)) != (kCompact | kAscii) || length < 0) return;
  uint64_t data = str + l.ascii_header;
  size_t n = static_cast<size_t>(length);
  size_t at = 0;
  if (n > cap - 1) {
    if (keep_tail) {
      memcpy(out, "...", 3);
      at = 3;
      data += n - (cap - 1 - 3);
      n = cap - 1 - 3;
    } else {
      n = cap - 1;
    }
  }
  if (!mem.Read(data, out + at, n)) {
    out[0] = '?';
    out[1] = '\0';
    return;
  }
  out[at + n] = '\0';
}

uint64_t HashBytes(uint64_t h, const char* s) {
  for (; *s; ++s) h = (h ^ static_cast<uint8_t>(*s)) * 0x100000001b3ULL;
  return h;
}

// The dump's record for a Python function: found or inserted (lock-free, as the other tables;
// format::PyCodeRecord). 0 when the table is full (counted).
uint32_t CodeRecord(const char* name, const char* filename, int32_t first_line) {
  format::PyCodeRecord* records = g_shim.dump.py_code;
  const uint64_t cap = g_shim.dump.py_code_capacity;
  if (records == nullptr || cap < 2) return 0;
  uint64_t key = HashBytes(HashBytes(0xcbf29ce484222325ULL, filename) ^ 0x2f, name);
  key = format::Mix64(key ^ static_cast<uint32_t>(first_line));
  if (key == 0) key = 1;
  format::Counters& c = g_shim.dump.header->counters;
  uint64_t i = key & (cap - 1);
  for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & (cap - 1)) {
    if (i == 0) continue;
    format::PyCodeRecord& r = records[i];
    uint64_t expected = 0;
    if (Atomic(r.key).compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
      r.first_line = first_line;
      memcpy(r.name, name, strnlen(name, sizeof(r.name) - 1));  // the record is zeroed
      memcpy(r.filename, filename, strnlen(filename, sizeof(r.filename) - 1));
      Atomic(r.ready).store(1, std::memory_order_release);
      Bump(c.py_code_used);
      return static_cast<uint32_t>(i);
    }
    if (expected == key) return static_cast<uint32_t>(i);  // readers wait for `ready`
  }
  Bump(c.py_code_dropped);
  return 0;
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

uint32_t RecordOf(const Memory& mem, const Layout& l, uint64_t address, const Code& code) {
  CachedCode& slot = t_code_cache[(address >> 4) % kCodeCache];
  if (slot.code == address && slot.filename == code.filename && slot.name == code.name &&
      slot.first_line == code.first_line)
    return slot.record;
  char name[sizeof(format::PyCodeRecord::name)];
  char filename[sizeof(format::PyCodeRecord::filename)];
  ReadAscii(mem, l, code.name, name, sizeof(name), false);
  ReadAscii(mem, l, code.filename, filename, sizeof(filename), true);
  const uint32_t record = CodeRecord(name, filename, code.first_line);
  if (record != 0) slot = {address, code.filename, code.name, code.first_line, record};
  return record;
}

// ---- line numbers --------------------------------------------------------------------------

// The bytes of a line table, read in small chunks (the thread's stack may be small).
class Bytes {
 public:
  Bytes(const Memory& mem, uint64_t data, uint64_t size) : mem_(mem), data_(data), size_(size) {}
  bool more() { return pos_ < size_; }
  // The next byte without consuming it; 0 at the end or when it cannot be read.
  uint8_t peek() {
    if (pos_ >= size_) return 0;
    if (pos_ < base_ || pos_ >= base_ + filled_) {
      base_ = pos_;
      filled_ = static_cast<uint32_t>(size_ - pos_ < sizeof(buf_) ? size_ - pos_ : sizeof(buf_));
      if (!mem_.Read(data_ + base_, buf_, filled_)) {
        size_ = pos_;  // unreadable: the table ends here
        filled_ = 0;
        return 0;
      }
    }
    return buf_[pos_ - base_];
  }
  uint8_t next() {
    const uint8_t b = peek();
    if (pos_ < size_) ++pos_;
    return b;
  }
  uint32_t varint() {  // 6-bit groups, bit 6 continues (Objects/locations.md)
    uint32_t b = next(), value = b & 63, shift = 0;
    while ((b & 64) && more() && shift < 30) {
      b = next();
      shift += 6;
      value |= (b & 63) << shift;
    }
    return value;
  }
  int32_t svarint() {
    const uint32_t u = varint();
    return (u & 1) ? -static_cast<int32_t>(u >> 1) : static_cast<int32_t>(u >> 1);
  }

 private:
  const Memory& mem_;
  uint64_t data_, size_, pos_ = 0, base_ = 0;
  uint32_t filled_ = 0;
  uint8_t buf_[256];
};

// PEP 626 (3.10): (byte delta, line delta) pairs; `offset` in bytes.
int32_t LineOfPep626(Bytes& b, int32_t first_line, int64_t offset) {
  if (offset < 0) return first_line;
  int32_t line = first_line;
  int64_t end = 0;
  while (b.more()) {
    const int64_t start = end;
    end += b.next();
    const int8_t delta = static_cast<int8_t>(b.next());
    int32_t here = -1;
    if (delta != -128) here = line += delta;
    if (offset >= start && offset < end) return here;
  }
  return -1;
}

// PEP 657 (3.11+): location entries, each covering 1..8 code units; `offset` in code units.
int32_t LineOfLocations(Bytes& b, int32_t first_line, int64_t offset) {
  int32_t line = first_line;
  int64_t start = 0;
  while (b.more()) {
    const uint8_t head = b.next();
    if (!(head & 0x80)) return -1;  // not at an entry: not a table we can read
    const int code = (head >> 3) & 15;
    const int64_t length = (head & 7) + 1;
    int32_t delta = 0;
    if (code == 13 || code == 14) delta = b.svarint();  // no columns / long form
    else if (code >= 10 && code <= 12) delta = code - 10;  // one-line forms
    line += delta;
    if (offset >= start && offset < start + length) return code == 15 ? -1 : line;
    start += length;
    while (b.more() && !(b.peek() & 0x80)) b.next();  // the rest of the entry
  }
  return -1;
}

int32_t LineOf(const Memory& mem, const Layout& l, const Code& code, uint64_t instr) {
  int64_t size = 0;
  if (code.linetable == 0 || !mem.Get(code.linetable + l.bytes_size, &size) || size <= 0)
    return code.first_line;
  Bytes bytes(mem, code.linetable + l.bytes_data, static_cast<uint64_t>(size));
  if (l.lines == python::LineTable::kPep626) {
    const int64_t lasti = static_cast<int32_t>(instr);  // an index of 2-byte code units
    return LineOfPep626(bytes, code.first_line, lasti < 0 ? -1 : lasti * 2);
  }
  if (instr < code.instructions) return code.first_line;  // not started yet
  return LineOfLocations(bytes, code.first_line, static_cast<int64_t>(instr - code.instructions) / 2);
}

}  // namespace

uint32_t PythonCodeRecord(const char* name, const char* filename, int32_t first_line) {
  char n[sizeof(format::PyCodeRecord::name)] = {};
  char f[sizeof(format::PyCodeRecord::filename)] = {};
  memcpy(n, name, strnlen(name, sizeof(n) - 1));
  memcpy(f, filename, strnlen(filename, sizeof(f) - 1));
  return CodeRecord(n, f, first_line);
}

void ForgetPythonCodes() { memset(t_code_cache, 0, sizeof(t_code_cache)); }

uint64_t CurrentTstate(ThreadCtx& t) {
  const python::Runtime* py = python::Known();
  return py ? RunningTstate(t, *py) : 0;
}

uint16_t PythonSite(ThreadCtx& t) {
  const python::Runtime* py = python::Known();
  if (py == nullptr) return 0;
  if (const uint64_t tstate = RunningTstate(t, *py)) return RunningSite(*py->layout, tstate);
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

void NoteGilLetGo(ThreadCtx& t, uint64_t tstate) {
  t.holds_gil = false;
  t.py_tstate = tstate;
  // Still its own: drop_gil runs on the thread that lets go, before anything can free it.
  const python::Runtime* py = python::Known();
  t.py_site = py && tstate ? SiteOfTstate(Memory(false), *py->layout, tstate) : 0;
  t.py_path = py && tstate ? PathOfTstate(*py->layout, tstate) : 0;
}

namespace {

// Appends the frames of `tstate` (innermost first) to `out`.
void AppendFrames(const Memory& mem, const python::Runtime& py, uint64_t tstate,
                  PythonFrames* out) {
  const Layout& l = *py.layout;
  const bool shims = l.frames == python::Frames::kCStackOwnedShim;
  uint64_t frame = CurrentFrame(mem, l, tstate);
  // Bounded: a frame chain that loops (memory reused under us) ends here.
  for (uint32_t steps = 0; frame != 0 && steps < 4 * format::kMaxFrames; ++steps) {
    RawFrame f;
    if (!ReadFrame(mem, l, frame, &f)) break;
    frame = f.previous;
    if (shims && f.entry == python::kFrameOwnedByCStack) {
      if (out->count > 0) out->ends_call[out->count - 1] = true;
      continue;  // the C stack's own frame between two eval calls
    }
    Code code;
    if (!ReadCode(mem, py, f.code, &code)) continue;  // not a code object (3.13: shims)
    if (out->count == format::kMaxFrames) break;
    const int32_t line = LineOf(mem, l, code, f.instr);
    out->frames[out->count] =
        format::PythonFrame(RecordOf(mem, l, f.code, code), line > 0 ? line : 0);
    out->ends_call[out->count] = !shims && f.entry != 0;
    ++out->count;
  }
  if (out->count > 0) out->ends_call[out->count - 1] = true;
}

}  // namespace

void ReadPythonFrames(ThreadCtx& t, PythonFrames* out) {
  out->count = 0;
  const python::Runtime* py = python::Known();
  if (py == nullptr || !t.python) return;
  uint64_t tstate = RunningTstate(t, *py);
  const bool running = tstate != 0;
  if (!running) tstate = t.py_tstate;
  if (tstate != 0) AppendFrames(Memory(!running), *py, tstate, out);
  // A thread that runs another thread state than its PyGILState one (a sub-interpreter's, a
  // second one of its own) called it from the frames of that one: they come further out.
  const uint64_t own = python::GilStateTstate();
  if (own != 0 && own != tstate) AppendFrames(Memory(true), *py, own, out);
}

uint32_t MergePythonFrames(const uint64_t* pcs, uint32_t n, bool native_truncated,
                           const PythonFrames& py, uint64_t* out, uint32_t cap) {
  const python::Runtime* rt = python::Detected();
  uint32_t count = 0, next = 0;
  for (uint32_t i = 0; i < n && count < cap; ++i) {
    const uint64_t pc = pcs[i];
    // A return address into the eval loop: the Python frames that call ran come first.
    if (rt != nullptr && pc > rt->eval_begin && pc <= rt->eval_end) {
      while (next < py.count && count < cap) {
        out[count++] = py.frames[next];
        if (py.ends_call[next++]) break;
      }
    }
    if (count < cap) out[count++] = pc;
  }
  if (native_truncated)
    while (next < py.count && count < cap) out[count++] = py.frames[next++];
  return count;
}

}  // namespace lockscope::core
