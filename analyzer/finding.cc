#include "analyzer/finding.h"

#include "absl/strings/str_format.h"

namespace lockscope {

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kError: return "error";
    case Severity::kWarning: return "warning";
  }
  return "error";
}

std::string ThreadLabel(int32_t tid, const std::string& name) {
  return name.empty() ? absl::StrFormat("T%d", tid) : absl::StrFormat("T%d (%s)", tid, name);
}

}  // namespace lockscope
