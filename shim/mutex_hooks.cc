// pthread mutexes and condition variables: acquisition order, waits and misuse.
#include <errno.h>
#include <string.h>

#include "shim/recorder.h"
#include "shim/recorder_core.h"

namespace lockscope {
namespace {

using namespace core;

uint8_t KindOf(const pthread_mutex_t* m) {
  switch (m->__data.__kind & 3) {
    case PTHREAD_MUTEX_RECURSIVE_NP: return format::kLockRecursiveMutex;
    case PTHREAD_MUTEX_ERRORCHECK_NP: return format::kLockErrorcheckMutex;
    case PTHREAD_MUTEX_ADAPTIVE_NP: return format::kLockAdaptiveMutex;
    default: return format::kLockMutex;
  }
}

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
int AcquireMutex(pthread_mutex_t* m, clockid_t clock, const timespec* abstime,
                 const void* caller) {
  ThreadCtx* t = Enter();
  if (t == nullptr) return CallBlocking<how>(m, clock, abstime);
  const uint64_t address = reinterpret_cast<uint64_t>(m);
  // Re-acquisition by the owner: glibc records the owner tid in every mutex kind.
  if (__builtin_expect(m->__data.__owner == t->tid, 0)) {
    const int i = FindHeld(*t, address);
    const uint8_t kind = KindOf(m);
    if (i >= 0 && kind == format::kLockRecursiveMutex) {
      int rc = CallBlocking<how>(m, clock, abstime);
      if (rc == 0) {
        Held(*t, i).recursion++;
        if (t->ring.valid()) t->ring.Write(format::kOpRelock, Held(*t, i).lock, 0);
      }
      Leave(t);
      return rc;
    }
    if (kind == format::kLockErrorcheckMutex) {
      int rc = CallBlocking<how>(m, clock, abstime);
      if (rc == EDEADLK)
        RecordMisuse(*t, format::kMisuseRelockError, address,
                     i >= 0 ? Held(*t, i).lock : 0, t->tid);
      Leave(t);
      return rc;
    }
    // A normal mutex re-locked by its owner: a self-deadlock. It goes on like any contended
    // acquisition below: the wait record names a lock this thread holds.
  }
  Prepared p = Prepare(*t, address, KindOf(m), SiteFlags(caller));
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
    if (g.dump.header->parent_pid > 0)
      CheckInheritedLock(*t, address, p.lock, m->__data.__owner);
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

enum class CondHow { kWait, kTimed, kClock };

int CondWaitCommon(pthread_cond_t* c, pthread_mutex_t* m, CondHow how, clockid_t clock,
                   const timespec* abstime, const void* caller) {
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
  // The wait releases the mutex: the held stack must follow, or every condvar user would
  // look like it holds the mutex while others take it.
  HeldLock saved{};
  const int i = FindHeld(*t, address);
  if (i >= 0) {
    saved = Held(*t, i);
    RemoveHeld(*t, i);
  }
  format::SyncRecord* sync = g.syncs.FindOrInsert(reinterpret_cast<uint64_t>(c), format::kLockCondvar);
  if (t->ring.valid()) t->ring.Write(format::kOpCondWaitBegin, saved.lock, 0);
  SetWait(*t, reinterpret_cast<uint64_t>(c), format::kWaitCondvar,
          sync ? g.syncs.IndexOf(sync) : 0,
          WaitSiteStack(*t, reinterpret_cast<uint64_t>(c), SiteFlags(caller) | 1));
  int rc = call();
  ClearWait(*t);
  if (t->ring.valid()) t->ring.Write(format::kOpCondWaitEnd, saved.lock, static_cast<uint32_t>(rc));
  // The mutex is re-taken whatever rc is (timeouts included): an acquisition like any other
  // (holding A while re-taking M is the edge A->M).
  Commit(*t, Prepare(*t, address, KindOf(m), SiteFlags(caller)));
  if (i >= 0 && saved.recursion) Held(*t, t->depth - 1).recursion = saved.recursion;
  Leave(t);
  return rc;
}

// Who signalled a condition variable last: the trail a stall report follows.
void NotePost(pthread_cond_t* c) {
  ThreadCtx* t = Enter();
  if (t == nullptr) return;
  if (format::SyncRecord* s =
          g.syncs.FindOrInsert(reinterpret_cast<uint64_t>(c), format::kLockCondvar)) {
    Atomic(s->last_post_tid).store(t->tid, std::memory_order_relaxed);
    Atomic(s->posts).store(s->posts + 1, std::memory_order_relaxed);  // a count, not a sync
  }
  Leave(t);
}

}  // namespace

int MutexLock(pthread_mutex_t* m, const void* caller) {
  return AcquireMutex<Blocking::kLock>(m, 0, nullptr, caller);
}

int MutexTimedLock(pthread_mutex_t* m, const timespec* abstime, const void* caller) {
  return AcquireMutex<Blocking::kTimed>(m, 0, abstime, caller);
}

int MutexClockLock(pthread_mutex_t* m, clockid_t clock, const timespec* abstime,
                   const void* caller) {
  return AcquireMutex<Blocking::kClock>(m, clock, abstime, caller);
}

// A successful trylock joins the held set but adds no blocking edge: std::lock and
// try-with-back-off never wait while holding, so they cannot deadlock.
int MutexTryLock(pthread_mutex_t* m, const void* caller) {
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
      Commit(*t, Prepare(*t, address, KindOf(m), format::kHeldTry | SiteFlags(caller)));
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
  uint32_t lock = Release(*t, address);
  if (lock != 0) {
    if (t->ring.valid()) t->ring.Write(format::kOpUnlock, lock == format::kNoIndex ? 0 : lock, 0);
  } else {
    // Not in our held set. Ours all the same (taken while the shim passed through) is fine;
    // another thread's, or nobody's, is a misuse.
    const int owner = m->__data.__owner;
    if (owner != t->tid && (owner != 0 || m->__data.__lock == 0))
      RecordMisuse(*t, format::kMisuseUnlockNotOwner, address, g.locks.Find(address), owner);
    if (t->ring.valid()) t->ring.Write(format::kOpUnlock, 0, 0, 1 /* not held by us */);
  }
  Leave(t);
  return Real().mutex_unlock(m);
}

// (Re-)initialisation starts a new generation of the address: a new lock identity.
int MutexInit(pthread_mutex_t* m, const pthread_mutexattr_t* attr) {
  if (Ready()) RetireLock(reinterpret_cast<uint64_t>(m));
  return Real().mutex_init(m, attr);
}

int MutexDestroy(pthread_mutex_t* m) {
  ThreadCtx* t = Enter();
  if (t == nullptr) return Real().mutex_destroy(m);
  const uint64_t address = reinterpret_cast<uint64_t>(m);
  if (m->__data.__lock != 0)
    RecordMisuse(*t, format::kMisuseDestroyLocked, address, g.locks.Find(address),
                 m->__data.__owner);
  uint32_t lock = RetireLock(address);
  if (lock != 0 && t->ring.valid()) t->ring.Write(format::kOpDestroy, lock, 0);
  Leave(t);
  return Real().mutex_destroy(m);
}

int CondWait(pthread_cond_t* c, pthread_mutex_t* m, const void* caller) {
  return CondWaitCommon(c, m, CondHow::kWait, 0, nullptr, caller);
}
int CondTimedWait(pthread_cond_t* c, pthread_mutex_t* m, const timespec* abstime,
                  const void* caller) {
  return CondWaitCommon(c, m, CondHow::kTimed, 0, abstime, caller);
}
int CondClockWait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                  const timespec* abstime, const void* caller) {
  return CondWaitCommon(c, m, CondHow::kClock, clock, abstime, caller);
}

int CondSignal(pthread_cond_t* c) {
  NotePost(c);
  return Real().cond_signal(c);
}

int CondBroadcast(pthread_cond_t* c) {
  NotePost(c);
  return Real().cond_broadcast(c);
}

int Join(pthread_t thread, void** result) {
  ThreadCtx* t = Enter();
  if (t == nullptr) return Real().join(thread, result);
  SetWait(*t, static_cast<uint64_t>(thread), format::kWaitJoin, 0, 0);
  int rc = Real().join(thread, result);
  ClearWait(*t);
  Leave(t);
  return rc;
}

int SetThreadName(pthread_t thread, const char* name) {
  int rc = Real().setname_np(thread, name);
  if (rc != 0 || !Ready()) return rc;
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

}  // namespace lockscope
