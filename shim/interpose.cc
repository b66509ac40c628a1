// extern "C" overrides only: each forwards to the recorder. Nothing else lives here, so that
// the ABI surface of liblockscope.so is this file's list.
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <unistd.h>

#include "shim/recorder.h"

#define LOCKSCOPE_EXPORT extern "C" __attribute__((visibility("default")))
// The call site in the program: part of the chain key, so that each acquisition site gets
// its own stack (a lock taken from two places is reported with the right one).
#define LOCKSCOPE_CALLER __builtin_return_address(0)

LOCKSCOPE_EXPORT int pthread_mutex_lock(pthread_mutex_t* m) {
  return lockscope::MutexLock(m, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_mutex_trylock(pthread_mutex_t* m) {
  return lockscope::MutexTryLock(m, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_mutex_timedlock(pthread_mutex_t* m, const struct timespec* t) {
  return lockscope::MutexTimedLock(m, t, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t c,
                                             const struct timespec* t) {
  return lockscope::MutexClockLock(m, c, t, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_mutex_unlock(pthread_mutex_t* m) { return lockscope::MutexUnlock(m); }
LOCKSCOPE_EXPORT int pthread_mutex_init(pthread_mutex_t* m, const pthread_mutexattr_t* a) {
  return lockscope::MutexInit(m, a);
}
LOCKSCOPE_EXPORT int pthread_mutex_destroy(pthread_mutex_t* m) {
  return lockscope::MutexDestroy(m);
}

// Our definitions are unversioned on purpose: the loader lets an unversioned definition
// satisfy a versioned reference (pthread_cond_wait@GLIBC_2.3.2), whereas a definition with a
// version of our own would not. The real functions are looked up by version instead
// (real_functions.cc).
LOCKSCOPE_EXPORT int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  return lockscope::CondWait(c, m, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m,
                                            const struct timespec* t) {
  return lockscope::CondTimedWait(c, m, t, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                                            const struct timespec* t) {
  return lockscope::CondClockWait(c, m, clock, t, LOCKSCOPE_CALLER);
}

LOCKSCOPE_EXPORT int pthread_cond_signal(pthread_cond_t* c) { return lockscope::CondSignal(c); }
LOCKSCOPE_EXPORT int pthread_cond_broadcast(pthread_cond_t* c) {
  return lockscope::CondBroadcast(c);
}
LOCKSCOPE_EXPORT int pthread_cond_destroy(pthread_cond_t* c) { return lockscope::CondDestroy(c); }

LOCKSCOPE_EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
  return lockscope::RwlockRdlock(l, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
  return lockscope::RwlockWrlock(l, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_rwlock_tryrdlock(pthread_rwlock_t* l) {
  return lockscope::RwlockTryRdlock(l, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_rwlock_trywrlock(pthread_rwlock_t* l) {
  return lockscope::RwlockTryWrlock(l, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t* l, const struct timespec* t) {
  return lockscope::RwlockTimedRdlock(l, t, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t* l, const struct timespec* t) {
  return lockscope::RwlockTimedWrlock(l, t, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t* l, clockid_t c,
                                                const struct timespec* t) {
  return lockscope::RwlockClockRdlock(l, c, t, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t* l, clockid_t c,
                                                const struct timespec* t) {
  return lockscope::RwlockClockWrlock(l, c, t, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_rwlock_unlock(pthread_rwlock_t* l) {
  return lockscope::RwlockUnlock(l);
}
LOCKSCOPE_EXPORT int pthread_rwlock_init(pthread_rwlock_t* l, const pthread_rwlockattr_t* a) {
  return lockscope::RwlockInit(l, a);
}
LOCKSCOPE_EXPORT int pthread_rwlock_destroy(pthread_rwlock_t* l) {
  return lockscope::RwlockDestroy(l);
}

LOCKSCOPE_EXPORT int pthread_spin_lock(pthread_spinlock_t* l) {
  return lockscope::SpinLock(l, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_spin_trylock(pthread_spinlock_t* l) {
  return lockscope::SpinTryLock(l, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int pthread_spin_unlock(pthread_spinlock_t* l) { return lockscope::SpinUnlock(l); }
LOCKSCOPE_EXPORT int pthread_spin_init(pthread_spinlock_t* l, int pshared) {
  return lockscope::SpinInit(l, pshared);
}
LOCKSCOPE_EXPORT int pthread_spin_destroy(pthread_spinlock_t* l) {
  return lockscope::SpinDestroy(l);
}

LOCKSCOPE_EXPORT int sem_wait(sem_t* s) { return lockscope::SemWait(s, LOCKSCOPE_CALLER); }
LOCKSCOPE_EXPORT int sem_trywait(sem_t* s) { return lockscope::SemTryWait(s, LOCKSCOPE_CALLER); }
LOCKSCOPE_EXPORT int sem_timedwait(sem_t* s, const struct timespec* t) {
  return lockscope::SemTimedWait(s, t, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int sem_clockwait(sem_t* s, clockid_t c, const struct timespec* t) {
  return lockscope::SemClockWait(s, c, t, LOCKSCOPE_CALLER);
}
LOCKSCOPE_EXPORT int sem_post(sem_t* s) { return lockscope::SemPost(s); }
LOCKSCOPE_EXPORT int sem_destroy(sem_t* s) { return lockscope::SemDestroy(s); }
LOCKSCOPE_EXPORT int sem_init(sem_t* s, int pshared, unsigned value) {
  return lockscope::SemInit(s, pshared, value);
}

// A thread in pthread_join is blocked too: when every thread of a process is blocked, a
// long wait on a semaphore or condition variable is a hang rather than an idle worker.
LOCKSCOPE_EXPORT int pthread_join(pthread_t thread, void** result) {
  return lockscope::Join(thread, result);
}

LOCKSCOPE_EXPORT int pthread_setname_np(pthread_t thread, const char* name) {
  return lockscope::SetThreadName(thread, name);
}

// fork() needs no override: the shim's pthread_atfork handlers do the work. _Fork runs no
// handlers, so it gets one.
LOCKSCOPE_EXPORT pid_t _Fork(void) { return lockscope::RawFork(); }

LOCKSCOPE_EXPORT void free(void* p) { lockscope::Free(p); }
LOCKSCOPE_EXPORT int dlclose(void* handle) { return lockscope::DlClose(handle); }

// Start recording as early as the loader lets us: preloaded libraries' constructors run
// before the program's. Locks taken even earlier (other libraries' constructors, the
// loader) initialise the shim from inside the first interposed call.
__attribute__((constructor(101))) static void LockscopeConstructor() {
  lockscope::EnsureInitialized();
}
__attribute__((destructor(101))) static void LockscopeDestructor() { lockscope::OnProcessExit(); }
