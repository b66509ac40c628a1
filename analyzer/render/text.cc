// Text report: ThreadSanitizer's lock-order-inversion layout ("Mutex L2 acquired here while
// holding mutex L1 in thread T...") plus lockdep's "possible unsafe locking scenario" table.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/render/render.h"

namespace lockscope {
namespace {

constexpr const char* kRule = "==================\n";

std::string ThreadLabel(const Finding& f, int32_t tid) {
  for (const FindingThread& t : f.threads)
    if (t.tid == tid) return lockscope::ThreadLabel(tid, t.name);
  return lockscope::ThreadLabel(tid, "");
}

void AppendFrames(std::string* out, const std::vector<SymbolizedFrame>& frames) {
  if (frames.empty()) {
    absl::StrAppend(out, "    <no stack recorded>\n");
    return;
  }
  int n = 0;
  for (const SymbolizedFrame& fr : frames) {
    std::string where;
    if (!fr.file.empty())
      where = fr.line > 0 ? absl::StrFormat(" %s:%d", fr.file, fr.line) : " " + fr.file;
    if (fr.python) {  // py-spy's way: function (file:line), marked as Python
      absl::StrAppendFormat(out, "    #%d %s%s [python]\n", n++,
                            fr.function.empty() ? "<python>" : fr.function, where);
      continue;
    }
    absl::StrAppendFormat(out, "    #%d %s%s%s (%s+0x%x)%s\n", n++,
                          fr.function.empty() ? "<unknown>" : fr.function, where, "",
                          fr.module.empty() ? "?" : fr.module, fr.module_offset,
                          fr.inlined ? " [inlined]" : "");
  }
}

// "lock({L1});" as the table prints it: "lock(L1 g_name);".
std::string StepText(const Finding& f, std::string text) {
  for (const FindingLock& l : f.locks) {
    const std::string placeholder = absl::StrCat("{", l.id, "}");
    for (size_t at; (at = text.find(placeholder)) != std::string::npos;)
      text.replace(at, placeholder.size(), l.name.empty() ? l.id : l.id + " " + l.name);
  }
  return text;
}

// lockdep's table: a column per thread, in the order they first appear.
void AppendScenario(std::string* out, const Finding& f) {
  if (f.scenario.empty()) return;
  std::vector<int32_t> columns;
  for (const ScenarioStep& s : f.scenario)
    if (std::find(columns.begin(), columns.end(), s.tid) == columns.end())
      columns.push_back(s.tid);
  std::vector<std::string> heads;
  size_t width = 24;
  for (int32_t tid : columns) {
    heads.push_back(ThreadLabel(f, tid));
    width = std::max(width, heads.back().size() + 4);
  }
  absl::StrAppend(out, "\n  Possible unsafe locking scenario:\n\n");
  std::string head_line, rule_line;
  for (size_t c = 0; c < columns.size(); ++c) {
    std::string h = heads[c], r = "----";
    h.resize(width, ' ');
    r.resize(width, ' ');
    head_line += h;
    rule_line += r;
  }
  absl::StrAppend(out, "        ", head_line, "\n        ", rule_line, "\n");
  for (const ScenarioStep& s : f.scenario) {
    const size_t column = std::find(columns.begin(), columns.end(), s.tid) - columns.begin();
    absl::StrAppend(out, "        ", std::string(column * width, ' '), StepText(f, s.action),
                    "\n");
  }
  absl::StrAppend(out, "\n   *** DEADLOCK ***\n");
}

}  // namespace

std::string RenderText(const Report& report, SymbolCache& symbols) {
  std::string out;
  for (const Finding& f : report.findings) {
    absl::StrAppend(&out, kRule);
    absl::StrAppendFormat(&out, "lockscope: %s [%s%s%s]\n  %s\n", f.kind, SeverityName(f.severity),
                          f.level == "class" ? ", lock classes" : "",
                          f.baseline.empty() ? "" : ", " + f.baseline, f.summary);
    for (const std::string& d : f.details) absl::StrAppend(&out, "  ", d, "\n");
    for (const FindingLock& l : f.locks)
      if (l.kind == "gil")  // its name says what it is: "the GIL"
        absl::StrAppendFormat(&out, "  %s = %s at 0x%x\n", l.id, l.name, l.address);
      else
        absl::StrAppendFormat(&out, "  %s = %s%s at 0x%x\n", l.id, l.kind,
                              l.name.empty() ? "" : " " + l.name, l.address);
    for (const FindingStack& s : f.stacks) {
      absl::StrAppendFormat(&out, "\n  %s in thread %s:\n", s.role, ThreadLabel(f, s.tid));
      AppendFrames(&out, symbols.Frames(s.dump, s.pcs, s.frame_offset));
    }
    AppendScenario(&out, f);
    for (const std::string& n : f.notes) absl::StrAppend(&out, "\n  note: ", n, "\n");
  }
  if (!report.findings.empty()) absl::StrAppend(&out, kRule);
  for (const std::string& n : report.notes) absl::StrAppend(&out, "lockscope: note: ", n, "\n");
  absl::StrAppendFormat(
      &out,
      "lockscope: %d finding(s): %d error(s), %d warning(s); %d dump(s), %d thread(s), "
      "%d lock(s), %d lock-order edge(s), %d blocking event(s)%s\n",
      report.findings.size(), report.CountSeverity(Severity::kError),
      report.CountSeverity(Severity::kWarning), report.dump_paths.size(), report.threads,
      report.locks, report.edges, report.events,
      report.dump_dir.empty() ? "" : absl::StrCat("; dumps in ", report.dump_dir));
  return out;
}

}  // namespace lockscope
