// Suppressions, ThreadSanitizer-style: lines "KIND:PATTERN" ("#" starts a comment). A
// finding of that kind ("*": any) is dropped when PATTERN, a shell glob, matches the
// function, file or module of a frame of its stacks, or one of its lock names. A line
// "fingerprint:HEX" drops the finding with that fingerprint (baseline.h), whatever its kind.
#ifndef LOCKSCOPE_ANALYZER_SUPPRESSIONS_H_
#define LOCKSCOPE_ANALYZER_SUPPRESSIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "analyzer/report.h"
#include "analyzer/symbol_cache.h"

namespace lockscope {

struct Suppression {
  std::string kind;     // a finding kind, "*", or "fingerprint"
  std::string pattern;  // fnmatch(3) glob
  int line = 0;         // in its file
  size_t used = 0;      // findings it dropped (ApplySuppressions)
};

// The rules of a suppressions file ("" : none); an error names the file and line.
absl::StatusOr<std::vector<Suppression>> ReadSuppressions(const std::string& path);

// Drops the findings the rules match (lock names and fingerprints must be filled: NameLocks,
// Fingerprint), notes how many, and counts each rule's uses. Returns the number dropped.
size_t ApplySuppressions(Report& report, SymbolCache& symbols, std::vector<Suppression>& rules);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_SUPPRESSIONS_H_
