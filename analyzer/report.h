// A report: the findings of every check over a set of dumps, plus what the reader must know
// about their completeness (overflowed tables, truncated searches, a shim that recorded
// nothing). Naming (lock_names.h), suppressions (suppressions.h) and rendering
// (render/render.h) come after, on the report.
#ifndef LOCKSCOPE_ANALYZER_REPORT_H_
#define LOCKSCOPE_ANALYZER_REPORT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "analyzer/checks/waits.h"
#include "analyzer/dump_reader.h"
#include "analyzer/finding.h"

namespace lockscope {

struct Report {
  std::vector<std::string> dump_paths;
  std::string dump_dir;  // set by `run`
  std::vector<Finding> findings;
  std::vector<std::string> notes;  // completeness caveats, one line each
  uint64_t events = 0;             // events read from the threads' rings, all dumps
  uint64_t events_lost = 0;        // events the rings overwrote before they were read
  size_t threads = 0, locks = 0, edges = 0;
  // The locks most often waited for (acquisitions that blocked, as far as the rings'
  // history goes), most first, at most three: named in a note by NameLocks.
  struct WaitedLock {
    size_t dump = 0;
    uint64_t address = 0;
    uint8_t kind = 0;
    uint64_t waits = 0;
  };
  std::vector<WaitedLock> most_waited;

  size_t CountSeverity(Severity s) const;
};

struct AnalyzeOptions {
  WaitOptions waits;  // now, stall threshold, first-seen times of waits
};

// Runs every check and collects the caveats of every dump.
Report Analyze(const std::vector<std::unique_ptr<Dump>>& dumps, const AnalyzeOptions& options);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_REPORT_H_
