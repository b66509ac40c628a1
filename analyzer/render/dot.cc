// DOT: the lock-order graph between lock classes (lock_classes.h), every dump's edges
// merged; the edges of reported cycles drawn in red (orange when a --baseline knows them). Each
// edge is labelled by a thread and the site that took its second lock (one occurrence, and how many
// more). A lock without a class is drawn as itself (process and address).
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/render/render.h"

namespace lockscope {
namespace {

std::string DotString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {  // a line break in a label
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Where an edge's second lock was taken, for its label (SymbolCache::Site).
std::string SiteLabel(SymbolCache& symbols, size_t dump, const Dump& d, uint32_t stack) {
  const std::optional<SymbolizedFrame> site =
      symbols.Site(dump, d.Stack(stack), d.StackFrameOffset(stack));
  if (!site) return "";
  std::string file = site->file;
  if (size_t slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
  return site->line > 0 ? absl::StrFormat("%s %s:%d", site->function, file, site->line)
                        : site->function;
}

struct DotEdge {
  size_t dump = 0;
  const EdgeInfo* first = nullptr;  // the occurrence the label tells
  size_t count = 0;
};

}  // namespace

std::string RenderDot(const Report& report, const std::vector<std::unique_ptr<Dump>>& dumps,
                      SymbolCache& symbols, LockClasses& classes) {
  // The cycles' edges, by class (Finding::class_edges, every lock-order inversion's): red,
  // or orange for an edge only known cycles take.
  std::map<std::pair<std::string, std::string>, bool> hot;  // -> on a cycle not known
  for (const Finding& f : report.findings)
    for (const auto& e : f.class_edges) hot[e] = hot[e] || f.baseline != "known";
  std::map<std::string, std::string> kind_of;  // node -> lock kind
  std::map<std::pair<std::string, std::string>, DotEdge> edges;
  for (size_t d = 0; d < dumps.size(); ++d) {
    const Dump& dump = *dumps[d];
    auto node = [&](uint32_t lock) {
      const LockInfo* l = dump.Lock(lock);
      std::string name = classes.Of(d, lock);
      if (name.empty())
        name = absl::StrFormat("pid %d: 0x%x", dump.header().pid, l ? l->address : 0);
      kind_of.try_emplace(name, LockKindName(l ? l->kind : uint8_t{format::kLockMutex}));
      return name;
    };
    for (const EdgeInfo& e : dump.edges()) {
      const LockInfo* from = dump.Lock(e.from);
      const LockInfo* to = dump.Lock(e.to);
      if (from == nullptr || to == nullptr || !OrderedLock(*from) || !OrderedLock(*to)) continue;
      DotEdge& de = edges[{node(e.from), node(e.to)}];
      if (de.count++ == 0) {
        de.dump = d;
        de.first = &e;
      }
    }
  }
  std::map<std::string, size_t> id;
  std::string out = "digraph lockscope {\n  node [shape=box, fontname=monospace];\n";
  for (const auto& [name, kind] : kind_of) {
    id[name] = id.size();
    absl::StrAppendFormat(&out, "  n%d [label=%s];\n", id[name],
                          DotString(absl::StrCat(name, "\n", kind)));
  }
  for (const auto& [ends, de] : edges) {
    const Dump& dump = *dumps[de.dump];
    const ThreadInfo* t = dump.ThreadByTid(de.first->tid);
    std::string label =
        absl::StrFormat("%s pid %d\n%s", ThreadLabel(de.first->tid, t ? t->name : ""),
                        dump.header().pid, SiteLabel(symbols, de.dump, dump, de.first->to_stack));
    if (de.count > 1) absl::StrAppendFormat(&label, "\n(+%d more)", de.count - 1);
    auto h = hot.find(ends);
    absl::StrAppendFormat(&out, "  n%d -> n%d [label=%s%s];\n", id[ends.first], id[ends.second],
                          DotString(label),
                          h == hot.end() ? ""
                          : h->second    ? ", color=red, penwidth=2"
                                         : ", color=orange, penwidth=2");
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

}  // namespace lockscope
