// POSIX semaphores. A semaphore has no owner: we record who waits on it (before blocking),
// who took it last and who posted it last. CPython 3.11's threading.Lock and queue.Queue
// block in sem_wait / sem_clockwait, so this is also how Python-level hangs become visible.
#include <errno.h>
#include <semaphore.h>

#include "shim/glibc_layout.h"
#include "shim/recorder.h"
#include "shim/recorder_core.h"

namespace lockscope {
namespace {

using namespace core;

// The thread's list of semaphores taken and not posted back (ThreadRecord::taken_sems).
void AddTaken(ThreadCtx& t, uint64_t address) {
  uint64_t* list = t.rec->taken_sems;
  for (uint32_t i = 0; i < format::kTakenSems; ++i)
    if (list[i] == 0) {
      Atomic(list[i]).store(address, std::memory_order_release);
      return;
    }
  for (uint32_t i = 0; i + 1 < format::kTakenSems; ++i)  // full: the oldest goes
    Atomic(list[i]).store(list[i + 1], std::memory_order_relaxed);
  Atomic(list[format::kTakenSems - 1]).store(address, std::memory_order_release);
}

void RemoveTaken(ThreadCtx& t, uint64_t address) {
  uint64_t* list = t.rec->taken_sems;
  for (uint32_t i = format::kTakenSems; i-- > 0;)
    if (list[i] == address) {
      Atomic(list[i]).store(0, std::memory_order_release);
      return;
    }
}

void NoteTake(ThreadCtx& t, uint64_t address, format::SyncRecord* rec) {
  AddTaken(t, address);
  if (rec == nullptr) return;
  Atomic(rec->last_take_tid).store(t.tid, std::memory_order_relaxed);
  CountUp(rec->takes);
}

template <Timing how>
int Wait(sem_t* s, clockid_t clock, const timespec* abstime, const void* caller) {
  auto call = [&]() -> int {
    const RealFunctions& r = Real();
    if (how == Timing::kUntimed) return r.sem_wait(s);
    if (how == Timing::kTimed) return r.sem_timedwait(s, abstime);
    if (r.sem_clockwait) return r.sem_clockwait(s, clock, abstime);
    errno = ENOSYS;
    return -1;
  };
  Inside scope;
  ThreadCtx* t = scope.get();
  if (t == nullptr) return call();
  const uint64_t address = reinterpret_cast<uint64_t>(s);
  format::SyncRecord* rec = g_shim.syncs.FindOrInsert(address, format::kLockSemaphore);
  int rc;
  if (glibc::SemValue(s) > 0) {
    // Available: the call should not block; publish only what, as for mutexes.
    BeginQuickWait(*t, address, format::kWaitSemaphore);
    rc = call();
    const int e = errno;
    ClearWait(*t);
    errno = e;
  } else {
    // In a fork child: a semaphore another parent thread had taken (CheckInheritedLock).
    if (g_shim.dump.header->parent_pid > 0) CheckInheritedLock(*t, address, 0, -1);
    BeginWait(*t, address, format::kWaitSemaphore, rec ? g_shim.syncs.IndexOf(rec) : 0,
              WaitSiteStack(*t, address, SiteFlags(caller), kWaitSiteSemaphore),
              DeadlineOf<how>(clock, abstime));
    rc = call();
    const int e = errno;
    EndWait(*t, rc != 0 && e == ETIMEDOUT);  // a retry goes on with this wait
    errno = e;
  }
  if (rc == 0) NoteTake(*t, address, rec);
  return rc;
}

}  // namespace

int SemWait(sem_t* s, const void* caller) { return Wait<Timing::kUntimed>(s, 0, nullptr, caller); }
int SemTimedWait(sem_t* s, const timespec* abstime, const void* caller) {
  return Wait<Timing::kTimed>(s, 0, abstime, caller);
}
int SemClockWait(sem_t* s, clockid_t clock, const timespec* abstime, const void* caller) {
  return Wait<Timing::kClock>(s, clock, abstime, caller);
}

int SemTryWait(sem_t* s) {
  int rc = Real().sem_trywait(s);
  if (rc != 0) return rc;
  const int e = errno;
  if (Inside scope; ThreadCtx* t = scope.get()) {
    const uint64_t address = reinterpret_cast<uint64_t>(s);
    NoteAcquired(*t, address);
    NoteTake(*t, address, g_shim.syncs.FindOrInsert(address, format::kLockSemaphore));
  }
  errno = e;
  return rc;
}

int SemPost(sem_t* s) {
  if (Inside scope; ThreadCtx* t = scope.get()) {
    RemoveTaken(*t, reinterpret_cast<uint64_t>(s));
    if (format::SyncRecord* rec =
            g_shim.syncs.FindOrInsert(reinterpret_cast<uint64_t>(s), format::kLockSemaphore)) {
      Atomic(rec->last_post_tid).store(t->tid, std::memory_order_relaxed);
      CountUp(rec->posts);
    }
  }
  return Real().sem_post(s);
}

// A destroyed semaphore gives its record back (SyncTable::Retire): CPython creates and
// destroys one for every threading.Lock.
int SemDestroy(sem_t* s) {
  if (Inside scope; ThreadCtx* t = scope.get()) {
    RemoveTaken(*t, reinterpret_cast<uint64_t>(s));
    if (g_shim.syncs.valid()) g_shim.syncs.Retire(reinterpret_cast<uint64_t>(s));
  }
  return Real().sem_destroy(s);
}

}  // namespace lockscope
