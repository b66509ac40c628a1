// The analyzer's model of one dump: locks, lock-order edges, threads (with what they hold
// and wait for), semaphores and condition variables, misuse and fork records. Plain values,
// copied out of the dump by the reader (dump_reader.h); the checks read nothing else.
#ifndef LOCKSCOPE_ANALYZER_MODEL_H_
#define LOCKSCOPE_ANALYZER_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "shim/format/dump_format.h"

namespace lockscope {

struct LockInfo {
  uint32_t index = 0;  // record index: the lock's identity within its dump
  uint64_t address = 0;
  uint8_t kind = 0;   // format::LockKind
  uint8_t flags = 0;  // format::kLockPrefersWriters, kLockWritersSeen, kLockHadEdges
  uint8_t state = 0;  // format::LockState
  uint32_t first_stack = 0;
  // A Python lock made by Python code: the format::PythonFrame that made it (0: not known).
  uint64_t origin = 0;
  uint64_t waits = 0;  // acquisitions that had to wait, in the rings' readable history
};

struct EdgeInfo {
  uint32_t from = 0, to = 0;  // lock record indices
  uint32_t modes = 0;         // format::kEdgeFrom*/kEdgeTo* bits (rwlock read/write)
  uint32_t from_stack = 0, to_stack = 0;
  int32_t tid = 0, other_tid = 0;
  uint32_t held_depth = 0;
  std::vector<uint32_t> gates;  // locks held at every occurrence besides `from`
};

struct ThreadInfo {
  uint32_t slot = 0;
  int32_t tid = 0;
  std::string name;
  uint32_t state = 0;                  // format::ThreadState
  std::vector<format::HeldLock> held;  // the in-dump part of the held stack
  uint32_t held_count = 0;             // may exceed held.size()
  format::WaitRecord wait{};           // what it is blocked on (wait.address 0: nothing)
  uint32_t exit_stack = 0;
  uint64_t pthread_handle = 0;
  // CPython (format::ThreadRecord): the thread state it last took the GIL with and its
  // interpreter; in a wait for the GIL, the thread state it waits to run with (its
  // PyGILState one) and that one's interpreter. 0 / -1: unknown.
  uint64_t py_tstate = 0;
  int64_t py_interp = -1;
  uint64_t py_wait_tstate = 0;
  int64_t py_wait_interp = -1;
};

struct SyncInfo {
  uint32_t index = 0;
  uint64_t address = 0;
  uint8_t kind = 0;    // format::kLockSemaphore | kLockCondvar
  uint16_t flags = 0;  // semaphores: format::kSyncLock, kSyncNotLock
  int32_t last_post_tid = 0, last_take_tid = 0;
  uint32_t posts = 0, takes = 0;
  // Condition variables (format::SyncRecord): broadcasts among the posts, waits begun,
  // threads waiting, and when the last signal or broadcast was sent.
  uint32_t broadcasts = 0, begins = 0, waiting = 0;
  uint64_t last_post_ns = 0;
};

struct MisuseInfo {
  uint32_t kind = 0;  // format::MisuseKind
  int32_t tid = 0;
  uint64_t address = 0;
  uint32_t lock = 0, stack = 0;
  int32_t owner_tid = 0;
  uint32_t owner_stack = 0;
};

// A Python function a stack's Python frames name (format::PyCodeRecord).
struct PyCodeInfo {
  std::string name;      // qualified name ("Worker.run")
  std::string filename;  // as the code object has it
  int32_t first_line = 0;
};

// One event of a thread's ring (format::EventOp), with the thread it belongs to (0: an
// earlier owner of the ring that the readable part does not name).
struct RingEventInfo {
  int32_t tid = 0;
  format::Event event{};
};

// A lock held at the moment of fork() (in a fork child's dump).
struct ForkHeldInfo {
  uint64_t address = 0;
  int32_t holder_tid = 0;
  std::string holder_name;
  uint32_t lock = 0, stack = 0;
  uint8_t kind = 0;
  bool by_forker = false;
};

// "mutex", "recursive-mutex", ..., "gil" for a format::LockKind: the JSON report's lock kinds.
const char* LockKindName(uint8_t kind);
// How stack roles and sentences name a lock of that kind: "Mutex", "Rwlock", "Spinlock", ...
const char* LockNoun(uint8_t kind);

// The kind of a held entry's lock: its record's, else (a semaphore not yet known to be a
// lock has no record) a semaphore or a mutex by the entry's flags.
uint8_t HeldKind(const format::HeldLock& h, const LockInfo* lock);
// Whether a held entry is a lock of its thread, as the checks count holders: not a
// semaphore seen not to be a lock (a hand-off, a counting semaphore).
bool HeldAsLock(const format::HeldLock& h, const LockInfo* lock, const SyncInfo* sync);
// Whether a lock takes part in the order graph (not a semaphore that is not a lock).
inline bool OrderedLock(const LockInfo& l) { return !(l.flags & format::kLockUnowned); }

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_MODEL_H_
