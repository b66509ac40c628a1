// POSIX semaphores. A semaphore has no owner, but most are used as locks: CPython's
// threading.Lock (3.11) is a semaphore taken with sem_trywait, sem_wait or sem_clockwait and
// posted back by the thread that took it. So:
//   - a take pushes the semaphore on the thread's held stack (format::kHeldSemaphore): the
//     fork snapshot and the wait-for graph see it held;
//   - the first post by the thread that holds it proves it a lock (format::kSyncLock): it
//     gets a lock identity, and the edges of that take are recorded then (from the locks
//     still held below it, which were held when it was taken); later takes are acquisitions
//     like a mutex's, with their edges recorded before blocking;
//   - a semaphore that shows it is not a lock is marked for good (format::kSyncNotLock, and
//     kLockUnowned on its lock): posted by a thread that does not hold it (a hand-off:
//     threading.Condition's waiter locks, a Lock used as a signal), waited on by the thread
//     that holds it, or still available after a take (a counting semaphore). It leaves the
//     held stacks (each thread drops its own stale entries at its next semaphore call) and
//     the analyzer keeps it for stalls only;
//   - a try by its holder is never an acquisition (no edge: TriedByHolder). Before it proved
//     anything (format::kSyncTriedByHolder) it drops the semaphore from the held stack and
//     waits for its next post to judge: Condition.notify probes its Lock that way, and a
//     Condition waiter's second acquire starts that way.
// Waiting for a lock it never proves (a new Condition waiter each wait) thus costs no lock
// record, chain or edge: the tables do not grow with waits.
//
// CPython takes a lock with a trywait while holding the GIL and drops the GIL before it
// blocks: such a take has no edge from the GIL (format::kHeldBehindGil), or every contended
// Python lock would look like an inversion with the GIL.
//
// Who waits (published before blocking), who took last and who posted last (SyncRecord) is
// kept for every semaphore: the trail of a stall.
#include <errno.h>
#include <semaphore.h>

#include "shim/glibc_layout.h"
#include "shim/python_frames.h"
#include "shim/recorder.h"
#include "shim/recorder_core.h"

namespace lockscope {
namespace {

using namespace core;

// How many semaphores were ever seen not to be locks: a thread's held stack can only hold a
// stale entry when this moved since it last looked (DropNotLocks).
std::atomic<uint64_t> g_not_locks{0};

// The thread's cached record of `address`, unchecked (nullptr: none).
__attribute__((always_inline)) inline format::SyncRecord* CachedRecord(const ThreadCtx& t,
                                                                       uint64_t address) {
  for (const ThreadCtx::SemCached& c : t.sem_cache)
    if (c.address == address) return c.record;
  return nullptr;
}

// The record of the semaphore at `address` (inserted if new): one of the thread's last ones,
// or a lookup. A cached record is checked against its address (a destroyed semaphore's
// record is retired and reused).
format::SyncRecord* SyncOf(ThreadCtx& t, uint64_t address) {
  ThreadCtx::SemCached* slot = nullptr;
  for (ThreadCtx::SemCached& c : t.sem_cache) {
    if (c.address != address) continue;
    if (c.record != nullptr && Atomic(c.record->address).load(std::memory_order_acquire) == address)
      return c.record;
    slot = &c;  // stale: refreshed in place
    break;
  }
  if (slot == nullptr) slot = &t.sem_cache[t.sem_cache_next++ % kSemCached];
  format::SyncRecord* rec = g_shim.syncs.FindOrInsert(address, format::kLockSemaphore);
  *slot = {address, rec};
  return rec;
}

uint16_t SyncFlags(const format::SyncRecord* rec) {
  return rec ? Atomic(const_cast<uint16_t&>(rec->flags)).load(std::memory_order_relaxed) : 0;
}

bool NotLock(const format::SyncRecord* rec) { return SyncFlags(rec) & format::kSyncNotLock; }

// Marks the semaphore at `address` as not a lock, for good.
void MarkNotLock(format::SyncRecord* rec, uint64_t address) {
  if (rec != nullptr && !NotLock(rec)) {
    Atomic(rec->flags).fetch_or(format::kSyncNotLock, std::memory_order_release);
    g_not_locks.fetch_add(1, std::memory_order_release);
    NoteSemaphoresChanged();
  }
  const uint32_t cached = rec ? Relaxed(rec->lock) : 0;
  const uint32_t lock =
      g_shim.locks.Valid(cached) ? cached : g_shim.locks.Find(address, format::kLockSemaphore);
  if (g_shim.locks.Valid(lock)) g_shim.locks.SetFlag(lock, format::kLockUnowned);
}

// Whether `lock` is the live identity of the semaphore at `address`: not one whose
// generation ended (sem_destroy, or free() without it, retires it).
__attribute__((always_inline)) inline bool LiveIdentity(uint32_t lock, uint64_t address) {
  return g_shim.locks.Valid(lock) && Relaxed(g_shim.locks.at(lock).address) == address &&
         Atomic(g_shim.locks.at(lock).state).load(std::memory_order_acquire) == format::kLockLive;
}

// The thread's held entry of the semaphore at `address`, or -1. An entry whose identity
// ended is an earlier semaphore's at that address, destroyed by another thread while this
// one held it: dropped, not held.
int FindHeldSemaphore(ThreadCtx& t, uint64_t address) {
  const int i = FindHeld(t, address);
  if (i < 0 || !(Held(t, i).flags & format::kHeldSemaphore)) return -1;
  if (const uint32_t lock = Held(t, i).lock; lock != 0 && !LiveIdentity(lock, address)) {
    RemoveHeld(t, static_cast<uint32_t>(i));
    return -1;
  }
  return i;
}

// Drops this thread's held semaphores that turned out not to be locks (only when one was seen
// since it last looked).
void DropNotLocks(ThreadCtx& t) {
  const uint64_t seen = g_not_locks.load(std::memory_order_acquire);
  if (__builtin_expect(seen == t.not_lock_seen, 1)) return;
  t.not_lock_seen = seen;
  for (int i = static_cast<int>(t.depth) - 1; i >= 0; --i) {
    const HeldLock& h = Held(t, i);
    if ((h.flags & format::kHeldSemaphore) && NotLock(g_shim.syncs.Find(h.address)))
      RemoveHeld(t, static_cast<uint32_t>(i));
  }
}

// The held flags of a take: a trywait is a try, unless the thread holds the GIL (CPython's
// own way of taking a lock that may block: see above).
uint32_t TakeFlags(ThreadCtx& t, bool try_take, const void* caller) {
  uint32_t flags = format::kHeldSemaphore | SiteOf(t, caller);
  if (try_take) flags |= t.holds_gil ? format::kHeldBehindGil : format::kHeldTry;
  return flags;
}

// The semaphore's lock identity, once it proved to be a lock (cached in its record); 0 before.
uint32_t ProvenLock(format::SyncRecord* rec, uint64_t address) {
  if (!(SyncFlags(rec) & format::kSyncLock)) return 0;
  uint32_t lock = Relaxed(rec->lock);
  // The cached identity, unless that generation ended meanwhile.
  if (!LiveIdentity(lock, address)) {
    lock = SemaphoreLock(address);
    Atomic(rec->lock).store(lock, std::memory_order_relaxed);
    // Where Python made it, for its lock class (sem_init noted it in the record; 0 forgets
    // what an earlier lock with this identity was noted with).
    g_shim.origins.Note(lock, Relaxed(rec->made_at));
  }
  return lock;
}

// Before a take: identity, chain, stack and (for a proven lock) the edges.
Prepared PrepareTake(ThreadCtx& t, uint64_t address, format::SyncRecord* rec, uint32_t flags) {
  if (const uint32_t lock = ProvenLock(rec, address)) {
    // The record may sit past its home slot (CPython reuses a freed lock's memory for the
    // next, and the old generation keeps its slot): the probe found it already.
    Prepared p;
    if (PrepareKnownLock(t, address, lock, flags, &p)) return p;
    return PrepareSlow(t, address, format::kLockSemaphore, flags);
  }
  // Not yet a lock: no identity, and a stack cached by site (a new Condition waiter on every
  // wait must not unwind every time).
  return Prepared{address, 0, 0, WaitSiteStack(t, 0, flags & format::kHeldSiteMask,
                                               kWaitSiteSemaphoreTake),
                  flags};
}

// A successful take. A counting semaphore (still available) or one already known not to be
// a lock is not held.
void Took(ThreadCtx& t, sem_t* s, format::SyncRecord* rec, Prepared p, bool waited) {
  const uint64_t address = p.address;
  // The trail of an ownerless semaphore (who took it last). A lock's holder is in its
  // thread's held stack: not repeated here on every take.
  if (rec != nullptr && p.lock == 0) {
    Atomic(rec->last_take_tid).store(t.tid, std::memory_order_relaxed);
    CountUp(rec->takes);
  }
  if (glibc::SemValue(s) > 0) MarkNotLock(rec, address);
  if (NotLock(rec)) {
    NoteAcquired(t, address);
    return;
  }
  if (p.lock == 0) p.chain = ChainKey(CurrentChain(t), 0, p.flags);
  Commit(t, p);
  if (waited)
    RecordEvent(t, format::kOpLockWaited, p.lock, p.stack, address, format::kEventSemaphore);
}

// A try by a thread that already holds the semaphore (held entry `i`): Condition.notify and
// Condition.wait ask that way whether their caller holds the Condition's Lock, and a Condition
// waiter's second acquire starts that way. Not an acquisition: a try cannot wait, and a lock
// cannot be taken twice, so no edge, chain or stack (an edge from a lock taken inside the
// Condition's would be an inversion that cannot happen). `rc` is the try's result.
void TriedByHolder(ThreadCtx& t, format::SyncRecord* rec, uint64_t address, uint32_t i, int rc) {
  if (rc == 0) {
    // Still available while held: not a lock (a counting semaphore, or one posted meanwhile
    // by another thread).
    MarkNotLock(rec, address);
    RemoveHeld(t, i);
    NoteAcquired(t, address);
  } else if (rec != nullptr && !(SyncFlags(rec) & format::kSyncLock)) {
    // Before it proved anything: Condition.notify's probe of its Lock (a lock: its taker
    // will post it), or a Condition waiter's second acquire (a signal: another thread will
    // post it). Not held any more, and not judged until that post.
    Atomic(rec->flags).fetch_or(format::kSyncTriedByHolder, std::memory_order_relaxed);
    RemoveHeld(t, i);
  }
}

template <Timing how>
int Wait(sem_t* s, clockid_t clock, const timespec* abstime, const void* caller) {
  auto call = [&]() -> int {
    const RealFunctions& r = Real();
    if (how == Timing::kUntimed) return r.sem_wait(s);
    if (how == Timing::kTimed) return r.sem_timedwait(s, abstime);
    if (r.sem_clockwait) return r.sem_clockwait(s, clock, abstime);
    errno = ENOSYS;
    return -1;
  };
  Inside scope;
  ThreadCtx* t = scope.get();
  if (t == nullptr) return call();
  const uint64_t address = reinterpret_cast<uint64_t>(s);
  format::SyncRecord* rec = SyncOf(*t, address);
  DropNotLocks(*t);
  // Waiting on a semaphore it holds: the thread expects another to post it (a Condition's
  // waiter lock): not a lock. Unless it is known to be one: then this is a self-deadlock
  // (`with l: with l:`), and the held entry stays for the wait-for graph to see.
  if (const int i = FindHeldSemaphore(*t, address); i >= 0 && !(SyncFlags(rec) & format::kSyncLock)) {
    MarkNotLock(rec, address);
    RemoveHeld(*t, static_cast<uint32_t>(i));
  }
  const Prepared p = NotLock(rec) ? Prepared{address, 0, 0, 0, 0}
                                  : PrepareTake(*t, address, rec, TakeFlags(*t, false, caller));
  int rc;
  bool waited = false;
  if (glibc::SemValue(s) > 0) {
    // Available: the call should not block; publish only what, as for mutexes.
    BeginQuickWait(*t, address, format::kWaitSemaphore);
    rc = call();
    const int e = errno;
    ClearWait(*t);
    errno = e;
  } else {
    // In a fork child: a semaphore another parent thread had taken (CheckInheritedLock).
    if (g_shim.dump.header->parent_pid > 0) CheckInheritedLock(*t, address, 0, -1);
    const uint32_t stack = p.stack ? p.stack
                                   : WaitSiteStack(*t, 0, SiteOf(*t, caller), kWaitSiteSemaphore);
    BeginWait(*t, address, format::kWaitSemaphore, rec ? g_shim.syncs.IndexOf(rec) : 0, stack,
              DeadlineOf<how>(clock, abstime));
    rc = call();
    const int e = errno;
    EndWait(*t, rc != 0 && e == ETIMEDOUT);  // a retry goes on with this wait
    errno = e;
    waited = true;
  }
  if (rc == 0) {
    const int e = errno;
    Took(*t, s, rec, p, waited);
    errno = e;
  }
  return rc;
}

// ---- the common case of CPython's `with lock:` -------------------------------------------
//
// A thread that runs Python takes the same lock again and again: its last semaphore record
// is cached (SyncOf), the lock is known (kSyncLock), the thread holds the GIL, and the chain
// is known. Then a take is the general path's result without its calls: the checks below
// are exactly the general path's conditions for that result, and anything else goes there.
// A take that repeats one of the thread's earlier ones (ThreadCtx::SemMemo: the same
// semaphore, site, depth and entry below) reuses the held entry those checks gave then: only
// a change of some semaphore or lock identity (g_sem_changes) could change it. The last take
// is checked inline (a loop over `with lock:`), the others out of line (TryWaitMiss).

// The cached record of `address` when it is a known lock and nothing changed since (no
// semaphore became a non-lock meanwhile); with its lock identity.
__attribute__((always_inline)) inline bool KnownLock(const ThreadCtx& t, uint64_t address,
                                                     uint32_t* lock) {
  const format::SyncRecord* rec = CachedRecord(t, address);
  if (rec == nullptr ||
      Atomic(const_cast<uint64_t&>(rec->address)).load(std::memory_order_acquire) != address ||
      (Relaxed(rec->flags) & (format::kSyncLock | format::kSyncNotLock)) != format::kSyncLock ||
      g_not_locks.load(std::memory_order_relaxed) != t.not_lock_seen)
    return false;
  const uint32_t l = Relaxed(rec->lock);
  if (!LiveIdentity(l, address)) return false;
  *lock = l;
  return true;
}

// The thread's memo slot for a take of the semaphore at `address` with held `flags` (whose
// high half is the call site: SiteOf). CPython's locks are separate allocations of 48 bytes,
// so neighbours fall in different slots; the site spreads one lock's takes at several lines
// (queue.Queue's put and get) over several.
__attribute__((always_inline)) inline ThreadCtx::SemMemo& MemoSlot(ThreadCtx& t, uint64_t address,
                                                                   uint32_t flags) {
  return t.sem_memo[((address >> 4) ^ (flags >> 16)) & (kSemMemos - 1)];
}

// Whether memo `m` is of a take of `address` that this take would repeat: the same site (in
// `flags`) and depth, the same chain below (`below_chain`: what it was prepared from), and
// no semaphore changed since.
__attribute__((always_inline)) inline bool MemoHit(const ThreadCtx& t, const ThreadCtx::SemMemo& m,
                                                   uint64_t address, uint32_t flags,
                                                   uint64_t below_chain) {
  return m.held.address == address && m.held.flags == flags && m.depth == t.depth &&
         m.below_chain == below_chain && m.changes == SemaphoreChanges();
}

// The chain key of the held entry below a take by `t` as its slot stores it: 0 where it is
// derived on demand (ChainAt: an entry taken with nothing below it, or one with no lock
// identity), which MemoHit then finds only out of line, from CurrentChain. GilTaken stores
// the GIL's.
__attribute__((always_inline)) inline uint64_t StoredChainBelow(const ThreadCtx& t) {
  return t.depth > 0 ? t.rec->held[t.depth - 1].chain : 0;
}

void Remember(ThreadCtx& t, ThreadCtx::SemMemo& m, uint64_t changes, const Prepared& p) {
  FillSlot(m.held, p);
  m.changes = changes;
  m.depth = t.depth;
  m.below_chain = CurrentChain(t);
}

// The ends of a fast take that are not the common case, out of line: the fast path then needs
// no registers saved and no frame. Both return what sem_trywait returns.
__attribute__((noinline)) int Busy(ThreadCtx& t) {
  // Held (by another thread: CPython blocks next, on the general path; or by this one:
  // Condition.notify's probe). The filled slot above the top is left unseen.
  errno = EAGAIN;
  t.guard = kGuardSlowPaths;
  return -1;
}
__attribute__((noinline)) int TookCounting(ThreadCtx& t, uint64_t address) {
  // A counting semaphore after all: the take left it available. Not held.
  MarkNotLock(SyncOf(t, address), address);  // (the memo does not keep the record)
  t.guard = kGuardSlowPaths;
  return 0;
}

// The rest of a fast take once the slot above the top (held[depth]) is filled from
// t.sem_last, under the guard: the take itself, then the depth. Everything else is done
// before the take, so that the least work is done between winning the Lock and returning:
// other threads may be waiting for its post.
__attribute__((always_inline)) inline int TakeFilled(ThreadCtx& t, sem_t* s, uint64_t address) {
  uint32_t before;
  if (!glibc::SemTryTake(s, &before)) return Busy(t);
  if (__builtin_expect(before > 1, 0)) return TookCounting(t, address);
  PublishSlot(t);
  t.guard = kGuardSlowPaths;
  return 0;
}

// Whether the thread is outside the shim with its Python fast paths on: not inside a hook
// (a signal handler's call, or the shim's own), no timed-out wait to settle (Commit and
// NoteAcquired must see it), and registered.
__attribute__((always_inline)) inline bool FastPathsOn(const ThreadCtx& t) {
  return t.guard == kGuardSlowPaths && !t.retry_pending && t.rec != nullptr;
}

// Whether a trywait by `t` may take the fast path at all (the general path's conditions for
// the fast path's result, the lock aside): the thread holds the GIL, and the slot above its
// top is inline.
__attribute__((always_inline)) inline bool FastTakeCase(const ThreadCtx& t) {
  return FastPathsOn(t) && t.holds_gil && t.depth < format::kInlineHeld;
}

__attribute__((noinline)) int TryWaitGeneral(sem_t* s, const void* caller);

// A fast try by the holder that took the semaphore after all: not a lock (TriedByHolder).
__attribute__((noinline)) int TookWhileHeld(ThreadCtx& t, uint64_t address) {
  TriedByHolder(t, SyncOf(t, address), address, t.depth - 1, 0);
  t.guard = kGuardSlowPaths;
  return 0;
}

// A try of the semaphore on top of the thread's held stack (TriedByHolder): Condition's probe
// of its Lock, on every notify and wait. For a known lock, with no stale entry to drop, the
// general path would only try it: so does this.
__attribute__((noinline)) int TryByHolder(ThreadCtx& t, sem_t* s, const void* caller) {
  const uint64_t address = reinterpret_cast<uint64_t>(s);
  // The entry names the semaphore's live identity (else it is an earlier semaphore's: the
  // general path drops it).
  const HeldLock& top = t.rec->held[t.depth - 1];
  uint32_t lock;
  if (!(top.flags & format::kHeldSemaphore) || !KnownLock(t, address, &lock) || top.lock != lock) {
    t.guard = kGuardSlowPaths;
    return TryWaitGeneral(s, caller);
  }
  if (!glibc::SemTryTake(s)) return Busy(t);
  return TookWhileHeld(t, address);
}

// A fast take that is not a repeat of the last one: as its memo says, or prepared from the
// records when it is a known lock (and remembered); else the general path.
__attribute__((noinline)) int TryWaitMiss(sem_t* s, const void* caller) {
  ThreadCtx& t = t_ctx;
  const uint64_t address = reinterpret_cast<uint64_t>(s);
  t.guard = kGuardInside;
  const uint32_t flags = format::kHeldSemaphore | format::kHeldBehindGil | SiteOf(t, caller);
  ThreadCtx::SemMemo& m = MemoSlot(t, address, flags);
  if (!MemoHit(t, m, address, flags, CurrentChain(t))) {
    // Read before the checks (acquire: they cannot move above it): a change made meanwhile
    // leaves the memo stale, not wrong.
    const uint64_t changes = g_sem_changes.count.load(std::memory_order_acquire);
    uint32_t lock;
    Prepared p;
    if (!KnownLock(t, address, &lock) || !PrepareKnownLock(t, address, lock, flags, &p)) {
      t.guard = kGuardSlowPaths;
      return TryWaitGeneral(s, caller);
    }
    Remember(t, m, changes, p);
  }
  t.sem_last = m;
  t.rec->held[t.depth] = m.held;
  return TakeFilled(t, s, address);
}

// The post of the innermost held lock by its holder: true when done (the entry popped).
__attribute__((always_inline)) inline bool FastPost(sem_t* s) {
  ThreadCtx& t = t_ctx;
  const uint64_t address = reinterpret_cast<uint64_t>(s);
  if (!(FastPathsOn(t) && t.depth > 0 && t.depth <= format::kInlineHeld)) return false;
  const HeldLock& top = t.rec->held[t.depth - 1];
  if (top.address != address) return false;
  // Still a known lock. The common case: the fast path's last take (or attempt: sem_last)
  // was of this semaphore at this depth, and no semaphore changed since. It was a known lock
  // then, and a lock stops being one, or its identity ends, only with a change: whatever
  // take of it is on top, the general path would pop it and do nothing else. Else as its
  // memo says, or as its records say.
  if (!(t.sem_last.held.address == address && t.sem_last.depth + 1 == t.depth &&
        t.sem_last.changes == SemaphoreChanges())) {
    if (!(top.flags & format::kHeldSemaphore) || top.lock == 0) return false;
    const ThreadCtx::SemMemo& m = MemoSlot(t, address, top.flags);
    uint32_t lock;
    if (!(m.held.address == address && m.held.lock == top.lock &&
          m.changes == SemaphoreChanges()) &&
        !KnownLock(t, address, &lock))
      return false;
  }
  SetDepth(t, t.depth - 1);
  return true;
}

}  // namespace

int SemWait(sem_t* s, const void* caller) { return Wait<Timing::kUntimed>(s, 0, nullptr, caller); }
int SemTimedWait(sem_t* s, const timespec* abstime, const void* caller) {
  return Wait<Timing::kTimed>(s, 0, abstime, caller);
}
int SemClockWait(sem_t* s, clockid_t clock, const timespec* abstime, const void* caller) {
  return Wait<Timing::kClock>(s, clock, abstime, caller);
}

namespace {

// SemTryWait's general path: out of line, so that the fast path saves only the registers it
// uses. The bookkeeping that can be done before the take is: the caller may hold the
// semaphore from the take until its post, and work done in between lengthens its critical
// section.
__attribute__((noinline)) int TryWaitGeneral(sem_t* s, const void* caller) {
  Inside scope;
  ThreadCtx* t = scope.get();
  if (t == nullptr) return Real().sem_trywait(s);
  const uint64_t address = reinterpret_cast<uint64_t>(s);
  format::SyncRecord* rec = SyncOf(*t, address);
  DropNotLocks(*t);
  if (const int i = FindHeldSemaphore(*t, address); i >= 0) {
    const int rc = Real().sem_trywait(s);
    const int e = errno;
    TriedByHolder(*t, rec, address, static_cast<uint32_t>(i), rc);
    errno = e;
    return rc;
  }
  const Prepared p = NotLock(rec) ? Prepared{address, 0, 0, 0, 0}
                                  : PrepareTake(*t, address, rec, TakeFlags(*t, true, caller));
  const int rc = Real().sem_trywait(s);
  const int e = errno;
  if (rc == 0) Took(*t, s, rec, p, false);
  errno = e;
  return rc;
}

// SemPost's general path (out of line, as TryWaitGeneral).
__attribute__((noinline)) int PostGeneral(sem_t* s);

}  // namespace

// Every call out of this one is a tail call: the common case saves no register and makes no
// frame.
int SemTryWait(sem_t* s, const void* caller) {
  ThreadCtx& t = t_ctx;
  if (!FastTakeCase(t)) return TryWaitGeneral(s, caller);
  // Under the guard from here: a signal handler's own lock calls pass straight through
  // instead of changing sem_last or the held stack between the checks and the push.
  t.guard = kGuardInside;
  const uint64_t address = reinterpret_cast<uint64_t>(s);
  if (t.depth > 0 && t.rec->held[t.depth - 1].address == address) return TryByHolder(t, s, caller);
  const int64_t site = QuickSiteOf(t, caller);
  const uint32_t flags =
      format::kHeldSemaphore | format::kHeldBehindGil | static_cast<uint32_t>(site);
  if (__builtin_expect(site < 0 || !MemoHit(t, t.sem_last, address, flags, StoredChainBelow(t)),
                       0)) {
    t.guard = kGuardSlowPaths;
    return TryWaitMiss(s, caller);
  }
  t.rec->held[t.depth] = t.sem_last.held;
  return TakeFilled(t, s, address);
}

int SemPost(sem_t* s) {
  if (FastPost(s)) return Real().sem_post(s);
  return PostGeneral(s);
}

namespace {

// The bookkeeping before the post: once posted, a waiter may take the semaphore and destroy
// it (its record given back, maybe to another object) before this thread looks at it.
int PostGeneral(sem_t* s) {
  if (Inside scope; ThreadCtx* t = scope.get()) {
    const uint64_t address = reinterpret_cast<uint64_t>(s);
    format::SyncRecord* rec = SyncOf(*t, address);
    const int i = FindHeldSemaphore(*t, address);
    const uint16_t flags = SyncFlags(rec);
    if (i >= 0 && (flags & format::kSyncLock) && !(flags & format::kSyncNotLock)) {
      // A lock given back by its holder: the common case, nothing to learn (its holder was
      // in the held stack, no trail is needed).
      RemoveHeld(*t, static_cast<uint32_t>(i));  // (semaphores have no recursion)
    } else {
      if (rec != nullptr) {
        Atomic(rec->last_post_tid).store(t->tid, std::memory_order_relaxed);
        CountUp(rec->posts);
      }
      if (i < 0) {
        // (Only before it proved anything: last_take_tid is not kept for a known lock.)
        if (rec != nullptr && (flags & format::kSyncTriedByHolder) &&
            !(flags & (format::kSyncLock | format::kSyncNotLock)) &&
            Relaxed(rec->last_take_tid) == t->tid) {
          // Posted back by its taker after it tried it again (Condition.notify's probe): a
          // lock, from its next take on.
          Atomic(rec->flags).fetch_or(format::kSyncLock, std::memory_order_relaxed);
        } else {
          MarkNotLock(rec, address);  // posted by a thread that does not hold it: a hand-off
        }
      } else {
        HeldLock& h = Held(*t, static_cast<uint32_t>(i));
        if (!NotLock(rec) && rec != nullptr) {
          // Posted back by its taker: a lock. Its take gets its identity and edges now.
          Atomic(rec->flags).fetch_or(format::kSyncLock, std::memory_order_relaxed);
          h.lock = ProvenLock(rec, address);
          if (h.lock != 0) {
            RekeyHeld(*t, static_cast<uint32_t>(i));
            if (!(h.flags & format::kHeldTry))
              RecordEdgesBelow(*t, static_cast<uint32_t>(i), h.lock, h.stack, h.flags);
          }
        }
        RemoveHeld(*t, static_cast<uint32_t>(i));
      }
    }
    DropNotLocks(*t);
  }
  return Real().sem_post(s);
}

}  // namespace

// A semaphore made by Python code (threading.Lock(), with the GIL held): its record notes the
// Python line that made it, which names its lock class once it proves to be a lock
// (ProvenLock). Any other sem_init costs a test of the thread's state.
int SemInit(sem_t* s, int pshared, unsigned value) {
  const int rc = Real().sem_init(s, pshared, value);
  if (rc != 0) return rc;
  if (Inside scope; ThreadCtx* t = scope.get()) {
    if (t->python && t->holds_gil) {
      ErrnoSaver keep_errno;  // (the call succeeded: what errno says is the program's)
      if (const uint64_t made = InnermostPythonFrame(*t)) {
        const uint64_t address = reinterpret_cast<uint64_t>(s);
        if (format::SyncRecord* rec = SyncOf(*t, address))
          Atomic(rec->made_at).store(made, std::memory_order_relaxed);
      }
    }
  }
  return rc;
}

// A destroyed semaphore gives its record back (SyncTable::Retire): CPython creates and
// destroys one for every threading.Lock.
int SemDestroy(sem_t* s) {
  if (Inside scope; ThreadCtx* t = scope.get()) {
    const uint64_t address = reinterpret_cast<uint64_t>(s);
    if (const int i = FindHeldSemaphore(*t, address); i >= 0)
      RemoveHeld(*t, static_cast<uint32_t>(i));
    if (g_shim.syncs.valid()) g_shim.syncs.Retire(address);
    RetireLock(address);  // (moves g_sem_changes when it ends a lock identity)
    for (ThreadCtx::SemCached& c : t->sem_cache)
      if (c.address == address) c = {};
  }
  return Real().sem_destroy(s);
}

}  // namespace lockscope
