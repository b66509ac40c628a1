// pthread spinlocks: locks like mutexes (order edges, held sets, fork snapshots), without an
// owner field. A thread that finds one taken publishes its wait before it spins, so a
// spinlock re-taken by its holder is a self-deadlock in the dump at once, and one held too
// long by another thread a stall, while the waiter spins.
#include <errno.h>

#include "shim/glibc_layout.h"
#include "shim/recorder.h"
#include "shim/recorder_core.h"

namespace lockscope {

using namespace core;

int SpinLock(pthread_spinlock_t* l, const void* caller) {
  Inside scope;
  ThreadCtx* t = scope.get();
  if (t == nullptr) return Real().spin_lock(l);
  const uint64_t address = reinterpret_cast<uint64_t>(l);
  const Prepared p = Prepare(*t, address, format::kLockSpinlock, SiteOf(*t, caller));
  int rc = Real().spin_trylock(l);
  if (rc != EBUSY) return FinishAcquire(t, p, rc, rc == 0, /*waited=*/false);
  if (g_shim.dump.header->parent_pid > 0) CheckInheritedLock(*t, address, p.lock, -1);
  BeginWait(*t, address, format::kWaitSpinlock, p.lock, p.stack);
  rc = Real().spin_lock(l);  // the guard stays set: a signal handler passes through
  ClearWait(*t);
  return FinishAcquire(t, p, rc, rc == 0, /*waited=*/true);
}

// A successful trylock joins the held set but adds no blocking edge (as for mutexes).
int SpinTryLock(pthread_spinlock_t* l, const void* caller) {
  Inside scope;
  ThreadCtx* t = scope.get();
  if (t == nullptr) return Real().spin_trylock(l);
  const int rc = Real().spin_trylock(l);
  if (rc == 0)
    Commit(*t, Prepare(*t, reinterpret_cast<uint64_t>(l), format::kLockSpinlock,
                       format::kHeldTry | SiteOf(*t, caller)));
  return rc;
}

int SpinUnlock(pthread_spinlock_t* l) {
  {
    Inside scope;
    ThreadCtx* t = scope.get();
    if (t == nullptr) return Real().spin_unlock(l);
    // No owner to check: an unlock of a spinlock this thread does not hold is only noted.
    const uint64_t address = reinterpret_cast<uint64_t>(l);
    if (!Release(*t, address))
      RecordEvent(*t, format::kOpUnlock, 0, 0, address, format::kEventNotHeld);
  }
  return Real().spin_unlock(l);
}

// (Re-)initialisation starts a new generation of the address: a new lock identity.
int SpinInit(pthread_spinlock_t* l, int pshared) {
  if (Ready()) RetireLock(reinterpret_cast<uint64_t>(l));
  return Real().spin_init(l, pshared);
}

int SpinDestroy(pthread_spinlock_t* l) {
  {
    Inside scope;
    ThreadCtx* t = scope.get();
    if (t == nullptr) return Real().spin_destroy(l);
    const uint64_t address = reinterpret_cast<uint64_t>(l);
    if (glibc::SpinlockLocked(*l))
      RecordMisuse(*t, format::kMisuseDestroyLocked, address,
                   g_shim.locks.Find(address, format::kLockSpinlock), 0);
    RetireLock(address);
  }
  return Real().spin_destroy(l);
}

}  // namespace lockscope
