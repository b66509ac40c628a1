// fork(): "don't mix threads and forks". A lock held by another thread at the moment of
// fork() stays locked in the child forever: the thread that would release it does not exist
// there. We work through pthread_atfork handlers (registered at start-up, so that ours run
// last in prepare and first in the child):
//   prepare  snapshot every thread's held locks and the forking stack (frames copied, since
//            the child cannot use the parent's stack ids once it has its own dump);
//   child    replace the parent's mapping with private memory (nothing reaches the parent's
//            file any more) and arm the shim again: the child makes a dump of its own at its
//            first lock operation, at the same address (every pointer stays valid). Then
//            (FinishChildDump) it lists every inherited held lock, checked against the
//            child's own copy of the lock word, and makes the forking thread a slot that
//            holds the locks it held, which it takes when it registers. A child that takes no lock
//            before it exits or execs (most fork children) makes no file at all;
//   parent   nothing to do.
// A child that later blocks on an inherited lock of another thread records held-across-fork
// before it blocks (CheckInheritedLock). _Fork (no handlers) is interposed to do the same.
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>

#include "shim/glibc_layout.h"
#include "shim/python_frames.h"
#include "shim/raw_log.h"
#include "shim/recorder.h"
#include "shim/recorder_core.h"

namespace lockscope {
namespace {

using namespace core;

constexpr uint32_t kSnapshotFrames = format::kMaxFrames;

struct Frames {
  uint32_t count;
  uint64_t pcs[kSnapshotFrames];
};

// What the child needs from the parent, copied out of the parent's mapping before the child
// replaces it. Static: the prepare handler may not allocate. glibc runs the prepare handlers
// of concurrent forks concurrently, so g_fork_busy (taken in prepare, released in parent and
// in child) makes one fork at a time own it.
struct ForkSnapshot {
  struct Entry {
    uint64_t address;
    int32_t holder_tid;
    char holder_name[16];
    uint8_t kind;
    bool by_forker;
    uint32_t flags;
    uint32_t recursion;
    Frames stack;
  };
  static constexpr uint32_t kMax = 256;
  Entry entries[kMax];
  uint32_t count;
  uint32_t dropped;
  int32_t forker_tid;
  Frames fork_stack;
  // The Python functions the frames name (format::PythonFrame): the child's dump starts with
  // an empty Python code table, so the snapshot's Python frames index this list (+1) until
  // the child re-inserts them.
  static constexpr uint32_t kMaxCodes = 256;
  struct Code {
    uint32_t parent;  // record index in the parent's table
    format::PyCodeRecord record;
  };
  Code codes[kMaxCodes];
  uint32_t code_count;
  char parent_dump[PATH_MAX];
  uint32_t parent_generation;
  int32_t parent_pid;
  bool guarded;  // prepare set the forking thread's guard
  // The forking thread was inside the shim (a signal handler that interrupted it forks):
  // the interrupted code goes on in the child too, with the thread's slot.
  bool forker_inside;
};
ForkSnapshot g_snapshot;
std::atomic<bool> g_fork_busy{false};

// In a fork child, from ForkChild until its dump is made (FinishChildDump): the snapshot is
// its parent's (g_snapshot is not written again before then: a fork from here makes the
// dump first), to be written into that dump; and where the parent's mapping was.
bool g_child_pending = false;
void* g_child_address = nullptr;
// While FinishChildDump runs: the child's own records of the Python functions the
// snapshot's stacks name.
uint32_t g_child_code[ForkSnapshot::kMaxCodes];
// The forking thread's slot, made by FinishChildDump until that thread takes it (0: none).
uint32_t g_forker_slot = 0;

// The snapshot's own index (+1) of the parent's Python code record `parent`; 0 when it is
// not there (a record not yet written) or the list is full.
uint32_t SnapshotCode(ForkSnapshot* s, uint32_t parent) {
  for (uint32_t i = 0; i < s->code_count; ++i)
    if (s->codes[i].parent == parent) return i + 1;
  if (s->code_count == ForkSnapshot::kMaxCodes || parent == 0 ||
      parent >= g_shim.dump.py_code_capacity)
    return 0;
  const format::PyCodeRecord& r = g_shim.dump.py_code[parent];
  if (Atomic(const_cast<uint32_t&>(r.ready)).load(std::memory_order_acquire) != 1) return 0;
  s->codes[s->code_count] = {parent, r};
  return ++s->code_count;
}

void CopyFrames(uint32_t stack, Frames* out, ForkSnapshot* s) {
  out->count = 0;
  if (stack == 0 || stack >= g_shim.dump.stacks_capacity) return;
  const format::StackRecord& sr = g_shim.dump.stacks[stack];
  uint32_t n = sr.frame_count < kSnapshotFrames ? sr.frame_count : kSnapshotFrames;
  if (sr.frame_offset + uint64_t{n} > g_shim.dump.frames_capacity) return;
  memcpy(out->pcs, &g_shim.dump.frames[sr.frame_offset], n * sizeof(uint64_t));
  out->count = n;
  for (uint32_t i = 0; i < n; ++i)
    if (format::IsPythonFrame(out->pcs[i]))
      out->pcs[i] = format::PythonFrame(SnapshotCode(s, format::PythonFrameCode(out->pcs[i])),
                                        format::PythonFrameLine(out->pcs[i]));
}

// In the child: the snapshot's Python frames pointed at the child's own code records.
uint32_t PutFrames(Frames f, const uint32_t* child_code) {
  for (uint32_t i = 0; i < f.count; ++i)
    if (format::IsPythonFrame(f.pcs[i])) {
      const uint32_t code = format::PythonFrameCode(f.pcs[i]);
      f.pcs[i] = format::PythonFrame(code ? child_code[code - 1] : 0,
                                     format::PythonFrameLine(f.pcs[i]));
    }
  return g_shim.stacks.Put(f.pcs, f.count);
}

// The prepare handler runs under libc's fork (register-atfork.c, fork.c): the report should
// start at the program's own fork() call. libc's range comes from the dump's module table
// (dladdr would take the loader's lock, which a dlopen in another thread may hold).
bool InLibc(uint64_t pc) {
  const uint64_t used = Atomic(g_shim.dump.header->counters.modules_used).load(std::memory_order_acquire);
  for (uint64_t i = 0; i < used && i < g_shim.dump.modules_capacity; ++i) {
    const format::ModuleRecord& m = g_shim.dump.modules[i];
    if (pc >= m.start && pc < m.end) return strstr(m.path, "/libc.so.") != nullptr;
  }
  return false;
}

void DropLibcFrames(Frames* f) {
  uint32_t skip = 0;
  while (skip < f->count && !format::IsPythonFrame(f->pcs[skip]) && InLibc(f->pcs[skip] - 1))
    ++skip;
  if (skip == 0 || skip == f->count) return;
  memmove(f->pcs, f->pcs + skip, (f->count - skip) * sizeof(uint64_t));
  f->count -= skip;
}

void TakeSnapshot(ThreadCtx& t, ForkSnapshot* s) {
  s->count = 0;
  s->dropped = 0;
  s->forker_tid = t.tid;
  s->parent_pid = g_shim.dump.header->pid;
  memcpy(s->parent_dump, g_shim.dump_path, sizeof(s->parent_dump));
  s->parent_generation = g_shim.dump.header->fork_generation;
  s->code_count = 0;
  CopyFrames(CaptureStack(), &s->fork_stack, s);
  DropLibcFrames(&s->fork_stack);
  // Other threads keep running while we read their slots: a snapshot of a moving target,
  // which the child then checks against its frozen copy of each lock word.
  for (uint32_t slot = 1, end = ThreadSlotsEnd(); slot < end; ++slot) {
    const format::ThreadRecord& r = g_shim.dump.threads[slot];
    if (Atomic(const_cast<uint32_t&>(r.state)).load(std::memory_order_acquire) !=
        format::kThreadLive)
      continue;
    const bool forker = &r == t.rec;
    uint32_t held = Atomic(const_cast<uint32_t&>(r.held_count)).load(std::memory_order_acquire);
    for (uint32_t i = 0; i < held; ++i) {
      const HeldLock h = forker ? Held(t, i) : (i < format::kInlineHeld ? r.held[i] : HeldLock{});
      if (h.address == 0) continue;  // beyond another thread's in-dump part
      // A semaphore is a lock only while it is not known to be something else (a hand-off).
      const bool semaphore = h.flags & format::kHeldSemaphore;
      if (semaphore) {
        const format::SyncRecord* sync = g_shim.syncs.Find(h.address);
        if (sync == nullptr || (sync->flags & format::kSyncNotLock)) continue;
      }
      if (s->count == ForkSnapshot::kMax) {
        ++s->dropped;
        continue;
      }
      ForkSnapshot::Entry& e = s->entries[s->count++];
      e.address = h.address;
      e.holder_tid = r.tid;
      memcpy(e.holder_name, r.name, sizeof(e.holder_name));
      e.kind = semaphore ? uint8_t{format::kLockSemaphore}
               : h.lock  ? uint8_t(g_shim.locks.at(h.lock).kind & format::kLockKindMask)
                         : uint8_t{format::kLockMutex};
      e.by_forker = forker;
      e.flags = h.flags;
      e.recursion = h.recursion;
      CopyFrames(h.stack, &e.stack, s);
    }
  }
}

// Is the inherited lock still locked in the child's memory (by its parent-side holder)?
bool StillLocked(const ForkSnapshot::Entry& e) {
  switch (e.kind) {
    case format::kLockRwlock: {
      pthread_rwlock_t l;
      return SafeRead(e.address, &l, sizeof(l)) && glibc::RwlockLocked(l);
    }
    case format::kLockSemaphore: {  // taken: its value is 0
      sem_t s;
      return SafeRead(e.address, &s, sizeof(s)) && glibc::SemValue(&s) == 0;
    }
    case format::kLockSpinlock: {
      int word;
      return SafeRead(e.address, &word, sizeof(word)) && glibc::SpinlockLocked(word);
    }
    case format::kLockCondvar: return false;
    default: {
      pthread_mutex_t m;
      return SafeRead(e.address, &m, sizeof(m)) && glibc::MutexLocked(&m) &&
             glibc::MutexOwner(&m) == e.holder_tid;
    }
  }
}

// Whether a lock held at fork() by another thread than the forking one is still locked in
// the child's copy of memory.
bool InheritsOthersLock(const ForkSnapshot& s) {
  for (uint32_t i = 0; i < s.count; ++i)
    if (!s.entries[i].by_forker && s.entries[i].kind != format::kLockGil &&
        StillLocked(s.entries[i]))
      return true;
  return false;
}

// The parent's mapping replaced with private memory at the same address: whatever the
// child does, nothing reaches the parent's file. Inaccessible (no commit charge, whatever
// the overcommit policy) while nothing may touch it, until the child maps its own dump
// there (or never: a child that takes no lock); writable where code that was interrupted
// in the shim goes on writing its thread's slot.
void LeaveParentMapping(bool writable) {
  if (g_shim.dump.header == nullptr || g_shim.dump.size == 0) return;
  const int saved_errno = errno;
  mmap(g_shim.dump.header, g_shim.dump.size, writable ? PROT_READ | PROT_WRITE : PROT_NONE,
       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  errno = saved_errno;
}

// Records nothing in this child: its only thread (this one) forgets its slot, so its fast
// paths pass straight through. Should the private mapping fail, the parent's file stays
// mapped: but nothing writes to it once the state is disabled and this thread has no slot.
void DisableInChild() {
  LeaveParentMapping(true);
  g_shim.state.store(kDisabled, std::memory_order_release);
  t_ctx.rec = nullptr;
  t_ctx.untracked = true;
  t_ctx.depth = 0;
}

// A lock the forking thread held at fork(), as the child's own: its identity, and its stack
// in the child's depot.
uint32_t ChildLock(const ForkSnapshot::Entry& e) {
  // Semaphores start over in the child (not yet known to be locks): their records say
  // lock 0, as CheckInheritedLock's callers do.
  if (e.kind == format::kLockSemaphore) return 0;
  bool inserted = false;
  const uint32_t lock = g_shim.locks.FindOrInsert(e.address, e.kind, &inserted);
  if (inserted) NoteLockAddress(e.address);
  return lock;
}

}  // namespace

namespace core {

bool ChildDumpPending() { return g_child_pending; }

uint32_t TakeForkerSlot() {
  const uint32_t slot = g_forker_slot;
  g_forker_slot = 0;  // only the forking thread asks (adopt_fork_locks), once
  return slot;
}

namespace {

// A slot for the forking thread, holding the locks it held at fork() that the child's
// memory still says are locked (a program's child handler may have re-initialised some:
// jemalloc does). It has made no lock operation the shim saw since fork(), or the dump
// would exist already; while it makes none (it waits in waitpid, say), hang reports name it
// as their holder. It takes the slot when it registers. Its tid in the child is the pid.
bool ForkerHolds(const ForkSnapshot::Entry& e) {
  return e.by_forker && e.kind != format::kLockGil && StillLocked(e);
}

void MakeForkerSlot() {
  const ForkSnapshot& s = g_snapshot;
  bool any = false;
  for (uint32_t i = 0; i < s.count && !any; ++i) any = ForkerHolds(s.entries[i]);
  if (!any) return;
  const uint32_t slot = ClaimThreadSlot();
  if (slot == 0) return;  // full (counted): it registers without them, if it can
  format::ThreadRecord& r = g_shim.dump.threads[slot];
  r.tid = getpid();
  r.ring = format::kNoIndex;
  ReadThreadName(r.tid, r.name);
  uint32_t n = 0;
  uint64_t chain = 0;
  for (uint32_t i = 0; i < s.count; ++i) {
    const ForkSnapshot::Entry& e = s.entries[i];
    if (!ForkerHolds(e)) continue;
    if (n == format::kInlineHeld) {
      Bump(g_shim.dump.header->counters.held_dropped);
      continue;
    }
    const uint32_t lock = ChildLock(e);
    chain = ChainKey(chain, lock, e.flags);
    r.held[n++] = {e.address, lock, PutFrames(e.stack, g_child_code), chain, e.recursion, e.flags};
  }
  Atomic(r.held_count).store(n, std::memory_order_release);
  Atomic(r.state).store(format::kThreadLive, std::memory_order_release);
  g_forker_slot = slot;
}

}  // namespace
void* ChildDumpAddress() { return g_child_address; }

void FinishChildDump() {
  const ForkSnapshot& s = g_snapshot;
  g_child_pending = false;
  format::FileHeader* h = g_shim.dump.header;
  h->parent_pid = s.parent_pid;
  h->fork_generation = s.parent_generation + 1;
  size_t n = strlen(s.parent_dump);
  if (n >= sizeof(h->parent_dump)) n = sizeof(h->parent_dump) - 1;
  memcpy(h->parent_dump, s.parent_dump, n);
  h->fork_tid = s.forker_tid;
  for (uint32_t i = 0; i < s.code_count; ++i) {
    const format::PyCodeRecord& r = s.codes[i].record;
    g_child_code[i] = PythonCodeRecord(r.name, r.filename, r.first_line);
  }
  h->fork_stack = PutFrames(s.fork_stack, g_child_code);
  format::Counters& c = h->counters;
  c.fork_held_dropped = s.dropped;
  for (uint32_t i = 0; i < s.count; ++i) {
    const ForkSnapshot::Entry& e = s.entries[i];
    // Released before the fork happened, or since by the program's own child handlers
    // (which run after ours, before the child's first lock operation: jemalloc re-inits
    // its mutexes there, which the shim does not see until the dump exists).
    if (!StillLocked(e)) continue;
    // CPython re-creates the GIL in the child and takes it again (gil_hooks.cc sees that).
    if (e.kind == format::kLockGil) continue;
    if (c.fork_held_used >= g_shim.dump.fork_held_capacity) {
      ++c.fork_held_dropped;
      continue;
    }
    format::ForkHeldRecord& r = g_shim.dump.fork_held[c.fork_held_used];
    r.address = e.address;
    r.holder_tid = e.holder_tid;
    r.lock = ChildLock(e);
    r.stack = PutFrames(e.stack, g_child_code);
    r.kind = e.kind;
    r.by_forker = e.by_forker;
    memcpy(r.holder_name, e.holder_name, sizeof(r.holder_name));
    Atomic(r.ready).store(1, std::memory_order_release);
    Atomic(c.fork_held_used).store(c.fork_held_used + 1, std::memory_order_release);
  }
  MakeForkerSlot();
}

void ForkPrepare() {
  ThreadCtx& self = t_ctx;
  self.fork_snapshot = false;
  const bool inside = self.guard == kGuardInside;
  // A dump that another thread is making: the child must not copy it half made (after a
  // bounded wait, the child records nothing: ForkChild).
  if (!inside && !WaitWhileCreating()) return;
  // A fork child that has made no dump yet makes it now: its own child's parent link and
  // inherited locks are about it, and the snapshot is about to be taken again.
  if (g_child_pending && g_shim.state.load(std::memory_order_acquire) == kArmed)
    if (ThreadCtx* t = Enter()) Leave(t);
  if (!Ready()) return;  // no dump (yet): the child has nothing to switch from
  while (g_fork_busy.exchange(true, std::memory_order_acquire)) sched_yield();
  g_snapshot.guarded = false;
  g_snapshot.forker_inside = inside;
  if (ThreadCtx* t = Enter()) {
    RecordEvent(*t, format::kOpFork, 0, 0);
    TakeSnapshot(*t, &g_snapshot);
    // The guard stays set until the parent or child handler: nothing is recorded around
    // the raw fork itself.
    g_snapshot.guarded = true;
  } else {
    // An untracked thread (or a fork from inside the shim): the child must still switch to
    // a dump of its own, with nothing inherited.
    g_snapshot.count = 0;
    g_snapshot.dropped = 0;
    g_snapshot.forker_tid = 0;
    g_snapshot.parent_pid = g_shim.dump.header->pid;
    g_snapshot.fork_stack.count = 0;
    memcpy(g_snapshot.parent_dump, g_shim.dump_path, sizeof(g_snapshot.parent_dump));
    g_snapshot.parent_generation = g_shim.dump.header->fork_generation;
  }
  self.fork_snapshot = true;
  CloseUnwindGate();  // after our own unwind (the snapshot's forking stack)
}

void ForkParent() {
  if (!t_ctx.fork_snapshot) return;
  t_ctx.fork_snapshot = false;
  OpenUnwindGate(false);
  if (g_snapshot.guarded) Leave(&t_ctx);
  g_fork_busy.store(false, std::memory_order_release);
}

void ForkChild() {
  g_fork_busy.store(false, std::memory_order_relaxed);  // the child is single-threaded
  ThreadCtx& t = t_ctx;
  if (!t.fork_snapshot) {
    // Prepare found no dump: an armed process's child is armed too. A dump made while
    // this fork was under way (prepare saw none), or being made by the forking thread
    // itself (a signal handler that forks): nothing is recorded in this child.
    const int state = g_shim.state.load(std::memory_order_acquire);
    if (state == kReady || state == kCreating) DisableInChild();
    return;
  }
  t.fork_snapshot = false;
  OpenUnwindGate(true);
  if (g_snapshot.forker_inside) {
    // The interrupted code (a wait, a commit) goes on with this thread's slot when the
    // handler returns: it writes private memory now, and nothing is recorded here.
    LeaveParentMapping(true);
    g_shim.state.store(kDisabled, std::memory_order_release);
    return;
  }
  const int saved_errno = errno;
  g_child_address = g_shim.dump.header;
  LeaveParentMapping(false);
  ForgetParentThread(t);
  t.adopt_fork_locks = true;  // it takes the slot FinishChildDump makes it, if any
  g_child_pending = true;
  g_shim.state.store(kArmed, std::memory_order_release);
  t.guard = kGuardFree;  // prepare left it set
  // A lock that another thread held at fork() is held here forever: a hazard worth a dump
  // even if this child takes no lock (one that only execs gets a held-across-fork warning,
  // one that blocks on it an error).
  if (InheritsOthersLock(g_snapshot)) EnsureDump(t);
  errno = saved_errno;
}

void CheckInheritedLock(ThreadCtx& t, uint64_t address, uint32_t lock, int32_t owner_tid) {
  format::Counters& c = g_shim.dump.header->counters;
  uint64_t n = Atomic(c.fork_held_used).load(std::memory_order_acquire);
  for (uint64_t i = 0; i < n && i < g_shim.dump.fork_held_capacity; ++i) {
    format::ForkHeldRecord& r = g_shim.dump.fork_held[i];
    if (r.address != address || r.lock != lock || r.by_forker || r.reported) continue;
    if (owner_tid >= 0 && owner_tid != r.holder_tid) continue;  // re-initialised or reused
    r.reported = 1;
    RecordMisuse(t, format::kMisuseHeldAcrossFork, address, lock, r.holder_tid, r.stack);
    return;
  }
}

}  // namespace core

// _Fork (glibc >= 2.34) runs no atfork handlers: do their work around it.
pid_t RawFork() {
  ForkPrepare();
  pid_t pid = Real()._Fork ? Real()._Fork() : -1;
  if (pid == 0)
    ForkChild();
  else
    ForkParent();
  return pid;
}

}  // namespace lockscope
