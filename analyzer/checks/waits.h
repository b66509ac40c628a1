// What threads are blocked on right now: deadlocks, self-deadlocks and stalls; and the rule
// that makes them a hang. `run --hang-timeout` decides with this code (IsHang over the
// findings of the report it then prints), so the monitor and the report cannot disagree.
//
// Glossary
//   wait       a thread's wait record (format::WaitRecord): what it is blocked on, since when.
//              A wait made of timed slices (pthread_cond_timedwait in 5 ms slices, say) is
//              one wait from its first slice; between slices it is still current for
//              format::kWaitRetryGraceNs.
//   woken      a condition wait whose thread was woken and is stuck re-acquiring the mutex
//              inside glibc: a broadcast came since it began, or a signal while it was the
//              condition's only waiter, or its deadline passed long ago. While another thread
//              holds that mutex, the thread waits for the mutex (from the wake-up on).
//   blockers   whom a wait waits for: a lock's holders (a write request: every one; a read
//              request: the writer, and on a writer-preferring rwlock the queued writers
//              too); a pthread_join: the joined thread. Semaphores and condition variables
//              have none.
//   quiescent  every thread of the process is blocked, each for at least the threshold (and
//              the kernel lists no thread the dump does not know, when the monitor looked).
//
// Findings
//   - self-deadlock: a thread waits for a non-recursive lock it holds itself.
//   - deadlock: a cycle in the wait-for graph (jstack's "Found one deadlock").
//   - stall: a crowd on one lock whose longest wait passed the threshold, with the chain of
//     holders (who holds it, what that thread waits for); a crowd on a semaphore or condition
//     variable only when the process is quiescent (otherwise they are idle workers) and not
//     already told in a lock stall's chain.
// Each finding's blocked_seconds is the longest wait it explains.
// A process that ran its exit path is waiting for nothing, whatever its slots say.
#ifndef LOCKSCOPE_ANALYZER_CHECKS_WAITS_H_
#define LOCKSCOPE_ANALYZER_CHECKS_WAITS_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "analyzer/dump_reader.h"
#include "analyzer/finding.h"

namespace lockscope {

struct WaitOptions {
  uint64_t now_ns = 0;        // CLOCK_MONOTONIC now (waits carry monotonic start times)
  double stall_seconds = 10;  // a wait at least this long is a stall
  // What the hang monitor saw of the live processes:
  //   when each wait without a start time (it looked uncontended) was first seen:
  //   (dump path, tid, address) -> CLOCK_MONOTONIC ns;
  std::map<std::tuple<std::string, int32_t, uint64_t>, uint64_t> first_seen;
  //   how many threads the kernel listed for each dump's process (threads that never took
  //   a lock have no slot, and may be running).
  std::map<std::string, size_t> tasks;
};

// How long `w` has waited at `now_ns`, the one rule the hang monitor and the checks share:
//   nullopt  not a current wait (none, or a timed-out slice not retried in time: the thread
//            gave up, format::kWaitRetryGraceNs);
//   < 0      a current wait of unknown start (it looked uncontended: the call should not have
//            blocked) that the monitor did not see begin (first_seen_ns 0).
std::optional<double> WaitSeconds(const format::WaitRecord& w, uint64_t first_seen_ns,
                                  uint64_t now_ns);
// The same for a thread of a dump, with what the monitor saw of it (options.first_seen).
std::optional<double> WaitSeconds(const Dump& dump, const ThreadInfo& thread,
                                  const WaitOptions& options);

std::vector<Finding> CheckWaits(const std::vector<std::unique_ptr<Dump>>& dumps,
                                const WaitOptions& options);

// The monitor's verdict on one finding: an error about threads blocked for at least
// `timeout_seconds` justifies killing the program.
bool IsHang(const Finding& f, double timeout_seconds);

// CLOCK_MONOTONIC in ns.
uint64_t MonotonicNowNs();

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_CHECKS_WAITS_H_
