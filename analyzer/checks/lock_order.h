// Lock-order inversions: cycles in the lock-order graph, i.e. deadlocks that can happen.
//
// Nodes are lock identities (dump, record index); an edge H->L says L was acquired while H
// was held. Reported: every distinct cycle (shortest first, bounded by CycleLimits), except
//   - cycles whose every edge happened while one common other lock was held (a gate lock
//     serialises them: no deadlock possible), counted in `gated`;
//   - cycles through an rwlock that was held and requested only for read at that point
//     (readers do not block readers), counted in `read_only`;
//   - cycles with exactly the same acquisition stacks as a finding already made (a long
//     hand-over-hand walk in both directions is one finding), counted on that finding.
// A cycle whose edges were all taken by one thread only is a warning (the same code may run
// on two threads, but this run did not show it); a cycle spanning threads is an error.
#ifndef LOCKSCOPE_ANALYZER_CHECKS_LOCK_ORDER_H_
#define LOCKSCOPE_ANALYZER_CHECKS_LOCK_ORDER_H_

#include <memory>
#include <vector>

#include "analyzer/cycle_finder.h"
#include "analyzer/dump_reader.h"
#include "analyzer/finding.h"

namespace lockscope {

struct LockOrderResult {
  std::vector<Finding> findings;
  size_t gated = 0;        // cycles not reported because a gate lock protects them
  size_t read_only = 0;    // cycles through an rwlock only ever read on both sides
  bool truncated = false;  // the cycle search hit its limits
};

LockOrderResult CheckLockOrder(const std::vector<std::unique_ptr<Dump>>& dumps,
                               const CycleLimits& limits = {});

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_CHECKS_LOCK_ORDER_H_
