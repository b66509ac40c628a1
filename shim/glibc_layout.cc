#include "shim/glibc_layout.h"

#include <gnu/libc-version.h>
#include <stdio.h>

#include "shim/real_functions.h"

namespace lockscope::glibc {
namespace {

char g_reason[160];

int ParseInt(const char** p) {
  int v = 0;
  while (**p >= '0' && **p <= '9') v = v * 10 + (*(*p)++ - '0');
  return v;
}

const char* CheckVersion() {
  const char* version = gnu_get_libc_version();
  const char* p = version;
  const int major = ParseInt(&p);
  const int minor = *p == '.' ? (++p, ParseInt(&p)) : -1;
  if (major == 2 && minor >= kOldestMinor && minor <= kNewestMinor) return nullptr;
  snprintf(g_reason, sizeof(g_reason),
           "glibc %.20s is not a version this lockscope knows (2.%d to 2.%d)", version,
           kOldestMinor, kNewestMinor);
  return g_reason;
}

const char* CheckMutex(int tid) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  if (!IsDefaultMutex(&m) || MutexLocked(&m)) return "glibc's default mutex is not as expected";
  g_real.mutex_lock(&m);
  const bool taken =
      m.__data.__lock == kWordTaken && MutexOwner(&m) == tid && m.__data.__nusers == 1;
  g_real.mutex_unlock(&m);
  if (!taken || MutexLocked(&m) || MutexOwner(&m) != 0 || m.__data.__nusers != 0)
    return "glibc's mutex lock word, owner or user count is not as expected";
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_t r;
  g_real.mutex_init(&r, &attr);
  const bool recursive = MutexType(&r) == PTHREAD_MUTEX_RECURSIVE_NP;
  g_real.mutex_destroy(&r);
  pthread_mutexattr_destroy(&attr);
  return recursive ? nullptr : "glibc's mutex kind is not as expected";
}

const char* CheckRwlock(int tid) {
  pthread_rwlock_t l = PTHREAD_RWLOCK_INITIALIZER;
  g_real.rwlock_rdlock(&l);
  const bool read = (l.__data.__readers >> kRwlockReaderShift) == 1 && RwlockLocked(l);
  g_real.rwlock_unlock(&l);
  const bool free_after_read = !RwlockLocked(l);
  g_real.rwlock_wrlock(&l);
  const bool written = (l.__data.__readers & kRwlockWrLocked) && RwlockWriter(l) == tid;
  g_real.rwlock_unlock(&l);
  if (!read || !free_after_read || !written || RwlockLocked(l) || RwlockPrefersWriters(l))
    return "glibc's rwlock readers, writer or flags are not as expected";
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_t w;
  g_real.rwlock_init(&w, &attr);
  const bool prefers = RwlockPrefersWriters(w);
  g_real.rwlock_destroy(&w);
  pthread_rwlockattr_destroy(&attr);
  return prefers ? nullptr : "glibc's rwlock kind is not as expected";
}

const char* CheckCondSemSpin() {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_t mono, plain;
  pthread_cond_init(&mono, &attr);
  pthread_cond_init(&plain, nullptr);
  const bool clocks = CondClock(mono) == CLOCK_MONOTONIC && CondClock(plain) == CLOCK_REALTIME;
  g_real.cond_destroy(&mono);
  g_real.cond_destroy(&plain);
  pthread_condattr_destroy(&attr);
  if (!clocks) return "glibc's condition variable clock is not where expected";

  sem_t s;
  sem_init(&s, 0, 3);
  const bool three = SemValue(&s) == 3;
  g_real.sem_wait(&s);
  const bool two = SemValue(&s) == 2;
  // SemTryTake against the real calls: it takes what sem_trywait would, and leaves what
  // sem_post and sem_trywait understand.
  const bool took = SemTryTake(&s) && SemValue(&s) == 1 && g_real.sem_trywait(&s) == 0 &&
                    !SemTryTake(&s) && g_real.sem_post(&s) == 0 && SemTryTake(&s) &&
                    g_real.sem_trywait(&s) != 0 && errno == EAGAIN;
  g_real.sem_destroy(&s);
  if (!three || !two) return "glibc's semaphore value is not where expected";
  if (!took) return "glibc's semaphore does not take as expected";

  pthread_spinlock_t spin;
  g_real.spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
  const bool free_word = !SpinlockLocked(spin);
  g_real.spin_lock(&spin);
  const bool taken = SpinlockLocked(spin);
  g_real.spin_unlock(&spin);
  if (!free_word || !taken || SpinlockLocked(spin))
    return "glibc's spinlock word is not as expected";
  return nullptr;
}

}  // namespace

const char* CheckGlibc() {
  if (const char* why = CheckVersion()) return why;
  const int tid = static_cast<int>(syscall(SYS_gettid));
  if (const char* why = CheckMutex(tid)) return why;
  if (const char* why = CheckRwlock(tid)) return why;
  return CheckCondSemSpin();
}

}  // namespace lockscope::glibc
