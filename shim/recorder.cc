// The recorder's core: start-up, threads, the held stack, stacks, order edges, waits and
// misuse records. The interposed entry points live in the *_hooks.cc files.
#include "shim/recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "shim/glibc_layout.h"
#include "shim/module_map.h"
#include "shim/python_frames.h"
#include "shim/python_layout.h"
#include "shim/raw_log.h"
#include "shim/recorder_core.h"

namespace lockscope::core {

constinit Shim g_shim;
constinit SemChanges g_sem_changes;
__thread ThreadCtx t_ctx __attribute__((tls_model("initial-exec")));

namespace {

inline int32_t GetTid() { return static_cast<int32_t>(syscall(SYS_gettid)); }

// Makes room for one more held lock beyond the inline slots: a private mapping that
// doubles (slow path; only programs holding more than kInlineHeld locks get here).
bool EnsureCapacity(ThreadCtx& t) {
  if (t.depth < format::kInlineHeld) return true;
  uint32_t need = t.depth - format::kInlineHeld + 1;
  if (need <= t.spill_cap) return true;
  uint32_t cap = t.spill_cap ? t.spill_cap * 2 : 64;
  void* p = mmap(nullptr, cap * sizeof(HeldLock), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  if (t.spill) {
    memcpy(p, t.spill, t.spill_cap * sizeof(HeldLock));
    munmap(t.spill, t.spill_cap * sizeof(HeldLock));
  }
  t.spill = static_cast<HeldLock*>(p);
  t.spill_cap = cap;
  return true;
}

}  // namespace

// ---- order edges -------------------------------------------------------------------------

bool IsGil(uint32_t lock) {
  return (g_shim.locks.at(lock).kind & format::kLockKindMask) == format::kLockGil;
}

// Adds H->L for the innermost locks H held below held[below] (at most kMaxEdgeSources). The
// gate candidates of each edge are the outermost other held locks, but never the GIL: the
// interpreter lets it go between any two Python instructions and before it blocks, so it
// serialises no critical section. A lock taken behind the GIL (format::kHeldBehindGil) has
// no edge from the GIL.
void RecordEdgesBelow(ThreadCtx& t, uint32_t below, uint32_t lock, uint32_t stack,
                      uint32_t flags) {
  const uint32_t depth = below;
  const uint32_t lowest = depth > format::kMaxEdgeSources ? depth - format::kMaxEdgeSources : 0;
  if (lowest > 0) Bump(g_shim.dump.header->counters.edges_depth_skipped, lowest);
  bool identified = false;
  for (uint32_t i = lowest; i < depth; ++i) {
    HeldLock& h = Held(t, i);
    if (h.lock == 0 && (h.flags & format::kHeldSemaphore)) {
      // A semaphore not yet known to be a lock gets its identity now, so that this edge is
      // there if it proves one (and is left out if it proves not to be). One known not to
      // be a lock (a stale entry) gets none.
      const format::SyncRecord* sync = g_shim.syncs.Find(h.address);
      if (sync != nullptr && !(Relaxed(sync->flags) & format::kSyncNotLock)) {
        h.lock = SemaphoreLock(h.address);
        identified |= h.lock != 0;
      }
    }
    if (h.lock == 0 || h.lock == lock) continue;
    if ((flags & format::kHeldBehindGil) && IsGil(h.lock)) continue;
    uint32_t gates[format::kMaxGates];
    uint32_t n = 0;
    for (uint32_t j = 0; j < depth && n < format::kMaxGates; ++j) {
      // A lock held for read serialises nothing (other readers get in): not a gate.
      const HeldLock& gate = Held(t, j);
      if (j != i && gate.lock != 0 && gate.lock != lock && gate.lock != h.lock &&
          !(gate.flags & format::kHeldRead) && !IsGil(gate.lock))
        gates[n++] = gate.lock;
    }
    const uint32_t mode =
        ((h.flags & format::kHeldRead) ? format::kEdgeFromRead : format::kEdgeFromWrite) |
        ((flags & format::kHeldRead) ? format::kEdgeToRead : format::kEdgeToWrite);
    g_shim.locks.NoteEdge(h.lock);
    g_shim.locks.NoteEdge(lock);
    g_shim.edges.Add(h.lock, lock, h.stack, stack, t.tid, depth, gates, n, mode);
  }
  if (identified) RekeyHeld(t, 0);
}

uint32_t SemaphoreLock(uint64_t address) {
  bool inserted = false;
  const uint32_t lock = g_shim.locks.FindOrInsert(address, format::kLockSemaphore, &inserted);
  if (inserted) NoteNewLock(t_ctx, address, lock);
  return lock;
}

namespace {

void RecordEdges(ThreadCtx& t, uint32_t lock, uint32_t stack, uint32_t flags) {
  RecordEdgesBelow(t, t.depth, lock, stack, flags);
}

// ---- threads -------------------------------------------------------------------------------

}  // namespace

void ReadThreadName(int32_t tid, char* out) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, out, 15);
  close(fd);
  if (n <= 0) return;
  if (out[n - 1] == '\n') --n;
  out[n] = '\0';
}

namespace {

bool ClaimSlot(uint32_t i, uint32_t from) {
  uint32_t expected = from;
  if (!Atomic(g_shim.dump.threads[i].state)
           .compare_exchange_strong(expected, format::kThreadClaiming, std::memory_order_acq_rel))
    return false;
  // Before the slot is published live: a scan that sees it live reads up to it.
  uint32_t end = g_shim.thread_slots_end.load(std::memory_order_relaxed);
  while (end < i + 1 && !g_shim.thread_slots_end.compare_exchange_weak(
                            end, i + 1, std::memory_order_release, std::memory_order_relaxed)) {
  }
  return true;
}

void AttachRing(ThreadCtx& t) {
  t.ring = RingWriter();
  t.rec->ring = format::kNoIndex;
  for (uint64_t r = 0; r < g_shim.dump.rings_capacity; ++r) {
    format::RingHeader* ring = g_shim.dump.ring(r);
    int32_t expected = 0;
    if (Atomic(ring->owner_tid)
            .compare_exchange_strong(expected, t.tid, std::memory_order_acq_rel)) {
      ring->owner_slot = t.slot;
      ring->capacity = g_shim.dump.ring_events;
      t.ring = RingWriter(ring);
      t.rec->ring = static_cast<uint32_t>(r);
      Bump(g_shim.dump.header->counters.rings_used);
      return;
    }
  }
  Bump(g_shim.dump.header->counters.threads_without_ring);
}

void DetachRing(ThreadCtx& t) {
  if (!t.ring.valid() || t.rec->ring == format::kNoIndex) return;
  Atomic(g_shim.dump.ring(t.rec->ring)->owner_tid).store(0, std::memory_order_release);
  t.ring = RingWriter();
}

}  // namespace

uint32_t ClaimThreadSlot() {
  format::Counters& c = g_shim.dump.header->counters;
  uint32_t slot = 0;
  for (uint32_t i = 1; i < g_shim.dump.threads_capacity && slot == 0; ++i)
    if (Atomic(g_shim.dump.threads[i].state).load(std::memory_order_relaxed) ==
            format::kThreadFree &&
        ClaimSlot(i, format::kThreadFree))
      slot = i;
  if (slot == 0) {
    for (uint32_t i = 1; i < g_shim.dump.threads_capacity && slot == 0; ++i) {
      format::ThreadRecord& r = g_shim.dump.threads[i];
      if (Atomic(r.state).load(std::memory_order_relaxed) == format::kThreadExited &&
          r.held_count == 0 && ClaimSlot(i, format::kThreadExited)) {
        slot = i;
        Bump(c.threads_recycled);
      }
    }
  }
  if (slot == 0) {
    Bump(c.threads_dropped);
    return 0;
  }
  Bump(c.threads_used);
  format::ThreadRecord& r = g_shim.dump.threads[slot];
  // Everything but `state` (which other threads CAS on): it stays "claiming" until published.
  memset(reinterpret_cast<char*>(&r) + sizeof(r.state), 0,
         offsetof(format::ThreadRecord, held) - sizeof(r.state));
  return slot;
}

// Slow path, once per thread: take a slot (or, for a fork child's forking thread, the one
// made for it, which holds its locks and is published already), name it, attach a ring,
// arrange to hear about the thread's exit.
bool RegisterThread(ThreadCtx& t) {
  ErrnoSaver keep_errno;
  uint32_t slot = t.adopt_fork_locks ? TakeForkerSlot() : 0;
  t.adopt_fork_locks = false;
  const bool made_for_it = slot != 0;
  if (!made_for_it) slot = ClaimThreadSlot();
  if (slot == 0) {
    t.untracked = true;
    return false;
  }
  format::ThreadRecord& r = g_shim.dump.threads[slot];
  t.rec = &r;
  t.slot = slot;
  t.tid = GetTid();
  t.depth = made_for_it ? Atomic(r.held_count).load(std::memory_order_acquire) : 0;
  if (!made_for_it) {
    r.tid = t.tid;
    ReadThreadName(t.tid, r.name);
  }
  r.pthread_handle = static_cast<uint64_t>(pthread_self());
  AttachRing(t);
  RecordEvent(t, format::kOpThreadStart, 0, static_cast<uint32_t>(t.tid), r.pthread_handle);
  if (g_shim.have_exit_key) pthread_setspecific(g_shim.exit_key, &t);
  if (!made_for_it) Atomic(r.state).store(format::kThreadLive, std::memory_order_release);
  return true;
}

namespace {

// Drops held mutexes whose lock word no longer names this thread. They were released while
// the shim could not see it: a thread cancelled inside a wait unwinds with the guard still
// set, and its cleanup handlers' unlocks pass straight through.
void ReconcileHeld(ThreadCtx& t) {
  for (int i = static_cast<int>(t.depth) - 1; i >= 0; --i) {
    const HeldLock& h = Held(t, i);
    if (h.flags & format::kHeldSemaphore) continue;  // no owner to check (nor a lock record yet)
    const uint8_t kind = h.lock ? uint8_t(g_shim.locks.at(h.lock).kind & format::kLockKindMask)
                                : uint8_t{format::kLockMutex};
    if (kind > format::kLockAdaptiveMutex) continue;  // only mutexes record their owner
    pthread_mutex_t m;
    if (!SafeRead(h.address, &m, sizeof(m)) || glibc::MutexOwner(&m) != t.tid)
      RemoveHeld(t, static_cast<uint32_t>(i));
  }
}

// pthread key destructor: runs when the thread returns from its start routine or calls
// pthread_exit. What it still holds stays in the slot (exit-holding); the slot can only be
// recycled once it holds nothing.
void OnThreadExit(void*) {
  ThreadCtx& t = t_ctx;
  if (t.rec == nullptr) return;
  t.guard = kGuardInside;
  format::ThreadRecord& r = *t.rec;
  ClearWait(t);
  ReconcileHeld(t);
  if (t.depth > 0) r.exit_stack = CaptureStack();
  RecordEvent(t, format::kOpThreadExit, 0, 0);
  // Its frames are gone, and glibc gives its stack to a later thread: the locks it made
  // there end (a PTHREAD_MUTEX_INITIALIZER or std::mutex on the stack is never destroyed).
  if (t.stack_locks_high != 0) RetireLocksIn(t.stack_locks_low, t.stack_locks_high + 8);
  if (t.spill != nullptr) {
    munmap(t.spill, t.spill_cap * sizeof(HeldLock));
    t.spill = nullptr;
    t.spill_cap = 0;
  }
  DetachRing(t);
  Atomic(r.state).store(format::kThreadExited, std::memory_order_release);
  // From here on (other destructors, TLS teardown) the thread passes straight through.
  t.rec = nullptr;
  t.untracked = true;
  t.guard = kGuardFree;
}

}  // namespace

const RealFunctions& ResolveRealSlow() {
  ThreadCtx& t = t_ctx;
  if (!t.resolving) {
    t.resolving = true;
    ResolveRealFunctions();
    t.resolving = false;
  }
  return g_real;
}

// Removes held[i]; the chain keys above it change because the sequence changed.
void RemoveHeld(ThreadCtx& t, uint32_t i) {
  for (uint32_t j = i; j + 1 < t.depth; ++j) {
    HeldLock& dst = Held(t, j);
    dst = Held(t, j + 1);
    dst.chain = ChainKey(j == 0 ? 0 : ChainAt(t, j - 1), dst.lock, dst.flags);
  }
  SetDepth(t, t.depth - 1);
}

void RekeyHeld(ThreadCtx& t, uint32_t i) {
  for (uint32_t j = i; j < t.depth; ++j) {
    HeldLock& h = Held(t, j);
    h.chain = ChainKey(j == 0 ? 0 : ChainAt(t, j - 1), h.lock, h.flags);
  }
}

bool Release(ThreadCtx& t, uint64_t address) {
  const int i = FindHeld(t, address);
  if (i < 0) return false;
  HeldLock& h = Held(t, i);
  if (h.recursion > 0)
    h.recursion--;
  else
    RemoveHeld(t, i);
  return true;
}

// ---- CPython ---------------------------------------------------------------------------------

void NotePython() {
  const char* note = python::Detect();
  format::FileHeader* h = g_shim.dump.header;
  if (python::g_python.version[0] != '\0' && h->python_version[0] == '\0')
    memcpy(h->python_version, python::g_python.version,
           strnlen(python::g_python.version, sizeof(h->python_version) - 1));
  if (note != nullptr) strncpy(h->python_note, note, sizeof(h->python_note) - 1);
}

uint32_t WaitSiteStack(ThreadCtx& t, uint64_t object, uint32_t site_flags, WaitSite what) {
  const uint32_t salt = site_flags | what;
  // The frame address within its page tells apart native paths of different depths through
  // the same site, and is the same in every thread for the same path (thread stacks end on
  // a page boundary, below the same TLS block), so threads share their wait sites.
  const uint64_t depth = reinterpret_cast<uint64_t>(__builtin_frame_address(0)) & 0xfff;
  uint64_t key = format::Mix64(ChainKey(CurrentChain(t), 0, 0) ^ object ^ (uint64_t{salt} << 32));
  key = format::Mix64(key ^ (depth << 40));
  if (t.python) key = format::Mix64(key ^ PythonPath(t));
  key |= 1;
  if (format::ChainRecord* c = g_shim.chains.Find(key)) return c->stack;
  uint32_t stack = CaptureStack();
  g_shim.chains.Insert(key, stack, static_cast<uint16_t>(t.slot));
  return stack;
}

// ---- acquisitions ----------------------------------------------------------------------------

namespace {

// SafeRead where process_vm_readv is filtered (Docker's default seccomp profile does): the
// kernel copies from `address` into a pipe, failing with EFAULT rather than faulting. The
// pipe lives for the call only.
bool ReadThroughPipe(uint64_t address, void* out, size_t size) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  const bool ok =
      write(fds[1], reinterpret_cast<const void*>(address), size) == static_cast<ssize_t>(size) &&
      read(fds[0], out, size) == static_cast<ssize_t>(size);
  close(fds[0]);
  close(fds[1]);
  return ok;
}

}  // namespace

bool SafeRead(uint64_t address, void* out, size_t size) {
  ErrnoSaver keep_errno;
  iovec local{out, size};
  iovec remote{reinterpret_cast<void*>(address), size};
  const ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
  if (n < 0 && (errno == ENOSYS || errno == EPERM)) return ReadThroughPipe(address, out, size);
  return n == static_cast<ssize_t>(size);
}

uint32_t RetireLock(uint64_t address) {
  const uint32_t lock = g_shim.locks.valid() ? g_shim.locks.Retire(address) : 0;
  if (lock != 0) NoteSemaphoresChanged();  // an identity ended: SemMemo
  return lock;
}

namespace {

// A new lock at an address whose previous lock (a heap object freed, another made there) was
// acquired at the same site with the same locks held: that acquisition's stack, which the
// chain cache would have given had the lock kept its identity. 0 when there is none.
uint32_t PreviousGenerationStack(ThreadCtx& t, uint64_t address, uint32_t flags) {
  const uint32_t before = g_shim.locks.Previous(address);
  if (!g_shim.locks.Valid(before)) return 0;
  if (t.depth == 0) {
    const format::LockRecord& rec = g_shim.locks.at(before);
    const uint32_t stack =
        Atomic(const_cast<uint32_t&>(rec.first_stack)).load(std::memory_order_acquire);
    return stack != 0 && Relaxed(rec.first_site) == static_cast<uint16_t>(flags >> 16) ? stack : 0;
  }
  const format::ChainRecord* c = g_shim.chains.Find(ChainKey(CurrentChain(t), before, flags));
  return c ? c->stack : 0;
}

}  // namespace

Prepared PrepareSlow(ThreadCtx& t, uint64_t address, uint8_t kind, uint32_t flags) {
  Prepared p{address, 0, 0, 0, flags};
  bool inserted = false;
  p.lock = g_shim.locks.FindOrInsert(address, kind, &inserted);
  if (inserted) NoteNewLock(t, address, p.lock);
  if (p.lock == 0) return p;  // lock table full: counted, not tracked
  const uint64_t key = ChainKey(CurrentChain(t), p.lock, flags);
  p.chain = key;
  format::LockRecord& rec = g_shim.locks.at(p.lock);
  const uint16_t site = static_cast<uint16_t>(flags >> 16);
  if (t.depth == 0) {
    // Nothing held: no edges, only the stack. The lock record caches the stack of its
    // first call site, so a program with a million locks does not need a million chains.
    uint32_t stack = Atomic(rec.first_stack).load(std::memory_order_acquire);
    if (stack != 0 && Atomic(rec.first_site).load(std::memory_order_relaxed) == site) {
      p.stack = stack;
      return p;
    }
  }
  // A record just claimed has an index no chain names yet: no probe of the chain table,
  // which would be a cache miss (a new key's home is anywhere) on every new lock.
  if (format::ChainRecord* c = inserted ? nullptr : g_shim.chains.Find(key)) {
    p.stack = c->stack;
    // A second thread on a known chain: note it on the edges once, so that a cycle seen by
    // one thread only can be told apart from one spanning threads.
    if (t.depth > 0 && c->owner_slot != static_cast<uint16_t>(t.slot) &&
        !(Atomic(c->flags).load(std::memory_order_relaxed) & format::kChainMultiThread)) {
      Atomic(c->flags).fetch_or(format::kChainMultiThread, std::memory_order_relaxed);
      if (!(flags & format::kHeldTry)) RecordEdges(t, p.lock, p.stack, flags);
    }
    return p;
  }
  p.stack = PreviousGenerationStack(t, address, flags);
  if (p.stack == 0) p.stack = CaptureStack();
  if (t.depth == 0 && Atomic(rec.first_stack).load(std::memory_order_relaxed) == 0) {
    // First depth-0 site of this lock: cache it in the record (racing writers may pair a
    // site with another's stack for a moment; both are real stacks of this lock).
    Atomic(rec.first_site).store(site, std::memory_order_relaxed);
    Atomic(rec.first_stack).store(p.stack, std::memory_order_release);
    return p;
  }
  if (t.depth > 0 && !(flags & format::kHeldTry)) RecordEdges(t, p.lock, p.stack, flags);
  g_shim.chains.Insert(key, p.stack, static_cast<uint16_t>(t.slot));
  return p;
}

void CommitDeep(ThreadCtx& t, uint64_t address, uint64_t chain, uint32_t lock, uint32_t stack,
                uint32_t flags) {
  const Prepared p{address, chain, lock, stack, flags};
  if (!EnsureCapacity(t)) {
    Bump(g_shim.dump.header->counters.held_dropped);
    return;
  }
  Bump(g_shim.dump.header->counters.held_spilled);
  Push(t, Held(t, t.depth), p);
}

// The coarse clock (one tick behind CLOCK_MONOTONIC and never ahead of it) is plenty for
// waits measured against a hang timeout in seconds: it runs on every contended acquisition.
uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

uint64_t EventClockNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

namespace {

// `deadline` on `clock`, moved onto CLOCK_MONOTONIC_COARSE (what since_ns uses). Coarse
// clocks: a deadline a tick off does not matter to a hang measured in seconds.
uint64_t MonotonicDeadline(clockid_t clock, const timespec* deadline, uint64_t now_mono) {
  if (deadline == nullptr) return 0;
  timespec now;
  clock_gettime(clock == CLOCK_REALTIME    ? CLOCK_REALTIME_COARSE
                : clock == CLOCK_MONOTONIC ? CLOCK_MONOTONIC_COARSE
                                           : clock,
                &now);
  const int64_t left =
      (int64_t{deadline->tv_sec} - now.tv_sec) * 1000000000 + (deadline->tv_nsec - now.tv_nsec);
  // Hours in the past: an absolute time on another clock than we think, not a deadline.
  if (left < -int64_t{3600} * 1000000000) return 0;
  return left > 0 ? now_mono + static_cast<uint64_t>(left) : now_mono;
}

}  // namespace

void BeginWait(ThreadCtx& t, uint64_t address, uint32_t kind, uint32_t index, uint32_t stack,
               const WaitDetail& detail) {
  format::WaitRecord& w = t.rec->wait;
  const uint64_t now = MonotonicNs();
  const bool goes_on = w.address == address && w.kind == kind && w.timed_out_ns != 0 &&
                       w.since_ns != 0 && now - w.timed_out_ns <= format::kWaitRetryGraceNs;
  t.retry_pending = false;
  if (!goes_on) {
    // Readers see no wait while the record changes objects (address 0 first, then last).
    if (w.address != 0) Atomic(w.address).store(0, std::memory_order_release);
    w.kind = kind;
    w.since_ns = now;
    RecordEvent(t, format::kOpWaitBegin, format::IsLockWait(kind) ? index : 0, stack, address,
                static_cast<uint8_t>(kind));
  }
  w.index = index;
  w.stack = stack;
  w.timed_out_ns = 0;
  w.deadline_ns = MonotonicDeadline(detail.clock, detail.deadline, now);
  w.cond_mutex = detail.cond_mutex;
  w.cond_posts = detail.cond_posts;
  w.cond_broadcasts = detail.cond_broadcasts;
  w.cond_ticket = detail.cond_ticket;
  Atomic(w.address).store(address, std::memory_order_release);
}

void BeginQuickWait(ThreadCtx& t, uint64_t address, uint32_t kind) {
  format::WaitRecord& w = t.rec->wait;
  t.retry_pending = false;
  if (w.address != 0) Atomic(w.address).store(0, std::memory_order_release);
  w.kind = kind;
  w.since_ns = 0;  // readers then ignore the other fields
  Atomic(w.address).store(address, std::memory_order_release);
}

void EndWait(ThreadCtx& t, bool timed_out) {
  if (timed_out && t.rec->wait.since_ns != 0) {
    Atomic(t.rec->wait.timed_out_ns).store(MonotonicNs(), std::memory_order_relaxed);
    t.retry_pending = true;  // Leave() turns the fast paths off
  } else {
    ClearWait(t);
  }
}

void ClearWait(ThreadCtx& t) {
  format::WaitRecord& w = t.rec->wait;
  Atomic(w.address).store(0, std::memory_order_release);
  w.timed_out_ns = 0;
  t.retry_pending = false;
}

// ---- misuse ----------------------------------------------------------------------------------

void RecordMisuse(ThreadCtx& t, format::MisuseKind kind, uint64_t address, uint32_t lock,
                  int32_t owner_tid, uint32_t owner_stack) {
  format::Counters& c = g_shim.dump.header->counters;
  uint64_t i = Atomic(c.misuse_used).fetch_add(1, std::memory_order_relaxed);
  if (i >= g_shim.dump.misuse_capacity) {
    Bump(c.misuse_dropped);
    return;
  }
  format::MisuseRecord& m = g_shim.dump.misuse[i];
  m.kind = kind;
  m.tid = t.tid;
  m.address = address;
  m.lock = lock;
  m.stack = CaptureStack();
  m.owner_tid = owner_tid;
  m.owner_stack = owner_stack;
  // Where the owner took it: its held stack is in its slot (read racily: a hint).
  for (uint32_t s = 1, end = ThreadSlotsEnd(); owner_tid != 0 && owner_stack == 0 && s < end; ++s) {
    const format::ThreadRecord& r = g_shim.dump.threads[s];
    if (Relaxed(r.tid) != owner_tid ||
        Atomic(const_cast<uint32_t&>(r.state)).load(std::memory_order_acquire) !=
            format::kThreadLive)
      continue;
    const uint32_t held =
        Atomic(const_cast<uint32_t&>(r.held_count)).load(std::memory_order_acquire);
    const uint32_t n = held < format::kInlineHeld ? held : format::kInlineHeld;
    for (uint32_t k = 0; k < n; ++k)
      if (Relaxed(r.held[k].address) == address) m.owner_stack = Relaxed(r.held[k].stack);
    break;
  }
  Atomic(m.ready).store(1, std::memory_order_release);
}

// ---- start-up --------------------------------------------------------------------------------

void InitTables() {
  DumpView& d = g_shim.dump;
  format::Counters* c = &d.header->counters;
  g_shim.locks = LockTable(d.locks, d.locks_capacity, c, d.lock_reuse, d.lock_reuse_capacity);
  g_shim.lock_pages.Init(d.locks, d.locks_capacity * sizeof(format::LockRecord));
  g_shim.chains = ChainTable(d.chains, d.chains_capacity, c);
  g_shim.edges = EdgeTable(d.edges, d.edges_capacity, c);
  g_shim.stacks = StackDepot(d.stacks, d.stacks_capacity, d.frames, d.frames_capacity, c);
  g_shim.syncs = SyncTable(d.syncs, d.syncs_capacity, c);
  g_shim.origins = LockOriginTable(d.lock_origins, d.lock_origins_capacity, c);
  g_shim.thread_slots_end.store(1, std::memory_order_release);  // a new dump: no slot claimed
}

void Initialize() {
  ErrnoSaver keep_errno;
  ThreadCtx& t = t_ctx;
  t.guard = kGuardInside;
  int state = kDisabled;
  if (!ResolveRealFunctions()) {
    RawLog("cannot resolve the pthread functions; recording disabled");
  } else if (getauxval(AT_SECURE) != 0) {
    // A secure-execution process (setuid, setgid, file capabilities: AT_SECURE) runs with
    // rights its environment's author may not have: nothing is recorded or written there,
    // whatever LOCKSCOPE_* says.
  } else {
    g_shim.config = ReadConfig();
    if (!g_shim.config.disabled) {
      g_shim.have_exit_key = pthread_key_create(&g_shim.exit_key, OnThreadExit) == 0;
      // Registered now, before the program registers its own: our prepare handler then runs
      // last (handlers run in reverse order), after the program's handlers took their locks,
      // and our child handler first, before the program's child handlers release them.
      pthread_atfork(ForkPrepare, ForkParent, ForkChild);
      state = kArmed;
    }
  }
  g_shim.state.store(state, std::memory_order_release);
  t.guard = kGuardFree;
}

namespace {

// Makes and maps the dump (kCreating is ours): at the parent's address in a fork child
// armed by ForkChild, anywhere otherwise.
void CreateProcessDump(ThreadCtx& t) {
  ErrnoSaver keep_errno;
  t.guard = kGuardInside;
  const bool child = ChildDumpPending();
  if (!CreateDump(g_shim.config, child ? ChildDumpAddress() : nullptr, &g_shim.dump,
                  g_shim.dump_path)) {
    const int why = errno;
    RawLog("cannot create the dump in ", g_shim.config.dir, ": ", strerror(why), DumpErrorHint(why),
           "; recording disabled");
    g_shim.state.store(kDisabled, std::memory_order_release);
    t.guard = kGuardFree;
    return;
  }
  // A glibc the shim does not know: record nothing (never misread its locks), and say why in
  // the dump rather than on the program's stderr.
  if (const char* why = glibc::CheckGlibc()) {
    strncpy(g_shim.dump.header->shim_note, why, sizeof(g_shim.dump.header->shim_note) - 1);
    g_shim.state.store(kDisabled, std::memory_order_release);
    t.guard = kGuardFree;
    return;
  }
  InitTables();
  ShimTextRange(&g_shim.self_start, &g_shim.self_end);
  ResetModuleCache();  // a fork child's cache describes its parent's module table
  RefreshModules(g_shim.dump);
  NotePython();
  if (child) FinishChildDump();
  // Not if a fork from this thread's signal handler, in the middle of all this, made us a
  // child that ForkChild disabled: its state says so, and the dump is the parent's.
  int creating = kCreating;
  g_shim.state.compare_exchange_strong(creating, kReady, std::memory_order_acq_rel);
  t.guard = kGuardFree;
}

}  // namespace

bool WaitWhileCreating() {
  // Bounded by time: a dump directory on a slow filesystem can take a while, but the
  // thread making the dump may also be stuck (its signal handler waiting on a lock that the
  // waiting thread holds), and then the waiter must go on, unrecorded.
  return YieldUntil(2000000000ull,
                    [] { return g_shim.state.load(std::memory_order_acquire) != kCreating; });
}

bool EnsureDump(ThreadCtx& t) {
  for (;;) {
    int state = g_shim.state.load(std::memory_order_acquire);
    if (state == kReady) return true;
    if (state == kArmed) {
      if (g_shim.state.compare_exchange_strong(state, kCreating, std::memory_order_acq_rel))
        CreateProcessDump(t);
      continue;
    }
    if (state != kCreating || !WaitWhileCreating()) return false;
  }
}

ThreadCtx* EnterSlow(ThreadCtx& t) {
  if (t.guard == kGuardSlowPaths) {
    // A timed-out wait that was not retried in time has ended: the thread gave up.
    if (t.retry_pending && MonotonicNs() - t.rec->wait.timed_out_ns > format::kWaitRetryGraceNs)
      ClearWait(t);
    t.guard = kGuardInside;
    return &t;
  }
  if (t.guard != kGuardFree) return nullptr;  // re-entered: our slow path, or a signal handler
  if (g_shim.state.load(std::memory_order_acquire) != kReady) {
    EnsureInitialized();
    if (!EnsureDump(t)) return nullptr;
  }
  if (t.rec == nullptr) {
    if (t.untracked) return nullptr;
    t.guard = kGuardInside;
    const bool ok = RegisterThread(t);
    t.guard = kGuardFree;
    if (!ok) return nullptr;
  }
  t.guard = kGuardInside;
  return &t;
}

void EnsureInitialized() {
  if (g_shim.state.load(std::memory_order_acquire) != kUninit) return;  // no CAS on the hot path
  int expected = kUninit;
  if (g_shim.state.compare_exchange_strong(expected, kInitializing, std::memory_order_acq_rel))
    Initialize();
  // Otherwise another thread is initialising (only possible at start-up): our locks pass
  // through until it is done.
}

void ForgetParentThread(ThreadCtx& t) {
  for (ThreadCtx::SemMemo& m : t.sem_memo) m = {};
  t.sem_last = {};
  for (ThreadCtx::SemCached& c : t.sem_cache) c = {};
  t.rec = nullptr;
  t.untracked = false;
  t.retry_pending = false;
  t.holds_gil = false;  // until CPython's after-fork code takes it again (a new GIL)
  ForgetPythonCodes();  // their records were the parent's
  ForgetStackMemos();
  t.depth = 0;
  t.tid = GetTid();
  t.ring = RingWriter();
  // The parent's stack locks are the parent's; this thread's stack is its own here.
  t.stack_locks_low = t.stack_locks_high = 0;
}

}  // namespace lockscope::core

namespace lockscope {

void EnsureInitialized() { core::EnsureInitialized(); }

void OnProcessExit() {
  // A lock taken after this (another destructor) makes no dump that would say "running".
  int armed = core::kArmed;
  core::g_shim.state.compare_exchange_strong(armed, core::kDisabled, std::memory_order_acq_rel);
  if (core::Ready())
    Atomic(core::g_shim.dump.header->state).store(format::kStateExited, std::memory_order_release);
}

}  // namespace lockscope
