// JUnit XML, for CI systems that show test reports: one test case per finding (an error
// fails, a warning passes with its text in system-out), named by its kind and summary, the
// finding's text report as the failure's body; a clean report is one passing case.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/render/render.h"

namespace lockscope {
namespace {

std::string Xml(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows no control characters but tab, newline and carriage return.
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += '?';
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

}  // namespace

std::string RenderJunit(const Report& report, SymbolCache& symbols) {
  const size_t errors = report.CountSeverity(Severity::kError);
  const size_t cases = report.findings.empty() ? 1 : report.findings.size();
  std::string out = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<testsuites name=\"lockscope\" tests=\"%d\" failures=\"%d\" errors=\"0\">\n"
      "  <testsuite name=\"lockscope\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"0\">\n",
      cases, errors, cases, errors);
  if (report.findings.empty())
    absl::StrAppend(&out, "    <testcase classname=\"lockscope\" name=\"no findings\"/>\n");
  for (const Finding& f : report.findings) {
    // The finding's own text report (its stacks symbolized), alone.
    Report one;
    one.findings.push_back(f);
    std::string text = RenderText(one, symbols);
    text = text.substr(0, text.rfind("lockscope: 1 finding(s)"));
    absl::StrAppend(&out, "    <testcase classname=\"lockscope.", Xml(f.kind), "\" name=\"",
                    Xml(f.summary), "\">\n");
    if (f.severity == Severity::kError)
      absl::StrAppend(&out, "      <failure type=\"", Xml(f.kind), "\" message=\"", Xml(f.summary),
                      "\">", Xml(text), "</failure>\n");
    else
      absl::StrAppend(&out, "      <system-out>", Xml(text), "</system-out>\n");
    absl::StrAppend(&out, "    </testcase>\n");
  }
  if (!report.notes.empty()) {
    std::string notes;
    for (const std::string& n : report.notes) absl::StrAppend(&notes, "note: ", n, "\n");
    absl::StrAppend(&out, "    <system-out>", Xml(notes), "</system-out>\n");
  }
  absl::StrAppend(&out, "  </testsuite>\n</testsuites>\n");
  return out;
}

}  // namespace lockscope
