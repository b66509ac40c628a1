// stack_capture.cc — the shim's unwinds: CaptureStack, the fork gate around them, and the
// unwind memo that spares a thread the unwind of a stack it has just taken again.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "shim/module_map.h"
#include "shim/python_frames.h"
#include "shim/python_layout.h"
#include "shim/recorder_core.h"

extern "C" void* __libc_stack_end;  // glibc: where the main thread's stack ends

namespace lockscope::core {

// ---- unwinding and fork() ----------------------------------------------------------------
//
// An unwind takes locks that are not the program's: libunwind's cache lock, and the loader's
// (dl_iterate_phdr, from libunwind and from RefreshModules). A fork() while another thread
// holds one leaves it locked forever in the child, whose first unwind (its own fork
// snapshot, its first new chain) would hang. So the fork prepare handler closes a gate:
// unwinds that start from then on give no stack (counted as failures), and it waits for
// those under way (a Dekker pair: each side stores, then loads the other's word, both
// seq_cst); the parent and child handlers open it again. An unwind that finds the gate
// closed waits for it to open (a fork takes a moment), for at most a second.
namespace {
std::atomic<int> g_unwinders{0};
std::atomic<bool> g_unwind_gate_closed{false};
// In a child forked while an unwind was still under way (the wait timed out): an unwinder's
// lock may be held here forever, so this process never unwinds.
bool g_unwind_unsafe = false;
}  // namespace

void CloseUnwindGate() {
  g_unwind_gate_closed.store(true, std::memory_order_seq_cst);
  const int own = t_ctx.unwinding ? 1 : 0;  // a fork from a handler that interrupted one
  YieldUntil(1000000000ull, [own] { return g_unwinders.load(std::memory_order_seq_cst) <= own; });
}

void OpenUnwindGate(bool child) {
  if (child) {
    // This thread is the only one left: unwinds under way were other threads'.
    const int own = t_ctx.unwinding ? 1 : 0;
    if (g_unwinders.load(std::memory_order_relaxed) > own) g_unwind_unsafe = true;
    g_unwinders.store(own, std::memory_order_relaxed);
  }
  g_unwind_gate_closed.store(false, std::memory_order_release);
}

// ---- the unwind memo ----------------------------------------------------------------------
//
// A thread meets new locks from the same few call paths again and again (a loop over an
// array of locks, a pool of objects, a constructor), and each new lock costs the unwind of
// its first acquisition (about 75 ns, most of a new lock's cost) for a stack the depot
// already has. So a thread remembers, for each of its last few unwinds, where on its stack
// each frame's return address lay and what it was. An unwind that starts at the same stack
// position, and finds every one of those return addresses where it was, is the same stack:
//
// an unwinder steps from a frame to its caller by the frame's CFA rule, which for compiled
// code is, almost always, the stack pointer plus a constant fixed by the frame's pc; the
// caller's pc is the return address just below the CFA, and its stack pointer the CFA. So
// from the same position and the same pcs, every step lands on the same place, and reading
// the same return address there gives the same next frame: by induction, the same stack.
//
// Where each return address lies is found by looking for it on the stack, outwards from the
// last one (libunwind's fast unwind gives pcs only; its stepping unwind, which gives stack
// pointers too, costs 30 times as much). The first word that holds a frame's pc is taken for
// its slot; an older copy of that pc left in a frame's uninitialised locals could be taken
// instead, and a frame whose CFA is its frame pointer after a dynamic allocation (alloca) of
// another size escapes the argument above. Either way a memo could give the stack of an
// earlier call from the same place whose inner frames, at least, are this call's: a smaller
// error than the chain cache's own, which gives the stack of a chain's first acquisition to
// every later one from the same call site (recorder_core.h). Unwinds with Python frames
// (read from CPython's memory) or on a signal stack (sigaltstack: the interrupted frames
// lie on another stack, where the search does not go) are not memoised.
//
// Cost: a hit reads each remembered return address once (cache lines the thread has just
// used). A stack is memoised the second time it is unwound from the same position (once
// could be the only time), at the price of one search of the stack between the two.
namespace {

constexpr uint32_t kMemoFrames = 48;              // deeper unwinds are not memoised
constexpr uint32_t kMemos = 4;                    // per thread
constexpr uint64_t kMemoSearchBytes = 64 * 1024;  // how far out a return address is looked for

struct StackMemo {
  uint64_t position;  // CaptureStack's frame address at the unwind; 0: empty
  uint64_t era;       // StackDepot::era() then: a dlclose() since makes the stack another one
  uint32_t stack;
  uint32_t frames;             // 0: seen once, not searched yet
  uint32_t slot[kMemoFrames];  // where frame i's return address lay, above `position`
  uint64_t pc[kMemoFrames];
};

// The thread's memos, replaced round robin. Its own: a signal handler that unwinds while
// the thread is in the middle of one is kept out by the recorder's guard.
struct StackMemos {
  StackMemo memo[kMemos];
  uint32_t next;
};
__thread StackMemos t_memos __attribute__((tls_model("initial-exec")));

// The stack a memo of `position` gives, or 0.
uint32_t RecallStack(uint64_t position) {
  const uint64_t era = g_shim.stacks.era();
  for (const StackMemo& m : t_memos.memo) {
    if (m.position != position || m.frames == 0 || m.era != era) continue;
    uint32_t i = 0;
    // Inner frames first: a return address found where it was vouches for the next slot.
    while (i < m.frames && *reinterpret_cast<const uint64_t*>(position + m.slot[i]) == m.pc[i]) ++i;
    if (i == m.frames) return m.stack;
  }
  return 0;
}

// The end of the stack `position` is on, as far as the search may read: a thread's
// descriptor sits at the top of its stack block (glibc), the main thread's stack ends at
// __libc_stack_end. 0 on a signal stack (sigaltstack), where the interrupted frames'
// return addresses lie on another stack: the search would run off this one.
uint64_t SearchableStackEnd(uint64_t position) {
  stack_t ss;
  if (sigaltstack(nullptr, &ss) != 0 || (ss.ss_flags & SS_ONSTACK)) return 0;
  const uint64_t self = static_cast<uint64_t>(pthread_self());
  const uint64_t end = self > position ? self : reinterpret_cast<uint64_t>(__libc_stack_end);
  return end > position ? end : 0;
}

// Where each of pcs[0..n) lies on the stack, outwards from `position` + 8 (which holds
// pcs[0]: CaptureStack's return address); false when one is not found close enough. Each
// search stops at the first copy, at worst at the return address the unwinder itself read
// there, so it reads no further than the unwind did.
bool FindReturnSlots(uint64_t position, const uint64_t* pcs, uint32_t n, uint32_t* slots) {
  const uint64_t end = SearchableStackEnd(position);
  const uint64_t limit =
      end != 0 && end - position < kMemoSearchBytes ? end - position : kMemoSearchBytes;
  if (end == 0) return false;
  uint64_t at = position + 8;
  slots[0] = 8;
  for (uint32_t i = 1; i < n; ++i) {
    do {
      at += 8;
      if (at + 8 - position > limit) return false;
    } while (*reinterpret_cast<const uint64_t*>(at) != pcs[i]);
    slots[i] = static_cast<uint32_t>(at - position);
  }
  return true;
}

// Notes an unwind from `position` (raw pcs, innermost first, the capture's own frames
// included): the second time in a row the same stack comes from there, it is memoised.
void RememberStack(uint64_t position, uint32_t stack, const uint64_t* raw, uint32_t n) {
  if (stack == 0) return;
  const uint64_t era = g_shim.stacks.era();
  // The frames of CaptureStackGated and CaptureStack themselves are gone by the next
  // capture: the memo starts at the frame CaptureStack returns to.
  const uint64_t back = *reinterpret_cast<const uint64_t*>(position + 8);
  uint32_t first = 0;
  while (first < n && first < 4 && raw[first] != back) ++first;
  if (first == n || first == 4 || n - first > kMemoFrames) return;
  for (StackMemo& m : t_memos.memo) {
    if (m.position != position || m.stack != stack || m.era != era || m.frames != 0) continue;
    if (FindReturnSlots(position, raw + first, n - first, m.slot)) {
      for (uint32_t i = first; i < n; ++i) m.pc[i - first] = raw[i];
      m.frames = n - first;
    } else {
      m.position = 0;  // not memoisable: let the slot go
    }
    return;
  }
  StackMemo& m = t_memos.memo[t_memos.next++ % kMemos];
  m.position = position;
  m.era = era;
  m.stack = stack;
  m.frames = 0;
}

}  // namespace

void ForgetStackMemos() { t_memos = {}; }

// ---- stacks ----------------------------------------------------------------------------------

namespace {

__attribute__((noinline)) uint32_t CaptureStackGated(uint64_t position);

}  // namespace

uint32_t CaptureStack() {
  ThreadCtx& t = t_ctx;
  if (g_unwind_unsafe) {
    Bump(g_shim.dump.header->counters.unwind_failures);
    return 0;
  }
  // Where an unwind from here starts: this frame's address, the same for every call through
  // the same path from the same depth. The return address above it (to the recorder) is the
  // memo's first frame.
  const uint64_t position = reinterpret_cast<uint64_t>(__builtin_frame_address(0));
  // A memo needs no unwinder, hence no gate: it takes no lock.
  if (!t.python) {
    if (const uint32_t stack = RecallStack(position)) return stack;
  }
  // While a fork is under way, wait for it (a stack not taken now would be missing from
  // its chain and edges for good), but not for long.
  const bool entered = YieldUntil(1000000000ull, [] {
    g_unwinders.fetch_add(1, std::memory_order_seq_cst);
    if (!g_unwind_gate_closed.load(std::memory_order_seq_cst)) return true;
    g_unwinders.fetch_sub(1, std::memory_order_release);
    return false;
  });
  if (!entered) {
    Bump(g_shim.dump.header->counters.unwind_failures);
    return 0;
  }
  t.unwinding = true;
  const uint32_t stack = CaptureStackGated(position);
  t.unwinding = false;
  g_unwinders.fetch_sub(1, std::memory_order_release);
  return stack;
}

namespace {

__attribute__((noinline)) uint32_t CaptureStackGated(uint64_t position) {
  ErrnoSaver keep_errno;
  void* frames[format::kMaxFrames + 16];
  const int n = unw_backtrace(frames, static_cast<int>(g_shim.config.stack_depth) + 16);
  if (n <= 0) {
    Bump(g_shim.dump.header->counters.unwind_failures);
    return 0;
  }
  const uint64_t* raw = reinterpret_cast<const uint64_t*>(frames);
  uint64_t pcs[format::kMaxFrames];
  uint32_t count = 0;
  int i = 0;
  // Drop the shim's own frames (the interposer and the recorder) from the top.
  while (i < n && raw[i] >= g_shim.self_start && raw[i] < g_shim.self_end) ++i;
  for (int k = i; k < n && count < g_shim.config.stack_depth; ++k) pcs[count++] = raw[k];
  ThreadCtx& t = t_ctx;
  bool stored = false;
  uint32_t stack = 0;
  python::PythonFrames py;
  if (t.python && t.rec != nullptr) ReadPythonFrames(t, &py);
  if (py.count > 0) {
    // Python frames beside the eval loop's native ones (python_frames.h).
    const python::Runtime* rt = python::Detected();
    uint64_t merged[format::kMaxFrames];
    const uint32_t m =
        python::MergePythonFrames(rt->eval_begin, rt->eval_end, pcs, count,
                                  i + static_cast<int>(count) < n, py, merged, format::kMaxFrames);
    stack = g_shim.stacks.Put(merged, m, &stored);
  } else {
    stack = g_shim.stacks.Put(pcs, count, &stored);
    if (!t.python) RememberStack(position, stack, raw, static_cast<uint32_t>(n));
  }
  // A stack stored for the first time may name a module loaded since the last look (a
  // known one was stored with its modules in the table already): only then is the loader's
  // list walked, which takes the loader's lock.
  if (stored && RefreshModules(g_shim.dump)) NotePython();  // a libpython loaded late
  return stack;
}

}  // namespace

}  // namespace lockscope::core
