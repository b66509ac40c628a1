#include "analyzer/model.h"

namespace lockscope {

const char* LockKindName(uint8_t kind) {
  switch (kind) {
    case format::kLockMutex: return "mutex";
    case format::kLockRecursiveMutex: return "recursive-mutex";
    case format::kLockErrorcheckMutex: return "errorcheck-mutex";
    case format::kLockAdaptiveMutex: return "mutex";
    case format::kLockRwlock: return "rwlock";
    case format::kLockSpinlock: return "spinlock";
    case format::kLockGil: return "gil";
    case format::kLockSemaphore: return "semaphore";
    case format::kLockCondvar: return "condvar";
  }
  return "mutex";
}

const char* LockNoun(uint8_t kind) {
  switch (kind) {
    case format::kLockRwlock: return "Rwlock";
    case format::kLockSpinlock: return "Spinlock";
    case format::kLockGil: return "GIL";
    case format::kLockSemaphore: return "Semaphore";
    case format::kLockCondvar: return "Condition variable";
  }
  return "Mutex";
}

uint8_t HeldKind(const format::HeldLock& h, const LockInfo* lock) {
  if (lock != nullptr) return lock->kind;
  return (h.flags & format::kHeldSemaphore) ? uint8_t{format::kLockSemaphore}
                                            : uint8_t{format::kLockMutex};
}

bool HeldAsLock(const format::HeldLock& h, const LockInfo* lock, const SyncInfo* sync) {
  if (lock != nullptr && (lock->flags & format::kLockUnowned)) return false;
  if (h.flags & format::kHeldSemaphore) return sync != nullptr && !(sync->flags & format::kSyncNotLock);
  return true;
}

}  // namespace lockscope
