// pthread rwlocks with reader/writer semantics: a read acquisition is held with kHeldRead,
// its order edges carry the modes (a cycle through a lock only ever held and requested for
// read cannot block there), and a writer's wait names every current reader as a holder
// (the analyzer reads the holders from the threads' held stacks).
#include <errno.h>

#include "shim/glibc_layout.h"
#include "shim/recorder.h"
#include "shim/recorder_core.h"

namespace lockscope {
namespace {

using namespace core;

enum class Mode { kRead, kWrite };

template <Mode mode>
int CallTry(pthread_rwlock_t* l) {
  return mode == Mode::kRead ? Real().rwlock_tryrdlock(l) : Real().rwlock_trywrlock(l);
}

template <Mode mode, Timing how>
int CallBlocking(pthread_rwlock_t* l, clockid_t clock, const timespec* abstime) {
  const RealFunctions& r = Real();
  if (how == Timing::kUntimed) return mode == Mode::kRead ? r.rwlock_rdlock(l) : r.rwlock_wrlock(l);
  if (how == Timing::kTimed)
    return mode == Mode::kRead ? r.rwlock_timedrdlock(l, abstime)
                               : r.rwlock_timedwrlock(l, abstime);
  auto f = mode == Mode::kRead ? r.rwlock_clockrdlock : r.rwlock_clockwrlock;
  return f ? f(l, clock, abstime) : ENOSYS;
}

// What the lock-order check needs to know of a writer-preferring rwlock (format::
// kLockPrefersWriters): its kind, and whether anyone asks to write it. Only ever set.
template <Mode mode>
void NoteUse(uint32_t lock, const pthread_rwlock_t* l) {
  if (lock == 0) return;
  if (glibc::RwlockPrefersWriters(*l)) g_shim.locks.SetFlag(lock, format::kLockPrefersWriters);
  if (mode == Mode::kWrite) g_shim.locks.SetFlag(lock, format::kLockWritersSeen);
}

template <Mode mode, Timing how>
int Acquire(pthread_rwlock_t* l, clockid_t clock, const timespec* abstime, const void* caller) {
  Inside scope;
  ThreadCtx* t = scope.get();
  if (t == nullptr) return CallBlocking<mode, how>(l, clock, abstime);
  const uint64_t address = reinterpret_cast<uint64_t>(l);
  const uint32_t flags =
      (mode == Mode::kRead ? uint32_t{format::kHeldRead} : 0u) | SiteOf(*t, caller);
  const int i = t->depth ? FindHeld(*t, address) : -1;
  if (i >= 0 && mode == Mode::kRead && (Held(*t, i).flags & format::kHeldRead)) {
    // A recursive read lock: no new edge. (It can still block behind a waiting writer with
    // a writer-preferring rwlock; the wait record below covers that case too.)
    int rc = CallTry<mode>(l);
    if (rc == EBUSY) {
      BeginWait(*t, address, format::kWaitRwlockRead, Held(*t, i).lock, Held(*t, i).stack,
                DeadlineOf<how>(clock, abstime));
      rc = CallBlocking<mode, how>(l, clock, abstime);
      EndWait(*t, rc == ETIMEDOUT);
    }
    if (rc == 0) {
      NoteAcquired(*t, address);
      Held(*t, i).recursion++;
    }
    return rc;
  }
  // Anything else while holding it (write after read: the upgrade that never returns; any
  // lock after write: EDEADLK from glibc) goes through the normal path: the wait record then
  // names a lock the thread itself holds, which the analyzer reports as a self-deadlock.
  Prepared p = Prepare(*t, address, format::kLockRwlock, flags);
  NoteUse<mode>(p.lock, l);
  int rc = CallTry<mode>(l);
  if (rc == EBUSY) {
    if (g_shim.dump.header->parent_pid > 0) CheckInheritedLock(*t, address, p.lock, -1);
    BeginWait(*t, address, mode == Mode::kRead ? format::kWaitRwlockRead : format::kWaitRwlockWrite,
              p.lock, p.stack, DeadlineOf<how>(clock, abstime));
    rc = CallBlocking<mode, how>(l, clock, abstime);
    EndWait(*t, rc == ETIMEDOUT);
    return FinishAcquire(t, p, rc, rc == 0, /*waited=*/true);
  }
  return FinishAcquire(t, p, rc, rc == 0, /*waited=*/false);
}

template <Mode mode>
int TryAcquire(pthread_rwlock_t* l, const void* caller) {
  Inside scope;
  ThreadCtx* t = scope.get();
  if (t == nullptr) return CallTry<mode>(l);
  const uint64_t address = reinterpret_cast<uint64_t>(l);
  int rc = CallTry<mode>(l);
  if (rc == 0) {
    const int i = t->depth ? FindHeld(*t, address) : -1;
    if (i >= 0 && mode == Mode::kRead && (Held(*t, i).flags & format::kHeldRead)) {
      NoteAcquired(*t, address);
      Held(*t, i).recursion++;
    } else {
      const Prepared p = Prepare(*t, address, format::kLockRwlock,
                                 format::kHeldTry | SiteOf(*t, caller) |
                                     (mode == Mode::kRead ? uint32_t{format::kHeldRead} : 0u));
      NoteUse<mode>(p.lock, l);
      Commit(*t, p);
    }
  }
  return rc;
}

}  // namespace

int RwlockRdlock(pthread_rwlock_t* l, const void* caller) {
  return Acquire<Mode::kRead, Timing::kUntimed>(l, 0, nullptr, caller);
}
int RwlockWrlock(pthread_rwlock_t* l, const void* caller) {
  return Acquire<Mode::kWrite, Timing::kUntimed>(l, 0, nullptr, caller);
}
int RwlockTimedRdlock(pthread_rwlock_t* l, const timespec* abstime, const void* caller) {
  return Acquire<Mode::kRead, Timing::kTimed>(l, 0, abstime, caller);
}
int RwlockTimedWrlock(pthread_rwlock_t* l, const timespec* abstime, const void* caller) {
  return Acquire<Mode::kWrite, Timing::kTimed>(l, 0, abstime, caller);
}
int RwlockClockRdlock(pthread_rwlock_t* l, clockid_t clock, const timespec* abstime,
                      const void* caller) {
  return Acquire<Mode::kRead, Timing::kClock>(l, clock, abstime, caller);
}
int RwlockClockWrlock(pthread_rwlock_t* l, clockid_t clock, const timespec* abstime,
                      const void* caller) {
  return Acquire<Mode::kWrite, Timing::kClock>(l, clock, abstime, caller);
}
int RwlockTryRdlock(pthread_rwlock_t* l, const void* caller) {
  return TryAcquire<Mode::kRead>(l, caller);
}
int RwlockTryWrlock(pthread_rwlock_t* l, const void* caller) {
  return TryAcquire<Mode::kWrite>(l, caller);
}

int RwlockUnlock(pthread_rwlock_t* l) {
  {
    Inside scope;
    ThreadCtx* t = scope.get();
    if (t == nullptr) return Real().rwlock_unlock(l);
    // An unlock of a lock this thread does not hold is the unusual event the ring keeps.
    const uint64_t address = reinterpret_cast<uint64_t>(l);
    if (!Release(*t, address))
      RecordEvent(*t, format::kOpUnlock, 0, 0, address, format::kEventNotHeld);
  }
  return Real().rwlock_unlock(l);
}

int RwlockInit(pthread_rwlock_t* l, const pthread_rwlockattr_t* attr) {
  if (Ready()) RetireLock(reinterpret_cast<uint64_t>(l));
  return Real().rwlock_init(l, attr);
}

int RwlockDestroy(pthread_rwlock_t* l) {
  {
    Inside scope;
    ThreadCtx* t = scope.get();
    if (t == nullptr) return Real().rwlock_destroy(l);
    const uint64_t address = reinterpret_cast<uint64_t>(l);
    if (glibc::RwlockLocked(*l))
      RecordMisuse(*t, format::kMisuseDestroyLocked, address,
                   g_shim.locks.Find(address, format::kLockRwlock), glibc::RwlockWriter(*l));
    RetireLock(address);
  }
  return Real().rwlock_destroy(l);
}

}  // namespace lockscope
