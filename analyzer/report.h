// A report: the findings of every check over a set of dumps, plus what the reader must know
// about their completeness (overflowed tables, truncated searches). Symbolization happens
// here, lazily and only for the stacks and locks that findings name, cached per dump.
#ifndef LOCKSCOPE_ANALYZER_REPORT_H_
#define LOCKSCOPE_ANALYZER_REPORT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "analyzer/checks/waits.h"
#include "analyzer/dump_reader.h"
#include "analyzer/finding.h"
#include "analyzer/symbolizer.h"

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

// Per-dump symbolizers, built on first use.
class SymbolCache {
 public:
  explicit SymbolCache(const std::vector<std::unique_ptr<Dump>>& dumps) : dumps_(dumps) {}
  // All frames (inlined ones included) for a stack; every pc is a return address.
  std::vector<SymbolizedFrame> Frames(size_t dump, const std::vector<uint64_t>& pcs);
  // Symbol naming a lock's address (a global), or "".
  std::string LockName(size_t dump, uint64_t address);

 private:
  Symbolizer& For(size_t dump);
  const std::vector<std::unique_ptr<Dump>>& dumps_;
  std::map<std::string, std::unique_ptr<Symbolizer>> symbolizers_;  // by module set
  std::map<size_t, Symbolizer*> by_dump_;
};

struct AnalyzeOptions {
  WaitOptions waits;  // now, stall threshold, first-seen times of waits
};

// Runs every check and collects the caveats of every dump.
Report Analyze(const std::vector<std::unique_ptr<Dump>>& dumps, const AnalyzeOptions& options);

// Fills FindingLock::name and expands the {Ln} placeholders of summaries; notes the most
// waited-for locks by name.
void NameLocks(Report& report, SymbolCache& symbols);

// Drops the findings matched by TSan-style suppressions ("KIND:PATTERN", PATTERN a glob
// matched against the function, file and module of every frame of the finding's stacks;
// KIND may be "*"). Returns the number dropped.
size_t ApplySuppressions(Report& report, SymbolCache& symbols,
                         const std::vector<std::pair<std::string, std::string>>& rules);

std::string RenderText(const Report& report, SymbolCache& symbols);
std::string RenderJson(const Report& report, SymbolCache& symbols);
std::string RenderSarif(const Report& report, SymbolCache& symbols);
std::string RenderDot(const Report& report, const std::vector<std::unique_ptr<Dump>>& dumps,
                      SymbolCache& symbols);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_REPORT_H_
