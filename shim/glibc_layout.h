// Everything the shim knows of glibc's private layouts and protocols, in one place: the fields
// of pthread_mutex_t, pthread_rwlock_t, pthread_cond_t, sem_t and pthread_spinlock_t it
// reads, and the protocols it performs itself: the default mutex's lock (mutex_hooks.cc says
// why) and a semaphore's trywait (semaphore_hooks.cc).
//
// The knowledge is glibc's NPTL on x86_64 from 2.32 (__libc_single_threaded) to 2.41; these
// layouts did not change in that range. It is pinned twice: static_asserts on the headers the
// shim is built with, and CheckGlibc() at start-up against the glibc the program runs with
// (its version, and a few real calls on private objects). On a glibc that fails the check the
// shim records nothing and says why in the dump (FileHeader::shim_note), which the report
// prints: silent, not wrong.
//
// Sources: nptl/pthread_mutex_lock.c, pthread_mutex_unlock.c, lowlevellock.h (the lock word,
// __lll_lock_wait_private), pthread_rwlock_common.c, pthread_cond_common.c, sem_waitcommon.c,
// sysdeps/x86_64/nptl/pthread_spin_*.S.
#ifndef LOCKSCOPE_SHIM_GLIBC_LAYOUT_H_
#define LOCKSCOPE_SHIM_GLIBC_LAYOUT_H_

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace lockscope::glibc {

// The versions described here: 2.kOldestMinor to 2.kNewestMinor.
inline constexpr int kOldestMinor = 32;
inline constexpr int kNewestMinor = 41;

// ---- pthread_mutex_t --------------------------------------------------------------------

static_assert(sizeof(pthread_mutex_t) == 40);
static_assert(offsetof(pthread_mutex_t, __data.__lock) == 0);
static_assert(offsetof(pthread_mutex_t, __data.__owner) == 8);
static_assert(offsetof(pthread_mutex_t, __data.__nusers) == 12);
static_assert(offsetof(pthread_mutex_t, __data.__kind) == 16);

// __kind & kMutexTypeMask is PTHREAD_MUTEX_{TIMED,RECURSIVE,ERRORCHECK,ADAPTIVE}_NP; the bits
// above it say robust, process-shared, priority protocol, elision.
inline constexpr int kMutexTypeMask = 3;
// The __kind of PTHREAD_MUTEX_INITIALIZER and std::mutex: PTHREAD_MUTEX_TIMED_NP, private,
// not robust, no priority protocol, no elision. The one kind whose protocol the shim performs.
inline constexpr int kMutexDefault = 0;
// The lock word (__lock) of a default mutex: free, taken, taken with waiters (lll_lock).
inline constexpr int kWordFree = 0;
inline constexpr int kWordTaken = 1;
inline constexpr int kWordWaiters = 2;

inline int MutexType(const pthread_mutex_t* m) { return m->__data.__kind & kMutexTypeMask; }
inline bool IsDefaultMutex(const pthread_mutex_t* m) { return m->__data.__kind == kMutexDefault; }
// The robust bit of __kind (PTHREAD_MUTEX_ROBUST_NORMAL_NP in nptl's pthreadP.h).
inline constexpr int kMutexRobustBit = 16;
inline bool MutexRobust(const pthread_mutex_t* m) {
  return (m->__data.__kind & kMutexRobustBit) != 0;
}
inline int MutexOwner(const pthread_mutex_t* m) { return m->__data.__owner; }
inline bool MutexLocked(const pthread_mutex_t* m) { return m->__data.__lock != kWordFree; }
inline bool MutexWordFree(const pthread_mutex_t* m) {
  return __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == kWordFree;
}

// glibc's uncontended pthread_mutex_lock of a default mutex: the lock word free -> taken (a
// plain store while the process has one thread, as glibc's single-thread path; else a CAS),
// then __owner and __nusers. False, touching nothing, when the word is not free.
inline bool TryLockDefault(pthread_mutex_t* m, int tid) {
  if (__libc_single_threaded) {
    if (m->__data.__lock != kWordFree) return false;
    m->__data.__lock = kWordTaken;
  } else {
    int expected = kWordFree;
    if (!__atomic_compare_exchange_n(&m->__data.__lock, &expected, kWordTaken, false,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
      return false;
  }
  m->__data.__owner = tid;
  ++m->__data.__nusers;
  return true;
}

// glibc's contended pthread_mutex_lock of a default mutex (__lll_lock_wait_private): mark the
// word "taken, with waiters" and sleep on the futex until it reads free when swapped; then
// __owner and __nusers. errno is kept: glibc's futex calls are internal syscalls.
inline void LockDefaultContended(pthread_mutex_t* m, int tid) {
  const int saved_errno = errno;
  int* word = &m->__data.__lock;
  if (__atomic_load_n(word, __ATOMIC_RELAXED) == kWordWaiters)
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, kWordWaiters, nullptr, nullptr, 0);
  while (__atomic_exchange_n(word, kWordWaiters, __ATOMIC_ACQUIRE) != kWordFree)
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, kWordWaiters, nullptr, nullptr, 0);
  errno = saved_errno;
  m->__data.__owner = tid;
  ++m->__data.__nusers;
}

// glibc's pthread_mutex_unlock of a default mutex: __owner and __nusers, then the word back
// to free (a plain store when single-threaded, else an exchange that wakes one waiter when
// the word said there were some, as lll_unlock does).
inline int UnlockDefault(pthread_mutex_t* m) {
  m->__data.__owner = 0;
  --m->__data.__nusers;
  if (__libc_single_threaded) {
    m->__data.__lock = kWordFree;
  } else if (__atomic_exchange_n(&m->__data.__lock, kWordFree, __ATOMIC_RELEASE) > kWordTaken) {
    const int saved_errno = errno;
    syscall(SYS_futex, &m->__data.__lock, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    errno = saved_errno;
  }
  return 0;
}

// ---- pthread_rwlock_t (the rwlock of glibc 2.25 and later) ------------------------------

static_assert(sizeof(pthread_rwlock_t) == 56);
static_assert(offsetof(pthread_rwlock_t, __data.__readers) == 0);
static_assert(offsetof(pthread_rwlock_t, __data.__cur_writer) == 24);
static_assert(offsetof(pthread_rwlock_t, __data.__flags) == 48);

// __readers: bit 0 WRPHASE, bit 1 WRLOCKED, the reader count from bit 3.
inline constexpr unsigned kRwlockWrLocked = 2;
inline constexpr unsigned kRwlockReaderShift = 3;

// Held by anyone: readers, or a writer. WRPHASE alone stays set after the last writer leaves.
inline bool RwlockLocked(const pthread_rwlock_t& l) {
  const unsigned r = l.__data.__readers;
  return (r >> kRwlockReaderShift) != 0 || (r & kRwlockWrLocked) != 0 || l.__data.__cur_writer;
}
inline int RwlockWriter(const pthread_rwlock_t& l) { return l.__data.__cur_writer; }
// A queued writer blocks new readers only for this kind; PTHREAD_RWLOCK_PREFER_WRITER_NP is
// treated as reader-preferring.
inline bool RwlockPrefersWriters(const pthread_rwlock_t& l) {
  return l.__data.__flags == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
}

// ---- pthread_cond_t (the condition variable of glibc 2.25 and later) --------------------

static_assert(sizeof(pthread_cond_t) == 48);
// __wrefs bit 1 (__PTHREAD_COND_CLOCK_MONOTONIC_MASK): pthread_condattr_setclock(MONOTONIC).
inline constexpr unsigned kCondClockMonotonic = 2;
inline clockid_t CondClock(const pthread_cond_t& c) {
  return (c.__data.__wrefs & kCondClockMonotonic) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}

// ---- sem_t (new_sem, 64-bit) ------------------------------------------------------------

static_assert(sizeof(sem_t) == 32);
// The first 64-bit word: the value in its low 32 bits, the waiter count above.
inline uint32_t SemValue(const sem_t* s) {
  uint64_t data;
  memcpy(&data, s, sizeof(data));
  return static_cast<uint32_t>(data);
}

// sem_trywait itself (__new_sem_trywait: __new_sem_wait_fast with a definitive result): take
// one unit of the value with an acquire CAS on the whole word, retried while the value is
// not 0. True when taken, with the value it took from in *before; false: the value was 0
// (the caller sets EAGAIN, as glibc does). Performed by the Python fast path
// (semaphore_hooks.cc), which then needs no call.
inline bool SemTryTake(sem_t* s, uint32_t* before) {
  uint64_t* word = reinterpret_cast<uint64_t*>(s);
  uint64_t d = __atomic_load_n(word, __ATOMIC_RELAXED);
  while (static_cast<uint32_t>(d) != 0)
    if (__atomic_compare_exchange_n(word, &d, d - 1, true, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
      *before = static_cast<uint32_t>(d);
      return true;
    }
  return false;
}
inline bool SemTryTake(sem_t* s) {
  uint32_t before;
  return SemTryTake(s, &before);
}

// ---- pthread_spinlock_t -----------------------------------------------------------------

// The word of a free spinlock: x86's spinlock counts down from 1 (lock; decl), the generic
// one takes 0 -> 1.
#if defined(__x86_64__) || defined(__i386__)
inline constexpr int kSpinlockFree = 1;
#else
inline constexpr int kSpinlockFree = 0;
#endif
inline bool SpinlockLocked(int word) { return word != kSpinlockFree; }

// ---- the check at start-up ----------------------------------------------------------------

// Whether the running glibc is one described here and behaves so: its version, then a mutex,
// an rwlock, a condition variable, a semaphore and a spinlock of our own, each taken and
// released through glibc's real functions (g_real, resolved), with their private fields read
// after every step. Returns nullptr when everything matches, else a one-line reason (static
// storage). Start-up only: it takes and releases locks of its own.
const char* CheckGlibc();

}  // namespace lockscope::glibc

#endif  // LOCKSCOPE_SHIM_GLIBC_LAYOUT_H_
