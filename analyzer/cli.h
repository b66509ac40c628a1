// The `run`, `report` and `attach` commands (main.cc parses the command line). The user-facing
// surface (options, exit statuses, formats) is docs/usage.md.
#ifndef LOCKSCOPE_ANALYZER_CLI_H_
#define LOCKSCOPE_ANALYZER_CLI_H_

#include <optional>
#include <string>
#include <vector>

namespace lockscope {

inline constexpr int kUsageError = 2;
extern const char kUsage[];

// A usage or input problem: one line on stderr, exit 2.
[[noreturn]] void Fail(const std::string& message);

struct Options {
  std::string format = "text";
  std::string output;
  std::string suppressions;
  int error_exitcode = 66;
  std::string dump_dir;
  std::optional<double> hang_timeout;
  double watch = 1;                  // attach: seconds to watch the waits before the snapshot
  bool timeline = false;             // report: the rings' events in time order
  std::vector<std::string> threads;  // report --timeline: tids or names (all when empty)
  std::string sysroot;               // report: where a core's executable and libraries are now
  std::vector<std::string> wrappers;    // --wrapper: lock wrapper functions (lock_classes.h)
  std::string baseline;                 // --baseline FILE: known lock-order edges (baseline.h)
  std::string write_baseline;           // --write-baseline FILE
  bool verbose = false;                 // --verbose: unused suppressions listed
  std::string source_root;              // --source-root DIR (absolute): SARIF's relative files
  std::vector<std::string> positional;  // report: inputs; run: PROGRAM ARGS
};

// The absolute path of liblockscope.so: $LOCKSCOPE_SHIM, or next to the analyzer (the build
// tree's shim/ or an installation's lib/); a one-line failure when there is none.
std::string ShimPath();

// `report`: analyzes the dumps (files, or directories of them) and prints the report.
// Returns the exit status: N for an error finding, else 0.
int ReportCommand(const Options& o);

// `run`: runs the program under the shim (its hang monitor with --hang-timeout), then prints
// the report. Returns the exit status: N for an error finding, else the program's own.
int RunCommand(const Options& o);

// `attach`: a snapshot of a running process (no shim in it), then its report. Returns the
// exit status: N for an error finding, else 0.
int AttachCommand(const Options& o);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_CLI_H_
