#include "analyzer/checks/waits.h"

#include <time.h>

#include <algorithm>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/checks/fork.h"
#include "analyzer/checks/lock_order.h"
#include "analyzer/cycle_finder.h"

namespace lockscope {

uint64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

namespace {

enum class Target { kLock, kSemaphore, kCondvar, kJoin };

struct Wait {
  const ThreadInfo* thread;
  uint64_t address;
  Target target;
  bool write;            // a mutex or an rwlock write request
  const LockInfo* lock;  // for kLock (may be null: untracked)
  double seconds;        // how long so far; < 0 when unknown
};

struct Holder {
  const ThreadInfo* thread;
  format::HeldLock held;
};

// One dump's blocked threads and lock holders, and the finding builders over them.
class WaitGraph {
 public:
  WaitGraph(const Dump& dump, size_t dump_index, const WaitOptions& options)
      : d_(dump), di_(dump_index), opt_(options) {
    // A process that ran its exit path waits for nothing: its slots keep their last state.
    const bool exited = d_.header().state == format::kStateExited;
    size_t live = 0;
    for (const ThreadInfo& t : d_.threads()) {
      for (const format::HeldLock& h : t.held) holders_[h.address].push_back({&t, h});
      if (t.state != format::kThreadLive) continue;
      ++live;
      if (!exited && t.wait_address != 0) waits_.push_back(MakeWait(t));
    }
    all_blocked_ = !waits_.empty() && waits_.size() == live;
  }

  void Check(std::vector<Finding>* out) {
    std::set<const ThreadInfo*> explained;
    SelfDeadlocks(out, &explained);
    Deadlocks(out, &explained);
    Stalls(out, explained);
  }

 private:
  Wait MakeWait(const ThreadInfo& t) {
    Wait w{&t, t.wait_address, Target::kLock, true, nullptr, -1};
    const SyncInfo* sync = d_.SyncAt(t.wait_address);
    if (t.wait_kind == format::kWaitSemaphore ||
        (sync && sync->kind == format::kLockSemaphore && t.wait_kind == format::kWaitMutex))
      w.target = Target::kSemaphore;
    else if (t.wait_kind == format::kWaitCondvar)
      w.target = Target::kCondvar;
    else if (t.wait_kind == format::kWaitJoin)
      w.target = Target::kJoin;
    w.write = t.wait_kind != format::kWaitRwlockRead;
    if (w.target == Target::kLock) {
      const LockInfo* l = d_.Lock(t.wait_lock);
      w.lock = l && l->address == t.wait_address ? l : d_.LockAt(t.wait_address);
    }
    uint64_t since = t.wait_since_ns;
    if (since == 0) {
      auto it = opt_.first_seen.find({d_.path(), t.tid, t.wait_address});
      if (it != opt_.first_seen.end()) since = it->second;
    }
    if (since != 0 && opt_.now_ns >= since) w.seconds = double(opt_.now_ns - since) / 1e9;
    return w;
  }

  // Threads that hold what `w` waits for and block it (readers do not block readers).
  std::vector<Holder> Blockers(const Wait& w) const {
    std::vector<Holder> out;
    if (w.target != Target::kLock) return out;
    auto it = holders_.find(w.address);
    if (it == holders_.end()) return out;
    for (const Holder& h : it->second)
      if (w.write || !(h.held.flags & format::kHeldRead)) out.push_back(h);
    return out;
  }

  const Wait* WaitOf(const ThreadInfo* t) const {
    for (const Wait& w : waits_)
      if (w.thread == t) return &w;
    return nullptr;
  }

  static std::string Label(const ThreadInfo* t) {
    std::string s = t->name.empty() ? absl::StrFormat("T%d", t->tid)
                                    : absl::StrFormat("T%d (%s)", t->tid, t->name);
    if (t->state == format::kThreadExited) absl::StrAppend(&s, " [exited]");
    return s;
  }

  static std::string Duration(double seconds) {
    return seconds < 0 ? "" : absl::StrFormat(" for %.1f s", seconds);
  }

  // Id of the lock at `address` in finding `f`, adding it if new.
  std::string LockId(Finding& f, uint64_t address, const LockInfo* lock) {
    for (const FindingLock& l : f.locks)
      if (l.address == address) return l.id;
    FindingLock l;
    l.id = absl::StrCat("L", f.locks.size() + 1);
    l.dump = di_;
    l.address = address;
    l.kind = LockKindName(lock ? lock->kind : uint8_t{format::kLockMutex});
    f.locks.push_back(l);
    return l.id;
  }

  // How `w`'s object is named in a sentence: "{L1}" for locks, "semaphore 0x..." otherwise.
  std::string ObjectName(Finding& f, const Wait& w) {
    switch (w.target) {
      case Target::kLock:
        return absl::StrCat("{", LockId(f, w.address, w.lock), "}");
      case Target::kSemaphore:
        return absl::StrFormat("semaphore 0x%x", w.address);
      case Target::kCondvar:
        return absl::StrFormat("condition variable 0x%x", w.address);
      case Target::kJoin:
        return "another thread's exit (pthread_join)";
    }
    return "";
  }

  void AddThread(Finding& f, const ThreadInfo* t) {
    for (const FindingThread& ft : f.threads)
      if (ft.tid == t->tid) return;
    f.threads.push_back({t->tid, t->name, d_.header().pid});
  }

  void AddStack(Finding& f, const std::string& role, const ThreadInfo* t, uint32_t stack) {
    f.stacks.push_back({role, t->tid, di_, d_.Stack(stack)});
  }

  void AddWaitStack(Finding& f, const Wait& w, const std::string& object) {
    AddStack(f, absl::StrCat("Blocked here waiting for ", object, Duration(w.seconds)),
             w.thread, w.thread->wait_stack);
  }

  // The acquisition stacks of everything `t` holds (up to the in-dump part).
  void AddHeldStacks(Finding& f, const ThreadInfo* t) {
    for (const format::HeldLock& h : t->held) {
      const LockInfo* lock = d_.Lock(h.lock);
      std::string id = LockId(f, h.address, lock);
      AddStack(f, absl::StrCat("Mutex {", id, "} acquired here",
                               (h.flags & format::kHeldRead) ? " (for read)" : ""),
               t, h.stack);
    }
  }

  void SelfDeadlocks(std::vector<Finding>* out, std::set<const ThreadInfo*>* explained) {
    for (const Wait& w : waits_) {
      if (w.target != Target::kLock) continue;
      auto it = holders_.find(w.address);
      if (it == holders_.end()) continue;
      const Holder* mine = nullptr;
      for (const Holder& h : it->second)
        if (h.thread == w.thread) mine = &h;
      if (mine == nullptr) continue;
      // A recursive mutex re-taken, or an error-checking one (EDEADLK), returns at once.
      const uint8_t kind = w.lock ? w.lock->kind : uint8_t{format::kLockMutex};
      if (kind == format::kLockRecursiveMutex || kind == format::kLockErrorcheckMutex) continue;
      if (kind == format::kLockRwlock && !w.write && (mine->held.flags & format::kHeldRead))
        continue;  // a second read lock
      Finding f;
      f.kind = "self-deadlock";
      f.severity = Severity::kError;
      AddThread(f, w.thread);
      std::string id = LockId(f, w.address, w.lock);
      f.summary = absl::StrFormat("self-deadlock: %s waits%s for {%s}, which it already holds",
                                  Label(w.thread), Duration(w.seconds), id);
      AddStack(f, absl::StrCat("Blocked here re-acquiring {", id, "}", Duration(w.seconds)),
               w.thread, w.thread->wait_stack);
      AddStack(f, absl::StrCat("Mutex {", id, "} previously acquired here by the same thread"),
               w.thread, mine->held.stack);
      f.scenario = {{0, absl::StrCat("lock(", id, ");")}, {0, absl::StrCat("lock(", id, ");")}};
      explained->insert(w.thread);
      out->push_back(std::move(f));
    }
  }

  void Deadlocks(std::vector<Finding>* out, std::set<const ThreadInfo*>* explained) {
    // Wait-for graph over threads.
    std::vector<const ThreadInfo*> nodes;
    absl::flat_hash_map<const ThreadInfo*, uint32_t> id;
    auto node = [&](const ThreadInfo* t) {
      auto [it, inserted] = id.try_emplace(t, static_cast<uint32_t>(nodes.size()));
      if (inserted) nodes.push_back(t);
      return it->second;
    };
    std::vector<std::vector<uint32_t>> adj;
    for (const Wait& w : waits_) {
      if (explained->count(w.thread)) continue;
      uint32_t u = node(w.thread);
      for (const Holder& h : Blockers(w)) {
        if (h.thread == w.thread) continue;
        uint32_t v = node(h.thread);
        adj.resize(nodes.size());
        adj[u].push_back(v);
      }
    }
    adj.resize(nodes.size());
    CycleLimits limits;
    limits.max_cycles = 100;
    for (std::vector<uint32_t> cycle : FindCycles(adj, limits).cycles) {
      // Start the story with the thread that registered first.
      auto first = std::min_element(cycle.begin(), cycle.end(), [&](uint32_t a, uint32_t b) {
        return nodes[a]->slot < nodes[b]->slot;
      });
      std::rotate(cycle.begin(), first, cycle.end());
      Finding f;
      f.kind = "deadlock";
      f.severity = Severity::kError;
      const size_t k = cycle.size();
      std::string story;
      f.details.push_back(absl::StrFormat("Found one deadlock (%d threads):", k));
      for (size_t i = 0; i < k; ++i) {
        const ThreadInfo* t = nodes[cycle[i]];
        const ThreadInfo* next = nodes[cycle[(i + 1) % k]];
        const Wait* w = WaitOf(t);
        AddThread(f, t);
        std::string object = ObjectName(f, *w);
        f.details.push_back(absl::StrFormat("  %s waits%s for %s held by %s", Label(t),
                                            Duration(w->seconds), object, Label(next)));
        absl::StrAppend(&story, i == 0 ? "" : ", which ", i == 0 ? Label(t) + " " : "",
                        "waits for ", object, " held by ", Label(next));
        explained->insert(t);
      }
      f.summary = absl::StrCat("deadlock: ", story);
      for (size_t i = 0; i < k; ++i) {
        const ThreadInfo* t = nodes[cycle[i]];
        const Wait* w = WaitOf(t);
        AddWaitStack(f, *w, ObjectName(f, *w));
        AddHeldStacks(f, t);
      }
      // lockdep's table: each thread takes what it holds, then asks for the next one's.
      for (size_t i = 0; i < k; ++i) {
        const Wait* prev = WaitOf(nodes[cycle[(i + k - 1) % k]]);
        f.scenario.push_back({i, absl::StrCat("lock(", prev->lock ? LockId(f, prev->address, prev->lock) : "?", ");")});
      }
      for (size_t i = 0; i < k; ++i) {
        const Wait* w = WaitOf(nodes[cycle[i]]);
        f.scenario.push_back({i, absl::StrCat("lock(", LockId(f, w->address, w->lock), ");")});
      }
      out->push_back(std::move(f));
    }
  }

  // Follows what blocks `w` (holders, and what they wait for) into the finding, a few
  // steps deep, never around a loop.
  void Chain(Finding& f, const Wait& w, std::set<const ThreadInfo*>* seen, int depth) {
    if (depth > 6) return;
    std::string object = ObjectName(f, w);
    if (w.target == Target::kSemaphore) {
      if (const SyncInfo* s = d_.SyncAt(w.address)) {
        auto who = [&](int32_t tid) -> std::string {
          if (tid == 0) return "nobody";
          const ThreadInfo* t = d_.ThreadByTid(tid);
          if (t) AddThread(f, t);
          return t ? Label(t) : absl::StrFormat("T%d", tid);
        };
        f.details.push_back(absl::StrFormat(
            "  %s has no owner: last taken by %s, last posted by %s (%d takes, %d posts)",
            object, who(s->last_take_tid), who(s->last_post_tid), s->takes, s->posts));
        if (const ThreadInfo* t = d_.ThreadByTid(s->last_take_tid)) {
          if (t->state == format::kThreadExited && t->exit_stack)
            AddStack(f, absl::StrCat("Exited here (it took ", object, " last)"), t,
                     t->exit_stack);
        }
      }
      return;
    }
    if (w.target == Target::kCondvar) {
      if (const SyncInfo* s = d_.SyncAt(w.address)) {
        const ThreadInfo* t = d_.ThreadByTid(s->last_post_tid);
        f.details.push_back(absl::StrFormat(
            "  %s was signalled %d time(s)%s", object, s->posts,
            s->last_post_tid ? absl::StrCat(", last by ", t ? Label(t) : absl::StrCat("T", s->last_post_tid))
                             : ": never"));
      } else {
        f.details.push_back(absl::StrCat("  ", object, " was never signalled"));
      }
      return;
    }
    std::vector<Holder> blockers = Blockers(w);
    if (blockers.empty()) {
      f.details.push_back(absl::StrCat("  ", object, " is held by no thread the dump knows"));
      return;
    }
    for (const Holder& h : blockers) {
      AddThread(f, h.thread);
      const Wait* next = WaitOf(h.thread);
      std::string doing =
          h.thread->state == format::kThreadExited ? "which has exited"
          : next ? absl::StrCat("which waits", Duration(next->seconds), " for ",
                                ObjectName(f, *next))
                 : "which is not blocked on a lock";
      f.details.push_back(absl::StrFormat("  %s is held by %s, %s", object, Label(h.thread), doing));
      AddStack(f, absl::StrCat("Mutex ", object, " acquired here"),
               h.thread, h.held.stack);
      if (h.thread->state == format::kThreadExited && h.thread->exit_stack)
        AddStack(f, absl::StrCat("Exited here, still holding ", object),
                 h.thread, h.thread->exit_stack);
      if (next && seen->insert(h.thread).second) {
        AddWaitStack(f, *next, ObjectName(f, *next));
        Chain(f, *next, seen, depth + 1);
      }
    }
  }

  void Stalls(std::vector<Finding>* out, const std::set<const ThreadInfo*>& explained) {
    // Group the long waits by what they wait for.
    std::map<uint64_t, std::vector<const Wait*>> groups;
    for (const Wait& w : waits_) {
      if (explained.count(w.thread) || w.target == Target::kCondvar || w.target == Target::kJoin)
        continue;
      // Threads parked on a semaphore are idle workers as long as someone else runs.
      if (w.target == Target::kSemaphore && !all_blocked_) continue;
      if (InheritedLocked(d_, w.address, w.lock ? w.lock->index : 0))
        continue;  // held-across-fork tells this one (semaphores have lock index 0)
      groups[w.address].push_back(&w);
    }
    for (auto& [address, ws] : groups) {
      // The crowd is a stall when its longest wait passed the threshold; everyone waiting
      // on the same object belongs to it, however recently they joined.
      double longest_wait = -1;
      for (const Wait* w : ws) longest_wait = std::max(longest_wait, w->seconds);
      if (longest_wait < opt_.stall_seconds) continue;  // unknown (-1) never counts
      Finding f;
      f.kind = "stall";
      f.severity = Severity::kError;
      double longest = 0;
      for (const Wait* w : ws) longest = std::max(longest, w->seconds);
      std::string object = ObjectName(f, *ws.front());
      std::string who;
      for (const Wait* w : ws) {
        AddThread(f, w->thread);
        absl::StrAppend(&who, who.empty() ? "" : ", ", Label(w->thread));
      }
      f.summary = absl::StrFormat("stall: %d thread(s) wait for %s for up to %.1f s: %s",
                                  ws.size(), object, longest, who);
      if (ws.front()->target == Target::kSemaphore) {
        // An ownerless semaphore's only trail goes into the one line people read.
        if (const SyncInfo* sync = d_.SyncAt(address)) {
          auto who_did = [&](int32_t tid) -> std::string {
            if (tid == 0) return "nobody";
            const ThreadInfo* t = d_.ThreadByTid(tid);
            return t ? Label(t) : absl::StrFormat("T%d", tid);
          };
          absl::StrAppend(&f.summary, "; last taken by ", who_did(sync->last_take_tid),
                          ", last posted by ", who_did(sync->last_post_tid));
        }
      }
      std::set<const ThreadInfo*> seen;
      for (const Wait* w : ws) {
        AddWaitStack(f, *w, object);
        seen.insert(w->thread);
      }
      Chain(f, *ws.front(), &seen, 0);
      out->push_back(std::move(f));
    }
  }

  const Dump& d_;
  size_t di_;
  const WaitOptions& opt_;
  absl::flat_hash_map<uint64_t, std::vector<Holder>> holders_;
  std::vector<Wait> waits_;
  bool all_blocked_ = false;  // every live thread of the process waits on something
};

}  // namespace

std::vector<Finding> CheckWaits(const std::vector<std::unique_ptr<Dump>>& dumps,
                                const WaitOptions& options) {
  std::vector<Finding> out;
  for (size_t d = 0; d < dumps.size(); ++d) WaitGraph(*dumps[d], d, options).Check(&out);
  return out;
}

}  // namespace lockscope
