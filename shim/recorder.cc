#include "shim/recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "shim/config.h"
#include "shim/dump_file.h"
#include "shim/module_map.h"
#include "shim/raw_log.h"
#include "shim/real_functions.h"
#include "shim/ring_buffer.h"
#include "shim/tables.h"

extern "C" void __libc_free(void*);

namespace lockscope {
namespace {

using format::HeldLock;

enum InitState : int { kUninit = 0, kInitializing = 1, kReady = 2, kDisabled = 3 };

// Process-wide state. Written during start-up (and in a fork child, which is
// single-threaded), read-only afterwards.
struct Shim {
  std::atomic<int> state{kUninit};
  Config config;
  DumpView dump;
  LockTable locks;
  ChainTable chains;
  EdgeTable edges;
  StackDepot stacks;
  uint64_t self_start = 0, self_end = 0;
  pthread_key_t exit_key = 0;
  bool have_exit_key = false;
  char dump_path[PATH_MAX] = {};
};
constinit Shim g;

struct ThreadCtx {
  format::ThreadRecord* rec;
  HeldLock* spill;         // held[kInlineHeld...] live here (private mmap), for deep nesting
  uint32_t spill_cap;
  uint32_t depth;          // locks held (== rec->held_count)
  uint32_t slot;
  int32_t tid;
  int guard;               // re-entrancy guard
  bool untracked;          // no slot could be had, or the thread is exiting
  bool resolving;          // inside dlsym for the real functions
  RingWriter ring;
};
constinit thread_local ThreadCtx t_ctx __attribute__((tls_model("initial-exec"))) = {};

// Locks ever inserted, hashed by 64-byte line and by page: free() looks here first, so that
// freeing memory that never held a lock costs two bit tests.
constexpr uint64_t kFilterBits = 1u << 20;
uint64_t g_line_filter[kFilterBits / 64];
uint64_t g_page_filter[kFilterBits / 64];

inline bool TestBit(const uint64_t* f, uint64_t key) {
  uint64_t h = format::Mix64(key) & (kFilterBits - 1);
  return (__atomic_load_n(&f[h / 64], __ATOMIC_RELAXED) >> (h % 64)) & 1;
}
inline void SetBit(uint64_t* f, uint64_t key) {
  uint64_t h = format::Mix64(key) & (kFilterBits - 1);
  if (!((__atomic_load_n(&f[h / 64], __ATOMIC_RELAXED) >> (h % 64)) & 1))
    __atomic_fetch_or(&f[h / 64], uint64_t{1} << (h % 64), __ATOMIC_RELAXED);
}

inline int32_t GetTid() { return static_cast<int32_t>(syscall(SYS_gettid)); }

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

const RealFunctions& Real() {
  if (__builtin_expect(g_real.mutex_unlock == nullptr, 0)) {
    ThreadCtx& t = t_ctx;
    if (!t.resolving) {
      t.resolving = true;
      ResolveRealFunctions();
      t.resolving = false;
    }
  }
  return g_real;
}

// ---- chain keys and the held stack -------------------------------------------------------

inline uint64_t ChainKey(uint64_t prev, uint32_t lock, uint32_t flags) {
  uint64_t k = format::Mix64(prev ^ (uint64_t{lock} << 2) ^ (flags & format::kHeldTry) ^
                             0x6a09e667f3bcc909ULL);
  return k == 0 ? 1 : k;
}

inline HeldLock& Held(ThreadCtx& t, uint32_t i) {
  return i < format::kInlineHeld ? t.rec->held[i] : t.spill[i - format::kInlineHeld];
}

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

inline void SetDepth(ThreadCtx& t, uint32_t depth) {
  t.depth = depth;
  Atomic(t.rec->held_count).store(depth, std::memory_order_release);
}

int FindHeld(ThreadCtx& t, uint64_t address) {
  for (int i = static_cast<int>(t.depth) - 1; i >= 0; --i)
    if (Held(t, i).address == address) return i;
  return -1;
}

// Removes held[i]; the chain keys above it change because the sequence changed.
void RemoveHeld(ThreadCtx& t, uint32_t i) {
  for (uint32_t j = i; j + 1 < t.depth; ++j) {
    HeldLock& dst = Held(t, j);
    dst = Held(t, j + 1);
    dst.chain = ChainKey(j == 0 ? 0 : Held(t, j - 1).chain, dst.lock, dst.flags);
  }
  SetDepth(t, t.depth - 1);
}

// ---- stacks ----------------------------------------------------------------------------------

uint32_t CaptureStack() {
  void* raw[format::kMaxFrames + 16];
  int n = unw_backtrace(raw, static_cast<int>(g.config.stack_depth) + 16);
  if (n <= 0) {
    Bump(g.dump.header->counters.unwind_failures);
    return 0;
  }
  uint64_t pcs[format::kMaxFrames];
  uint32_t count = 0;
  int i = 0;
  // Drop the shim's own frames (the interposer and the recorder) from the top.
  while (i < n && reinterpret_cast<uint64_t>(raw[i]) >= g.self_start &&
         reinterpret_cast<uint64_t>(raw[i]) < g.self_end)
    ++i;
  for (; i < n && count < g.config.stack_depth; ++i) pcs[count++] = reinterpret_cast<uint64_t>(raw[i]);
  RefreshModules(g.dump);
  return g.stacks.Put(pcs, count);
}

// ---- order edges -------------------------------------------------------------------------

// Adds H->L for the innermost held locks H (at most kMaxEdgeSources). The gate candidates of
// each edge are the outermost other held locks.
void RecordEdges(ThreadCtx& t, uint32_t lock, uint32_t stack) {
  const uint32_t depth = t.depth;
  const uint32_t lowest = depth > format::kMaxEdgeSources ? depth - format::kMaxEdgeSources : 0;
  if (lowest > 0) Bump(g.dump.header->counters.edges_depth_skipped, lowest);
  for (uint32_t i = lowest; i < depth; ++i) {
    const HeldLock& h = Held(t, i);
    if (h.lock == 0 || h.lock == lock) continue;
    uint32_t gates[format::kMaxGates];
    uint32_t n = 0;
    for (uint32_t j = 0; j < depth && n < format::kMaxGates; ++j) {
      uint32_t g_lock = Held(t, j).lock;
      if (j != i && g_lock != 0 && g_lock != lock && g_lock != h.lock) gates[n++] = g_lock;
    }
    g.edges.Add(h.lock, lock, h.stack, stack, t.tid, depth, gates, n);
  }
}

// ---- acquisitions --------------------------------------------------------------------------

struct Prepared {
  uint64_t address;
  uint64_t chain;
  uint32_t lock;
  uint32_t stack;
  uint32_t flags;
};

uint8_t KindOf(const pthread_mutex_t* m) {
  switch (m->__data.__kind & 3) {
    case PTHREAD_MUTEX_RECURSIVE_NP: return format::kLockRecursiveMutex;
    case PTHREAD_MUTEX_ERRORCHECK_NP: return format::kLockErrorcheckMutex;
    case PTHREAD_MUTEX_ADAPTIVE_NP: return format::kLockAdaptiveMutex;
    default: return format::kLockMutex;
  }
}

void NoteNewLock(uint64_t address) {
  SetBit(g_line_filter, address >> 6);
  SetBit(g_page_filter, address >> 12);
}

// Identity, chain and stack of an acquisition about to happen; records the order edges of a
// chain never seen before. Runs before the thread can block, so a deadlocking acquisition
// leaves its edge in the dump too.
Prepared Prepare(ThreadCtx& t, uint64_t address, uint8_t kind, uint32_t flags) {
  Prepared p{address, 0, 0, 0, flags};
  bool inserted = false;
  p.lock = g.locks.FindOrInsert(address, kind, &inserted);
  if (inserted) NoteNewLock(address);
  if (p.lock == 0) return p;  // lock table full: counted, not tracked
  if (t.depth == 0) {
    p.chain = ChainKey(0, p.lock, flags);
    format::LockRecord& rec = g.locks.at(p.lock);
    p.stack = Atomic(rec.first_stack).load(std::memory_order_relaxed);
    if (p.stack == 0) {
      p.stack = CaptureStack();
      Atomic(rec.first_stack).store(p.stack, std::memory_order_relaxed);
    }
    return p;
  }
  p.chain = ChainKey(Held(t, t.depth - 1).chain, p.lock, flags);
  if (format::ChainRecord* c = g.chains.Find(p.chain)) {
    p.stack = c->stack;
    // A second thread on a known chain: note it on the edges once, so that a cycle seen by
    // one thread only can be told apart from one spanning threads.
    if (c->owner_slot != static_cast<uint16_t>(t.slot) &&
        !(Atomic(c->flags).load(std::memory_order_relaxed) & format::kChainMultiThread)) {
      Atomic(c->flags).fetch_or(format::kChainMultiThread, std::memory_order_relaxed);
      if (!(flags & format::kHeldTry)) RecordEdges(t, p.lock, p.stack);
    }
    return p;
  }
  p.stack = CaptureStack();
  if (!(flags & format::kHeldTry)) RecordEdges(t, p.lock, p.stack);
  g.chains.Insert(p.chain, p.stack, static_cast<uint16_t>(t.slot));
  return p;
}

void Commit(ThreadCtx& t, const Prepared& p) {
  if (!EnsureCapacity(t)) {
    Bump(g.dump.header->counters.held_spilled);
    return;
  }
  if (t.depth >= format::kInlineHeld) Bump(g.dump.header->counters.held_spilled);
  HeldLock& h = Held(t, t.depth);
  h.address = p.address;
  h.lock = p.lock;
  h.stack = p.stack;
  h.chain = p.chain;
  h.recursion = 0;
  h.flags = p.flags;
  SetDepth(t, t.depth + 1);
  if (t.ring.valid())
    t.ring.Write((p.flags & format::kHeldTry) ? format::kOpTryLock : format::kOpLock, p.lock,
                 p.stack);
}

void SetWait(ThreadCtx& t, uint64_t address, uint32_t kind, uint32_t lock, uint32_t stack) {
  format::ThreadRecord* r = t.rec;
  r->wait_kind = kind;
  r->wait_lock = lock;
  r->wait_stack = stack;
  r->wait_since_ns = MonotonicNs();
  Atomic(r->wait_address).store(address, std::memory_order_release);
}

// Leaves wait_kind at kWaitMutex and wait_since_ns at 0, the state the uncontended path
// assumes: it only stores wait_address around the call.
void ClearWait(ThreadCtx& t) {
  format::ThreadRecord* r = t.rec;
  Atomic(r->wait_address).store(0, std::memory_order_release);
  r->wait_kind = format::kWaitMutex;
  r->wait_lock = 0;
  r->wait_stack = 0;
  r->wait_since_ns = 0;
}

// ---- threads -------------------------------------------------------------------------------

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

bool ClaimSlot(uint32_t i, uint32_t from) {
  uint32_t expected = from;
  return Atomic(g.dump.threads[i].state)
      .compare_exchange_strong(expected, 3u /* claiming */, std::memory_order_acq_rel);
}

void AttachRing(ThreadCtx& t) {
  t.ring = RingWriter();
  t.rec->ring = format::kNoIndex;
  for (uint64_t r = 0; r < g.dump.ring_count; ++r) {
    format::RingHeader* ring = g.dump.ring(r);
    int32_t expected = 0;
    if (Atomic(ring->owner_tid).compare_exchange_strong(expected, t.tid,
                                                        std::memory_order_acq_rel)) {
      ring->owner_slot = t.slot;
      t.ring = RingWriter(ring);
      t.rec->ring = static_cast<uint32_t>(r);
      Bump(g.dump.header->counters.rings_used);
      return;
    }
  }
  Bump(g.dump.header->counters.threads_without_ring);
}

void DetachRing(ThreadCtx& t) {
  if (!t.ring.valid() || t.rec->ring == format::kNoIndex) return;
  Atomic(g.dump.ring(t.rec->ring)->owner_tid).store(0, std::memory_order_release);
  t.ring = RingWriter();
}

// Slow path, once per thread: take a slot (a free one, else an exited one that held
// nothing), name it, attach a ring, arrange to hear about the thread's exit.
bool RegisterThread(ThreadCtx& t) {
  format::Counters& c = g.dump.header->counters;
  uint32_t slot = 0;
  for (uint32_t i = 1; i < g.dump.thread_capacity && slot == 0; ++i)
    if (Atomic(g.dump.threads[i].state).load(std::memory_order_relaxed) == format::kThreadFree &&
        ClaimSlot(i, format::kThreadFree))
      slot = i;
  if (slot == 0) {
    for (uint32_t i = 1; i < g.dump.thread_capacity && slot == 0; ++i) {
      format::ThreadRecord& r = g.dump.threads[i];
      if (Atomic(r.state).load(std::memory_order_relaxed) == format::kThreadExited &&
          r.held_count == 0 && ClaimSlot(i, format::kThreadExited)) {
        slot = i;
        Bump(c.threads_recycled);
      }
    }
  }
  if (slot == 0) {
    Bump(c.threads_dropped);
    t.untracked = true;
    return false;
  }
  Bump(c.threads_used);
  format::ThreadRecord& r = g.dump.threads[slot];
  memset(static_cast<void*>(&r), 0, offsetof(format::ThreadRecord, held));
  r.state = 3;
  t.rec = &r;
  t.slot = slot;
  t.tid = GetTid();
  t.depth = 0;
  r.tid = t.tid;
  r.wait_kind = format::kWaitMutex;
  r.pthread_handle = static_cast<uint64_t>(pthread_self());
  ReadThreadName(t.tid, r.name);
  AttachRing(t);
  if (g.have_exit_key) pthread_setspecific(g.exit_key, &t);
  Atomic(r.state).store(format::kThreadLive, std::memory_order_release);
  return true;
}

// pthread key destructor: runs when the thread returns from its start routine or calls
// pthread_exit. What it still holds stays in the slot (exit-holding); the slot can only be
// recycled once it holds nothing.
void OnThreadExit(void*) {
  ThreadCtx& t = t_ctx;
  if (t.rec == nullptr) return;
  t.guard = 1;
  format::ThreadRecord& r = *t.rec;
  if (t.depth > 0) r.exit_stack = CaptureStack();
  DetachRing(t);
  Atomic(r.state).store(format::kThreadExited, std::memory_order_release);
  // From here on (other destructors, TLS teardown) the thread passes straight through.
  t.rec = nullptr;
  t.untracked = true;
  t.guard = 0;
}

// ---- start-up --------------------------------------------------------------------------------

void InitTables() {
  DumpView& d = g.dump;
  format::Counters* c = &d.header->counters;
  g.locks = LockTable(d.locks, d.lock_capacity, c);
  g.chains = ChainTable(d.chains, d.chain_capacity, c);
  g.edges = EdgeTable(d.edges, d.edge_capacity, c);
  g.stacks = StackDepot(d.stacks, d.stack_capacity, d.frames, d.frame_capacity, c);
}

void Initialize() {
  ThreadCtx& t = t_ctx;
  t.guard = 1;
  if (!ResolveRealFunctions()) {
    RawLog("cannot resolve the pthread functions; recording disabled");
    g.state.store(kDisabled, std::memory_order_release);
    t.guard = 0;
    return;
  }
  g.config = ReadConfig();
  if (g.config.disabled) {
    g.state.store(kDisabled, std::memory_order_release);
    t.guard = 0;
    return;
  }
  if (!CreateDump(g.config, nullptr, &g.dump, g.dump_path)) {
    RawLog("cannot create the dump in ", g.config.dir, ": ", strerror(errno));
    g.state.store(kDisabled, std::memory_order_release);
    t.guard = 0;
    return;
  }
  InitTables();
  ShimTextRange(&g.self_start, &g.self_end);
  RefreshModules(g.dump);
  g.have_exit_key = pthread_key_create(&g.exit_key, OnThreadExit) == 0;
  g.state.store(kReady, std::memory_order_release);
  t.guard = 0;
}

// The thread's context when recording is on and we are not already inside the shim;
// nullptr means "pass straight through". Sets the guard; callers end with Leave().
inline ThreadCtx* Enter() {
  ThreadCtx& t = t_ctx;
  if (__builtin_expect(t.guard != 0, 0)) return nullptr;
  if (__builtin_expect(g.state.load(std::memory_order_acquire) != kReady, 0)) {
    EnsureInitialized();
    if (g.state.load(std::memory_order_acquire) != kReady) return nullptr;
  }
  if (__builtin_expect(t.rec == nullptr, 0)) {
    if (t.untracked) return nullptr;
    t.guard = 1;
    bool ok = RegisterThread(t);
    t.guard = 0;
    if (!ok) return nullptr;
  }
  t.guard = 1;
  return &t;
}

inline void Leave(ThreadCtx* t) { t->guard = 0; }

// ---- the acquisition protocol shared by lock, timedlock and clocklock ----------------------

enum class Blocking { kLock, kTimed, kClock };

template <Blocking how>
inline int CallBlocking(pthread_mutex_t* m, clockid_t clock, const timespec* abstime) {
  switch (how) {
    case Blocking::kLock: return Real().mutex_lock(m);
    case Blocking::kTimed: return Real().mutex_timedlock(m, abstime);
    case Blocking::kClock:
      return Real().mutex_clocklock ? Real().mutex_clocklock(m, clock, abstime) : ENOSYS;
  }
  return EINVAL;
}

// The guard stays set across the real calls: they never call back into the shim, and a
// signal handler that locks while we block passes through rather than interleaving its
// bookkeeping with ours.
template <Blocking how>
int AcquireMutex(pthread_mutex_t* m, clockid_t clock, const timespec* abstime) {
  ThreadCtx* t = Enter();
  if (t == nullptr) return CallBlocking<how>(m, clock, abstime);
  const uint64_t address = reinterpret_cast<uint64_t>(m);
  // Re-acquisition by the owner: glibc records the owner tid in every mutex kind.
  if (__builtin_expect(m->__data.__owner == t->tid, 0)) {
    int i = FindHeld(*t, address);
    if (i >= 0 && KindOf(m) == format::kLockRecursiveMutex) {
      int rc = CallBlocking<how>(m, clock, abstime);
      if (rc == 0) {
        Held(*t, i).recursion++;
        if (t->ring.valid()) t->ring.Write(format::kOpRelock, Held(*t, i).lock, 0);
      }
      Leave(t);
      return rc;
    }
  }
  Prepared p = Prepare(*t, address, KindOf(m), 0);
  // Publish what we wait for before the call, since a blocked thread cannot help later.
  // Uncontended (the lock word reads free) this is one store before and one after; only a
  // lock that is visibly taken pays for the clock and the full wait record. (Calling the
  // real lock rather than trylock-then-lock keeps glibc's single-thread fast path.)
  int rc;
  if (__builtin_expect(Atomic(m->__data.__lock).load(std::memory_order_relaxed) == 0, 1)) {
    Atomic(t->rec->wait_address).store(address, std::memory_order_release);
    rc = CallBlocking<how>(m, clock, abstime);
    Atomic(t->rec->wait_address).store(0, std::memory_order_release);
  } else {
    SetWait(*t, address, format::kWaitMutex, p.lock, p.stack);
    rc = CallBlocking<how>(m, clock, abstime);
    ClearWait(*t);
  }
  if (rc == 0 || rc == EOWNERDEAD) {
    Commit(*t, p);
  } else if (t->ring.valid()) {
    t->ring.Write(format::kOpLockFailed, p.lock, static_cast<uint32_t>(rc));
  }
  Leave(t);
  return rc;
}

// Re-acquisition of a condition variable's mutex after the wait: an acquisition like any
// other (holding A while re-taking M is the edge A->M).
void ReacquireAfterWait(ThreadCtx& t, pthread_mutex_t* m, const HeldLock* saved) {
  Prepared p = Prepare(t, reinterpret_cast<uint64_t>(m), KindOf(m), 0);
  Commit(t, p);
  if (saved != nullptr && saved->recursion && t.depth > 0)
    Held(t, t.depth - 1).recursion = saved->recursion;
}

enum class CondHow { kWait, kTimed, kClock };

int CondWaitCommon(pthread_cond_t* c, pthread_mutex_t* m, CondHow how, clockid_t clock,
                   const timespec* abstime) {
  auto call = [&]() -> int {
    switch (how) {
      case CondHow::kWait: return Real().cond_wait(c, m);
      case CondHow::kTimed: return Real().cond_timedwait(c, m, abstime);
      case CondHow::kClock:
        return Real().cond_clockwait ? Real().cond_clockwait(c, m, clock, abstime) : ENOSYS;
    }
    return EINVAL;
  };
  ThreadCtx* t = Enter();
  if (t == nullptr) return call();
  const uint64_t address = reinterpret_cast<uint64_t>(m);
  HeldLock saved{};
  bool had = false;
  int i = FindHeld(*t, address);
  if (i >= 0) {
    saved = Held(*t, i);
    had = true;
    RemoveHeld(*t, i);
  }
  if (t->ring.valid()) t->ring.Write(format::kOpCondWaitBegin, saved.lock, 0);
  SetWait(*t, reinterpret_cast<uint64_t>(c), format::kWaitCondvar, 0, saved.stack);
  Leave(t);
  int rc = call();
  t->guard = 1;
  ClearWait(*t);
  if (t->ring.valid()) t->ring.Write(format::kOpCondWaitEnd, saved.lock, static_cast<uint32_t>(rc));
  // The mutex is re-taken whatever rc is (timeouts included); EINVAL-like failures that
  // never released it leave it held as well.
  ReacquireAfterWait(*t, m, had ? &saved : nullptr);
  Leave(t);
  return rc;
}

// ---- fork ----------------------------------------------------------------------------------

// What the child needs from the forking thread: its held locks and their stacks, copied out
// of the parent's mapping before the child replaces it with its own file.
struct ForkSnapshot {
  struct Entry {
    uint64_t address;
    uint8_t kind;
    uint32_t flags;
    uint32_t recursion;
    uint32_t frame_count;
    uint64_t frames[format::kMaxFrames];
  };
  static constexpr uint32_t kMax = 32;
  Entry entries[kMax];
  uint32_t count;
  char parent_dump[PATH_MAX];
  uint32_t parent_generation;
};

void TakeSnapshot(ThreadCtx& t, ForkSnapshot* s) {
  s->count = 0;
  memcpy(s->parent_dump, g.dump_path, sizeof(s->parent_dump));
  s->parent_generation = g.dump.header->fork_generation;
  for (uint32_t i = 0; i < t.depth && s->count < ForkSnapshot::kMax; ++i) {
    const HeldLock& h = Held(t, i);
    ForkSnapshot::Entry& e = s->entries[s->count++];
    e.address = h.address;
    e.kind = h.lock ? g.locks.at(h.lock).kind : uint8_t{format::kLockMutex};
    e.flags = h.flags;
    e.recursion = h.recursion;
    e.frame_count = 0;
    if (h.stack != 0 && h.stack < g.dump.stack_capacity) {
      const format::StackRecord& sr = g.dump.stacks[h.stack];
      uint32_t n = sr.frame_count < format::kMaxFrames ? sr.frame_count : format::kMaxFrames;
      if (sr.frame_offset + uint64_t{n} <= g.dump.frame_capacity) {
        memcpy(e.frames, &g.dump.frames[sr.frame_offset], n * sizeof(uint64_t));
        e.frame_count = n;
      }
    }
  }
}

// In the child, single-threaded: switch to a new dump mapped over the old one (every pointer
// stays valid; nothing reaches the parent's file any more), then re-register this thread
// with the locks it held.
void StartChildDump(ThreadCtx& t, const ForkSnapshot& s) {
  const pid_t ppid = getppid();
  if (!CreateDump(g.config, g.dump.header, &g.dump, g.dump_path)) {
    // Never write into the parent's file: replace the mapping with private memory and stop.
    mmap(g.dump.header, g.dump.size, PROT_READ | PROT_WRITE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    g.state.store(kDisabled, std::memory_order_release);
    RawLog("fork child: cannot create its dump: ", strerror(errno), "; recording disabled");
    return;
  }
  format::FileHeader* h = g.dump.header;
  h->parent_pid = ppid;
  h->fork_generation = s.parent_generation + 1;
  size_t n = strlen(s.parent_dump);
  if (n >= sizeof(h->parent_dump)) n = sizeof(h->parent_dump) - 1;
  memcpy(h->parent_dump, s.parent_dump, n);
  InitTables();
  ResetModuleCache();
  RefreshModules(g.dump);
  memset(g_line_filter, 0, sizeof(g_line_filter));
  memset(g_page_filter, 0, sizeof(g_page_filter));
  t.rec = nullptr;
  t.untracked = false;
  t.depth = 0;
  t.ring = RingWriter();
  if (!RegisterThread(t)) return;
  for (uint32_t i = 0; i < s.count; ++i) {
    const ForkSnapshot::Entry& e = s.entries[i];
    bool inserted = false;
    Prepared p{e.address, 0, 0, 0, e.flags};
    p.lock = g.locks.FindOrInsert(e.address, e.kind, &inserted);
    if (inserted) NoteNewLock(e.address);
    p.stack = g.stacks.Put(e.frames, e.frame_count);
    p.chain = ChainKey(t.depth ? Held(t, t.depth - 1).chain : 0, p.lock, e.flags);
    Commit(t, p);
    Held(t, t.depth - 1).recursion = e.recursion;
  }
}

}  // namespace

// ---- public entry points -------------------------------------------------------------------

void EnsureInitialized() {
  if (g.state.load(std::memory_order_acquire) != kUninit) return;  // no CAS on the hot path
  int expected = kUninit;
  if (g.state.compare_exchange_strong(expected, kInitializing, std::memory_order_acq_rel)) {
    Initialize();
    return;
  }
  // Another thread is initialising (only possible at start-up): its locks pass through.
}

void OnProcessExit() {
  if (g.state.load(std::memory_order_acquire) == kReady)
    Atomic(g.dump.header->state).store(format::kStateExited, std::memory_order_release);
}

int MutexLock(pthread_mutex_t* m) { return AcquireMutex<Blocking::kLock>(m, 0, nullptr); }

int MutexTimedLock(pthread_mutex_t* m, const timespec* abstime) {
  return AcquireMutex<Blocking::kTimed>(m, 0, abstime);
}

int MutexClockLock(pthread_mutex_t* m, clockid_t clock, const timespec* abstime) {
  return AcquireMutex<Blocking::kClock>(m, clock, abstime);
}

// A successful trylock joins the held set but adds no blocking edge: std::lock and
// try-with-back-off never wait while holding, so they cannot deadlock.
int MutexTryLock(pthread_mutex_t* m) {
  ThreadCtx* t = Enter();
  if (t == nullptr) return Real().mutex_trylock(m);
  const uint64_t address = reinterpret_cast<uint64_t>(m);
  const bool mine = m->__data.__owner == t->tid;
  int rc = Real().mutex_trylock(m);
  if (rc == 0 || rc == EOWNERDEAD) {
    int i = mine ? FindHeld(*t, address) : -1;
    if (i >= 0) {
      Held(*t, i).recursion++;  // a recursive mutex re-taken by its owner
    } else {
      Commit(*t, Prepare(*t, address, KindOf(m), format::kHeldTry));
    }
  }
  Leave(t);
  return rc;
}

int MutexUnlock(pthread_mutex_t* m) {
  ThreadCtx* t = Enter();
  if (t == nullptr) return Real().mutex_unlock(m);
  const uint64_t address = reinterpret_cast<uint64_t>(m);
  // The common case: the innermost lock, taken once.
  if (__builtin_expect(t->depth > 0, 1)) {
    HeldLock& top = Held(*t, t->depth - 1);
    if (__builtin_expect(top.address == address && top.recursion == 0, 1)) {
      const uint32_t lock = top.lock;
      SetDepth(*t, t->depth - 1);
      if (t->ring.valid()) t->ring.Write(format::kOpUnlock, lock, 0);
      Leave(t);
      return g_real.mutex_unlock(m);
    }
  }
  int i = FindHeld(*t, address);
  if (i >= 0) {
    HeldLock& h = Held(*t, i);
    uint32_t lock = h.lock;
    if (h.recursion > 0) {
      h.recursion--;
    } else {
      RemoveHeld(*t, i);
    }
    if (t->ring.valid()) t->ring.Write(format::kOpUnlock, lock, 0);
  } else if (t->ring.valid()) {
    t->ring.Write(format::kOpUnlock, 0, 0, 1 /* not held by this thread */);
  }
  Leave(t);
  return Real().mutex_unlock(m);
}

// (Re-)initialisation starts a new generation of the address: a new lock identity.
int MutexInit(pthread_mutex_t* m, const pthread_mutexattr_t* attr) {
  if (g.state.load(std::memory_order_acquire) == kReady && g.locks.valid())
    g.locks.Retire(reinterpret_cast<uint64_t>(m));
  return Real().mutex_init(m, attr);
}

int MutexDestroy(pthread_mutex_t* m) {
  if (g.state.load(std::memory_order_acquire) == kReady && g.locks.valid()) {
    uint32_t lock = g.locks.Retire(reinterpret_cast<uint64_t>(m));
    ThreadCtx& t = t_ctx;
    if (lock != 0 && t.guard == 0 && t.rec != nullptr && t.ring.valid())
      t.ring.Write(format::kOpDestroy, lock, 0);
  }
  return Real().mutex_destroy(m);
}

int CondWait(pthread_cond_t* c, pthread_mutex_t* m) {
  return CondWaitCommon(c, m, CondHow::kWait, 0, nullptr);
}
int CondTimedWait(pthread_cond_t* c, pthread_mutex_t* m, const timespec* abstime) {
  return CondWaitCommon(c, m, CondHow::kTimed, 0, abstime);
}
int CondClockWait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                  const timespec* abstime) {
  return CondWaitCommon(c, m, CondHow::kClock, clock, abstime);
}

int SetThreadName(pthread_t thread, const char* name) {
  int rc = Real().setname_np(thread, name);
  if (rc != 0 || g.state.load(std::memory_order_acquire) != kReady) return rc;
  // Find the slot by pthread handle (usually our own).
  for (uint32_t i = 1; i < g.dump.thread_capacity; ++i) {
    format::ThreadRecord& r = g.dump.threads[i];
    if (Atomic(r.state).load(std::memory_order_acquire) == format::kThreadLive &&
        r.pthread_handle == static_cast<uint64_t>(thread)) {
      strncpy(r.name, name, sizeof(r.name) - 1);
      break;
    }
  }
  return rc;
}

pid_t Fork() {
  ThreadCtx* t = Enter();
  if (t == nullptr) return Real().fork();
  // Snapshot on the heap would need malloc: keep it static. Concurrent forks from several
  // threads serialise on this flag only in the (slow) fork path.
  static ForkSnapshot snapshot;
  static std::atomic<bool> busy{false};
  while (busy.exchange(true, std::memory_order_acquire)) sched_yield();
  TakeSnapshot(*t, &snapshot);
  // The guard stays set across the real fork: atfork handlers (which take and release
  // locks in pairs) pass through unrecorded, consistently in parent and child.
  pid_t pid = Real().fork();
  if (pid == 0) {
    t->tid = GetTid();
    StartChildDump(*t, snapshot);
  }
  busy.store(false, std::memory_order_release);
  Leave(t);
  return pid;
}

// free(): locks that lived in the freed block end their generation, so that the address,
// when reused, is a new lock (std::mutex has no destructor call to tell us otherwise).
void Free(void* ptr) {
  if (ptr == nullptr) return;
  const RealFunctions& real = g_real;
  if (real.free == nullptr) {
    if (t_ctx.resolving) return __libc_free(ptr);
    Real();
    if (g_real.free == nullptr) return __libc_free(ptr);
  }
  if (g.state.load(std::memory_order_relaxed) == kReady && real.malloc_usable_size != nullptr) {
    const uint64_t begin = reinterpret_cast<uint64_t>(ptr);
    const uint64_t end = begin + real.malloc_usable_size(ptr);
    for (uint64_t page = begin >> 12; page <= (end - 1) >> 12; ++page) {
      if (!TestBit(g_page_filter, page)) continue;
      uint64_t lo = page << 12 > begin ? page << 12 : begin;
      uint64_t hi = (page + 1) << 12 < end ? (page + 1) << 12 : end;
      for (uint64_t line = lo >> 6; line <= (hi - 1) >> 6; ++line) {
        if (!TestBit(g_line_filter, line)) continue;
        uint64_t a = line << 6 > lo ? line << 6 : (lo + 7) & ~uint64_t{7};
        uint64_t b = (line + 1) << 6 < hi ? (line + 1) << 6 : hi;
        for (; a + 8 <= b; a += 8) g.locks.Retire(a);
      }
    }
  }
  g_real.free(ptr);
}

}  // namespace lockscope
