// `attach PID`: the report of a process that runs without the shim (process_snapshot.h says
// what it can see), from a dump made of it and read like any other.
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/cli.h"
#include "analyzer/process_snapshot.h"
#include "analyzer/report_command.h"

namespace lockscope {

int AttachCommand(const Options& o) {
  if (o.positional.size() != 1) Fail(absl::StrCat("attach needs one process id\n", kUsage));
  int pid = 0;
  if (!absl::SimpleAtoi(o.positional[0], &pid) || pid <= 0)
    Fail(absl::StrCat("attach needs a process id, not '", o.positional[0], "'"));
  // Validate --suppressions and --output before the process is stopped, not after.
  SuppressionsOrFail(o.suppressions);
  if (!o.output.empty()) {
    std::ofstream probe(o.output, std::ios::app);
    if (!probe) Fail(absl::StrCat("cannot write ", o.output, ": ", strerror(errno)));
  }
  // The dump goes to --dump-dir when given (kept), else to a directory of our own (removed
  // as soon as it is read: its mapping outlives it).
  std::string dir = o.dump_dir;
  const bool keep = !dir.empty();
  if (keep) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) Fail(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  } else {
    dir = NewTempDir("lockscope-attach");
  }
  auto cleanup = [&](const std::string& dump) {
    if (keep) return;
    if (!dump.empty()) unlink(dump.c_str());
    rmdir(dir.c_str());
  };
  absl::StatusOr<SnapshotResult> snap = SnapshotProcess(pid, dir, o.watch);
  if (!snap.ok()) {
    cleanup("");
    Fail(std::string(snap.status().message()));
  }
  // A wait known to have lasted the whole watch is as long as a stall needs to be (and no
  // wait is known to have lasted longer).
  AnalyzeOptions options = DefaultAnalyzeOptions();
  options.waits.stall_seconds = o.watch > 0 ? o.watch : 1e18;
  std::unique_ptr<Analysis> a = AnalyzeInputs({snap->dump_path}, "", options);
  cleanup(snap->dump_path);
  a->report.notes.push_back(absl::StrCat(
      "process ", pid, ": ", kAttachCaveat,
      o.watch > 0 ? absl::StrFormat("; a wait that lasted the whole watch (%.1f s, --watch) is "
                                    "a stall",
                                    o.watch)
                  : "; no wait is known to be long (--watch 0): no stall verdict",
      absl::StrFormat("; its threads were stopped one at a time, from the first to the last "
                      "over %.3f s",
                      snap->stopped_seconds)));
  for (const std::string& note : snap->notes)
    a->report.notes.push_back(absl::StrCat("process ", pid, ": ", note));
  NameAndSuppress(*a, o);
  return Emit(*a, o, 0);
}

}  // namespace lockscope
