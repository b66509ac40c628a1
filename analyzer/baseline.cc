#include "analyzer/baseline.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace lockscope {

namespace {

// FNV-1a, 64 bits: stable across builds and machines (absl::Hash is seeded per process).
uint64_t Fnv1a(const std::string& s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The class of a finding's lock: its own (a class-level finding's), else the class of the
// lock at its address in its dump; "?" when none can be told.
std::string ClassOf(const FindingLock& l, const std::vector<std::unique_ptr<Dump>>& dumps,
                    LockClasses& classes) {
  if (!l.lock_class.empty()) return l.lock_class;
  if (l.dump < dumps.size())
    if (const LockInfo* info = dumps[l.dump]->LockAt(l.address)) {
      const std::string& c = classes.Of(l.dump, info->index);
      if (!c.empty()) return c;
    }
  return "?";
}

// What a stack's frame that matters (LockClasses::FrameThatMatters) says without line or
// address: "function (file)".
std::string FrameThatMatters(const FindingStack& s, LockClasses& classes, SymbolCache& symbols) {
  const std::vector<SymbolizedFrame> frames = symbols.Frames(s.dump, s.pcs, s.frame_offset);
  const SymbolizedFrame* f = classes.FrameThatMatters(frames);
  return f ? absl::StrCat(f->function, " (", Basename(f->file), ")") : "";
}

}  // namespace

void Fingerprint(Report& report, const std::vector<std::unique_ptr<Dump>>& dumps,
                 LockClasses& classes, SymbolCache& symbols) {
  for (Finding& f : report.findings) {
    std::vector<std::string> lock_classes, frames;
    for (const FindingLock& l : f.locks) lock_classes.push_back(ClassOf(l, dumps, classes));
    for (const FindingStack& s : f.stacks) frames.push_back(FrameThatMatters(s, classes, symbols));
    if (f.kind == "lock-order-inversion")
      for (const auto& [from, to] : f.cycle_edges)
        if (from < lock_classes.size() && to < lock_classes.size())
          f.class_edges.push_back({lock_classes[from], lock_classes[to]});
    // Order-free: the same cycle may be told from another edge, the stacks in another order.
    std::sort(lock_classes.begin(), lock_classes.end());
    std::sort(frames.begin(), frames.end());
    uint64_t h = Fnv1a(absl::StrCat(f.kind, "\n", f.level, "\n"));
    for (const std::string& c : lock_classes) h = Fnv1a(absl::StrCat("lock ", c, "\n"), h);
    for (const std::string& fr : frames) h = Fnv1a(absl::StrCat("frame ", fr, "\n"), h);
    f.fingerprint = absl::StrFormat("%016x", h);
  }
}

std::set<ClassEdge> ClassEdges(const std::vector<std::unique_ptr<Dump>>& dumps,
                               LockClasses& classes) {
  std::set<ClassEdge> edges;
  ForEachClassEdge(dumps, classes,
                   [&](size_t, const EdgeInfo&, const std::string& cu, const std::string& cv) {
                     edges.insert({cu, cv});
                   });
  return edges;
}

absl::StatusOr<std::set<ClassEdge>> ReadBaseline(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read baseline ", path, ": ", strerror(errno)));
  std::set<ClassEdge> edges;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l.empty() || l[0] == '#') continue;
    std::vector<std::string> parts = absl::StrSplit(l, '\t');
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty())
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n, ": not a baseline edge (CLASS, a tab, CLASS): '", line, "'"));
    edges.insert({parts[0], parts[1]});
  }
  return edges;
}

absl::Status WriteBaseline(const std::string& path, const std::set<ClassEdge>& edges) {
  std::ofstream out(path, std::ios::trunc);
  if (!out)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write baseline ", path, ": ", strerror(errno)));
  out << "# lockscope baseline: the accepted lock-order graph between lock classes, one edge\n"
         "# per line (the class held, a tab, the class taken). `lockscope report --baseline`\n"
         "# fails only on a cycle with an edge not listed here.\n";
  for (const auto& [from, to] : edges) out << from << '\t' << to << '\n';
  out.close();
  if (!out)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write baseline ", path, ": ", strerror(errno)));
  return absl::OkStatus();
}

void ApplyBaseline(Report& report, const std::set<ClassEdge>& baseline, const std::string& path) {
  size_t known = 0, fresh = 0;
  for (Finding& f : report.findings) {
    if (f.kind != "lock-order-inversion") continue;
    std::vector<std::string> missing;
    for (const ClassEdge& e : f.class_edges)
      if (!baseline.count(e)) missing.push_back(absl::StrCat(e.first, " -> ", e.second));
    if (!f.class_edges.empty() && missing.empty()) {
      f.baseline = "known";
      f.severity = Severity::kWarning;
      f.notes.push_back(absl::StrCat("known: every edge of this cycle is in the baseline ", path));
      ++known;
    } else {
      f.baseline = "new";
      for (const std::string& m : missing)
        f.details.push_back(absl::StrCat("new: not in the baseline: ", m));
      if (f.class_edges.empty())
        f.details.push_back("new: its locks have no class the baseline could name");
      ++fresh;
    }
  }
  report.notes.push_back(
      absl::StrFormat("baseline %s: %d known lock-order inversion(s), %d new", path, known, fresh));
}

}  // namespace lockscope
