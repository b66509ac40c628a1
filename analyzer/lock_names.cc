#include "analyzer/lock_names.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace lockscope {

namespace {

// The dumps the findings name (their stacks and locks).
std::vector<size_t> DumpsNamed(const Report& report) {
  std::set<size_t> dumps;
  for (const Finding& f : report.findings) {
    for (const FindingLock& l : f.locks) dumps.insert(l.dump);
    for (const FindingStack& s : f.stacks) dumps.insert(s.dump);
  }
  return std::vector<size_t>(dumps.begin(), dumps.end());
}

}  // namespace

void NameLocks(Report& report, SymbolCache& symbols) {
  for (const std::string& path : symbols.MismatchedModules(DumpsNamed(report)))
    report.notes.push_back(absl::StrCat(
        path,
        " changed since the dump was written (its build-id differs): the names and lines "
        "of its frames may be wrong"));
  for (Finding& f : report.findings) {
    std::vector<std::pair<std::string, std::string>> repl;
    for (FindingLock& l : f.locks) {
      // The GIL lives inside _PyRuntime (or an interpreter): its symbol says nothing.
      l.name = !l.lock_class.empty() ? l.lock_class
               : l.kind == "gil"     ? "the GIL"
                                     : symbols.LockName(l.dump, l.address);
      repl.push_back({absl::StrCat("{", l.id, "}"),
                      l.name.empty() ? l.id : absl::StrCat(l.id, " (", l.name, ")")});
    }
    f.summary = absl::StrReplaceAll(f.summary, repl);
    for (std::string& d : f.details) d = absl::StrReplaceAll(d, repl);
    for (FindingStack& s : f.stacks) s.role = absl::StrReplaceAll(s.role, repl);
  }
  if (!report.most_waited.empty()) {
    std::vector<std::string> parts;
    for (const Report::WaitedLock& w : report.most_waited) {
      const std::string name = w.kind == format::kLockGil ? std::string("the GIL")
                                                          : symbols.LockName(w.dump, w.address);
      parts.push_back(absl::StrFormat("%s (%s) %d",
                                      name.empty() ? absl::StrFormat("%#x", w.address) : name,
                                      LockKindName(w.kind), w.waits));
    }
    report.notes.push_back(absl::StrCat(
        "most waited-for locks (acquisitions that blocked): ", absl::StrJoin(parts, ", "),
        report.events_lost == 0
            ? ""
            : absl::StrFormat(" (counted over what the rings still hold: %d older events were "
                              "overwritten; LOCKSCOPE_RING_EVENTS keeps more)",
                              report.events_lost)));
  }
}

}  // namespace lockscope
