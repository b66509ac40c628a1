#include "analyzer/lock_names.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace lockscope {

void NameLocks(Report& report, SymbolCache& symbols) {
  for (Finding& f : report.findings) {
    std::vector<std::pair<std::string, std::string>> repl;
    for (FindingLock& l : f.locks) {
      l.name = symbols.LockName(l.dump, l.address);
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
      const std::string name = symbols.LockName(w.dump, w.address);
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
