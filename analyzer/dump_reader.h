// Reading a dump: map it, validate every offset and size, copy out what the checks need.
//
// Works on the dump of a process that is still running (the shim keeps writing while we
// read: records that are claimed but not yet published are skipped) and on one whose
// process was killed. Structural problems (wrong magic or version, a section outside the
// file, a truncated file) are errors with a one-line reason; a record whose fields point
// outside their tables is skipped and counted in `skipped_records`.
#ifndef LOCKSCOPE_ANALYZER_DUMP_READER_H_
#define LOCKSCOPE_ANALYZER_DUMP_READER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "analyzer/model.h"
#include "analyzer/symbolizer.h"
#include "shim/format/dump_format.h"

namespace lockscope {

// A stack's frame offset when it is not known (pcs not from the stack depot): its pcs are
// read with the modules loaded last.
inline constexpr uint32_t kAnyEra = ~0u;

// What a thread of a (possibly live) process waits for right now: the cheap read the hang
// monitor polls with (header and thread table only).
struct WaitSnapshot {
  int32_t tid = 0;
  format::WaitRecord wait{};
};
struct ThreadWaits {
  std::vector<WaitSnapshot> waits;  // live threads that are blocked
  bool exited = false;              // the process ran its exit path
};
absl::StatusOr<ThreadWaits> ReadWaits(const std::string& path);

class Dump {
 public:
  ~Dump();
  Dump(const Dump&) = delete;
  Dump& operator=(const Dump&) = delete;

  // Maps and validates `path`. The error message is one line naming the problem.
  static absl::StatusOr<std::unique_ptr<Dump>> Open(const std::string& path);

  const std::string& path() const { return path_; }
  const format::FileHeader& header() const { return header_; }
  const format::Counters& counters() const { return header_.counters; }
  const std::vector<ModuleInfo>& modules() const { return modules_; }
  const std::vector<LockInfo>& locks() const { return locks_; }  // only used slots
  const std::vector<EdgeInfo>& edges() const { return edges_; }
  const std::vector<ThreadInfo>& threads() const { return threads_; }
  const std::vector<SyncInfo>& syncs() const { return syncs_; }
  const std::vector<MisuseInfo>& misuses() const { return misuses_; }
  const std::vector<ForkHeldInfo>& fork_held() const { return fork_held_; }
  // The rings' readable events, each thread's in order (format::EventOp), read again from
  // the mapping on each call (a dump may hold tens of millions; the report only counts them).
  std::vector<RingEventInfo> Events() const;
  // The same, one at a time (nothing kept).
  void ForEachEvent(const std::function<void(const RingEventInfo&)>& fn) const;
  // The Python function of a Python frame (format::PythonFrameCode), or nullptr.
  const PyCodeInfo* PythonCode(uint32_t index) const;
  // Why the process's CPython was not followed (an unknown version); "" when none.
  std::string python_note() const;
  uint64_t skipped_records() const { return skipped_; }
  // Events read from the threads' rings (blocking and unusual events), and those overwritten
  // before they could be read.
  uint64_t ring_events() const { return ring_events_; }
  uint64_t ring_lost() const { return ring_lost_; }

  // The lock with record index `index`, or nullptr.
  const LockInfo* Lock(uint32_t index) const;
  // The kind of lock `index` (a mutex when the dump has no such record: untracked).
  uint8_t LockKind(uint32_t index) const {
    const LockInfo* l = Lock(index);
    return l ? l->kind : uint8_t{format::kLockMutex};
  }
  // The live (current-generation) lock at `address`, or nullptr.
  const LockInfo* LockAt(uint64_t address) const;
  // The semaphore / condition variable at `address`, or nullptr.
  const SyncInfo* SyncAt(uint64_t address) const;
  // The thread with this tid (the latest slot that had it), or nullptr.
  const ThreadInfo* ThreadByTid(int32_t tid) const;
  // The live thread whose pthread_t is `handle` (what pthread_join waits for), or nullptr.
  const ThreadInfo* ThreadByHandle(uint64_t handle) const;
  // Frames of stack `id` (empty for 0 or an invalid id); bounds-checked against the mapping.
  std::vector<uint64_t> Stack(uint32_t id) const;
  // When stack `id` was stored, on the clock of the frames section (its frame offset): which
  // modules its pcs are in (ModuleInfo::frames_from, frames_until). kAnyEra when unknown.
  uint32_t StackFrameOffset(uint32_t id) const;

 private:
  // Where one section of the section table lies in the mapping (base null: absent).
  struct SectionView {
    const char* base = nullptr;
    uint64_t capacity = 0, record_size = 0;
    const char* at(uint64_t i) const { return base + i * record_size; }
  };
  // Indexed by format::SectionId.
  using SectionViews = std::vector<SectionView>;

  Dump() = default;
  absl::Status Load();
  absl::Status LoadHeader();
  absl::Status MapSections(SectionViews* views);
  void LoadModules(const SectionView& s);
  void LoadLocks(const SectionView& s);
  void LoadEdges(const SectionView& s);
  void LoadSyncs(const SectionView& s);
  void LoadMisuse(const SectionView& s);
  void LoadForkHeld(const SectionView& s);
  void LoadLockOrigins(const SectionView& s);
  void LoadThreads(const SectionView& s);
  void LoadRings(const SectionView& s);
  void LoadPythonCode(const SectionView& s);
  // Calls f(i) for the records i in [first, s.capacity) of a section that may hold data.
  template <typename F>
  void ForEachRecord(const SectionView& s, uint64_t first, F&& f) const;

  std::string path_;
  const char* map_ = nullptr;
  size_t size_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> data_;  // file ranges that hold data
  format::FileHeader header_{};
  SectionView stacks_, frames_;  // read on demand (Stack)
  SectionView rings_;            // read on demand (Events)
  std::vector<ModuleInfo> modules_;
  std::vector<LockInfo> locks_;
  absl::flat_hash_map<uint32_t, uint32_t> lock_pos_;   // record index -> position in locks_
  absl::flat_hash_map<uint64_t, uint32_t> live_lock_;  // address -> position of the live one
  std::vector<EdgeInfo> edges_;
  std::vector<ThreadInfo> threads_;
  std::vector<SyncInfo> syncs_;
  absl::flat_hash_map<uint64_t, uint32_t> sync_pos_;  // address -> position in syncs_
  std::vector<MisuseInfo> misuses_;
  std::vector<ForkHeldInfo> fork_held_;
  absl::flat_hash_map<uint32_t, PyCodeInfo> py_code_;
  uint64_t skipped_ = 0;
  uint64_t ring_events_ = 0, ring_lost_ = 0;
};

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_DUMP_READER_H_
