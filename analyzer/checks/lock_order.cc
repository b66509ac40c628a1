#include "analyzer/checks/lock_order.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lockscope {

namespace {

struct Node {
  size_t dump;
  uint32_t lock;
};

uint8_t KindOf(const Dump& d, uint32_t lock) {
  const LockInfo* l = d.Lock(lock);
  return l ? l->kind : uint8_t{format::kLockMutex};
}

std::string ThreadLabel(const Dump& d, int32_t tid) {
  const ThreadInfo* t = d.ThreadByTid(tid);
  if (t != nullptr && !t->name.empty()) return absl::StrFormat("T%d (%s)", tid, t->name);
  return absl::StrFormat("T%d", tid);
}

}  // namespace

LockOrderResult CheckLockOrder(const std::vector<std::unique_ptr<Dump>>& dumps,
                               const CycleLimits& limits) {
  LockOrderResult result;
  // Graph over the locks that have edges.
  std::vector<Node> nodes;
  absl::flat_hash_map<uint64_t, uint32_t> node_of;  // (dump << 32 | lock) -> node
  std::vector<std::vector<uint32_t>> adj;
  absl::flat_hash_map<uint64_t, const EdgeInfo*> edge_of;  // (u << 32 | v) -> edge
  auto node = [&](size_t d, uint32_t lock) {
    uint64_t key = (uint64_t{d} << 32) | lock;
    auto [it, inserted] = node_of.try_emplace(key, static_cast<uint32_t>(nodes.size()));
    if (inserted) {
      nodes.push_back({d, lock});
      adj.emplace_back();
    }
    return it->second;
  };
  for (size_t d = 0; d < dumps.size(); ++d) {
    for (const EdgeInfo& e : dumps[d]->edges()) {
      uint32_t u = node(d, e.from), v = node(d, e.to);
      adj[u].push_back(v);
      edge_of[(uint64_t{u} << 32) | v] = &e;
    }
  }
  CycleResult cycles = FindCycles(adj, limits);
  result.truncated = cycles.truncated;

  // Signature (the set of acquisition-stack pairs) -> finding index, for deduplication.
  std::map<std::vector<std::pair<uint32_t, uint32_t>>, size_t> seen;
  std::vector<size_t> duplicates;
  for (std::vector<uint32_t> cycle : cycles.cycles) {
    const size_t k = cycle.size();
    const size_t d = nodes[cycle[0]].dump;
    const Dump& dump = *dumps[d];
    std::vector<const EdgeInfo*> edges(k);
    for (size_t i = 0; i < k; ++i)
      edges[i] = edge_of.at((uint64_t{cycle[i]} << 32) | cycle[(i + 1) % k]);
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

    // Gate lock: held at every occurrence of every edge, and not itself on the cycle.
    std::set<uint32_t> gates(edges[0]->gates.begin(), edges[0]->gates.end());
    for (size_t i = 1; i < k && !gates.empty(); ++i) {
      std::set<uint32_t> next;
      for (uint32_t g : edges[i]->gates)
        if (gates.count(g)) next.insert(g);
      gates.swap(next);
    }
    for (uint32_t n : cycle) gates.erase(nodes[n].lock);
    if (!gates.empty()) {
      ++result.gated;
      continue;
    }

    // A lock on the cycle that was only ever held for read where the cycle leaves it and
    // requested for read where the cycle enters it blocks nobody there: no deadlock. Unless
    // it is a writer-preferring rwlock that some thread asks to write: a queued writer then
    // blocks the second reader (lockdep's rule for recursive readers).
    bool read_only_node = false;
    std::vector<size_t> writer_blocked;  // read/read nodes where a queued writer blocks
    for (size_t i = 0; i < k; ++i) {
      const EdgeInfo* in = edges[(i + k - 1) % k];
      const EdgeInfo* out = edges[i];
      const bool in_read_only =
          (in->modes & format::kEdgeToRead) && !(in->modes & format::kEdgeToWrite);
      const bool out_read_only =
          (out->modes & format::kEdgeFromRead) && !(out->modes & format::kEdgeFromWrite);
      const LockInfo* lock = dump.Lock(nodes[cycle[i]].lock);
      const bool writer_blocks_readers = lock != nullptr &&
                                         (lock->flags & format::kLockPrefersWriters) &&
                                         (lock->flags & format::kLockWritersSeen);
      read_only_node |= in_read_only && out_read_only && !writer_blocks_readers;
      if (in_read_only && out_read_only && writer_blocks_readers) writer_blocked.push_back(i);
    }
    if (read_only_node) {
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

    std::set<int32_t> tids;
    for (const EdgeInfo* e : edges) {
      tids.insert(e->tid);
      if (e->other_tid != 0) tids.insert(e->other_tid);
    }
    const bool single_thread = tids.size() == 1;

    Finding f;
    f.kind = "lock-order-inversion";
    f.severity = single_thread ? Severity::kWarning : Severity::kError;
    for (size_t i = 0; i < k; ++i) {
      const LockInfo* lock = dump.Lock(nodes[cycle[i]].lock);
      FindingLock fl;
      fl.id = absl::StrCat("L", i + 1);
      fl.dump = d;
      fl.address = lock ? lock->address : 0;
      fl.kind = LockKindName(lock ? lock->kind : 0);
      f.locks.push_back(fl);
      f.cycle_edges.push_back({i, (i + 1) % k});
    }
    std::vector<int32_t> thread_order;
    for (const EdgeInfo* e : edges)
      if (std::find(thread_order.begin(), thread_order.end(), e->tid) == thread_order.end())
        thread_order.push_back(e->tid);
    for (int32_t tid : tids)
      if (std::find(thread_order.begin(), thread_order.end(), tid) == thread_order.end())
        thread_order.push_back(tid);
    for (int32_t tid : thread_order) {
      const ThreadInfo* t = dump.ThreadByTid(tid);
      f.threads.push_back({tid, t ? t->name : "", dump.header().pid});
    }
    std::string path;
    for (size_t i = 0; i < k; ++i) absl::StrAppend(&path, "{L", i + 1, "} -> ");
    absl::StrAppend(&path, "{L1}");
    f.summary = absl::StrFormat(
        "lock-order inversion (potential deadlock): %s, %s", path,
        single_thread ? absl::StrCat("seen in one thread only, ", ThreadLabel(dump, *tids.begin()))
                      : absl::StrCat("across ", tids.size(), " threads"));
    for (size_t i = 0; i < k; ++i) {
      const EdgeInfo& e = *edges[i];
      const std::string held = absl::StrCat("L", i + 1);
      const std::string taken = absl::StrCat("L", (i + 1) % k + 1);
      const uint8_t held_kind = KindOf(dump, e.from), taken_kind = KindOf(dump, e.to);
      f.stacks.push_back(
          {absl::StrFormat("%s %s acquired here while holding %s %s", LockNoun(taken_kind), taken,
                           absl::AsciiStrToLower(LockNoun(held_kind)), held),
           e.tid, d, dump.Stack(e.to_stack)});
      f.stacks.push_back({absl::StrFormat("%s %s previously acquired by the same thread here "
                                          "(held when %s was acquired)",
                                          LockNoun(held_kind), held, taken),
                          e.tid, d, dump.Stack(e.from_stack)});
    }
    for (size_t i : writer_blocked)
      f.notes.push_back(absl::StrFormat(
          "L%d is a writer-preferring rwlock (PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) "
          "that threads also write: a writer queued on it blocks new readers, so reading it "
          "here can wait",
          i + 1));
    // lockdep's scenario: thread column i takes L(i) and then wants L(i+1).
    for (size_t i = 0; i < k; ++i) f.scenario.push_back({i, absl::StrCat("lock(L", i + 1, ");")});
    for (size_t i = 0; i < k; ++i)
      f.scenario.push_back({i, absl::StrCat("lock(L", (i + 1) % k + 1, ");")});
    seen[signature] = result.findings.size();
    duplicates.push_back(0);
    result.findings.push_back(std::move(f));
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
