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
    if (t.tid == tid)
      return t.name.empty() ? absl::StrFormat("T%d", tid)
                            : absl::StrFormat("T%d (%s)", tid, t.name);
  return absl::StrFormat("T%d", tid);
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
    absl::StrAppendFormat(out, "    #%d %s%s%s (%s+0x%x)%s\n", n++,
                          fr.function.empty() ? "<unknown>" : fr.function, where, "",
                          fr.module.empty() ? "?" : fr.module, fr.module_offset,
                          fr.inlined ? " [inlined]" : "");
  }
}

void AppendScenario(std::string* out, const Finding& f) {
  if (f.scenario.empty()) return;
  size_t columns = 0;
  for (const ScenarioStep& s : f.scenario) columns = std::max(columns, s.column + 1);
  // One column per edge of the cycle, labelled with the thread that took that edge.
  std::vector<std::string> heads(columns);
  for (size_t c = 0; c < columns; ++c) {
    const FindingStack* s = 2 * c < f.stacks.size() ? &f.stacks[2 * c] : nullptr;
    heads[c] = s ? ThreadLabel(f, s->tid) : absl::StrCat("CPU", c);
  }
  size_t width = 24;
  for (const std::string& h : heads) width = std::max(width, h.size() + 4);
  absl::StrAppend(out, "\n  Possible unsafe locking scenario:\n\n");
  auto row = [&](size_t col, const std::string& text) {
    absl::StrAppend(out, "        ", std::string(col * width, ' '), text, "\n");
  };
  std::string line;
  for (size_t c = 0; c < columns; ++c) {
    std::string h = heads[c];
    h.resize(width, ' ');
    line += h;
  }
  absl::StrAppend(out, "        ", line, "\n");
  line.clear();
  for (size_t c = 0; c < columns; ++c) {
    std::string h = "----";
    h.resize(width, ' ');
    line += h;
  }
  absl::StrAppend(out, "        ", line, "\n");
  for (const ScenarioStep& s : f.scenario) {
    std::string text = s.action;
    for (const FindingLock& l : f.locks)
      if (!l.name.empty() && text.find(l.id + ")") != std::string::npos)
        text.replace(text.find(l.id + ")"), l.id.size() + 1, l.id + " " + l.name + ")");
    row(s.column, text);
  }
  absl::StrAppend(out, "\n   *** DEADLOCK ***\n");
}

}  // namespace

std::string RenderText(const Report& report, SymbolCache& symbols) {
  std::string out;
  for (const Finding& f : report.findings) {
    absl::StrAppend(&out, kRule);
    absl::StrAppendFormat(&out, "lockscope: %s [%s]\n  %s\n", f.kind, SeverityName(f.severity),
                          f.summary);
    for (const std::string& d : f.details) absl::StrAppend(&out, "  ", d, "\n");
    for (const FindingLock& l : f.locks)
      absl::StrAppendFormat(&out, "  %s = %s%s at 0x%x\n", l.id, l.kind,
                            l.name.empty() ? "" : " " + l.name, l.address);
    for (const FindingStack& s : f.stacks) {
      absl::StrAppendFormat(&out, "\n  %s in thread %s:\n", s.role, ThreadLabel(f, s.tid));
      AppendFrames(&out, symbols.Frames(s.dump, s.pcs));
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
