#include "analyzer/checks/class_order.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lockscope {
namespace {

// One order edge, in one dump.
struct Occurrence {
  size_t dump;
  const EdgeInfo* edge;
};

// The lock-order graph over lock classes, every dump's edges merged.
struct ClassGraph {
  std::vector<std::string> names;  // class id -> class
  std::vector<std::vector<uint32_t>> adj;
  std::map<std::pair<uint32_t, uint32_t>, std::vector<Occurrence>> occurrences;

  ClassGraph(const std::vector<std::unique_ptr<Dump>>& dumps, LockClasses& classes) {
    absl::flat_hash_map<std::string, uint32_t> id_of;
    auto id = [&](const std::string& name) {
      auto [it, inserted] = id_of.try_emplace(name, static_cast<uint32_t>(names.size()));
      if (inserted) {
        names.push_back(name);
        adj.emplace_back();
      }
      return it->second;
    };
    ForEachClassEdge(
        dumps, classes,
        [&](size_t d, const EdgeInfo& e, const std::string& cu, const std::string& cv) {
          if (cu == cv) return;  // within one class: the instance graph's
          const uint32_t u = id(cu), v = id(cv);
          std::vector<Occurrence>& occ = occurrences[{u, v}];
          if (occ.empty()) adj[u].push_back(v);
          occ.push_back({d, &e});
        });
  }
};

// "process 1234 (./app --order ba)": the dump's pid and command line (shortened).
std::string ProcessLabel(const Dump& d) {
  const format::FileHeader& h = d.header();
  // NUL-separated arguments, the buffer NUL-padded after the last.
  size_t end = sizeof(h.cmdline);
  while (end > 0 && h.cmdline[end - 1] == '\0') --end;
  std::string cmd(h.cmdline, end);
  std::replace(cmd.begin(), cmd.end(), '\0', ' ');
  if (cmd.size() > 80) cmd = cmd.substr(0, 77) + "...";
  return cmd.empty() ? absl::StrCat("process ", h.pid)
                     : absl::StrCat("process ", h.pid, " (", cmd, ")");
}

// The classes held at every occurrence of a class edge, besides its endpoints, that can gate
// it: one lock per process (a per-object or per-thread lock of one class, held by each
// thread around its own work, serialises nothing).
std::set<std::string> GateClasses(const std::vector<Occurrence>& occ, LockClasses& classes) {
  std::set<std::string> common;
  for (size_t i = 0; i < occ.size(); ++i) {
    std::set<std::string> here;
    for (uint32_t gate : occ[i].edge->gates) {
      const std::string& c = classes.Of(occ[i].dump, gate);
      if (!c.empty() && classes.OnePerProcess(occ[i].dump, gate)) here.insert(c);
    }
    if (i == 0) {
      common.swap(here);
    } else {
      std::set<std::string> both;
      std::set_intersection(common.begin(), common.end(), here.begin(), here.end(),
                            std::inserter(both, both.end()));
      common.swap(both);
    }
    if (common.empty()) break;
  }
  return common;
}

Finding MakeFinding(const std::vector<std::unique_ptr<Dump>>& dumps, const ClassGraph& g,
                    const std::vector<uint32_t>& cycle, const std::vector<Occurrence>& chosen) {
  const size_t k = cycle.size();
  Finding f;
  f.kind = "lock-order-inversion";
  f.severity = Severity::kError;
  f.level = "class";
  std::vector<std::string> ids;
  for (size_t i = 0; i < k; ++i) {
    const Dump& d = *dumps[chosen[i].dump];
    const EdgeInfo& e = *chosen[i].edge;
    const LockInfo* l = d.Lock(e.from);
    FindingLock lock;
    lock.id = absl::StrCat("L", i + 1);
    lock.dump = chosen[i].dump;
    lock.address = l ? l->address : 0;
    lock.kind = LockKindName(d.LockKind(e.from));
    lock.lock_class = g.names[cycle[i]];
    f.locks.push_back(lock);
    ids.push_back(absl::StrCat("{", lock.id, "}"));
    f.cycle_edges.push_back({i, (i + 1) % k});
  }
  std::set<size_t> processes;
  for (const Occurrence& o : chosen) processes.insert(o.dump);
  std::string path;
  for (size_t i = 0; i < k; ++i) absl::StrAppend(&path, ids[i], " -> ");
  absl::StrAppend(&path, ids[0]);
  f.summary = absl::StrFormat(
      "lock-order inversion between lock classes (potential deadlock): %s, its edges seen in %d "
      "processes, none of which took them all",
      path, processes.size());
  for (size_t i = 0; i < k; ++i) {
    const Dump& d = *dumps[chosen[i].dump];
    const EdgeInfo& e = *chosen[i].edge;
    const ThreadInfo* t = d.ThreadByTid(e.tid);
    bool known = false;
    for (const FindingThread& ft : f.threads) known |= ft.tid == e.tid && ft.pid == d.header().pid;
    if (!known) f.threads.push_back({e.tid, t ? t->name : "", d.header().pid});
    f.details.push_back(
        absl::StrCat(ids[i], " -> ", ids[(i + 1) % k], ": ", ProcessLabel(d), ", dump ", d.path()));
  }
  for (size_t i = 0; i < k; ++i) {
    const size_t di = chosen[i].dump;
    const Dump& d = *dumps[di];
    const EdgeInfo& e = *chosen[i].edge;
    const uint8_t held_kind = d.LockKind(e.from), taken_kind = d.LockKind(e.to);
    const std::string& held = ids[i];
    const std::string& taken = ids[(i + 1) % k];
    const std::string where = absl::StrCat(" [process ", d.header().pid, "]");
    f.stacks.push_back(
        {absl::StrFormat("%s %s acquired here while holding %s %s%s", LockNoun(taken_kind), taken,
                         absl::AsciiStrToLower(LockNoun(held_kind)), held, where),
         e.tid, di, d.Stack(e.to_stack), d.StackFrameOffset(e.to_stack)});
    f.stacks.push_back(
        {absl::StrFormat("%s %s previously acquired by the same thread here (held when %s was "
                         "acquired)%s",
                         LockNoun(held_kind), held, taken, where),
         e.tid, di, d.Stack(e.from_stack), d.StackFrameOffset(e.from_stack)});
  }
  f.notes.push_back(
      "class level: a lock's class is its symbol (a global or static lock), the Python line "
      "that made it (a Python lock), or the site of its first acquisition (any other); each "
      "order above is the program's, so one run can take them all");
  return f;
}

}  // namespace

std::vector<Finding> CheckClassOrder(const std::vector<std::unique_ptr<Dump>>& dumps,
                                     LockClasses& classes, const CycleLimits& limits) {
  std::vector<Finding> findings;
  if (dumps.size() < 2) return findings;
  const ClassGraph g(dumps, classes);
  for (const std::vector<uint32_t>& cycle : FindCycles(g.adj, limits).cycles) {
    const size_t k = cycle.size();
    std::vector<const std::vector<Occurrence>*> occ(k);
    for (size_t i = 0; i < k; ++i) occ[i] = &g.occurrences.at({cycle[i], cycle[(i + 1) % k]});
    // A dump that holds every edge: the instance check's (a cycle there, or locks of one
    // class that are distinct instances in one process, which this check leaves alone).
    std::set<size_t> whole;
    for (const Occurrence& o : *occ[0]) whole.insert(o.dump);
    for (size_t i = 1; i < k && !whole.empty(); ++i) {
      std::set<size_t> here;
      for (const Occurrence& o : *occ[i])
        if (whole.count(o.dump)) here.insert(o.dump);
      whole.swap(here);
    }
    if (!whole.empty()) continue;
    std::set<std::string> gates = GateClasses(*occ[0], classes);
    for (size_t i = 1; i < k && !gates.empty(); ++i) {
      std::set<std::string> here = GateClasses(*occ[i], classes), both;
      std::set_intersection(gates.begin(), gates.end(), here.begin(), here.end(),
                            std::inserter(both, both.end()));
      gates.swap(both);
    }
    for (uint32_t n : cycle) gates.erase(g.names[n]);
    if (!gates.empty()) continue;
    // Each edge told from one process, as few processes as will do: a dump already named.
    std::vector<Occurrence> chosen;
    std::set<size_t> named;
    for (size_t i = 0; i < k; ++i) {
      const Occurrence* pick = &occ[i]->front();
      for (const Occurrence& o : *occ[i])
        if (named.count(o.dump)) {
          pick = &o;
          break;
        }
      named.insert(pick->dump);
      chosen.push_back(*pick);
    }
    findings.push_back(MakeFinding(dumps, g, cycle, chosen));
  }
  return findings;
}

}  // namespace lockscope
