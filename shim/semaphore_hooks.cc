// POSIX semaphores. A semaphore has no owner: we record who waits on it (before blocking),
// who took it last and who posted it last. CPython 3.11's threading.Lock and queue.Queue
// block in sem_wait / sem_clockwait, so this is also how Python-level hangs become visible.
#include <errno.h>
#include <semaphore.h>

#include "shim/recorder.h"
#include "shim/recorder_core.h"

namespace lockscope {
namespace {

using namespace core;

// glibc's sem_t on 64-bit: the first word's low 32 bits are the value.
uint32_t SemValue(const sem_t* s) {
  uint64_t data;
  __builtin_memcpy(&data, s, sizeof(data));
  return static_cast<uint32_t>(data);
}

void NoteTake(ThreadCtx& t, format::SyncRecord* rec) {
  if (rec == nullptr) return;
  Atomic(rec->last_take_tid).store(t.tid, std::memory_order_relaxed);
  Atomic(rec->takes).store(rec->takes + 1, std::memory_order_relaxed);  // a count, not a sync
}

enum class How { kWait, kTimed, kClock };

template <How how>
int Wait(sem_t* s, clockid_t clock, const timespec* abstime, const void* caller) {
  auto call = [&]() -> int {
    const RealFunctions& r = Real();
    if (how == How::kWait) return r.sem_wait(s);
    if (how == How::kTimed) return r.sem_timedwait(s, abstime);
    if (r.sem_clockwait) return r.sem_clockwait(s, clock, abstime);
    errno = ENOSYS;
    return -1;
  };
  ThreadCtx* t = Enter();
  if (t == nullptr) return call();
  const uint64_t address = reinterpret_cast<uint64_t>(s);
  format::SyncRecord* rec = g.syncs.FindOrInsert(address, format::kLockSemaphore);
  int rc;
  if (SemValue(s) > 0) {
    // Available: the call should not block; publish only the address, as for mutexes.
    Atomic(t->rec->wait_address).store(address, std::memory_order_release);
    rc = call();
    const int e = errno;
    Atomic(t->rec->wait_address).store(0, std::memory_order_release);
    errno = e;
  } else {
    SetWait(*t, address, format::kWaitSemaphore, rec ? g.syncs.IndexOf(rec) : 0,
            WaitSiteStack(*t, address, SiteFlags(caller) | 2));
    rc = call();
    const int e = errno;
    ClearWait(*t);
    errno = e;
  }
  if (rc == 0) NoteTake(*t, rec);
  Leave(t);
  return rc;
}

}  // namespace

int SemWait(sem_t* s, const void* caller) { return Wait<How::kWait>(s, 0, nullptr, caller); }
int SemTimedWait(sem_t* s, const timespec* abstime, const void* caller) {
  return Wait<How::kTimed>(s, 0, abstime, caller);
}
int SemClockWait(sem_t* s, clockid_t clock, const timespec* abstime, const void* caller) {
  return Wait<How::kClock>(s, clock, abstime, caller);
}

int SemTryWait(sem_t* s) {
  int rc = Real().sem_trywait(s);
  if (rc != 0) return rc;
  const int e = errno;
  if (ThreadCtx* t = Enter()) {
    NoteTake(*t, g.syncs.FindOrInsert(reinterpret_cast<uint64_t>(s), format::kLockSemaphore));
    Leave(t);
  }
  errno = e;
  return rc;
}

int SemPost(sem_t* s) {
  if (ThreadCtx* t = Enter()) {
    if (format::SyncRecord* rec =
            g.syncs.FindOrInsert(reinterpret_cast<uint64_t>(s), format::kLockSemaphore)) {
      Atomic(rec->last_post_tid).store(t->tid, std::memory_order_relaxed);
      Atomic(rec->posts).store(rec->posts + 1, std::memory_order_relaxed);
    }
    Leave(t);
  }
  return Real().sem_post(s);
}

// A destroyed semaphore gives its record back (SyncTable::Retire): CPython creates and
// destroys one for every threading.Lock.
int SemDestroy(sem_t* s) {
  if (Ready() && g.syncs.valid()) g.syncs.Retire(reinterpret_cast<uint64_t>(s));
  return Real().sem_destroy(s);
}

}  // namespace lockscope
