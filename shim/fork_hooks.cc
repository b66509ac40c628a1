// fork(): the child must never write into the parent's dump (it still maps it MAP_SHARED),
// so it switches to a dump of its own before recording anything, carrying over the locks
// the forking thread held.
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim/raw_log.h"
#include "shim/recorder.h"
#include "shim/recorder_core.h"

namespace lockscope {
namespace {

using namespace core;

// What the child needs from the forking thread: its held locks and their stacks, copied out
// of the parent's mapping before the child replaces it with its own file.
struct ForkSnapshot {
  struct Entry {
    uint64_t address;
    uint8_t kind;
    uint32_t flags;
    uint32_t recursion;
    uint32_t frame_count;
    uint64_t frames[format::kMaxFrames];
  };
  static constexpr uint32_t kMax = 32;
  Entry entries[kMax];
  uint32_t count;
  char parent_dump[PATH_MAX];
  uint32_t parent_generation;
};

void TakeSnapshot(ThreadCtx& t, ForkSnapshot* s) {
  s->count = 0;
  memcpy(s->parent_dump, g.dump_path, sizeof(s->parent_dump));
  s->parent_generation = g.dump.header->fork_generation;
  for (uint32_t i = 0; i < t.depth && s->count < ForkSnapshot::kMax; ++i) {
    const HeldLock& h = Held(t, i);
    ForkSnapshot::Entry& e = s->entries[s->count++];
    e.address = h.address;
    e.kind = h.lock ? g.locks.at(h.lock).kind : uint8_t{format::kLockMutex};
    e.flags = h.flags;
    e.recursion = h.recursion;
    e.frame_count = 0;
    if (h.stack != 0 && h.stack < g.dump.stack_capacity) {
      const format::StackRecord& sr = g.dump.stacks[h.stack];
      uint32_t n = sr.frame_count < format::kMaxFrames ? sr.frame_count : format::kMaxFrames;
      if (sr.frame_offset + uint64_t{n} <= g.dump.frame_capacity) {
        memcpy(e.frames, &g.dump.frames[sr.frame_offset], n * sizeof(uint64_t));
        e.frame_count = n;
      }
    }
  }
}

// In the child, single-threaded: switch to a new dump mapped over the old one (every pointer
// stays valid; nothing reaches the parent's file any more), then re-register this thread
// with the locks it held.
void StartChildDump(ThreadCtx& t, const ForkSnapshot& s) {
  const pid_t ppid = getppid();
  if (!CreateDump(g.config, g.dump.header, &g.dump, g.dump_path)) {
    // Never write into the parent's file: replace the mapping with private memory and stop.
    mmap(g.dump.header, g.dump.size, PROT_READ | PROT_WRITE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    g.state.store(kDisabled, std::memory_order_release);
    RawLog("fork child: cannot create its dump: ", strerror(errno), "; recording disabled");
    return;
  }
  format::FileHeader* h = g.dump.header;
  h->parent_pid = ppid;
  h->fork_generation = s.parent_generation + 1;
  size_t n = strlen(s.parent_dump);
  if (n >= sizeof(h->parent_dump)) n = sizeof(h->parent_dump) - 1;
  memcpy(h->parent_dump, s.parent_dump, n);
  ResetForChild(t);
  if (!RegisterThread(t)) return;
  for (uint32_t i = 0; i < s.count; ++i) {
    const ForkSnapshot::Entry& e = s.entries[i];
    bool inserted = false;
    Prepared p{e.address, 0, 0, 0, e.flags};
    p.lock = g.locks.FindOrInsert(e.address, e.kind, &inserted);
    if (inserted) NoteLockAddress(e.address);
    p.stack = g.stacks.Put(e.frames, e.frame_count);
    p.chain = ChainKey(t.depth ? Held(t, t.depth - 1).chain : 0, p.lock, e.flags);
    Commit(t, p);
    Held(t, t.depth - 1).recursion = e.recursion;
  }
}

}  // namespace

pid_t Fork() {
  ThreadCtx* t = Enter();
  if (t == nullptr) return Real().fork();
  // Snapshot on the heap would need malloc: keep it static. Concurrent forks from several
  // threads serialise on this flag only in the (slow) fork path.
  static ForkSnapshot snapshot;
  static std::atomic<bool> busy{false};
  while (busy.exchange(true, std::memory_order_acquire)) sched_yield();
  TakeSnapshot(*t, &snapshot);
  // The guard stays set across the real fork: atfork handlers (which take and release
  // locks in pairs) pass through unrecorded, consistently in parent and child.
  pid_t pid = Real().fork();
  if (pid == 0) StartChildDump(*t, snapshot);
  busy.store(false, std::memory_order_release);
  Leave(t);
  return pid;
}

}  // namespace lockscope
