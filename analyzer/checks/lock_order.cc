#include "analyzer/checks/lock_order.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/finding_builder.h"

namespace lockscope {
namespace {

struct Node {
  size_t dump;
  uint32_t lock;
};

// The lock-order graph over the locks that have edges, every dump's in one.
struct OrderGraph {
  std::vector<Node> nodes;
  std::vector<std::vector<uint32_t>> adj;
  absl::flat_hash_map<uint64_t, const EdgeInfo*> edge_of;  // (u << 32 | v) -> edge

  explicit OrderGraph(const std::vector<std::unique_ptr<Dump>>& dumps) {
    absl::flat_hash_map<uint64_t, uint32_t> node_of;  // (dump << 32 | lock) -> node
    auto node = [&](size_t d, uint32_t lock) {
      auto [it, inserted] =
          node_of.try_emplace((uint64_t{d} << 32) | lock, static_cast<uint32_t>(nodes.size()));
      if (inserted) {
        nodes.push_back({d, lock});
        adj.emplace_back();
      }
      return it->second;
    };
    for (size_t d = 0; d < dumps.size(); ++d) {
      for (const EdgeInfo& e : dumps[d]->edges()) {
        // A semaphore that proved not to be a lock (a hand-off) orders nothing.
        if (!OrderedLock(*dumps[d]->Lock(e.from)) || !OrderedLock(*dumps[d]->Lock(e.to))) continue;
        uint32_t u = node(d, e.from), v = node(d, e.to);
        adj[u].push_back(v);
        edge_of[(uint64_t{u} << 32) | v] = &e;
      }
    }
  }
};

// A gate lock: held at every occurrence of every edge, and not itself on the cycle.
bool Gated(const std::vector<uint32_t>& cycle, const std::vector<const EdgeInfo*>& edges,
           const OrderGraph& g) {
  std::set<uint32_t> gates(edges[0]->gates.begin(), edges[0]->gates.end());
  for (size_t i = 1; i < edges.size() && !gates.empty(); ++i) {
    std::set<uint32_t> next;
    for (uint32_t gate : edges[i]->gates)
      if (gates.count(gate)) next.insert(gate);
    gates.swap(next);
  }
  for (uint32_t n : cycle) gates.erase(g.nodes[n].lock);
  return !gates.empty();
}

// Where a cycle passes through a lock only held for read where it leaves it and requested
// for read where it enters it. Such a node blocks nobody (readers do not block readers) unless
// the lock is a writer-preferring rwlock some thread asks to write: a queued writer then
// blocks the second reader (lockdep's rule for recursive readers). Returns whether a node
// blocks nobody; `writer_blocked` gets the read/read nodes that can block that way.
bool ReadOnlyNode(const Dump& dump, const std::vector<uint32_t>& cycle,
                  const std::vector<const EdgeInfo*>& edges, const OrderGraph& g,
                  std::vector<size_t>* writer_blocked) {
  const size_t k = cycle.size();
  bool read_only = false;
  for (size_t i = 0; i < k; ++i) {
    const EdgeInfo* in = edges[(i + k - 1) % k];
    const EdgeInfo* out = edges[i];
    const bool in_read = (in->modes & format::kEdgeToRead) && !(in->modes & format::kEdgeToWrite);
    const bool out_read =
        (out->modes & format::kEdgeFromRead) && !(out->modes & format::kEdgeFromWrite);
    if (!in_read || !out_read) continue;
    const LockInfo* lock = dump.Lock(g.nodes[cycle[i]].lock);
    if (lock != nullptr && (lock->flags & format::kLockPrefersWriters) &&
        (lock->flags & format::kLockWritersSeen))
      writer_blocked->push_back(i);
    else
      read_only = true;
  }
  return read_only;
}

// The finding of one cycle (`edges[i]` goes from cycle[i] to cycle[i + 1]), its story told
// from the edge of the thread that registered first.
Finding MakeFinding(const Dump& dump, size_t di, const std::vector<uint32_t>& cycle,
                    const std::vector<const EdgeInfo*>& edges, const OrderGraph& g,
                    const std::vector<size_t>& writer_blocked) {
  const size_t k = cycle.size();
  std::set<int32_t> tids;
  for (const EdgeInfo* e : edges) {
    tids.insert(e->tid);
    if (e->other_tid != 0) tids.insert(e->other_tid);
  }
  const bool single_thread = tids.size() == 1;
  FindingBuilder b(dump, di, "lock-order-inversion",
                   single_thread ? Severity::kWarning : Severity::kError);
  std::vector<std::string> ids;
  std::vector<size_t> at;  // each cycle lock's position in the finding's locks (two records
                           // of one address, as a corrupt dump may have, share one)
  for (size_t i = 0; i < k; ++i) {
    const uint32_t lock = g.nodes[cycle[i]].lock;
    const LockInfo* l = dump.Lock(lock);
    ids.push_back(b.Lock(l ? l->address : 0, dump.LockKind(lock)));
    at.push_back(b.LockIndex(l ? l->address : 0));
  }
  for (size_t i = 0; i < k; ++i) b.finding().cycle_edges.push_back({at[i], at[(i + 1) % k]});
  // Threads in the order they took the edges, then those that also took one.
  for (const EdgeInfo* e : edges) b.Thread(e->tid);
  for (int32_t tid : tids) b.Thread(tid);
  std::string path;
  for (size_t i = 0; i < k; ++i) absl::StrAppend(&path, ids[i], " -> ");
  absl::StrAppend(&path, ids[0]);
  b.finding().summary = absl::StrFormat(
      "lock-order inversion (potential deadlock): %s, %s", path,
      single_thread ? absl::StrCat("seen in one thread only, ", b.Thread(*tids.begin()))
                    : absl::StrCat("across ", tids.size(), " threads"));
  for (size_t i = 0; i < k; ++i) {
    const EdgeInfo& e = *edges[i];
    const std::string& held = ids[i];
    const std::string& taken = ids[(i + 1) % k];
    const uint8_t held_kind = dump.LockKind(e.from), taken_kind = dump.LockKind(e.to);
    b.Stack(absl::StrFormat("%s %s acquired here while holding %s %s", LockNoun(taken_kind), taken,
                            absl::AsciiStrToLower(LockNoun(held_kind)), held),
            e.tid, e.to_stack);
    b.Stack(absl::StrFormat("%s %s previously acquired by the same thread here (held when %s "
                            "was acquired)",
                            LockNoun(held_kind), held, taken),
            e.tid, e.from_stack);
  }
  for (size_t i : writer_blocked)
    b.finding().notes.push_back(absl::StrFormat(
        "%s is a writer-preferring rwlock (PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) that "
        "threads also write: a writer queued on it blocks new readers, so reading it here can "
        "wait",
        ids[i]));
  // lockdep's scenario: the thread of edge i takes L(i), then wants L(i+1).
  for (size_t i = 0; i < k; ++i) b.Step(edges[i]->tid, absl::StrCat("lock(", ids[i], ");"));
  for (size_t i = 0; i < k; ++i)
    b.Step(edges[i]->tid, absl::StrCat("lock(", ids[(i + 1) % k], ");"));
  return b.Take();
}

}  // namespace

LockOrderResult CheckLockOrder(const std::vector<std::unique_ptr<Dump>>& dumps,
                               const CycleLimits& limits) {
  LockOrderResult result;
  const OrderGraph g(dumps);
  CycleResult cycles = FindCycles(g.adj, limits);
  result.truncated = cycles.truncated;

  // Signature (the set of acquisition-stack pairs) -> finding index, for deduplication.
  std::map<std::vector<std::pair<uint32_t, uint32_t>>, size_t> seen;
  std::vector<size_t> duplicates;
  for (std::vector<uint32_t> cycle : cycles.cycles) {
    const size_t k = cycle.size();
    const size_t d = g.nodes[cycle[0]].dump;
    const Dump& dump = *dumps[d];
    std::vector<const EdgeInfo*> edges(k);
    for (size_t i = 0; i < k; ++i)
      edges[i] = g.edge_of.at((uint64_t{cycle[i]} << 32) | cycle[(i + 1) % k]);
    // Tell the story in the order it happened, as far as the dump knows it: start with the
    // edge of the thread that registered first (lowest slot).
    auto slot = [&](const EdgeInfo* e) {
      const ThreadInfo* t = dump.ThreadByTid(e->tid);
      return t ? t->slot : UINT32_MAX;
    };
    size_t first = 0;
    for (size_t i = 1; i < k; ++i)
      if (slot(edges[i]) < slot(edges[first])) first = i;
    std::rotate(cycle.begin(), cycle.begin() + first, cycle.end());
    std::rotate(edges.begin(), edges.begin() + first, edges.end());

    if (Gated(cycle, edges, g)) {
      ++result.gated;
      continue;
    }
    std::vector<size_t> writer_blocked;
    if (ReadOnlyNode(dump, cycle, edges, g, &writer_blocked)) {
      ++result.read_only;
      continue;
    }
    std::vector<std::pair<uint32_t, uint32_t>> signature;
    for (const EdgeInfo* e : edges) signature.push_back({e->from_stack, e->to_stack});
    std::sort(signature.begin(), signature.end());
    if (auto it = seen.find(signature); it != seen.end()) {
      ++duplicates[it->second];
      continue;
    }
    seen[signature] = result.findings.size();
    duplicates.push_back(0);
    result.findings.push_back(MakeFinding(dump, d, cycle, edges, g, writer_blocked));
  }
  for (size_t i = 0; i < result.findings.size(); ++i) {
    if (duplicates[i] > 0)
      result.findings[i].notes.push_back(absl::StrFormat(
          "%d more cycle(s) with the same acquisition stacks were folded into this report",
          duplicates[i]));
  }
  // Multi-thread cycles first, then shorter ones (FindCycles already ordered by length).
  std::stable_sort(result.findings.begin(), result.findings.end(),
                   [](const Finding& a, const Finding& b) { return a.severity < b.severity; });
  return result;
}

}  // namespace lockscope
