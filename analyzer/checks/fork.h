// held-across-fork: at fork(), a lock was held by a thread other than the forking one; the
// child inherits it locked and nobody there can ever release it.
//   - error: the child tried to take such a lock (and blocks forever): the lock, the parent
//     thread that held it and where it took it, where fork() was called, and where the child
//     asked for it;
//   - warning: such locks existed at fork() but the child never asked for them (it may exec,
//     which is safe). Identical warnings from many children are folded into one.
#ifndef LOCKSCOPE_ANALYZER_CHECKS_FORK_H_
#define LOCKSCOPE_ANALYZER_CHECKS_FORK_H_

#include <memory>
#include <vector>

#include "analyzer/checks/waits.h"
#include "analyzer/dump_reader.h"
#include "analyzer/finding.h"

namespace lockscope {

// `waits` times the child's wait on the lock (Finding::blocked_seconds), as CheckWaits does.
std::vector<Finding> CheckFork(const std::vector<std::unique_ptr<Dump>>& dumps,
                               const WaitOptions& waits);

// Whether `lock` (this generation of `address`) is one a fork child inherited locked from
// other threads (its waits on them are
// explained by held-across-fork, not stalls).
bool InheritedLocked(const Dump& dump, uint64_t address, uint32_t lock);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_CHECKS_FORK_H_
