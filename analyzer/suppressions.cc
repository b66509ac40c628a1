#include "analyzer/suppressions.h"

#include <fnmatch.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "analyzer/finding_kinds.h"

namespace lockscope {

absl::StatusOr<std::vector<Suppression>> ReadSuppressions(const std::string& path) {
  std::vector<Suppression> rules;
  if (path.empty()) return rules;
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("cannot read suppressions file ", path, ": ", strerror(errno)));
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    absl::string_view s = absl::StripAsciiWhitespace(line);
    if (s.empty() || s[0] == '#') continue;
    size_t colon = s.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size())
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": expected KIND:PATTERN"));
    // A misspelt kind would match nothing, silently.
    const std::string kind(s.substr(0, colon));
    if (kind != "*" && kind != "fingerprint" && FindFindingKind(kind) == nullptr) {
      std::string kinds;
      for (const FindingKind& k : kFindingKinds) absl::StrAppend(&kinds, std::string(k.name), ", ");
      return absl::InvalidArgumentError(absl::StrCat(path, ":", n, ": no finding kind '", kind,
                                                     "' (", kinds, "* or fingerprint)"));
    }
    rules.push_back({std::string(s.substr(0, colon)), std::string(s.substr(colon + 1)), n});
  }
  return rules;
}

size_t ApplySuppressions(Report& report, SymbolCache& symbols, std::vector<Suppression>& rules) {
  if (rules.empty()) return 0;
  size_t dropped = 0;
  std::vector<Finding> kept;
  for (Finding& f : report.findings) {
    bool suppressed = false;
    for (Suppression& rule : rules) {
      const std::string& kind = rule.kind;
      const std::string& pattern = rule.pattern;
      if (kind == "fingerprint") {
        suppressed = fnmatch(pattern.c_str(), f.fingerprint.c_str(), 0) == 0;
        rule.used += suppressed;
        if (suppressed) break;
        continue;
      }
      if (kind != "*" && kind != f.kind) continue;
      for (const FindingStack& s : f.stacks) {
        for (const SymbolizedFrame& fr : symbols.Frames(s.dump, s.pcs, s.frame_offset)) {
          for (const std::string* field : {&fr.function, &fr.file, &fr.module})
            if (!field->empty() && fnmatch(pattern.c_str(), field->c_str(), 0) == 0)
              suppressed = true;
          if (suppressed) break;
        }
        if (suppressed) break;
      }
      for (const FindingLock& l : f.locks)
        if (!suppressed && !l.name.empty() && fnmatch(pattern.c_str(), l.name.c_str(), 0) == 0)
          suppressed = true;
      rule.used += suppressed;
      if (suppressed) break;
    }
    if (suppressed)
      ++dropped;
    else
      kept.push_back(std::move(f));
  }
  report.findings = std::move(kept);
  if (dropped > 0) report.notes.push_back(absl::StrFormat("%d finding(s) suppressed", dropped));
  return dropped;
}

}  // namespace lockscope
