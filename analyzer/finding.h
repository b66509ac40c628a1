// The plain result model: what a check found, before any symbolization or formatting.
// Checks produce these; renderers turn them into text, JSON, SARIF or DOT.
#ifndef LOCKSCOPE_ANALYZER_FINDING_H_
#define LOCKSCOPE_ANALYZER_FINDING_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lockscope {

enum class Severity { kError, kWarning };
const char* SeverityName(Severity s);

// How a report names a thread: "T123" or "T123 (name)".
std::string ThreadLabel(int32_t tid, const std::string& name);

struct FindingThread {
  int32_t tid = 0;
  std::string name;
  int32_t pid = 0;
};

struct FindingLock {
  std::string id;   // "L1", "L2", ... within the finding
  size_t dump = 0;  // index of the dump it belongs to (for naming by symbol)
  uint64_t address = 0;
  std::string kind;  // mutex | recursive-mutex | errorcheck-mutex | rwlock | spinlock | gil
  std::string name;  // symbol of a global lock, filled by NameLocks(); "" if none
  // Its lock class (lock_classes.h), in a class-level finding: the name it is shown by.
  std::string lock_class;
};

struct FindingStack {
  std::string role;  // e.g. "L2 acquired while holding L1"
  int32_t tid = 0;
  size_t dump = 0;
  std::vector<uint64_t> pcs;  // pcs[0] is the innermost frame (the lock call site)
  uint32_t frame_offset = ~0u;  // when it was stored (Dump::StackFrameOffset; ~0u: unknown)
};

// One step of lockdep's "possible unsafe locking scenario": thread `tid` does `action`. The
// table has a column per thread, in the order they first appear.
struct ScenarioStep {
  int32_t tid = 0;
  std::string action;  // e.g. "lock({L1});"
};

struct Finding {
  std::string kind;  // the finding kinds of docs/findings.md
  Severity severity = Severity::kError;
  // "instance" (locks of one process, by address) or "class" (lock classes across
  // processes: checks/class_order.h).
  std::string level = "instance";
  // One line. Lock ids written as {L1} are replaced by "L1 (name)" when locks are named.
  std::string summary;
  std::vector<FindingThread> threads;
  std::vector<FindingLock> locks;
  std::vector<FindingStack> stacks;
  std::vector<std::string> details;    // lines printed under the summary (the story)
  std::vector<std::string> notes;      // extra lines for the text report
  size_t folded = 0;                   // identical findings folded into this one
  std::vector<ScenarioStep> scenario;  // optional: lockdep's table
  // Lock-order graph view for DOT: pairs of indices into `locks`.
  std::vector<std::pair<size_t, size_t>> cycle_edges;
  // Stable across runs, machines and address layouts (baseline.h): 16 hex digits.
  std::string fingerprint;
  // A lock-order inversion's cycle by lock class, edge by edge (baseline.h).
  std::vector<std::pair<std::string, std::string>> class_edges;
  // Against a --baseline: "known" or "new" ("" without one; only lock-order inversions).
  std::string baseline;
  // The longest current wait among the threads this finding says are blocked, in seconds
  // (-1: it names none). The hang monitor's verdict reads it (IsHang, checks/waits.h).
  double blocked_seconds = -1;
};

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_FINDING_H_
