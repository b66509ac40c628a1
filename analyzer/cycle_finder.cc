#include "analyzer/cycle_finder.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace lockscope {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

// Compressed adjacency (CSR): the successors of u are to[off[u] .. off[u+1]).
struct Csr {
  std::vector<size_t> off;
  std::vector<uint32_t> to;
  const uint32_t* begin(uint32_t u) const { return to.data() + off[u]; }
  const uint32_t* end(uint32_t u) const { return to.data() + off[u + 1]; }
};

// Forward and reverse graphs restricted to edges inside one SCC; forward rows
// are sorted, without duplicates or self-loops.
void BuildIntraSccGraphs(const std::vector<std::vector<uint32_t>>& adj,
                         const std::vector<uint32_t>& comp, Csr* fwd, Csr* rev) {
  const size_t n = adj.size();
  fwd->off.assign(n + 1, 0);
  std::vector<uint32_t> row;
  for (size_t u = 0; u < n; ++u) {
    row.clear();
    for (uint32_t w : adj[u])
      if (w != u && comp[w] == comp[u]) row.push_back(w);
    std::sort(row.begin(), row.end());
    row.erase(std::unique(row.begin(), row.end()), row.end());
    fwd->to.insert(fwd->to.end(), row.begin(), row.end());
    fwd->off[u + 1] = fwd->to.size();
  }
  rev->off.assign(n + 1, 0);
  for (uint32_t w : fwd->to) ++rev->off[w + 1];
  for (size_t u = 0; u < n; ++u) rev->off[u + 1] += rev->off[u];
  rev->to.resize(fwd->to.size());
  std::vector<size_t> fill(rev->off.begin(), rev->off.end() - 1);
  for (uint32_t u = 0; u < n; ++u)
    for (const uint32_t* w = fwd->begin(u); w != fwd->end(u); ++w) rev->to[fill[*w]++] = u;
}

// Finds the cycles of one exact length L whose smallest node is s.
class Searcher {
 public:
  enum class Status { kStopped, kMaybeLonger, kNoLonger };

  Searcher(const Csr& fwd, const Csr& rev, const CycleLimits& limits, CycleResult* result)
      : fwd_(fwd),
        rev_(rev),
        limits_(limits),
        result_(result),
        stamp_(fwd.off.size() - 1, 0),
        dist_(fwd.off.size() - 1, 0),
        on_path_(fwd.off.size() - 1, 0) {}

  // Appends, in lexicographic order, every elementary cycle of length L
  // (L >= 2) that goes through s and otherwise only uses nodes > s. Returns
  // kStopped if a limit stopped the search (result->truncated is then set),
  // kNoLonger if nothing was cut off by the length bound, which proves that no
  // such cycle longer than L exists, and kMaybeLonger otherwise.
  Status Search(uint32_t s, size_t L) {
    limited_ = false;
    if (!ComputeDistances(s, L)) return Status::kStopped;
    if (queue_.size() == 1) return Status::kNoLonger;  // nothing above s reaches s
    // Iterative DFS; path_[d] is the node at depth d, next_[d] points at its
    // next successor (rows are sorted, so successors <= s are skipped).
    path_.assign(1, s);
    next_.assign(1, Above(fwd_, s, s));
    on_path_[s] = 1;
    bool ok = true;
    while (ok && !path_.empty()) {
      const size_t d = path_.size() - 1;  // edges on the current path
      const uint32_t u = path_.back();
      if (next_.back() == fwd_.end(u)) {
        on_path_[u] = 0;
        path_.pop_back();
        next_.pop_back();
        continue;
      }
      const uint32_t w = *next_.back()++;
      if (!Step()) {
        ok = false;
        break;
      }
      // w must be off the path and able to get back to s in time.
      if (on_path_[w] || stamp_[w] != epoch_) continue;
      if (d + 1 + dist_[w] > L) {
        limited_ = true;
        continue;
      }
      if (d + 1 == L - 1) {  // then dist_[w] == 1: w->s closes a cycle of length L
        limited_ = true;     // paths through w were not extended further
        ok = Record(w);
      } else {
        on_path_[w] = 1;
        path_.push_back(w);
        next_.push_back(Above(fwd_, w, s));
      }
    }
    for (uint32_t v : path_) on_path_[v] = 0;
    if (!ok) return Status::kStopped;
    return limited_ ? Status::kMaybeLonger : Status::kNoLonger;
  }

 private:
  // First entry of the sorted row of u that is > s.
  static const uint32_t* Above(const Csr& g, uint32_t u, uint32_t s) {
    return std::upper_bound(g.begin(u), g.end(u), s);
  }

  bool Step() {
    if (++steps_ <= limits_.max_steps) return true;
    result_->truncated = true;
    return false;
  }

  // Reverse BFS from s over nodes > s: dist_[v] = shortest v->s distance for
  // every v with stamp_[v] == epoch_; only distances <= L - 1 are explored.
  bool ComputeDistances(uint32_t s, size_t L) {
    if (++epoch_ == 0) {  // wrapped: invalidate all stamps
      std::fill(stamp_.begin(), stamp_.end(), 0);
      epoch_ = 1;
    }
    stamp_[s] = epoch_;
    dist_[s] = 0;
    queue_.assign(1, s);
    for (size_t i = 0; i < queue_.size(); ++i) {
      const uint32_t v = queue_[i];
      const uint32_t* p = Above(rev_, v, s);
      if (dist_[v] + 1 > L - 1) {
        if (p != rev_.end(v)) limited_ = true;
        continue;
      }
      for (; p != rev_.end(v); ++p) {
        if (!Step()) return false;
        if (stamp_[*p] != epoch_) {
          stamp_[*p] = epoch_;
          dist_[*p] = dist_[v] + 1;
          queue_.push_back(*p);
        }
      }
    }
    return true;
  }

  bool Record(uint32_t last) {
    if (result_->cycles.size() >= limits_.max_cycles) {
      result_->truncated = true;
      return false;
    }
    std::vector<uint32_t> cycle(path_);
    cycle.push_back(last);
    result_->cycles.push_back(std::move(cycle));
    return true;
  }

  const Csr& fwd_;
  const Csr& rev_;
  const CycleLimits& limits_;
  CycleResult* result_;
  size_t steps_ = 0;
  uint32_t epoch_ = 0;
  bool limited_ = false;  // something was cut off by the length bound
  std::vector<uint32_t> stamp_, dist_, queue_, path_;
  std::vector<uint8_t> on_path_;
  std::vector<const uint32_t*> next_;
};

}  // namespace

std::vector<uint32_t> StronglyConnectedComponents(const std::vector<std::vector<uint32_t>>& adj,
                                                  uint32_t* component_count) {
  const size_t n = adj.size();
  if (n >= kNone) throw std::length_error("StronglyConnectedComponents: too many nodes");
  for (const auto& row : adj)
    for (uint32_t w : row)
      if (w >= n) throw std::out_of_range("StronglyConnectedComponents: successor id out of range");

  std::vector<uint32_t> index(n, kNone), low(n, 0), comp(n, kNone), stack;
  std::vector<std::pair<uint32_t, size_t>> calls;  // (node, next successor)
  uint32_t next_index = 0, count = 0;
  for (uint32_t root = 0; root < n; ++root) {
    if (index[root] != kNone) continue;
    index[root] = low[root] = next_index++;
    stack.push_back(root);
    calls.emplace_back(root, 0);
    while (!calls.empty()) {
      const uint32_t v = calls.back().first;
      const size_t i = calls.back().second;
      if (i < adj[v].size()) {
        ++calls.back().second;
        const uint32_t w = adj[v][i];
        if (index[w] == kNone) {  // "recurse" into w
          index[w] = low[w] = next_index++;
          stack.push_back(w);
          calls.emplace_back(w, 0);
        } else if (comp[w] == kNone) {  // w is still on the Tarjan stack
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      if (low[v] == index[v]) {  // v is the root of a component
        uint32_t w;
        do {
          w = stack.back();
          stack.pop_back();
          comp[w] = count;
        } while (w != v);
        ++count;
      }
      calls.pop_back();
      if (!calls.empty()) {
        const uint32_t parent = calls.back().first;
        low[parent] = std::min(low[parent], low[v]);
      }
    }
  }
  if (component_count) *component_count = count;
  return comp;
}

CycleResult FindCycles(const std::vector<std::vector<uint32_t>>& adj, const CycleLimits& limits) {
  CycleResult result;
  uint32_t ncomp = 0;
  const std::vector<uint32_t> comp = StronglyConnectedComponents(adj, &ncomp);
  const uint32_t n = static_cast<uint32_t>(adj.size());

  // above[s] = members of comp[s] that are >= s: an upper bound on the length
  // of a cycle whose smallest node is s.
  std::vector<uint32_t> seen(ncomp, 0), above(n, 0);
  for (uint32_t s = n; s-- > 0;) above[s] = ++seen[comp[s]];
  std::vector<uint32_t> starts;  // nodes of non-trivial SCCs, increasing
  size_t longest = 0;
  for (uint32_t s = 0; s < n; ++s) {
    if (seen[comp[s]] < 2) continue;
    starts.push_back(s);
    longest = std::max<size_t>(longest, seen[comp[s]]);
  }
  if (starts.empty()) return result;

  Csr fwd, rev;
  BuildIntraSccGraphs(adj, comp, &fwd, &rev);
  Searcher searcher(fwd, rev, limits, &result);
  const size_t max_len = std::min(limits.max_length, longest);
  // Round L finds the cycles of length exactly L. A start is dropped once no
  // longer cycle can have it as its smallest node.
  for (size_t L = 2; L <= max_len && !starts.empty(); ++L) {
    size_t kept = 0;
    for (uint32_t s : starts) {
      if (above[s] < L) continue;
      const auto status = searcher.Search(s, L);
      if (status == Searcher::Status::kStopped) return result;
      if (status == Searcher::Status::kMaybeLonger) starts[kept++] = s;
    }
    starts.resize(kept);
  }
  return result;
}

}  // namespace lockscope
