// What threads are blocked on right now: deadlocks, self-deadlocks and stalls.
//
// Reads each thread's wait record (what it waits for, since when, where) and the held stacks
// of all threads (who holds what). A thread waiting for a mutex or rwlock waits for its
// holders (for a write request: every reader; for a read request: the writer); a
// semaphore or condition variable has no holder.
//   - deadlock: a cycle in that wait-for graph (jstack's "Found one deadlock").
//   - self-deadlock: a thread waiting for a non-recursive mutex or rwlock it holds itself.
//   - stall: threads waiting on a lock for longer than the threshold with no cycle (or on a
//     semaphore, when every thread of the process is blocked: otherwise they are idle
//     workers); the report follows the chain of holders (who holds it, what that thread
//     waits for) and, for semaphores, who took and who posted last.
// A process that ran its exit path is waiting for nothing, whatever its slots say.
#ifndef LOCKSCOPE_ANALYZER_CHECKS_WAITS_H_
#define LOCKSCOPE_ANALYZER_CHECKS_WAITS_H_

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "analyzer/dump_reader.h"
#include "analyzer/finding.h"

namespace lockscope {

struct WaitOptions {
  uint64_t now_ns = 0;          // CLOCK_MONOTONIC now (waits carry monotonic start times)
  double stall_seconds = 10;    // a wait at least this long is a stall
  // When a wait's start time is unknown (it looked uncontended when it began), the time the
  // hang monitor first saw it: (dump path, tid, address) -> CLOCK_MONOTONIC ns.
  std::map<std::tuple<std::string, int32_t, uint64_t>, uint64_t> first_seen;
};

std::vector<Finding> CheckWaits(const std::vector<std::unique_ptr<Dump>>& dumps,
                                const WaitOptions& options);

// CLOCK_MONOTONIC in ns.
uint64_t MonotonicNowNs();

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_CHECKS_WAITS_H_
