// The recorder: what happens around every interposed lock operation. The entry points are
// implemented by topic: mutex_hooks.cc (mutexes, condition variables), rwlock_hooks.cc,
// spinlock_hooks.cc, semaphore_hooks.cc, fork_hooks.cc, free_hook.cc; the machinery they share is
// in recorder_core.h / recorder.cc.
//
// Per thread (initial-exec TLS, no allocation): the stack of held locks, kept inside the
// thread's slot in the dump so a hung thread's state is on disk, plus a running hash of it
// (lockdep's chain key). Acquiring L while holding H is the order edge H->L.
//
// Hot path for an acquisition whose chain is known: one lock-table probe, one chain-cache
// probe and a push onto the held stack; for a default mutex the lock itself is taken here,
// with glibc's own protocol (mutex_hooks.cc says why). No syscall, no lock, no malloc, no
// unwind, no ring event (rings keep blocking events only). Only a chain never seen before
// takes the slow path: unwind (libunwind), store the stack, add the edges H->L for the held
// locks, publish the chain.
//
// The slow paths are re-entrancy guarded: a lock taken by the shim's own work (libunwind,
// the loader) or by a signal handler that interrupts it passes straight through to the real
// function. The mutex fast paths need no guard (they make no call; see Push).
#ifndef LOCKSCOPE_SHIM_RECORDER_H_
#define LOCKSCOPE_SHIM_RECORDER_H_

#include <pthread.h>
#include <semaphore.h>
#include <sys/types.h>
#include <time.h>

namespace lockscope {

int MutexLock(pthread_mutex_t* m, const void* caller);
int MutexTryLock(pthread_mutex_t* m, const void* caller);
int MutexTimedLock(pthread_mutex_t* m, const struct timespec* abstime, const void* caller);
int MutexClockLock(pthread_mutex_t* m, clockid_t clock, const struct timespec* abstime,
                   const void* caller);
int MutexUnlock(pthread_mutex_t* m);
int MutexInit(pthread_mutex_t* m, const pthread_mutexattr_t* attr);
int MutexDestroy(pthread_mutex_t* m);
int CondWait(pthread_cond_t* c, pthread_mutex_t* m, const void* caller);
int CondTimedWait(pthread_cond_t* c, pthread_mutex_t* m, const struct timespec* abstime,
                  const void* caller);
int CondClockWait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                  const struct timespec* abstime, const void* caller);
int CondSignal(pthread_cond_t* c);
int CondBroadcast(pthread_cond_t* c);
int CondDestroy(pthread_cond_t* c);
int RwlockRdlock(pthread_rwlock_t* l, const void* caller);
int RwlockWrlock(pthread_rwlock_t* l, const void* caller);
int RwlockTimedRdlock(pthread_rwlock_t* l, const struct timespec* abstime, const void* caller);
int RwlockTimedWrlock(pthread_rwlock_t* l, const struct timespec* abstime, const void* caller);
int RwlockClockRdlock(pthread_rwlock_t* l, clockid_t clock, const struct timespec* abstime,
                      const void* caller);
int RwlockClockWrlock(pthread_rwlock_t* l, clockid_t clock, const struct timespec* abstime,
                      const void* caller);
int RwlockTryRdlock(pthread_rwlock_t* l, const void* caller);
int RwlockTryWrlock(pthread_rwlock_t* l, const void* caller);
int RwlockUnlock(pthread_rwlock_t* l);
int RwlockInit(pthread_rwlock_t* l, const pthread_rwlockattr_t* attr);
int RwlockDestroy(pthread_rwlock_t* l);
int SpinLock(pthread_spinlock_t* l, const void* caller);
int SpinTryLock(pthread_spinlock_t* l, const void* caller);
int SpinUnlock(pthread_spinlock_t* l);
int SpinInit(pthread_spinlock_t* l, int pshared);
int SpinDestroy(pthread_spinlock_t* l);
int SemWait(sem_t* s, const void* caller);
int SemTryWait(sem_t* s, const void* caller);
int SemTimedWait(sem_t* s, const struct timespec* abstime, const void* caller);
int SemClockWait(sem_t* s, clockid_t clock, const struct timespec* abstime, const void* caller);
int SemPost(sem_t* s);
int SemDestroy(sem_t* s);
int SemInit(sem_t* s, int pshared, unsigned value);
int SetThreadName(pthread_t thread, const char* name);
int Join(pthread_t thread, void** result);
// _Fork(): fork() itself is handled by pthread_atfork handlers (fork_hooks.cc).
pid_t RawFork();
void Free(void* p);
int DlClose(void* handle);

// Start-up before any constructor would otherwise be too late (called from the first
// interposed call and from the shim's constructor); idempotent.
void EnsureInitialized();
// Marks the dump as cleanly exited (shim destructor).
void OnProcessExit();

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_RECORDER_H_
