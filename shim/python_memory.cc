#include "shim/python_memory.h"

namespace lockscope::python {

bool ReadCode(const Memory& mem, const Layout& l, uint64_t code_type, uint64_t address, Code* c) {
  uint64_t type = 0;
  if (!mem.Get(address + 8, &type) || type != code_type) return false;  // ob_type
  if (!mem.Get(address + l.code_filename, &c->filename) ||
      !mem.Get(address + l.code_name, &c->name) ||
      !mem.Get(address + l.code_firstlineno, &c->first_line) ||
      !mem.Get(address + l.code_linetable, &c->linetable))
    return false;
  c->instructions =
      l.code_instructions >= 0 ? address + static_cast<uint32_t>(l.code_instructions) : 0;
  return true;
}

namespace {

// A compact ASCII str into `out` (NUL-terminated); anything else reads as "?". With
// `keep_tail`, a string too long keeps its end ("...tail").
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
    if (code == 13 || code == 14)
      delta = b.svarint();  // no columns / long form
    else if (code >= 10 && code <= 12)
      delta = code - 10;  // one-line forms
    line += delta;
    if (offset >= start && offset < start + length) return code == 15 ? -1 : line;
    start += length;
    while (b.more() && !(b.peek() & 0x80)) b.next();  // the rest of the entry
  }
  return -1;
}

}  // namespace

int32_t LineOf(const Memory& mem, const Layout& l, const Code& code, uint64_t instr) {
  int64_t size = 0;
  if (code.linetable == 0 || !mem.Get(code.linetable + l.bytes_size, &size) || size <= 0)
    return code.first_line;
  Bytes bytes(mem, code.linetable + l.bytes_data, static_cast<uint64_t>(size));
  if (l.lines == LineTable::kPep626) {
    const int64_t lasti = static_cast<int32_t>(instr);  // an index of 2-byte code units
    return LineOfPep626(bytes, code.first_line, lasti < 0 ? -1 : lasti * 2);
  }
  if (instr < code.instructions) return code.first_line;  // not started yet
  return LineOfLocations(bytes, code.first_line,
                         static_cast<int64_t>(instr - code.instructions) / 2);
}

void NameCode(const Memory& mem, const Layout& l, const Code& code,
              char (&name)[sizeof(format::PyCodeRecord::name)],
              char (&filename)[sizeof(format::PyCodeRecord::filename)]) {
  ReadAscii(mem, l, code.name, name, sizeof(name), false);
  ReadAscii(mem, l, code.filename, filename, sizeof(filename), true);
}

void AppendFrames(const Memory& mem, const Layout& l, uint64_t code_type, uint64_t tstate,
                  CodeRecorder& record, PythonFrames* out) {
  const bool shims = l.frames == Frames::kCStackOwnedShim;
  uint64_t frame = CurrentFrame(mem, l, tstate);
  // Bounded: a frame chain that loops (memory reused under us) ends here.
  for (uint32_t steps = 0; frame != 0 && steps < 4 * format::kMaxFrames; ++steps) {
    RawFrame f;
    if (!ReadFrame(mem, l, frame, &f)) break;
    frame = f.previous;
    if (shims && f.entry == kFrameOwnedByCStack) {
      if (out->count > 0) out->ends_call[out->count - 1] = true;
      continue;  // the C stack's own frame between two eval calls
    }
    Code code;
    if (!ReadCode(mem, l, code_type, f.code, &code)) continue;  // not a code object (3.13: shims)
    if (out->count == format::kMaxFrames) break;
    const int32_t line = record.Line(mem, l, f.code, code, f.instr);
    out->frames[out->count] =
        format::PythonFrame(record.Record(mem, l, f.code, code), line > 0 ? line : 0);
    out->ends_call[out->count] = !shims && f.entry != 0;
    ++out->count;
  }
  if (out->count > 0) out->ends_call[out->count - 1] = true;
}

uint32_t MergePythonFrames(uint64_t eval_begin, uint64_t eval_end, const uint64_t* pcs, uint32_t n,
                           bool native_truncated, const PythonFrames& py, uint64_t* out,
                           uint32_t cap) {
  uint32_t count = 0, next = 0;
  for (uint32_t i = 0; i < n && count < cap; ++i) {
    const uint64_t pc = pcs[i];
    // A return address into the eval loop: the Python frames that call ran come first.
    if (pc > eval_begin && pc <= eval_end) {
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

}  // namespace lockscope::python
