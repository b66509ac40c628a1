// The analysis behind `report`, shared with `run` (which prints a report at the end, and
// whose hang monitor decides on one).
#ifndef LOCKSCOPE_ANALYZER_REPORT_COMMAND_H_
#define LOCKSCOPE_ANALYZER_REPORT_COMMAND_H_

#include <memory>
#include <string>
#include <vector>

#include "analyzer/cli.h"
#include "analyzer/dump_reader.h"
#include "analyzer/lock_classes.h"
#include "analyzer/report.h"
#include "analyzer/suppressions.h"
#include "analyzer/symbol_cache.h"

namespace lockscope {

// The suppression rules of --suppressions, or a one-line failure.
std::vector<Suppression> SuppressionsOrFail(const std::string& path);

// A new directory $TMPDIR/<prefix>.XXXXXX (/tmp without TMPDIR); a one-line failure when
// it cannot be made.
std::string NewTempDir(const std::string& prefix);

// Dumps in a directory: lockscope.<pid>[.<n>].dump, in name order.
std::vector<std::string> DumpsIn(const std::string& dir);

// Now, with the stall threshold of `report` (and of `run` without --hang-timeout).
AnalyzeOptions DefaultAnalyzeOptions();

// Everything a report prints, computed: the dumps, the findings (with their locks named and
// the suppressions applied, after NameAndSuppress), and the symbols they were named with
// (which refer to `dumps`: an Analysis stays where it was made).
struct Analysis {
  Analysis() = default;
  Analysis(const Analysis&) = delete;
  Analysis& operator=(const Analysis&) = delete;
  std::vector<std::unique_ptr<Dump>> dumps;
  Report report;
  std::unique_ptr<SymbolCache> symbols;
  std::unique_ptr<LockClasses> classes;  // made by NameAndSuppress (its --wrapper patterns)
};

// Loads the inputs (files or directories) and runs every check. A file named on the command
// line must be a valid dump or a core file (exit 2 otherwise; a core's executable and
// libraries are looked for under `sysroot` first); in a directory, a file that is not one (a
// process killed while creating its dump) is skipped with a note.
std::unique_ptr<Analysis> AnalyzeInputs(const std::vector<std::string>& inputs,
                                        const std::string& dump_dir, const AnalyzeOptions& options,
                                        const std::string& sysroot = "");

// Adds the class-level lock-order findings (checks/class_order.h: they need symbols), names
// the findings' locks, fingerprints them, drops the suppressed ones, and applies or writes
// the baseline (baseline.h) of --baseline / --write-baseline.
void NameAndSuppress(Analysis& a, const Options& o);

// Prints the report; returns N when it has an error finding, else `clean_status`.
int Emit(Analysis& a, const Options& o, int clean_status);

// `report --timeline`: the rings' events of the inputs, in time order, on stdout (or
// --output); exit 0.
int TimelineOn(const std::vector<std::string>& inputs, const Options& o);

// AnalyzeInputs, NameAndSuppress, Emit.
int ReportOn(const std::vector<std::string>& inputs, const Options& o, const std::string& dump_dir,
             int clean_status, const AnalyzeOptions& options);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_REPORT_COMMAND_H_
