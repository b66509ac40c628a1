// The interposed functions' next definitions (normally glibc's), resolved once with
// dlsym/dlvsym(RTLD_NEXT). The condition-variable functions are resolved by version
// (GLIBC_2.3.2): plain dlsym can return the pre-NPTL compat symbol, whose pthread_cond_t
// layout differs, and every condvar would silently break.
#ifndef LOCKSCOPE_SHIM_REAL_FUNCTIONS_H_
#define LOCKSCOPE_SHIM_REAL_FUNCTIONS_H_

#include <pthread.h>
#include <semaphore.h>
#include <sys/types.h>
#include <time.h>

#include <atomic>

namespace lockscope {

struct RealFunctions {
  int (*mutex_lock)(pthread_mutex_t*);
  int (*mutex_trylock)(pthread_mutex_t*);
  int (*mutex_timedlock)(pthread_mutex_t*, const struct timespec*);
  int (*mutex_clocklock)(pthread_mutex_t*, clockid_t, const struct timespec*);
  int (*mutex_unlock)(pthread_mutex_t*);
  int (*mutex_init)(pthread_mutex_t*, const pthread_mutexattr_t*);
  int (*mutex_destroy)(pthread_mutex_t*);
  int (*cond_wait)(pthread_cond_t*, pthread_mutex_t*);
  int (*cond_timedwait)(pthread_cond_t*, pthread_mutex_t*, const struct timespec*);
  int (*cond_clockwait)(pthread_cond_t*, pthread_mutex_t*, clockid_t, const struct timespec*);
  int (*cond_signal)(pthread_cond_t*);
  int (*cond_broadcast)(pthread_cond_t*);
  int (*cond_destroy)(pthread_cond_t*);
  int (*rwlock_rdlock)(pthread_rwlock_t*);
  int (*rwlock_tryrdlock)(pthread_rwlock_t*);
  int (*rwlock_timedrdlock)(pthread_rwlock_t*, const struct timespec*);
  int (*rwlock_clockrdlock)(pthread_rwlock_t*, clockid_t, const struct timespec*);
  int (*rwlock_wrlock)(pthread_rwlock_t*);
  int (*rwlock_trywrlock)(pthread_rwlock_t*);
  int (*rwlock_timedwrlock)(pthread_rwlock_t*, const struct timespec*);
  int (*rwlock_clockwrlock)(pthread_rwlock_t*, clockid_t, const struct timespec*);
  int (*rwlock_unlock)(pthread_rwlock_t*);
  int (*rwlock_init)(pthread_rwlock_t*, const pthread_rwlockattr_t*);
  int (*rwlock_destroy)(pthread_rwlock_t*);
  int (*spin_lock)(pthread_spinlock_t*);
  int (*spin_trylock)(pthread_spinlock_t*);
  int (*spin_unlock)(pthread_spinlock_t*);
  int (*spin_init)(pthread_spinlock_t*, int);
  int (*spin_destroy)(pthread_spinlock_t*);
  int (*sem_wait)(sem_t*);
  int (*sem_trywait)(sem_t*);
  int (*sem_timedwait)(sem_t*, const struct timespec*);
  int (*sem_clockwait)(sem_t*, clockid_t, const struct timespec*);
  int (*sem_post)(sem_t*);
  int (*sem_destroy)(sem_t*);
  int (*sem_init)(sem_t*, int, unsigned);
  int (*setname_np)(pthread_t, const char*);
  int (*join)(pthread_t, void**);
  pid_t (*_Fork)(void);
  void (*free)(void*);
  size_t (*malloc_usable_size)(void*);
  int (*dlclose)(void*);
};

// Filled by ResolveRealFunctions(); every required entry is non-null once g_real_resolved
// reads true (acquire).
extern RealFunctions g_real;
extern std::atomic<bool> g_real_resolved;

// Resolves all entries. Returns false when a required one is missing (the shim then
// disables itself and passes through whatever it can).
bool ResolveRealFunctions();

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_REAL_FUNCTIONS_H_
