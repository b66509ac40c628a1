#include "analyzer/cycle_finder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

namespace lockscope {
namespace {

using Graph = std::vector<std::vector<uint32_t>>;
using Cycle = std::vector<uint32_t>;
using Cycles = std::vector<Cycle>;

bool ShorterThenLex(const Cycle& a, const Cycle& b) {
  if (a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

CycleLimits Unlimited() {
  CycleLimits l;
  l.max_cycles = SIZE_MAX;
  l.max_length = SIZE_MAX;
  l.max_steps = SIZE_MAX;
  return l;
}

// Brute force: DFS over all simple paths from every node (no pruning), each
// closed cycle rotated to its smallest node; deduplicated and sorted.
Cycles BruteForceCycles(const Graph& g) {
  std::set<Cycle> found;
  const uint32_t n = static_cast<uint32_t>(g.size());
  Cycle path;
  std::vector<bool> on(n, false);
  auto dfs = [&](auto&& self, uint32_t u) -> void {
    for (uint32_t w : g[u]) {
      if (w == path.front()) {
        if (path.size() >= 2) {
          Cycle c = path;
          std::rotate(c.begin(), std::min_element(c.begin(), c.end()), c.end());
          found.insert(c);
        }
      } else if (!on[w]) {
        on[w] = true;
        path.push_back(w);
        self(self, w);
        path.pop_back();
        on[w] = false;
      }
    }
  };
  for (uint32_t s = 0; s < n; ++s) {
    path = {s};
    on[s] = true;
    dfs(dfs, s);
    on[s] = false;
  }
  Cycles out(found.begin(), found.end());
  std::sort(out.begin(), out.end(), ShorterThenLex);
  return out;
}

Graph RandomGraph(std::mt19937& rng, uint32_t n) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double density = unit(rng);
  Graph g(n);
  for (uint32_t u = 0; u < n; ++u)
    for (uint32_t v = 0; v < n; ++v)
      if (unit(rng) < density) {
        g[u].push_back(v);                       // self-loops included
        if (unit(rng) < 0.2) g[u].push_back(v);  // and duplicates
      }
  for (auto& row : g) std::shuffle(row.begin(), row.end(), rng);
  return g;
}

Graph Complete(uint32_t n) {
  Graph g(n);
  for (uint32_t u = 0; u < n; ++u)
    for (uint32_t v = 0; v < n; ++v)
      if (u != v) g[u].push_back(v);
  return g;
}

// ---------------------------------------------------------------- hand-written

TEST(CycleFinderTest, EmptyGraphAndDag) {
  EXPECT_TRUE(FindCycles({}).cycles.empty());
  const Graph dag = {{1, 2}, {2, 3}, {3}, {}, {0, 3}};
  const CycleResult r = FindCycles(dag);
  EXPECT_TRUE(r.cycles.empty());
  EXPECT_FALSE(r.truncated);
}

TEST(CycleFinderTest, TwoCycle) {
  const CycleResult r = FindCycles({{}, {2}, {1}});
  EXPECT_EQ(r.cycles, (Cycles{{1, 2}}));
  EXPECT_FALSE(r.truncated);
}

TEST(CycleFinderTest, ThreeCycleIsRotatedToSmallestNode) {
  const CycleResult r = FindCycles({{}, {}, {4}, {2}, {3}});  // 2->4->3->2
  EXPECT_EQ(r.cycles, (Cycles{{2, 4, 3}}));
  EXPECT_FALSE(r.truncated);
}

TEST(CycleFinderTest, TwoDisjointCyclesShortestFirst) {
  // 0->1->2->0 and 3<->4, joined by a one-way edge 2->3.
  const CycleResult r = FindCycles({{1}, {2}, {0, 3}, {4}, {3}});
  EXPECT_EQ(r.cycles, (Cycles{{3, 4}, {0, 1, 2}}));
  EXPECT_FALSE(r.truncated);
}

TEST(CycleFinderTest, FigureEight) {
  // Two cycles sharing node 0: 0->1->2->0 and 0->3->4->0.
  const CycleResult r = FindCycles({{3, 1}, {2}, {0}, {4}, {0}});
  EXPECT_EQ(r.cycles, (Cycles{{0, 1, 2}, {0, 3, 4}}));
  EXPECT_FALSE(r.truncated);
}

TEST(CycleFinderTest, SelfLoopsIgnored) {
  EXPECT_TRUE(FindCycles({{0}}).cycles.empty());
  const CycleResult r = FindCycles({{0, 1}, {1, 0}, {2}});
  EXPECT_EQ(r.cycles, (Cycles{{0, 1}}));
  EXPECT_FALSE(r.truncated);
}

TEST(CycleFinderTest, DuplicateEdgesGiveOneCycle) {
  const CycleResult r = FindCycles({{1, 1, 1}, {2, 0, 2}, {0, 0}});
  EXPECT_EQ(r.cycles, (Cycles{{0, 1}, {0, 1, 2}}));
  EXPECT_FALSE(r.truncated);
}

TEST(CycleFinderTest, OutOfRangeSuccessorThrows) {
  EXPECT_THROW(FindCycles({{1}, {5}}), std::out_of_range);
}

TEST(SccTest, HandWritten) {
  // {0,1,2} cycle -> {3} -> {4,5} cycle; 6 isolated with a self-loop.
  const Graph g = {{1}, {2}, {0, 3}, {4}, {5}, {4}, {6}};
  uint32_t count = 0;
  const std::vector<uint32_t> c = StronglyConnectedComponents(g, &count);
  EXPECT_EQ(count, 4u);
  EXPECT_EQ(c[0], c[1]);
  EXPECT_EQ(c[1], c[2]);
  EXPECT_EQ(c[4], c[5]);
  EXPECT_NE(c[0], c[3]);
  EXPECT_NE(c[3], c[4]);
  EXPECT_NE(c[6], c[0]);
  EXPECT_LT(c[4], c[3]);  // reverse topological ids
  EXPECT_LT(c[3], c[0]);
}

TEST(SccTest, LongPathAndRingNeedNoRecursion) {
  const uint32_t n = 1'000'000;
  Graph g(n);
  for (uint32_t i = 0; i + 1 < n; ++i) g[i].push_back(i + 1);
  uint32_t count = 0;
  EXPECT_EQ(StronglyConnectedComponents(g, &count).size(), n);
  EXPECT_EQ(count, n);
  g[n - 1].push_back(0);  // one ring of 1M nodes
  const std::vector<uint32_t> c = StronglyConnectedComponents(g, &count);
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(c[n / 2], c[0]);
  // The only cycle is far longer than max_length: nothing to report, and the
  // search must not burn its budget on the million trivial starts.
  const CycleResult r = FindCycles(g);
  EXPECT_TRUE(r.cycles.empty());
  EXPECT_FALSE(r.truncated);
}

// ------------------------------------------------------------------ randomized

TEST(CycleFinderRandomTest, MatchesBruteForce) {
  std::mt19937 rng(12345);
  for (int iter = 0; iter < 1500; ++iter) {
    const Graph g = RandomGraph(rng, 1 + rng() % 7);
    const Cycles expected = BruteForceCycles(g);
    const CycleResult r = FindCycles(g, Unlimited());
    ASSERT_FALSE(r.truncated);
    ASSERT_EQ(r.cycles, expected) << "iteration " << iter;  // same set and order
    ASSERT_TRUE(std::is_sorted(r.cycles.begin(), r.cycles.end(), ShorterThenLex));
    for (const Cycle& c : r.cycles) {
      ASSERT_GE(c.size(), 2u);
      ASSERT_EQ(c.front(), *std::min_element(c.begin(), c.end()));
      ASSERT_EQ(std::set<uint32_t>(c.begin(), c.end()).size(), c.size());
    }
  }
}

TEST(CycleFinderRandomTest, LimitsKeepAPrefixOfTheFullList) {
  std::mt19937 rng(777);
  for (int iter = 0; iter < 1000; ++iter) {
    const Graph g = RandomGraph(rng, 1 + rng() % 7);
    const Cycles all = BruteForceCycles(g);

    // max_length: exactly the cycles that are short enough; not truncation.
    CycleLimits by_length = Unlimited();
    by_length.max_length = rng() % 8;
    Cycles short_ones;
    for (const Cycle& c : all)
      if (c.size() <= by_length.max_length) short_ones.push_back(c);
    CycleResult r = FindCycles(g, by_length);
    ASSERT_EQ(r.cycles, short_ones);
    ASSERT_FALSE(r.truncated);

    // max_cycles: the first max_cycles cycles; truncated iff more exist.
    CycleLimits by_count = Unlimited();
    by_count.max_cycles = rng() % (all.size() + 2);
    r = FindCycles(g, by_count);
    const size_t kept = std::min(all.size(), by_count.max_cycles);
    ASSERT_EQ(r.cycles, Cycles(all.begin(), all.begin() + kept));
    ASSERT_EQ(r.truncated, all.size() > by_count.max_cycles);

    // max_steps: always a prefix; complete whenever not truncated.
    CycleLimits by_steps = Unlimited();
    by_steps.max_steps = rng() % 200;
    r = FindCycles(g, by_steps);
    ASSERT_LE(r.cycles.size(), all.size());
    ASSERT_EQ(r.cycles, Cycles(all.begin(), all.begin() + r.cycles.size()));
    if (!r.truncated) {
      ASSERT_EQ(r.cycles, all);
    }
  }
}

TEST(SccRandomTest, MatchesReachability) {
  std::mt19937 rng(4242);
  for (int iter = 0; iter < 2000; ++iter) {
    const uint32_t n = 1 + rng() % 9;
    const Graph g = RandomGraph(rng, n);
    // reach[u][v]: v reachable from u (reflexive), by Floyd-Warshall.
    std::vector<std::vector<bool>> reach(n, std::vector<bool>(n, false));
    for (uint32_t u = 0; u < n; ++u) {
      reach[u][u] = true;
      for (uint32_t v : g[u]) reach[u][v] = true;
    }
    for (uint32_t k = 0; k < n; ++k)
      for (uint32_t u = 0; u < n; ++u)
        for (uint32_t v = 0; v < n; ++v)
          if (reach[u][k] && reach[k][v]) reach[u][v] = true;

    uint32_t count = 0;
    const std::vector<uint32_t> c = StronglyConnectedComponents(g, &count);
    ASSERT_EQ(c.size(), n);
    std::set<uint32_t> ids(c.begin(), c.end());
    ASSERT_EQ(ids.size(), count);
    ASSERT_EQ(*ids.rbegin(), count - 1);  // dense ids
    for (uint32_t u = 0; u < n; ++u)
      for (uint32_t v = 0; v < n; ++v) {
        ASSERT_EQ(c[u] == c[v], reach[u][v] && reach[v][u]);
        if (reach[u][v] && c[u] != c[v]) {
          ASSERT_LT(c[v], c[u]);
        }
      }
  }
}

// ---------------------------------------------------------------------- limits

TEST(CycleFinderLimitsTest, MaxCyclesAndMaxLength) {
  // 0..4 all connected: 10 2-cycles, 20 3-cycles, 30 4-cycles, 24 5-cycles.
  const Graph k5 = Complete(5);
  EXPECT_EQ(FindCycles(k5, Unlimited()).cycles.size(), 84u);

  CycleLimits limits = Unlimited();
  limits.max_length = 3;
  CycleResult r = FindCycles(k5, limits);
  EXPECT_EQ(r.cycles.size(), 30u);
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.cycles.back().size(), 3u);

  limits = Unlimited();
  limits.max_cycles = 12;
  r = FindCycles(k5, limits);
  ASSERT_EQ(r.cycles.size(), 12u);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.cycles[9], (Cycle{3, 4}));
  EXPECT_EQ(r.cycles[10], (Cycle{0, 1, 2}));
  EXPECT_EQ(r.cycles[11], (Cycle{0, 1, 3}));

  limits.max_cycles = 84;  // exactly all of them: not truncated
  r = FindCycles(k5, limits);
  EXPECT_EQ(r.cycles.size(), 84u);
  EXPECT_FALSE(r.truncated);

  limits.max_cycles = 0;
  r = FindCycles(k5, limits);
  EXPECT_TRUE(r.cycles.empty());
  EXPECT_TRUE(r.truncated);
}

TEST(CycleFinderLimitsTest, MaxStepsTruncates) {
  CycleLimits limits;
  limits.max_steps = 10;
  const CycleResult r = FindCycles(Complete(8), limits);
  EXPECT_TRUE(r.truncated);
  EXPECT_LT(r.cycles.size(), 28u);
}

TEST(CycleFinderLimitsTest, HandOverHandWalkIsFast) {
  // Edges i->i+1 and i+1->i: one SCC of 1000 nodes with 999 2-cycles.
  const uint32_t n = 1000;
  Graph g(n);
  for (uint32_t i = 0; i + 1 < n; ++i) {
    g[i].push_back(i + 1);
    g[i + 1].push_back(i);
  }
  uint32_t count = 0;
  StronglyConnectedComponents(g, &count);
  EXPECT_EQ(count, 1u);
  CycleResult r;
  r = FindCycles(g);  // bounded by the step budget, not by a clock
  ASSERT_EQ(r.cycles.size(), 999u);
  EXPECT_FALSE(r.truncated);
  for (uint32_t i = 0; i + 1 < n; ++i) EXPECT_EQ(r.cycles[i], (Cycle{i, i + 1}));
}

TEST(CycleFinderLimitsTest, CompleteGraphStopsQuicklyWithShortestCycles) {
  const Graph k30 = Complete(30);
  for (const size_t max_cycles : {size_t{1000}, SIZE_MAX}) {  // count or step limit
    CycleLimits limits;
    limits.max_cycles = max_cycles;
    CycleResult r;
    r = FindCycles(k30, limits);  // bounded by the step budget, not by a clock
    EXPECT_TRUE(r.truncated);
    EXPECT_LE(r.cycles.size(), max_cycles);
    ASSERT_GE(r.cycles.size(), 435u);  // all C(30,2) 2-cycles come first
    for (size_t i = 0; i < 435; ++i) ASSERT_EQ(r.cycles[i].size(), 2u);
    EXPECT_TRUE(std::is_sorted(r.cycles.begin(), r.cycles.end(), ShorterThenLex));
    EXPECT_EQ(r.cycles[435], (Cycle{0, 1, 2}));
  }
}

}  // namespace
}  // namespace lockscope
