// Reading CPython's frames and code objects from memory, with the layouts of python_layout.h:
// the shim's own process (a thread's own frames, by plain loads, or by SafeRead when another
// thread may free them) or another process (attach and core files: a reader over its memory).
//
// Behaviour: every read is checked (an address below 4096, or one the reader refuses, ends
// the walk); chains are bounded, so memory reused under the reader cannot make it loop. A
// string that is not compact ASCII reads as "?".
// Cost: a few reads per frame, and a code object's name, file and line table when it is
// named; the shim does it when it records a stack (a slow path), and reads a few frames
// (no code object) whenever a thread lets the GIL go (python_frames.cc).
// Threads: no state of its own; the caller says whose memory is read and how.
#ifndef LOCKSCOPE_SHIM_PYTHON_MEMORY_H_
#define LOCKSCOPE_SHIM_PYTHON_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "shim/format/dump_format.h"
#include "shim/python_layout.h"

namespace lockscope::python {

// How memory is read: plain loads (the default: memory the caller owns), or a reader.
class Memory {
 public:
  using ReadFn = bool (*)(void* context, uint64_t address, void* out, size_t size);
  Memory() = default;
  Memory(ReadFn read, void* context) : read_(read), context_(context) {}
  __attribute__((always_inline)) bool Read(uint64_t address, void* out, size_t size) const {
    if (address < 4096) return false;
    if (read_ == nullptr) {
      memcpy(out, reinterpret_cast<const void*>(address), size);
      return true;
    }
    return read_(context_, address, out, size);
  }
  template <typename T>
  bool Get(uint64_t address, T* value) const {
    return Read(address, value, sizeof(T));
  }

 private:
  ReadFn read_ = nullptr;
  void* context_ = nullptr;
};

// The thread state's innermost frame (3.10: PyFrameObject; 3.11+: _PyInterpreterFrame).
// Inline (as ReadFrame): with plain loads, a few instructions.
__attribute__((always_inline)) inline uint64_t CurrentFrame(const Memory& mem, const Layout& l,
                                                            uint64_t tstate) {
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
__attribute__((always_inline)) inline bool ReadFrame(const Memory& mem, const Layout& l,
                                                     uint64_t frame, RawFrame* f) {
  if (!mem.Get(frame + l.frame_code, &f->code) || !mem.Get(frame + l.frame_previous, &f->previous))
    return false;
  if (l.frames == Frames::kFrameObjects) {
    int32_t lasti = 0;
    if (!mem.Get(frame + l.frame_instr, &lasti)) return false;
    f->instr = static_cast<uint64_t>(static_cast<int64_t>(lasti));
    f->entry = 1;  // one frame object per eval call
    return true;
  }
  return mem.Get(frame + l.frame_instr, &f->instr) && mem.Get(frame + l.frame_entry, &f->entry);
}

// A code object's fields that name its frames.
struct Code {
  uint64_t filename = 0, name = 0, linetable = 0;
  int32_t first_line = 0;
  uint64_t instructions = 0;  // 3.11+: address of its first instruction
};
// False when `address` is not a code object (its type is not `code_type`, &PyCode_Type).
bool ReadCode(const Memory& mem, const Layout& l, uint64_t code_type, uint64_t address, Code* c);

// The function name and file of a code object, as the dump's PyCodeRecord holds them (a
// file name too long keeps its end: what tells files apart).
void NameCode(const Memory& mem, const Layout& l, const Code& code,
              char (&name)[sizeof(format::PyCodeRecord::name)],
              char (&filename)[sizeof(format::PyCodeRecord::filename)]);

// The line a frame of `code` at instruction `instr` runs; the first line when it has not
// started; -1 when the table cannot say.
int32_t LineOf(const Memory& mem, const Layout& l, const Code& code, uint64_t instr);

// A thread's Python frames, innermost first, as format::PythonFrame values, each marked when
// it is the outermost frame of one C-level call of the eval loop (_PyEval_EvalFrameDefault).
struct PythonFrames {
  uint32_t count = 0;
  uint64_t frames[format::kMaxFrames];
  bool ends_call[format::kMaxFrames];
};

// Appends the frames of `tstate` to `out`; `record` gives each code object its index in the
// dump's Python code table (format::PyCodeRecord; 0 when it has none), and each frame its
// line (LineOf, unless the recorder remembers it).
struct CodeRecorder {
  virtual uint32_t Record(const Memory& mem, const Layout& l, uint64_t address,
                          const Code& code) = 0;
  virtual int32_t Line(const Memory& mem, const Layout& l, uint64_t /*address*/, const Code& code,
                       uint64_t instr) {
    return LineOf(mem, l, code, instr);
  }
};
void AppendFrames(const Memory& mem, const Layout& l, uint64_t code_type, uint64_t tstate,
                  CodeRecorder& record, PythonFrames* out);

// Interleaves `py` into the native stack `pcs[0..n)` (innermost first): each return address
// into the eval loop (eval_begin, eval_end] gets the Python frames that call ran, just inside
// it. Python frames left over when the native stack was cut short (`native_truncated`)
// follow. Returns the new count (at most `cap`).
uint32_t MergePythonFrames(uint64_t eval_begin, uint64_t eval_end, const uint64_t* pcs, uint32_t n,
                           bool native_truncated, const PythonFrames& py, uint64_t* out,
                           uint32_t cap);

}  // namespace lockscope::python

#endif  // LOCKSCOPE_SHIM_PYTHON_MEMORY_H_
