// Every kind of finding, one line each: its name (Finding::kind, the JSON "kind", SARIF's
// ruleId, a suppression's KIND) and what it means in one sentence (SARIF's rule
// descriptions). docs/findings.md tells each at length.
#ifndef LOCKSCOPE_ANALYZER_FINDING_KINDS_H_
#define LOCKSCOPE_ANALYZER_FINDING_KINDS_H_

#include <cstddef>
#include <string_view>

namespace lockscope {

// clang-format off
#define LOCKSCOPE_FINDING_KINDS(X)                                                              \
  X("lock-order-inversion", "Locks taken in orders that form a cycle: threads taking them at " \
    "the same time can deadlock")                                                               \
  X("deadlock", "Threads blocked in a wait-for cycle: each waits for a lock another holds")     \
  X("self-deadlock", "A thread blocked on a lock it already holds (the GIL included)")          \
  X("stall", "Threads waiting on a lock or condition for longer than the threshold, with no "   \
    "cycle")                                                                                    \
  X("unlock-not-owner", "A lock released by a thread that does not hold it")                    \
  X("destroy-locked", "A lock destroyed while held")                                            \
  X("relock-error", "A lock that refused to be taken again by its holder")                     \
  X("exit-holding", "A thread ended while holding locks")                                       \
  X("held-across-fork", "A lock held by another thread when the process forked: the child "    \
    "inherits it locked")
// clang-format on

struct FindingKind {
  std::string_view name;
  std::string_view description;
};

inline constexpr FindingKind kFindingKinds[] = {
#define LOCKSCOPE_FINDING_KIND_ENTRY(name, description) {name, description},
    LOCKSCOPE_FINDING_KINDS(LOCKSCOPE_FINDING_KIND_ENTRY)
#undef LOCKSCOPE_FINDING_KIND_ENTRY
};

// The kind named `name`, or nullptr.
inline const FindingKind* FindFindingKind(std::string_view name) {
  for (const FindingKind& k : kFindingKinds)
    if (k.name == name) return &k;
  return nullptr;
}

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_FINDING_KINDS_H_
