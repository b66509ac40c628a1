// DOT: the lock-order graph of every dump; the edges of reported cycles drawn in red.
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/render/render.h"

namespace lockscope {
namespace {

std::string DotString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
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

}  // namespace

std::string RenderDot(const Report& report, const std::vector<std::unique_ptr<Dump>>& dumps,
                      SymbolCache& symbols) {
  std::set<std::tuple<size_t, uint64_t, uint64_t>> hot;  // (dump, from address, to address)
  for (const Finding& f : report.findings)
    for (auto [a, b] : f.cycle_edges)
      if (a < f.locks.size() && b < f.locks.size())
        hot.insert({f.locks[a].dump, f.locks[a].address, f.locks[b].address});
  std::string out = "digraph lockscope {\n  node [shape=box, fontname=monospace];\n";
  for (size_t d = 0; d < dumps.size(); ++d) {
    const Dump& dump = *dumps[d];
    std::set<uint32_t> used;
    std::vector<const EdgeInfo*> edges;
    for (const EdgeInfo& e : dump.edges()) {
      if (!OrderedLock(*dump.Lock(e.from)) || !OrderedLock(*dump.Lock(e.to))) continue;
      edges.push_back(&e);
      used.insert(e.from);
      used.insert(e.to);
    }
    absl::StrAppendFormat(&out, "  subgraph cluster_%d {\n    label=%s;\n", d,
                          DotString(absl::StrFormat("pid %d", dump.header().pid)));
    for (uint32_t l : used) {
      const LockInfo* lock = dump.Lock(l);
      std::string name = symbols.LockName(d, lock->address);
      absl::StrAppendFormat(
          &out, "    n%d_%d [label=%s];\n", d, l,
          DotString(absl::StrFormat("%s 0x%x %s", name, lock->address, LockKindName(lock->kind))));
    }
    for (const EdgeInfo* e : edges) {
      bool in_cycle = hot.count({d, dump.Lock(e->from)->address, dump.Lock(e->to)->address}) > 0;
      const std::string site = SiteLabel(symbols, d, dump, e->to_stack);
      absl::StrAppendFormat(&out, "    n%d_%d -> n%d_%d [label=%s%s];\n", d, e->from, d, e->to,
                            DotString(site), in_cycle ? ", color=red, penwidth=2" : "");
    }
    absl::StrAppend(&out, "  }\n");
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

}  // namespace lockscope
