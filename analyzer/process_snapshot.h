// `attach` and core files: a lockscope dump of a process that runs without the shim, made from what
// the kernel and the lock words say, so that the report's checks read it like any other dump.
//
// What it sees: every thread's native stack (libdwfl, which ptrace-attaches each thread for
// the moment its registers are read, then detaches: the process goes on, or stays hung, as
// before), the futex each blocked thread sleeps on (/proc/PID/task/TID/syscall), what kind of
// object that futex belongs to (the blocking frame: pthread_mutex_lock, pthread_cond_wait,
// pthread_rwlock_*lock, sem_wait, pthread_join), and a mutex's owner (its `__owner` word, read from
// the process's memory). A thread blocked on a mutex waits for the mutex's owner, who holds it, and
// one in pthread_join for the thread whose tid word it sleeps on: the wait-for graph of the
// `deadlock` and `self-deadlock` checks.
//
// What it cannot see: where a lock was taken, the locks a thread holds that nobody waits for,
// when a wait began (only that it lasted the watch, see SnapshotProcess), and the lock order
// (only the shim records those).
//
// Cost: the threads' registers and stacks, and four bytes per mutex waited on.
#ifndef LOCKSCOPE_ANALYZER_PROCESS_SNAPSHOT_H_
#define LOCKSCOPE_ANALYZER_PROCESS_SNAPSHOT_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace lockscope {

struct SnapshotResult {
  std::string dump_path;
  double stopped_seconds = 0;  // from the first thread stopped to the last
  std::vector<std::string> notes;  // what it could not read, for the report
};

// Writes the snapshot of process `pid` as a dump in `dir`. Errors are one line: no such
// process, a process we may not trace (and why), a process with no thread left.
//
// Before it stops anything it watches the process for `watch_seconds`: a thread asleep on the
// same futex at both ends that did not run in between (its context-switch counts did not
// move) has waited at least that long, and its wait says so (since_ns); the others' start
// is unknown.
absl::StatusOr<SnapshotResult> SnapshotProcess(pid_t pid, const std::string& dir,
                                               double watch_seconds);

// Whether `path` is an ELF core file (by its header).
bool IsCoreFile(const std::string& path);

// The same snapshot from an ELF core file (`gcore`, or the kernel's): the threads and their
// registers from its notes, its memory from its segments, its modules from its file notes
// (found on this machine by build-id or path; under `sysroot` first when it is not empty:
// the files of the core's machine, copied there). A core does not say which process forked
// it, so an owner that is gone is `exit-holding` there.
absl::StatusOr<SnapshotResult> SnapshotCore(const std::string& core, const std::string& dir,
                                            const std::string& sysroot);

// What a report made from a snapshot cannot tell, for its notes.
extern const char kAttachCaveat[];

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_PROCESS_SNAPSHOT_H_
