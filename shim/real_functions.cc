#include "shim/real_functions.h"

#include <dlfcn.h>

namespace lockscope {

RealFunctions g_real;
constinit std::atomic<bool> g_real_resolved{false};

namespace {

template <typename F>
bool Resolve(F* out, const char* name, const char* version = nullptr) {
  void* p = nullptr;
  if (version != nullptr) p = dlvsym(RTLD_NEXT, name, version);
  if (p == nullptr) p = dlsym(RTLD_NEXT, name);
  *out = reinterpret_cast<F>(p);
  return p != nullptr;
}

}  // namespace

bool ResolveRealFunctions() {
  RealFunctions r{};
  bool ok = true;
  ok &= Resolve(&r.mutex_lock, "pthread_mutex_lock");
  ok &= Resolve(&r.mutex_trylock, "pthread_mutex_trylock");
  ok &= Resolve(&r.mutex_timedlock, "pthread_mutex_timedlock");
  Resolve(&r.mutex_clocklock, "pthread_mutex_clocklock");  // glibc >= 2.30
  ok &= Resolve(&r.mutex_unlock, "pthread_mutex_unlock");
  ok &= Resolve(&r.mutex_init, "pthread_mutex_init");
  ok &= Resolve(&r.mutex_destroy, "pthread_mutex_destroy");
  ok &= Resolve(&r.cond_wait, "pthread_cond_wait", "GLIBC_2.3.2");
  ok &= Resolve(&r.cond_timedwait, "pthread_cond_timedwait", "GLIBC_2.3.2");
  Resolve(&r.cond_clockwait, "pthread_cond_clockwait");  // glibc >= 2.30
  ok &= Resolve(&r.cond_signal, "pthread_cond_signal", "GLIBC_2.3.2");
  ok &= Resolve(&r.cond_broadcast, "pthread_cond_broadcast", "GLIBC_2.3.2");
  ok &= Resolve(&r.cond_destroy, "pthread_cond_destroy", "GLIBC_2.3.2");
  ok &= Resolve(&r.rwlock_rdlock, "pthread_rwlock_rdlock");
  ok &= Resolve(&r.rwlock_tryrdlock, "pthread_rwlock_tryrdlock");
  ok &= Resolve(&r.rwlock_timedrdlock, "pthread_rwlock_timedrdlock");
  Resolve(&r.rwlock_clockrdlock, "pthread_rwlock_clockrdlock");  // glibc >= 2.30
  ok &= Resolve(&r.rwlock_wrlock, "pthread_rwlock_wrlock");
  ok &= Resolve(&r.rwlock_trywrlock, "pthread_rwlock_trywrlock");
  ok &= Resolve(&r.rwlock_timedwrlock, "pthread_rwlock_timedwrlock");
  Resolve(&r.rwlock_clockwrlock, "pthread_rwlock_clockwrlock");  // glibc >= 2.30
  ok &= Resolve(&r.rwlock_unlock, "pthread_rwlock_unlock");
  ok &= Resolve(&r.rwlock_init, "pthread_rwlock_init");
  ok &= Resolve(&r.rwlock_destroy, "pthread_rwlock_destroy");
  ok &= Resolve(&r.spin_lock, "pthread_spin_lock");
  ok &= Resolve(&r.spin_trylock, "pthread_spin_trylock");
  ok &= Resolve(&r.spin_unlock, "pthread_spin_unlock");
  ok &= Resolve(&r.spin_init, "pthread_spin_init");
  ok &= Resolve(&r.spin_destroy, "pthread_spin_destroy");
  // Semaphores: the default (newest) versions, whose sem_t layout is the one in our headers.
  ok &= Resolve(&r.sem_wait, "sem_wait");
  ok &= Resolve(&r.sem_trywait, "sem_trywait");
  ok &= Resolve(&r.sem_timedwait, "sem_timedwait");
  Resolve(&r.sem_clockwait, "sem_clockwait");  // glibc >= 2.30
  ok &= Resolve(&r.sem_post, "sem_post");
  ok &= Resolve(&r.sem_destroy, "sem_destroy");
  ok &= Resolve(&r.sem_init, "sem_init");
  ok &= Resolve(&r.setname_np, "pthread_setname_np");
  ok &= Resolve(&r.join, "pthread_join");
  Resolve(&r._Fork, "_Fork");  // glibc >= 2.34
  ok &= Resolve(&r.free, "free");
  Resolve(&r.malloc_usable_size, "malloc_usable_size");
  Resolve(&r.dlclose, "dlclose");
  g_real = r;
  g_real_resolved.store(true, std::memory_order_release);
  return ok;
}

}  // namespace lockscope
