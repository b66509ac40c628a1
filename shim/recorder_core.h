// Internals shared by the recorder's files (recorder.cc and the *_hooks.cc files). Not an
// interface: everything here runs inside other people's processes under the rules of
// recorder.h (no malloc, no lock, no syscall on the hot path; guarded against re-entry).
//
// Glossary
//   lock        a lock identity: a record of the lock table, (address, generation).
//   generation  the life of one lock at an address: it ends when the lock is destroyed, re-
//               initialised or freed (its record is retired, and a new one begins).
//   held stack  the locks a thread holds, innermost last, in its slot of the dump (beyond
//               format::kInlineHeld they spill into private memory: `spill`).
//   site        the call site of an acquisition (the low bits of its return address), part of
//               the chain key so that a lock taken from two places keeps both stacks.
//   chain       the held stack plus the lock being taken, hashed (lockdep's chain key); a
//               chain seen before costs one probe, a new one unwinds and records its edges.
//   edge        H->L: L was acquired (blocking) while H was held.
//   gate        a lock held at every occurrence of an edge besides its endpoints; a cycle
//               whose edges share a gate cannot deadlock.
//   wait        what a thread is blocked on right now, published before it blocks
//               (format::WaitRecord).
//   guard       ThreadCtx::guard: inside the shim, calls pass straight through.
//   retired     a record whose object is gone (format::kLockRetired, kSyncRetired).
#ifndef LOCKSCOPE_SHIM_RECORDER_CORE_H_
#define LOCKSCOPE_SHIM_RECORDER_CORE_H_

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <atomic>
#include <cstdint>

#include "shim/config.h"
#include "shim/dense_prefault.h"
#include "shim/dump_file.h"
#include "shim/format/dump_format.h"
#include "shim/python_layout.h"
#include "shim/real_functions.h"
#include "shim/ring_buffer.h"
#include "shim/tables.h"

namespace lockscope::core {

using format::HeldLock;

// Start-up comes in two steps. The first interposed call (or the shim's constructor)
// initialises: real functions, configuration; the shim is then armed. The dump is made by
// the first thread with something to record (EnsureDump, from EnterSlow: a lock operation,
// a wait, a thread name): a process that never takes a lock (a shell, /bin/true, most of
// what a build or a test suite spawns) makes no file and pays for none. A fork child is
// armed again at fork() and makes its own dump the same way (fork_hooks.cc).
enum InitState : int {
  kUninit = 0,
  kInitializing = 1,
  kArmed = 2,     // initialised, no dump yet
  kCreating = 3,  // a thread is making the dump
  kReady = 4,     // recording into the dump
  kDisabled = 5,
};

// Process-wide state. Written during start-up (and in a fork child, which is
// single-threaded), read-only afterwards. Constant-initialised: no constructor can reset it
// after an early lock has already started the shim.
struct Shim {
  std::atomic<int> state{kUninit};
  Config config;
  DumpView dump;
  LockTable locks;
  DensePrefault lock_pages;  // the lock table's pages, populated where it fills densely
  ChainTable chains;
  EdgeTable edges;
  StackDepot stacks;
  SyncTable syncs;
  LockOriginTable origins;  // where Python locks were made
  // One past the highest thread slot ever claimed in this dump (ClaimThreadSlot): scans of
  // the threads (a fork's snapshot, on every fork) stop there instead of reading every
  // slot's page of a mostly empty table.
  std::atomic<uint32_t> thread_slots_end{1};
  uint64_t self_start = 0, self_end = 0;
  pthread_key_t exit_key = 0;
  bool have_exit_key = false;
  char dump_path[PATH_MAX] = {};
};
extern constinit Shim g_shim;

// The end of the thread slots a scan of the live threads must read (Shim::thread_slots_end).
inline uint32_t ThreadSlotsEnd() {
  const uint32_t end = g_shim.thread_slots_end.load(std::memory_order_acquire);
  return end < g_shim.dump.threads_capacity ? end : g_shim.dump.threads_capacity;
}

// How many semaphores a thread keeps at hand: records (ThreadCtx::sem_cache, a linear scan)
// and fast takes (ThreadCtx::sem_memo, direct-mapped: a power of two).
inline constexpr uint32_t kSemCached = 4;
inline constexpr uint32_t kSemMemos = 8;

// Per-thread state, in zero-initialised initial-exec TLS (a trivial type, so no TLS
// wrapper call on access).
struct ThreadCtx {
  format::ThreadRecord* rec;  // this thread's slot in the dump (nullptr: not registered)
  HeldLock* spill;            // held[kInlineHeld...] live here (private mmap): deep nesting
  uint32_t spill_cap;
  uint32_t depth;  // locks held (== rec->held_count)
  uint32_t slot;
  int32_t tid;
  int guard;           // kGuard*: re-entrancy guard, and the fast paths' switch
  bool untracked;      // no slot could be had, or the thread is exiting
  bool resolving;      // inside dlsym for the real functions
  bool retry_pending;  // its wait record is a timed-out wait (see EndWait)
  // A fork child's forking thread, not registered yet: it registers into the slot made for
  // it, which holds the locks it held at fork() (TakeForkerSlot).
  bool adopt_fork_locks;
  // Set by the fork prepare handler on the forking thread when it took the fork snapshot
  // (and the fork lock): its parent and child handlers act on that fork only.
  bool fork_snapshot;
  bool unwinding;  // inside CaptureStack's unwind (see CloseUnwindGate)
  // CPython (python_frames.h): the thread has taken the GIL (its acquisitions carry a Python
  // call site, which the mutex fast paths do not compute: they are off for it), holds it
  // now, and the thread state and Python site it last took or let go of the GIL with.
  bool python;
  bool holds_gil;
  // Inside GilTaken: take_gil has just given it the GIL with py_tstate, which the runtime
  // has not made current yet (PyEval_RestoreThread swaps it in after take_gil returns).
  bool taking_gil;
  uint16_t py_site;
  uint64_t py_tstate;
  uint64_t py_path;  // PythonPath when it let the GIL go
  // drop_gil's reads, done before it locks gil->mutex (GilDropComing) rather than inside the
  // GIL's critical section: the thread state letting go (0: none pending) and the time; the
  // site and path are in py_site and py_path already. Good until that mutex's unlock.
  uint64_t gil_drop_tstate;
  uint64_t gil_drop_ns;
  // Its wait for the GIL is published (gil_hooks.h): from GilWaitComing or WaitForGil to the
  // unlock of gil->mutex that ends take_gil.
  bool gil_wait_published;
  // Semaphores (semaphore_hooks.cc): the records of the last few it touched (a thread takes
  // and posts the same few again and again: a Python thread its own locks and a queue's),
  // and the count of semaphores seen not to be locks when it last dropped such entries from
  // its held stack.
  struct SemCached {
    uint64_t address;
    format::SyncRecord* record;
  } sem_cache[kSemCached];
  uint32_t sem_cache_next;  // the entry the next miss replaces (round robin)
  uint64_t not_lock_seen;
  // The locks it made on its own stack lie in [stack_locks_low, stack_locks_high] (0, 0:
  // none): its exit ends them, as free() does for the heap, since glibc hands the stack to a
  // later thread.
  uint64_t stack_locks_low, stack_locks_high;
  // Its takes of known semaphore locks while holding the GIL (the fast path of
  // semaphore_hooks.cc): the held entry a take pushed, good again for the same semaphore,
  // site (in its flags), depth and held entry below, as long as g_sem_changes has not moved
  // (held.address 0: none). A hit is a copy of that entry: it spares CPython's `with lock:`
  // the loads of three shared records, each a cache miss once the thread moved to another
  // CPU. The last one (sem_last: the last fast take, or attempt when the semaphore was
  // busy) is checked first: a loop over `with lock:` takes the same one again and again; the
  // others wait in sem_memo, one per take in a slot chosen by its address and Python call
  // site (queue.Queue takes its mutex at two sites in turn). A post finds the last take on top
  // unless something moved meanwhile.
  struct SemMemo {
    format::HeldLock held;
    uint64_t changes;      // g_sem_changes then
    uint64_t below_chain;  // the chain key of the held entry below (ChainAt; 0: none)
    uint32_t depth;        // the held depth before the take
  } sem_last, sem_memo[kSemMemos];
  RingWriter ring;
};
extern __thread ThreadCtx t_ctx __attribute__((tls_model("initial-exec")));

// Moves whenever a lock identity ends (destroy, re-init or free() of any lock kind:
// RetireLock, the free hook) or a semaphore is seen not to be a lock. A thread's SemMemo is
// good only while this has not moved (a memo implies a live identity, so a semaphore whose
// memory is reused without sem_destroy or free() goes unnoticed, as on the general path).
// A change that matters to a thread (the same address reused) reaches it through the
// program's own synchronisation, after the move.
// A cache line of its own: read on every Python lock take, written rarely.
struct alignas(64) SemChanges {
  std::atomic<uint64_t> count{0};
};
extern constinit SemChanges g_sem_changes;
inline uint64_t SemaphoreChanges() { return g_sem_changes.count.load(std::memory_order_relaxed); }
inline void NoteSemaphoresChanged() { g_sem_changes.count.fetch_add(1, std::memory_order_release); }

// ThreadCtx::guard. The mutex fast paths run only at kGuardFree.
enum : int {
  kGuardFree = 0,
  kGuardInside = 1,  // inside the shim: calls pass straight through
  // Outside the shim, fast paths off (no compare for these on the fast path): the thread's
  // last timed call timed out, and the general paths (Commit, NoteAcquired) must see whether
  // it acquires that object before retrying; or the thread runs Python, and its
  // acquisitions' call sites include the Python one (SiteOf).
  kGuardSlowPaths = 2,
};

// errno is the program's: slow paths that make system calls put it back.
class ErrnoSaver {
 public:
  ErrnoSaver() : saved_(errno) {}
  ~ErrnoSaver() { errno = saved_; }

 private:
  int saved_;
};

// The real functions, resolving them first if an early call arrives before start-up.
const RealFunctions& ResolveRealSlow();
inline const RealFunctions& Real() {
  if (__builtin_expect(!g_real_resolved.load(std::memory_order_acquire), 0))
    return ResolveRealSlow();
  return g_real;
}

void EnsureInitialized();
// The dump, made now by this thread if the shim is armed, or waited for (briefly) while
// another thread makes it. True when recording (Ready()).
bool EnsureDump(ThreadCtx& t);
// Waits (yielding) while another thread makes the dump, for at most about two seconds;
// false when it is still being made.
bool WaitWhileCreating();
bool RegisterThread(ThreadCtx& t);
// Claims a thread slot (a free one, else an exited one that held nothing), cleared but for
// its state, which stays "claiming" until the caller publishes it; 0 when none is left
// (counted).
uint32_t ClaimThreadSlot();
// The name of thread `tid` of this process (its comm, 15 bytes and a NUL) into `out`.
void ReadThreadName(int32_t tid, char* out);

// Start-up, thread registration and the re-entrancy cases of Enter (out of line).
ThreadCtx* EnterSlow(ThreadCtx& t);

// The thread's context when recording is on and we are not already inside the shim;
// nullptr means "pass straight through". Sets the guard; callers end with Leave(). A
// registered thread (rec set, which implies the shim is initialised) outside the shim is
// the whole fast path: two TLS loads and a store.
inline ThreadCtx* Enter() {
  ThreadCtx& t = t_ctx;
  // A thread that runs Python is always at kGuardSlowPaths outside the shim: its hooks come
  // here too, without the call.
  if (__builtin_expect((t.guard == kGuardFree || (t.guard == kGuardSlowPaths && !t.retry_pending)) &&
                           t.rec != nullptr,
                       1)) {
    t.guard = kGuardInside;
    return &t;
  }
  return EnterSlow(t);
}

inline void Leave(ThreadCtx* t) {
  t->guard = (t->retry_pending || t->python) ? kGuardSlowPaths : kGuardFree;
}

// The guarded part of a hook, as a scope: Enter() when it begins (or, with kAdopt, a context
// a dispatcher already entered and hands over), Leave() when it ends, whatever the exit.
// Only the mutex dispatchers (MutexLock, AcquireMutex) enter without one, because they hand
// the context to the function that finishes the acquisition (a tail call on the contended
// path).
class Inside {
 public:
  enum Adopt { kAdopt };
  Inside() : t_(Enter()) {}
  Inside(Adopt, ThreadCtx* t) : t_(t) {}
  ~Inside() {
    if (t_ != nullptr) Leave(t_);
  }
  Inside(const Inside&) = delete;
  Inside& operator=(const Inside&) = delete;
  // Null: pass straight through (not recording, or already inside the shim).
  ThreadCtx* get() const { return t_; }

 private:
  ThreadCtx* t_;
};

inline bool Ready() { return g_shim.state.load(std::memory_order_acquire) == kReady; }

// ---- the held stack -------------------------------------------------------------------------

// Chain key: hash of the held sequence plus the acquired lock, its mode (try, read) and its
// call site. One multiply, as it runs on every nested acquisition: `prev` is a hash already,
// and the lock id and flags occupy separate halves of the word, so the input is injective
// in (lock, flags) and the multiply by an odd constant is a bijection. The fold brings the
// product's high bits down to the low ones, which are the chain table's home slot.
inline uint64_t ChainKey(uint64_t prev, uint32_t lock, uint32_t flags) {
  uint64_t k = (prev ^ (uint64_t{lock} << 32) ^
                (flags & (format::kHeldTry | format::kHeldRead | format::kHeldBehindGil |
                          format::kHeldSiteMask)) ^
                0x6a09e667f3bcc909ULL) *
               0x9e3779b97f4a7c15ULL;
  k ^= k >> 29;
  return k | (uint64_t{1} << 63);  // never 0 (0 means "derive it", see ChainAt); the table
                                   // home takes the low bits
}

// The call-site bits of HeldLock::flags for a return address into the program: its low 16
// bits, which tell apart every call site within 64 KiB of code (better than a hash of the
// whole address would) and cost no arithmetic on the hot path.
inline uint32_t SiteFlags(const void* caller) {
  return static_cast<uint32_t>(reinterpret_cast<uint64_t>(caller)) << 16;
}

uint16_t PythonSite(ThreadCtx& t);  // python_frames.h

// SiteOf without its slow case: -1 when the thread runs Python and its site needs
// PythonSite (it does not hold the GIL with the runtime's current thread state).
inline int64_t QuickSiteOf(const ThreadCtx& t, const void* caller) {
  const uint32_t flags = SiteFlags(caller);
  if (__builtin_expect(!t.python, 1)) return flags;
  const int32_t quick = python::QuickRunningSite(t.holds_gil, t.py_tstate);
  if (quick < 0) return -1;
  return flags ^ (static_cast<uint32_t>(quick) << 16);
}

// The call-site bits of an acquisition by `t`: SiteFlags, and for a thread that runs Python
// its Python call site too, so that two Python lines that reach a lock through the same C
// code keep two stacks.
inline uint32_t SiteOf(ThreadCtx& t, const void* caller) {
  const int64_t quick = QuickSiteOf(t, caller);
  if (__builtin_expect(quick >= 0, 1)) return static_cast<uint32_t>(quick);
  return SiteFlags(caller) ^ (uint32_t{PythonSite(t)} << 16);
}

inline HeldLock& Held(ThreadCtx& t, uint32_t i) {
  return i < format::kInlineHeld ? t.rec->held[i] : t.spill[i - format::kInlineHeld];
}

inline void SetDepth(ThreadCtx& t, uint32_t depth) {
  t.depth = depth;
  Atomic(t.rec->held_count).store(depth, std::memory_order_release);
}

// The chain key up to and including held[i]. The depth-0 fast path stores 0 there and the
// key is derived on demand (ChainKey is never 0): most acquisitions never need it.
inline uint64_t ChainAt(ThreadCtx& t, uint32_t i) {
  const HeldLock& h = Held(t, i);
  return h.chain != 0 ? h.chain : ChainKey(0, h.lock, h.flags);
}
// The chain key of what the thread holds now (0 when it holds nothing).
inline uint64_t CurrentChain(ThreadCtx& t) { return t.depth ? ChainAt(t, t.depth - 1) : 0; }

inline int FindHeld(ThreadCtx& t, uint64_t address) {
  for (int i = static_cast<int>(t.depth) - 1; i >= 0; --i)
    if (Held(t, i).address == address) return i;
  return -1;
}

// Removes held[i]; the chain keys above it change because the sequence changed.
void RemoveHeld(ThreadCtx& t, uint32_t i);
// held[i] changed (its lock id): the chain keys from it up are computed again.
void RekeyHeld(ThreadCtx& t, uint32_t i);

// Releases `address` from the held stack (one level of recursion, or the entry); false when
// this thread did not hold it.
bool Release(ThreadCtx& t, uint64_t address);

// ---- acquisitions ---------------------------------------------------------------------------

struct Prepared {
  uint64_t address;
  uint64_t chain;
  uint32_t lock;
  uint32_t stack;
  uint32_t flags;  // HeldFlags
};

// The general case of Prepare (any probe length, insertion, new chains: unwind and edges).
Prepared PrepareSlow(ThreadCtx& t, uint64_t address, uint8_t kind, uint32_t flags);
// Commit beyond the inline held slots (the spill area).
// Scalars, not a Prepared&: taking the struct's address would keep it in memory on the fast
// path too, and reading its two 32-bit fields back as one 64-bit word stalls the store
// forwarding (measured: a third of the hot path).
void CommitDeep(ThreadCtx& t, uint64_t address, uint64_t chain, uint32_t lock, uint32_t stack,
                uint32_t flags);

// The inline part of Prepare for a lock whose record is `lock`: true (and `*p` filled) when
// its chain (or, with nothing held, the lock's cached first-site stack) sits at its home
// slot, which is the steady state of every program; false sends the caller to PrepareSlow.
__attribute__((always_inline)) inline bool PrepareKnownLock(ThreadCtx& t, uint64_t address,
                                                            uint32_t lock, uint32_t flags,
                                                            Prepared* p) {
  if (t.depth == 0) {
    const format::LockRecord& rec = g_shim.locks.at(lock);
    const uint32_t stack =
        Atomic(const_cast<uint32_t&>(rec.first_stack)).load(std::memory_order_acquire);
    // first_site is written before first_stack's release store: read after it (acquire),
    // plainly, so that the compare reads memory directly (see LockTable::FindAtHome).
    if (__builtin_expect(stack == 0 || rec.first_site != static_cast<uint16_t>(flags >> 16), 0))
      return false;
    *p = {address, 0 /* derived on demand: ChainAt */, lock, stack, flags};
    return true;
  }
  const uint64_t chain = ChainKey(ChainAt(t, t.depth - 1), lock, flags);
  const format::ChainRecord* c = g_shim.chains.FindAtHome(chain);
  if (__builtin_expect(c == nullptr || (c->owner_slot != static_cast<uint16_t>(t.slot) &&
                                        !(c->flags & format::kChainMultiThread)),
                       0))
    return false;
  *p = {address, chain, lock, c->stack, flags};
  return true;
}

// The inline part of Prepare: the lock's record at its home slot, then PrepareKnownLock.
// `kind` chooses the home (LockTable::Home): a constant at every caller.
__attribute__((always_inline)) inline bool PrepareKnown(ThreadCtx& t, uint64_t address,
                                                        uint8_t kind, uint32_t flags, Prepared* p) {
  const uint32_t lock = g_shim.locks.FindAtHome(address, kind);
  if (__builtin_expect(lock == 0, 0)) return false;
  return PrepareKnownLock(t, address, lock, flags, p);
}

// Identity, chain and stack of an acquisition about to happen; records the order edges of a
// chain never seen before. Runs before the thread can block, so a deadlocking acquisition
// leaves its edge in the dump too.
__attribute__((always_inline)) inline Prepared Prepare(ThreadCtx& t, uint64_t address, uint8_t kind,
                                                       uint32_t flags) {
  Prepared p;
  if (__builtin_expect(PrepareKnown(t, address, kind, flags, &p), 1)) return p;
  return PrepareSlow(t, address, kind, flags);
}

// Push in two steps, for a caller that holds the guard (no signal handler records meanwhile)
// and wants the least work between winning a lock and returning: the slot above the top
// filled first (invisible: above held_count), then the depth moved.
__attribute__((always_inline)) inline void FillSlot(HeldLock& h, const Prepared& p) {
  h.address = p.address;
  h.lock = p.lock;
  h.stack = p.stack;
  h.chain = p.chain;
  h.recursion = 0;
  h.flags = p.flags;
}
__attribute__((always_inline)) inline void PublishSlot(ThreadCtx& t) { SetDepth(t, t.depth + 1); }

// Fills held slot `h` (the one at t.depth) with an acquisition and bumps the depth. The
// thread's own count moves first: a signal handler that locks and unlocks in the middle of
// this then pushes above the slot and pops back, instead of writing into it, so the fast
// path needs no re-entrancy guard. The count in the dump moves last (release), so a reader
// of a live dump sees the slot only when it is complete.
__attribute__((always_inline)) inline void Push(ThreadCtx& t, HeldLock& h, const Prepared& p) {
  const uint32_t depth = t.depth + 1;
  t.depth = depth;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // the compiler keeps that order
  FillSlot(h, p);
  Atomic(t.rec->held_count).store(depth, std::memory_order_release);
}

void ClearWait(ThreadCtx& t);

// Acquiring the object of a timed-out wait ends that wait (format::WaitRecord). Only a thread
// with one pending runs this: its fast paths are off meanwhile (kGuardSlowPaths).
inline void NoteAcquired(ThreadCtx& t, uint64_t address) {
  if (__builtin_expect(t.retry_pending, 0) && t.rec->wait.address == address) ClearWait(t);
}

// Pushes the acquired lock on the held stack (every acquisition but the mutex fast path's).
__attribute__((always_inline)) inline void Commit(ThreadCtx& t, const Prepared& p) {
  NoteAcquired(t, p.address);
  if (__builtin_expect(t.depth >= format::kInlineHeld, 0))
    return CommitDeep(t, p.address, p.chain, p.lock, p.stack, p.flags);
  Push(t, t.rec->held[t.depth], p);
}

// CLOCK_MONOTONIC in ns, precise (ring events of different threads are ordered by it; a
// vDSO call, on slow paths only).
uint64_t EventClockNs();

// Appends an event to the thread's ring (format::EventOp), when it has one.
inline void RecordEvent(ThreadCtx& t, uint8_t op, uint32_t lock, uint32_t aux, uint64_t extra = 0,
                        uint8_t flags = 0) {
  if (t.ring.valid()) t.ring.Write(op, lock, aux, EventClockNs(), extra, flags);
}
// The same, at a time read earlier (EventClockNs).
inline void RecordEventAt(ThreadCtx& t, uint64_t ns, uint8_t op, uint32_t lock, uint32_t aux,
                          uint64_t extra = 0) {
  if (t.ring.valid()) t.ring.Write(op, lock, aux, ns, extra, 0);
}

// Adds the order edges H->lock for the locks H held below held[below] (a semaphore that has
// just proved to be a lock gets the edges of its take now). Held semaphores without an
// identity get one (SemaphoreLock).
// The lock identity of the semaphore at `address` (inserted if new; 0 when the table is full).
uint32_t SemaphoreLock(uint64_t address);
void RecordEdgesBelow(ThreadCtx& t, uint32_t below, uint32_t lock, uint32_t stack,
                      uint32_t flags);

// The end of an acquisition that may have waited: the held stack when it `acquired`, a ring
// event when it waited (or failed). Returns rc.
inline int FinishAcquire(ThreadCtx* t, const Prepared& p, int rc, bool acquired, bool waited) {
  if (acquired) {
    Commit(*t, p);
    if (waited) RecordEvent(*t, format::kOpLockWaited, p.lock, p.stack, p.address);
  } else {
    RecordEvent(*t, format::kOpLockFailed, p.lock, static_cast<uint32_t>(rc), p.address);
  }
  return rc;
}

// ---- waits, stacks, misuse --------------------------------------------------------------------

// How a blocking call is bounded: not at all (pthread_mutex_lock), by an absolute time on
// CLOCK_REALTIME (the *timed* calls; a condition variable's own clock for
// pthread_cond_timedwait), or on a clock the caller names (the *clock* calls).
enum class Timing { kUntimed, kTimed, kClock };

// CLOCK_MONOTONIC_COARSE in ns: wait start times and deadlines (a tick, a few ms, behind the
// precise clock, for a few ns instead of tens on a virtual machine).
uint64_t MonotonicNs();

// Yields until `done()` (true), or for about `timeout_ns` (false): the shim's waits for what
// another thread is doing (making the dump, a fork, an unwind), which must never become a
// deadlock. The clock is read only once a wait proves needed, then every 64 yields.
template <typename Done>
bool YieldUntil(uint64_t timeout_ns, Done done) {
  if (done()) return true;
  const uint64_t deadline = MonotonicNs() + timeout_ns;
  for (uint32_t spins = 1;; ++spins) {
    sched_yield();
    if (done()) return true;
    if (spins % 64 == 0 && MonotonicNs() > deadline) return false;
  }
}

// The thread's wait record (format::WaitRecord) around a call that may block.
struct WaitDetail {
  clockid_t clock = CLOCK_REALTIME;    // of `deadline`
  const timespec* deadline = nullptr;  // timed calls
  uint64_t cond_mutex = 0;             // condition waits: see format::WaitRecord
  uint32_t cond_posts = 0;
  uint32_t cond_broadcasts = 0;
  uint32_t cond_ticket = 0;
};
// The deadline of a `how` call, for its wait record (`clock` and `abstime` as the call got
// them; a *timed* call's abstime is on CLOCK_REALTIME).
template <Timing how>
inline WaitDetail DeadlineOf(clockid_t clock, const timespec* abstime) {
  if (how == Timing::kUntimed) return {};
  return {.clock = how == Timing::kClock ? clock : CLOCK_REALTIME, .deadline = abstime};
}

// A call that may block: what, since when, where. When the thread's previous wait was on the
// same object and timed out, and the thread has not acquired the object since, this call
// goes on with that wait: its start time is kept.
void BeginWait(ThreadCtx& t, uint64_t address, uint32_t kind, uint32_t index, uint32_t stack,
               const WaitDetail& detail = {});
// A call that should not block (the object looked free): what only, with no start time (the
// hang monitor times it from when it first sees it, should it block after all).
void BeginQuickWait(ThreadCtx& t, uint64_t address, uint32_t kind);
// The call returned. A timeout keeps the record, marked, for a retry to go on with it, and
// turns the thread's fast paths off until the wait ends (kGuardSlowPaths).
void EndWait(ThreadCtx& t, bool timed_out);
// Not waiting (any more).
void ClearWait(ThreadCtx& t);

// Looks for CPython (python::Detect) and writes what it found into the dump's header.
void NotePython();

// Unwinds the calling thread (the shim's own frames cut) into the stack depot; 0 on failure,
// and while a fork() is under way (CloseUnwindGate). A thread's last few unwinds are
// memoised: the same stack again, from the same place, costs no unwind (stack_capture.cc).
uint32_t CaptureStack();
// Forgets the thread's unwind memos (a fork child: their stacks were the parent's).
void ForgetStackMemos();
// fork() and unwinding (stack_capture.cc): the prepare handler closes the gate (new unwinds give
// no stack) and waits, for at most a second, for the unwinds under way, whose locks
// (libunwind's, the loader's) would stay locked in the child; the parent and child handlers
// open it again. A child forked while one was still under way never unwinds.
void CloseUnwindGate();
void OpenUnwindGate(bool child);
// A cached stack for a blocking call that is not a lock acquisition (condition and semaphore
// waits, the take of a semaphore not yet known to be a lock): keyed by the held chain, the
// object (0: any), the call site (SiteOf), what waits there, the thread, its stack depth and
// its Python call path, so that a wait site unwinds once per way of reaching it.
enum WaitSite : uint32_t {
  kWaitSiteCondition = 1,
  kWaitSiteSemaphore = 2,
  kWaitSiteSemaphoreTake = 3,  // the take of a semaphore not yet known to be a lock
};
uint32_t WaitSiteStack(ThreadCtx& t, uint64_t object, uint32_t site_flags, WaitSite what);

// Appends a misuse record with the current stack. `owner_tid`'s acquisition stack is looked
// up from its thread slot when it holds `address`.
void RecordMisuse(ThreadCtx& t, format::MisuseKind kind, uint64_t address, uint32_t lock,
                  int32_t owner_tid, uint32_t owner_stack = 0);

// In a fork child, on the contended path: if `lock` (this generation of `address`) was held
// at fork() by a thread that does not exist here, and its lock word still names that thread
// (`owner_tid`, or -1 when the lock kind has no owner field), records held-across-fork (once
// per lock) before the thread blocks.
void CheckInheritedLock(ThreadCtx& t, uint64_t address, uint32_t lock, int32_t owner_tid);

// pthread_atfork handlers (fork_hooks.cc), registered at start-up.
void ForkPrepare();
void ForkParent();
void ForkChild();
// A fork child armed by ForkChild: its dump, once made (mapped where the parent's was),
// gets the parent's link, the forking stack, the inherited held locks and a slot for the
// forking thread holding the locks it held (FinishChildDump, by whichever thread makes it).
bool ChildDumpPending();
void* ChildDumpAddress();
void FinishChildDump();
// The slot FinishChildDump made for the forking thread (0: none), once: RegisterThread
// gives it to that thread (the one with adopt_fork_locks).
uint32_t TakeForkerSlot();

// Copies `size` bytes (at most a pipe's buffer) of our own memory at `address` without
// faulting (a lock's memory may have been freed and unmapped since we saw it); false when it
// cannot be read.
bool SafeRead(uint64_t address, void* out, size_t size);

// Ends the lock identity at `address` (destroy, re-init, free).
uint32_t RetireLock(uint64_t address);
// The free() filter (free_hook.cc): addresses where locks were seen, so that free() of
// memory that never held one costs two bit tests.
// A fork child keeps its parent's bits: a stale bit costs one lock-table probe in free(),
// while clearing the filter would cost the child 256 KiB of page faults.
void NoteLockAddress(uint64_t address);
// A new lock at `address`, record `lock`, seen by thread `t`: into the free() filter, into
// the range of the locks on the thread's own stack (between its stack pointer and its thread
// descriptor, which glibc places at the top of a thread's stack), which its exit ends, and
// counted towards populating its part of the lock table (DensePrefault).
void NoteNewLock(ThreadCtx& t, uint64_t address, uint32_t lock);
// Ends the identity of every lock in [begin, end) (free(), a thread's exit).
void RetireLocksIn(uint64_t begin, uint64_t end);

// In a fork child (ForkChild): the forking thread forgets the parent's thread slot, ring
// and caches; it registers again, in the child's own dump, at its next lock operation.
void ForgetParentThread(ThreadCtx& t);

}  // namespace lockscope::core

#endif  // LOCKSCOPE_SHIM_RECORDER_CORE_H_
