// Cycle enumeration for the lock-order graph.
//
// Contract
// --------
// The graph is given as an adjacency list: adj[u] lists the successors of u
// (edge u->v means "v was acquired while holding u"). Every successor id must
// be < adj.size(); otherwise std::out_of_range is thrown. Duplicate edges are
// allowed and collapse to one edge; self-loops u->u are ignored.
//
// FindCycles returns every elementary cycle (no repeated node) of length
// 2..max_length exactly once, each as the node sequence v0 -> v1 -> ... ->
// v(k-1) -> v0 (the closing edge is implicit), rotated so that v0 is the
// smallest id in the cycle. The list is ordered by length (shortest first),
// then lexicographically.
//
// Cycles are found round by round with increasing length, and within a round in
// lexicographic order, so the result is always a prefix of the complete sorted
// list of cycles of length <= max_length. When a limit cuts the search short,
// the cycles kept are therefore the shortest (and lexicographically smallest).
//
// truncated is true iff the search stopped early because of max_cycles (more
// than max_cycles cycles exist) or max_steps (the work budget ran out), i.e. the
// list may be incomplete. Cycles longer than max_length are excluded by
// definition and do not set truncated.
//
// Cost: SCCs and graph preparation are linear and not charged to max_steps.
// Cycles are searched only inside non-trivial strongly connected components;
// every edge examined by the cycle search (a distance BFS plus a pruned
// depth-limited DFS per start node and round) costs one step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lockscope {

struct CycleLimits {
  size_t max_cycles = 1000;      // stop after this many distinct cycles
  size_t max_length = 16;        // ignore cycles longer than this
  size_t max_steps = 2'000'000;  // total DFS/search work budget; exceeding it sets truncated
};

struct CycleResult {
  // Each: node sequence v0->v1->...->vk-1->v0, rotated so v0 is the smallest
  // node id; no repeated node.
  std::vector<std::vector<uint32_t>> cycles;
  bool truncated = false;  // some limit was hit, so there may be more cycles
};

// Returns every elementary cycle (each exactly once) up to the limits, ordered
// shortest first, then lexicographically. See the contract above.
CycleResult FindCycles(const std::vector<std::vector<uint32_t>>& adj,
                       const CycleLimits& limits = {});

// Tarjan's strongly connected components, iterative (no recursion). Returns the
// component id of every node; ids are dense in [0, *component_count). Ids come
// out in reverse topological order: for an edge u->v between different
// components, id(v) < id(u). component_count may be null.
std::vector<uint32_t> StronglyConnectedComponents(const std::vector<std::vector<uint32_t>>& adj,
                                                  uint32_t* component_count);

}  // namespace lockscope
