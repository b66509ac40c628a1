// pthread mutexes and condition variables: acquisition order, waits and misuse.
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "shim/gil_hooks.h"
#include "shim/glibc_layout.h"
#include "shim/recorder.h"
#include "shim/recorder_core.h"

namespace lockscope {
namespace {

using namespace core;

// The held flags a mutex itself brings to an acquisition (the default kind brings none).
uint32_t MutexFlags(const pthread_mutex_t* m) {
  return glibc::MutexRobust(m) ? uint32_t{format::kHeldRobust} : 0u;
}

uint8_t KindOf(const pthread_mutex_t* m) {
  switch (glibc::MutexType(m)) {
    case PTHREAD_MUTEX_RECURSIVE_NP: return format::kLockRecursiveMutex;
    case PTHREAD_MUTEX_ERRORCHECK_NP: return format::kLockErrorcheckMutex;
    case PTHREAD_MUTEX_ADAPTIVE_NP: return format::kLockAdaptiveMutex;
    default: return format::kLockMutex;
  }
}

template <Timing how>
inline int CallBlocking(pthread_mutex_t* m, clockid_t clock, const timespec* abstime) {
  switch (how) {
    case Timing::kUntimed: return Real().mutex_lock(m);
    case Timing::kTimed: return Real().mutex_timedlock(m, abstime);
    case Timing::kClock:
      return Real().mutex_clocklock ? Real().mutex_clocklock(m, clock, abstime) : ENOSYS;
  }
  return EINVAL;
}

// The acquisitions that go to glibc: other mutex kinds, timed and clock waits on a taken
// default mutex, and a default mutex re-locked by its owner (a self-deadlock). Out of line
// so that AcquireMutex keeps few registers.
template <Timing how>
__attribute__((noinline)) int AcquireMutexSlow(ThreadCtx* t, pthread_mutex_t* m, clockid_t clock,
                                               const timespec* abstime,
                                               Prepared p) {  // by value: see CommitDeep
  Inside scope(Inside::kAdopt, t);
  const uint64_t address = p.address;
  // Publish what we wait for before the call, since a blocked thread cannot help later.
  // A lock word that reads free costs one store before and one after; only a lock that is
  // visibly taken pays for the clock and the full wait record. (Calling the real lock
  // rather than trylock-then-lock keeps glibc's single-thread fast path.)
  int rc;
  bool waited = false;
  if (glibc::MutexWordFree(m)) {
    BeginQuickWait(*t, address, format::kWaitMutex);
    rc = CallBlocking<how>(m, clock, abstime);
    ClearWait(*t);
  } else {
    if (g_shim.dump.header->parent_pid > 0)
      CheckInheritedLock(*t, address, p.lock, glibc::MutexOwner(m));
    BeginWait(*t, address, format::kWaitMutex, p.lock, p.stack, DeadlineOf<how>(clock, abstime));
    rc = CallBlocking<how>(m, clock, abstime);
    EndWait(*t, rc == ETIMEDOUT);  // a retry goes on with this wait
    waited = true;
  }
  return FinishAcquire(t, p, rc, rc == 0 || rc == EOWNERDEAD, waited);
}

// A recursive mutex re-taken by its owner (one more level), or an error-checking one (glibc
// says EDEADLK: a misuse).
template <Timing how>
__attribute__((noinline)) int RelockOwnMutex(ThreadCtx* t, pthread_mutex_t* m, clockid_t clock,
                                             const timespec* abstime, int held) {
  Inside scope(Inside::kAdopt, t);
  const int rc = CallBlocking<how>(m, clock, abstime);
  if (KindOf(m) == format::kLockRecursiveMutex) {
    if (rc == 0) Held(*t, held).recursion++;
  } else if (rc == EDEADLK) {
    RecordMisuse(*t, format::kMisuseRelockError, reinterpret_cast<uint64_t>(m),
                 held >= 0 ? Held(*t, held).lock : 0, t->tid);
  }
  return rc;
}

// A lock re-taken by the thread that owns it (glibc records the owner tid in every kind).
template <Timing how>
__attribute__((noinline)) int ReacquireOwnMutex(ThreadCtx* t, pthread_mutex_t* m, clockid_t clock,
                                                const timespec* abstime, const void* caller) {
  const uint64_t address = reinterpret_cast<uint64_t>(m);
  const int i = FindHeld(*t, address);
  const uint8_t kind = KindOf(m);
  if ((i >= 0 && kind == format::kLockRecursiveMutex) || kind == format::kLockErrorcheckMutex)
    return RelockOwnMutex<how>(t, m, clock, abstime, i);
  // A normal mutex re-locked by its owner: a self-deadlock. It goes on like any contended
  // acquisition: the wait record names a lock this thread holds.
  return AcquireMutexSlow<how>(t, m, clock, abstime,
                               Prepare(*t, address, kind, SiteOf(*t, caller) | MutexFlags(m)));
}

// pthread_mutex_lock of a default mutex whose lock word another thread holds (prepared
// already, by MutexLock's fast path or by AcquireMutex): the published wait around glibc's
// own waiting protocol, done here like the uncontended case, so no CAS is repeated on the
// contended cache line. Scalar arguments: the fast path reaches it by a tail call and keeps
// no stack frame of its own.
__attribute__((noinline)) int WaitForMutex(ThreadCtx* t, pthread_mutex_t* m, uint64_t chain,
                                           uint32_t lock, uint32_t stack, uint32_t flags) {
  Inside scope(Inside::kAdopt, t);
  const uint64_t address = reinterpret_cast<uint64_t>(m);
  if (g_shim.dump.header->parent_pid > 0)
    CheckInheritedLock(*t, address, lock, glibc::MutexOwner(m));
  BeginWait(*t, address, format::kWaitMutex, lock, stack);
  glibc::LockDefaultContended(m, t->tid);
  ClearWait(*t);
  return FinishAcquire(t, Prepared{address, chain, lock, stack, flags}, 0, true, true);
}

// The guard stays set across the real calls: they never call back into the shim, and a
// signal handler that locks while we block passes through rather than interleaving its
// bookkeeping with ours. A dispatcher: it enters, and the function it hands the context to
// (WaitForMutex, AcquireMutexSlow, ReacquireOwnMutex's) leaves; only its own uncontended
// branch leaves here.
template <Timing how>
__attribute__((always_inline)) inline int AcquireMutex(pthread_mutex_t* m, clockid_t clock,
                                                       const timespec* abstime,
                                                       const void* caller) {
  ThreadCtx* t = Enter();
  if (t == nullptr) return CallBlocking<how>(m, clock, abstime);
  const uint64_t address = reinterpret_cast<uint64_t>(m);
  if (const GilObject gil = GilObjectAt(address); __builtin_expect(gil != GilObject::kNone, 0)) {
    // The GIL's own mutexes (gil_hooks.h).
    if (gil == GilObject::kMutex) {
      if (t->holds_gil)
        GilDropComing(*t);
      else
        GilWaitComing(*t);
    }
    Leave(t);
    return CallBlocking<how>(m, clock, abstime);
  }
  if (__builtin_expect(glibc::MutexOwner(m) == t->tid, 0))
    return ReacquireOwnMutex<how>(t, m, clock, abstime, caller);
  // Prepare before acquiring: a deadlocking acquisition leaves its edge in the dump too.
  const Prepared p = Prepare(*t, address, KindOf(m), SiteOf(*t, caller) | MutexFlags(m));
  if (how != Timing::kClock && __builtin_expect(glibc::IsDefaultMutex(m), 1)) {
    if (__builtin_expect(glibc::TryLockDefault(m, t->tid), 1)) {
      Commit(*t, p);
      Leave(t);
      return 0;
    }
    // Taken by another thread: the same wait as the fast path's.
    if (how == Timing::kUntimed) return WaitForMutex(t, m, p.chain, p.lock, p.stack, p.flags);
  }
  return AcquireMutexSlow<how>(t, m, clock, abstime, p);
}

__attribute__((noinline)) int AcquireMutexGeneral(pthread_mutex_t* m, const void* caller) {
  return AcquireMutex<Timing::kUntimed>(m, 0, nullptr, caller);
}

int CondWaitCommon(pthread_cond_t* c, pthread_mutex_t* m, Timing how, clockid_t clock,
                   const timespec* abstime, const void* caller) {
  auto call = [&]() -> int {
    switch (how) {
      case Timing::kUntimed: return Real().cond_wait(c, m);
      case Timing::kTimed: return Real().cond_timedwait(c, m, abstime);
      case Timing::kClock:
        return Real().cond_clockwait ? Real().cond_clockwait(c, m, clock, abstime) : ENOSYS;
    }
    return EINVAL;
  };
  Inside scope;
  ThreadCtx* t = scope.get();
  if (t == nullptr) return call();
  switch (GilObjectAt(reinterpret_cast<uint64_t>(c))) {
    case GilObject::kNone: break;
    case GilObject::kCond: return WaitForGil(*t, c, m, how, clock, abstime);
    default: return call();  // the GIL's switch condition: its implementation
  }
  const uint64_t address = reinterpret_cast<uint64_t>(m);
  // The wait releases the mutex: the held stack must follow, or every condvar user would
  // look like it holds the mutex while others take it.
  HeldLock saved{};
  const int i = FindHeld(*t, address);
  if (i >= 0) {
    saved = Held(*t, i);
    RemoveHeld(*t, i);
  }
  format::SyncRecord* sync =
      g_shim.syncs.FindOrInsert(reinterpret_cast<uint64_t>(c), format::kLockCondvar);
  RecordEvent(*t, format::kOpCondWaitBegin, saved.lock, 0, reinterpret_cast<uint64_t>(c));
  // The mutex and the condition's signal counts let the analyzer tell a thread that was woken
  // and is stuck re-acquiring the mutex (inside glibc, out of our sight) from one still asleep.
  WaitDetail detail;
  detail.clock = how == Timing::kClock ? clock : glibc::CondClock(*c);
  detail.deadline = abstime;
  detail.cond_mutex = address;
  if (sync != nullptr) {
    detail.cond_posts = Atomic(sync->posts).load(std::memory_order_acquire);
    detail.cond_broadcasts = Atomic(sync->broadcasts).load(std::memory_order_relaxed);
    const uint32_t others = Atomic(sync->waiting).fetch_add(1, std::memory_order_relaxed);
    detail.cond_ticket =
        (Atomic(sync->begins).fetch_add(1, std::memory_order_relaxed) & ~format::kCondWaitAlone) |
        (others == 0 ? format::kCondWaitAlone : 0);
  }
  BeginWait(*t, reinterpret_cast<uint64_t>(c), format::kWaitCondvar,
            sync ? g_shim.syncs.IndexOf(sync) : 0,
            WaitSiteStack(*t, reinterpret_cast<uint64_t>(c), SiteOf(*t, caller),
                          kWaitSiteCondition),
            detail);
  int rc = call();
  EndWait(*t, rc == ETIMEDOUT);  // polling in timed slices is one wait
  if (sync != nullptr) Atomic(sync->waiting).fetch_sub(1, std::memory_order_relaxed);
  RecordEvent(*t, format::kOpCondWaitEnd, saved.lock, static_cast<uint32_t>(rc),
              reinterpret_cast<uint64_t>(c));
  // A wait that happened re-takes the mutex (timeouts included): an acquisition like any
  // other (holding A while re-taking M is the edge A->M). One that failed (EPERM: not the
  // owner of an error-checking mutex; EINVAL) left the mutex as it was: held again if we held
  // it, not held if we did not.
  const bool waited = rc == 0 || rc == ETIMEDOUT || rc == EOWNERDEAD;
  if (waited || i >= 0) {
    Commit(*t, Prepare(*t, address, KindOf(m), SiteOf(*t, caller) | MutexFlags(m)));
    if (i >= 0 && saved.recursion) Held(*t, t->depth - 1).recursion = saved.recursion;
  }
  return rc;
}

// Who signalled a condition variable last, and how often: the trail a stall report follows.
void NotePost(pthread_cond_t* c, bool broadcast) {
  Inside scope;
  ThreadCtx* t = scope.get();
  if (t == nullptr) return;
  switch (GilObjectAt(reinterpret_cast<uint64_t>(c))) {
    case GilObject::kNone: break;
    case GilObject::kCond:
      if (!broadcast) GilReleasing(*t);  // drop_gil
      return;
    default: return;
  }
  if (format::SyncRecord* s =
          g_shim.syncs.FindOrInsert(reinterpret_cast<uint64_t>(c), format::kLockCondvar)) {
    Atomic(s->last_post_tid).store(t->tid, std::memory_order_relaxed);
    Atomic(s->last_post_ns).store(MonotonicNs(), std::memory_order_relaxed);
    if (broadcast) CountUp(s->broadcasts);
    CountUp(s->posts, std::memory_order_release);
  }
}

}  // namespace

// The whole of an uncontended acquisition of a default mutex whose lock and chain are known:
// no call, no syscall, a few loads and stores. Everything else is a tail call to the general
// path (AcquireMutex), which starts over. A self-relock never takes this path: its lock word
// is not free.
// Cache-line aligned, as is MutexUnlock: the two hot paths of every program then do not move
// with unrelated code (their timing varied by 0.5 ns, a sixth of a native lock/unlock pair,
// with where the linker happened to place them).
__attribute__((aligned(64))) int MutexLock(pthread_mutex_t* m, const void* caller) {
  ThreadCtx& t = t_ctx;
  if (__builtin_expect(t.guard == kGuardFree && t.rec != nullptr && glibc::IsDefaultMutex(m) &&
                           t.depth < format::kInlineHeld,
                       1)) {
    // No guard: this makes no call, and Push is safe against a signal handler that locks
    // in the middle of it (the slow paths below set the guard).
    Prepared p;
    if (__builtin_expect(PrepareKnown(t, reinterpret_cast<uint64_t>(m), format::kLockMutex,
                                      SiteFlags(caller), &p),
                         1)) {
      if (__builtin_expect(glibc::TryLockDefault(m, t.tid), 1)) {
        Push(t, t.rec->held[t.depth], p);
        return 0;
      }
      // Taken: by this thread (a self-relock) or another (wait for it, published). Straight
      // to the waiting code, without a second attempt on a contended cache line.
      t.guard = kGuardInside;
      if (glibc::MutexOwner(m) == t.tid)
        return ReacquireOwnMutex<Timing::kUntimed>(&t, m, 0, nullptr, caller);
      return WaitForMutex(&t, m, p.chain, p.lock, p.stack, p.flags);
    }
  }
  return AcquireMutexGeneral(m, caller);
}

int MutexTimedLock(pthread_mutex_t* m, const timespec* abstime, const void* caller) {
  return AcquireMutex<Timing::kTimed>(m, 0, abstime, caller);
}

int MutexClockLock(pthread_mutex_t* m, clockid_t clock, const timespec* abstime,
                   const void* caller) {
  return AcquireMutex<Timing::kClock>(m, clock, abstime, caller);
}

// A successful trylock joins the held set but adds no blocking edge: std::lock and
// try-with-back-off never wait while holding, so they cannot deadlock.
int MutexTryLock(pthread_mutex_t* m, const void* caller) {
  Inside scope;
  ThreadCtx* t = scope.get();
  if (t == nullptr) return Real().mutex_trylock(m);
  const uint64_t address = reinterpret_cast<uint64_t>(m);
  if (GilObjectAt(address) != GilObject::kNone) return Real().mutex_trylock(m);
  const bool mine = glibc::MutexOwner(m) == t->tid;
  int rc = Real().mutex_trylock(m);
  if (rc == 0 || rc == EOWNERDEAD) {
    int i = mine ? FindHeld(*t, address) : -1;
    if (i >= 0) {
      NoteAcquired(*t, address);
      Held(*t, i).recursion++;  // a recursive mutex re-taken by its owner
    } else {
      Commit(*t, Prepare(*t, address, KindOf(m),
                         format::kHeldTry | SiteOf(*t, caller) | MutexFlags(m)));
    }
  }
  return rc;
}

// Every unlock but the innermost lock's: deeper entries, recursion, locks not held.
__attribute__((noinline)) int UnlockGeneral(pthread_mutex_t* m) {
  {
    Inside scope;
    ThreadCtx* t = scope.get();
    if (t == nullptr) return Real().mutex_unlock(m);
    const uint64_t address = reinterpret_cast<uint64_t>(m);
    switch (GilObjectAt(address)) {
      case GilObject::kNone: break;
      case GilObject::kMutex: {
        t->gil_drop_tstate = 0;  // (GilDropComing's reads are for this critical section only)
        const uint64_t took = GilTakenBy(*t);
        const int rc = Real().mutex_unlock(m);
        // After: not inside the GIL's critical section. The wait ends before the take is
        // pushed, so that no reader sees the thread wait for the GIL it holds.
        if (t->gil_wait_published) GilWaitOver(*t);
        if (took != 0) GilTaken(*t, took);
        return rc;
      }
      default: return Real().mutex_unlock(m);
    }
    if (!Release(*t, address)) {
      // Not in our held set. Ours all the same (taken while the shim passed through) is fine;
      // another thread's, or nobody's, is a misuse.
      const int owner = glibc::MutexOwner(m);
      if (owner != t->tid && (owner != 0 || !glibc::MutexLocked(m)))
        RecordMisuse(*t, format::kMisuseUnlockNotOwner, address,
                     g_shim.locks.Find(address, format::kLockMutex), owner);
      RecordEvent(*t, format::kOpUnlock, 0, 0, address, format::kEventNotHeld);
    }
  }
  return Real().mutex_unlock(m);
}

__attribute__((aligned(64))) int MutexUnlock(pthread_mutex_t* m) {
  // The common case, the innermost lock taken once: one compare and two stores, then the
  // release itself (glibc's, done here for a default mutex; a tail call for other kinds).
  // No guard: nothing here can re-enter the shim, and a signal handler that locks and
  // unlocks in between leaves the held stack as it found it.
  ThreadCtx& ctx = t_ctx;
  if (__builtin_expect(
          ctx.guard == kGuardFree && ctx.rec != nullptr && ctx.depth - 1 < format::kInlineHeld,
          1)) {
    HeldLock& top = ctx.rec->held[ctx.depth - 1];
    if (__builtin_expect(top.address == reinterpret_cast<uint64_t>(m) && top.recursion == 0, 1)) {
      SetDepth(ctx, ctx.depth - 1);
      if (__builtin_expect(glibc::IsDefaultMutex(m), 1)) return glibc::UnlockDefault(m);
      return g_real.mutex_unlock(m);
    }
  }
  return UnlockGeneral(m);
}

// (Re-)initialisation starts a new generation of the address: a new lock identity.
int MutexInit(pthread_mutex_t* m, const pthread_mutexattr_t* attr) {
  if (Ready()) RetireLock(reinterpret_cast<uint64_t>(m));
  return Real().mutex_init(m, attr);
}

int MutexDestroy(pthread_mutex_t* m) {
  {
    Inside scope;
    ThreadCtx* t = scope.get();
    if (t == nullptr) return Real().mutex_destroy(m);
    const uint64_t address = reinterpret_cast<uint64_t>(m);
    // A fork child re-creates the GIL whatever state the parent's other threads left its
    // mutex in: not the program's misuse.
    if (GilObjectAt(address) != GilObject::kNone) return Real().mutex_destroy(m);
    if (glibc::MutexLocked(m))
      RecordMisuse(*t, format::kMisuseDestroyLocked, address,
                   g_shim.locks.Find(address, format::kLockMutex), glibc::MutexOwner(m));
    uint32_t lock = RetireLock(address);
    if (lock != 0) RecordEvent(*t, format::kOpDestroy, lock, 0, address);
  }
  return Real().mutex_destroy(m);
}

int CondWait(pthread_cond_t* c, pthread_mutex_t* m, const void* caller) {
  return CondWaitCommon(c, m, Timing::kUntimed, 0, nullptr, caller);
}
int CondTimedWait(pthread_cond_t* c, pthread_mutex_t* m, const timespec* abstime,
                  const void* caller) {
  return CondWaitCommon(c, m, Timing::kTimed, 0, abstime, caller);
}
int CondClockWait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock, const timespec* abstime,
                  const void* caller) {
  return CondWaitCommon(c, m, Timing::kClock, clock, abstime, caller);
}

int CondSignal(pthread_cond_t* c) {
  NotePost(c, false);
  return Real().cond_signal(c);
}

int CondBroadcast(pthread_cond_t* c) {
  NotePost(c, true);
  return Real().cond_broadcast(c);
}

// A destroyed condition variable gives its record back (SyncTable::Retire).
int CondDestroy(pthread_cond_t* c) {
  if (Inside scope; scope.get() != nullptr && g_shim.syncs.valid())
    g_shim.syncs.Retire(reinterpret_cast<uint64_t>(c));
  return Real().cond_destroy(c);
}

int Join(pthread_t thread, void** result) {
  Inside scope;
  ThreadCtx* t = scope.get();
  if (t == nullptr) return Real().join(thread, result);
  BeginWait(*t, static_cast<uint64_t>(thread), format::kWaitJoin, 0, 0);
  int rc = Real().join(thread, result);
  ClearWait(*t);
  return rc;
}

int SetThreadName(pthread_t thread, const char* name) {
  int rc = Real().setname_np(thread, name);
  if (rc != 0 || !Ready()) return rc;
  // Find the slot by pthread handle (usually our own).
  for (uint32_t i = 1, end = ThreadSlotsEnd(); i < end; ++i) {
    format::ThreadRecord& r = g_shim.dump.threads[i];
    if (Atomic(r.state).load(std::memory_order_acquire) == format::kThreadLive &&
        r.pthread_handle == static_cast<uint64_t>(thread)) {
      strncpy(r.name, name, sizeof(r.name) - 1);
      break;
    }
  }
  return rc;
}

}  // namespace lockscope
