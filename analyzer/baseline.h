// Fingerprints and baselines: what lets a CI job fail only on what is new.
//
// A finding's fingerprint is the same across runs, machines and address layouts: a hash of
// its kind, its level, the classes of its locks (lock_classes.h) and, for each of its
// stacks, its first frame past the lock wrappers (function and file, no line, no address).
// Baselines, suppressions and SARIF's partialFingerprints use it.
//
// A baseline is the accepted class-level lock-order graph: one line per edge, "CLASS<TAB>
// CLASS" (the first held while the second was taken), '#' starting a comment. Reported with
// --baseline, a lock-order inversion whose every edge (by class) is in it is known: shown,
// marked, but a warning; one with an edge the baseline lacks is new (an error, as always),
// and says which edge. Other findings are untouched.
//
// Cost: linear in the findings and the edges. Not thread-safe.
#ifndef LOCKSCOPE_ANALYZER_BASELINE_H_
#define LOCKSCOPE_ANALYZER_BASELINE_H_

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "analyzer/dump_reader.h"
#include "analyzer/lock_classes.h"
#include "analyzer/report.h"
#include "analyzer/symbol_cache.h"

namespace lockscope {

using ClassEdge = std::pair<std::string, std::string>;

// Gives every finding its fingerprint and, for a lock-order inversion, the class edges of its
// cycle (Finding::fingerprint, Finding::class_edges).
void Fingerprint(Report& report, const std::vector<std::unique_ptr<Dump>>& dumps,
                 LockClasses& classes, SymbolCache& symbols);

// Every order edge of the dumps, by class (one within a class too: two instances of one
// class taken in a cycle is an instance-level inversion a baseline may accept); locks
// without a class left out.
std::set<ClassEdge> ClassEdges(const std::vector<std::unique_ptr<Dump>>& dumps,
                               LockClasses& classes);

// Reads a baseline file; a one-line reason when it cannot be read or a line is not an edge.
absl::StatusOr<std::set<ClassEdge>> ReadBaseline(const std::string& path);
// Writes `edges` as a baseline file; a one-line reason on failure.
absl::Status WriteBaseline(const std::string& path, const std::set<ClassEdge>& edges);

// Marks the report's lock-order inversions known or new against `baseline` (read from
// `path`, which the notes name).
void ApplyBaseline(Report& report, const std::set<ClassEdge>& baseline, const std::string& path);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_BASELINE_H_
