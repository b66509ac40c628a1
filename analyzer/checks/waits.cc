#include "analyzer/checks/waits.h"

#include <time.h>

#include <algorithm>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/checks/fork.h"
#include "analyzer/cycle_finder.h"
#include "analyzer/finding_builder.h"

namespace lockscope {

uint64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

std::optional<double> WaitSeconds(const format::WaitRecord& w, uint64_t first_seen_ns,
                                  uint64_t now_ns) {
  if (w.address == 0) return std::nullopt;
  if (w.since_ns == 0) {  // looked uncontended: only the monitor's first sight times it
    if (first_seen_ns == 0 || first_seen_ns > now_ns) return -1.0;
    return double(now_ns - first_seen_ns) / 1e9;
  }
  if (w.timed_out_ns != 0 && now_ns > w.timed_out_ns &&
      now_ns - w.timed_out_ns > format::kWaitRetryGraceNs)
    return std::nullopt;  // gave up, not between two slices
  return w.since_ns < now_ns ? double(now_ns - w.since_ns) / 1e9 : 0.0;
}

std::optional<double> WaitSeconds(const Dump& dump, const ThreadInfo& thread,
                                  const WaitOptions& options) {
  auto seen = options.first_seen.find({dump.path(), thread.tid, thread.wait.address});
  return WaitSeconds(thread.wait, seen == options.first_seen.end() ? 0 : seen->second,
                     options.now_ns);
}

bool IsHang(const Finding& f, double timeout_seconds) {
  return f.severity == Severity::kError && f.blocked_seconds >= timeout_seconds;
}

namespace {

// A chain of holders is told this many steps deep; at most this many deadlocks per dump.
constexpr int kMaxChainDepth = 6;
constexpr size_t kMaxDeadlocks = 100;

enum class Target { kLock, kSemaphore, kCondvar, kJoin, kFutex };

struct Wait {
  const ThreadInfo* thread = nullptr;
  uint64_t address = 0;  // what it waits for (a woken condition wait: the mutex)
  Target target = Target::kLock;
  bool write = true;               // a mutex, a spinlock, an rwlock write request
  const LockInfo* lock = nullptr;  // for kLock (may be null: untracked)
  uint8_t kind = format::kLockMutex;  // for kLock: the lock's kind
  double seconds = -1;             // how long so far; < 0 when unknown
  uint64_t condition = 0;          // a woken condition wait: the condition it was woken from
};

struct Holder {
  const ThreadInfo* thread;
  format::HeldLock held;
};

// Whom a wait waits for, and why.
struct Blocker {
  enum How { kHolds, kQueued, kJoined };
  const ThreadInfo* thread;
  How how;
  format::HeldLock held;  // kHolds: the holder's entry
};

bool PrefersWriters(const LockInfo* lock) {
  return lock != nullptr && (lock->flags & format::kLockPrefersWriters);
}

// One dump's blocked threads and lock holders, and the finding builders over them.
class WaitGraph {
 public:
  WaitGraph(const Dump& dump, size_t dump_index, const WaitOptions& options)
      : d_(dump), di_(dump_index), opt_(options) {
    // A process that ran its exit path waits for nothing: its slots keep their last state.
    const bool exited = d_.header().state == format::kStateExited;
    size_t live = 0;
    for (const ThreadInfo& t : d_.threads())  // first: a wait's kind depends on its holders
      for (const format::HeldLock& h : t.held)
        if (HeldAsLock(h, d_.Lock(h.lock), d_.SyncAt(h.address)))
          holders_[h.address].push_back({&t, h});
    for (const ThreadInfo& t : d_.threads()) {
      if (t.state != format::kThreadLive) continue;
      ++live;
      if (exited) continue;
      if (std::optional<Wait> w = MakeWait(t)) waits_.push_back(*w);
    }
    for (Wait& w : waits_)
      if (w.target == Target::kCondvar) MaybeWoken(w);
    // Threads that never took a lock have no slot: when the monitor counted the process's
    // threads, one it does not know may be running.
    auto tasks = opt_.tasks.find(d_.path());
    const bool all_blocked = !waits_.empty() && waits_.size() == live &&
                             (tasks == opt_.tasks.end() || tasks->second <= live);
    quiescent_ = all_blocked && std::all_of(waits_.begin(), waits_.end(), [&](const Wait& w) {
                   return w.seconds >= opt_.stall_seconds;
                 });
  }

  void Check(std::vector<Finding>* out) {
    std::set<const ThreadInfo*> explained;
    SelfDeadlocks(out, &explained);
    Deadlocks(out, &explained);
    Stalls(out, explained);
  }

 private:
  std::optional<Wait> MakeWait(const ThreadInfo& t) const {
    const format::WaitRecord& r = t.wait;
    std::optional<double> seconds = WaitSeconds(d_, t, opt_);
    if (!seconds) return std::nullopt;
    Wait w;
    w.thread = &t;
    w.address = r.address;
    w.seconds = *seconds;
    switch (r.kind) {
      case format::kWaitSemaphore: w.target = Target::kSemaphore; break;
      case format::kWaitCondvar: w.target = Target::kCondvar; break;
      case format::kWaitJoin: w.target = Target::kJoin; break;
      case format::kWaitFutex: w.target = Target::kFutex; break;
      default: w.target = Target::kLock; break;  // mutex, rwlock, spinlock
    }
    w.write = r.kind != format::kWaitRwlockRead;
    // A semaphore some thread holds as a lock (a Python lock) is waited for like a lock.
    if (w.target == Target::kSemaphore && holders_.contains(r.address)) {
      w.target = Target::kLock;
      w.kind = format::kLockSemaphore;
      w.lock = d_.LockAt(r.address);
      return w;
    }
    if (w.target == Target::kLock) {
      // A quick wait (no start time) wrote only its address and kind: no index.
      const LockInfo* l = r.since_ns != 0 ? d_.Lock(r.index) : nullptr;
      w.lock = l && l->address == r.address ? l : d_.LockAt(r.address);
      w.kind = w.lock                        ? w.lock->kind
               : r.kind == format::kWaitGil      ? uint8_t{format::kLockGil}
               : r.kind == format::kWaitSpinlock ? uint8_t{format::kLockSpinlock}
               : r.kind == format::kWaitMutex    ? uint8_t{format::kLockMutex}
                                                 : uint8_t{format::kLockRwlock};
    }
    return w;
  }

  // A condition wait whose thread was woken and is stuck re-acquiring the mutex inside
  // glibc becomes a wait for the mutex, timed from the wake-up (see the glossary).
  void MaybeWoken(Wait& w) {
    const format::WaitRecord& r = w.thread->wait;
    // A timed-out slice returned from glibc: the thread holds the mutex again.
    if (r.cond_mutex == 0 || r.since_ns == 0 || r.timed_out_ns != 0) return;
    uint64_t woken_at = 0;
    const SyncInfo* s = d_.SyncAt(w.address);
    const uint32_t ticket = r.cond_ticket & ~format::kCondWaitAlone;
    if (s != nullptr && s->broadcasts != r.cond_broadcasts) {
      woken_at = s->last_post_ns;  // a broadcast wakes every waiter that began before it
    } else if (s != nullptr && s->posts != r.cond_posts &&
               (r.cond_ticket & format::kCondWaitAlone) &&
               ((s->begins - ticket) & ~format::kCondWaitAlone) == 1) {
      woken_at = s->last_post_ns;  // a signal, and no other thread waited meanwhile
    } else if (r.deadline_ns != 0 && opt_.now_ns > r.deadline_ns + format::kWaitRetryGraceNs) {
      woken_at = r.deadline_ns;  // a timed wait that should have returned long ago
    }
    if (woken_at == 0) return;
    auto it = holders_.find(r.cond_mutex);
    if (it == holders_.end() || std::none_of(it->second.begin(), it->second.end(),
                                             [&](const Holder& h) { return h.thread != w.thread; }))
      return;  // the mutex is free (or ours): it is on its way back
    w.condition = w.address;
    w.address = r.cond_mutex;
    w.target = Target::kLock;
    w.write = true;
    w.lock = d_.LockAt(r.cond_mutex);
    w.kind = w.lock ? w.lock->kind : uint8_t{format::kLockMutex};
    const uint64_t from = std::max(woken_at, r.since_ns);
    w.seconds = opt_.now_ns > from ? double(opt_.now_ns - from) / 1e9 : 0.0;
  }

  // Whom `w` waits for: the holders that block it (readers do not block readers, unless a
  // writer is queued on a writer-preferring rwlock), or the thread a join waits for.
  std::vector<Blocker> Blockers(const Wait& w) const {
    std::vector<Blocker> out;
    if (w.target == Target::kJoin) {
      const ThreadInfo* joined = d_.ThreadByHandle(w.address);
      if (joined != nullptr && joined != w.thread) out.push_back({joined, Blocker::kJoined, {}});
      return out;
    }
    if (w.target != Target::kLock) return out;
    if (auto it = holders_.find(w.address); it != holders_.end())
      for (const Holder& h : it->second)
        if (w.write || !(h.held.flags & format::kHeldRead))
          out.push_back({h.thread, Blocker::kHolds, h.held});
    if (!w.write && PrefersWriters(w.lock))
      for (const Wait& other : waits_)
        if (other.thread != w.thread && other.target == Target::kLock &&
            other.address == w.address && other.write)
          out.push_back({other.thread, Blocker::kQueued, {}});
    return out;
  }

  const Wait* WaitOf(const ThreadInfo* t) const {
    for (const Wait& w : waits_)
      if (w.thread == t) return &w;
    return nullptr;
  }

  static std::string Duration(double seconds) {
    return seconds < 0 ? "" : absl::StrFormat(" for %.1f s", seconds);
  }

  uint8_t KindOf(const format::HeldLock& h) const { return HeldKind(h, d_.Lock(h.lock)); }

  FindingBuilder Builder(const char* kind) const {
    return FindingBuilder(d_, di_, kind, Severity::kError);
  }

  // How `w`'s object is named in a sentence: "{L1}" for locks, "semaphore 0x..." otherwise.
  std::string ObjectName(FindingBuilder& fb, const Wait& w) {
    switch (w.target) {
      case Target::kLock: return fb.Lock(w.address, w.kind);
      case Target::kSemaphore: return absl::StrFormat("semaphore 0x%x", w.address);
      case Target::kCondvar: return absl::StrFormat("condition variable 0x%x", w.address);
      case Target::kFutex: return absl::StrFormat("futex 0x%x", w.address);
      case Target::kJoin:
        if (const ThreadInfo* joined = d_.ThreadByHandle(w.address))
          return absl::StrCat("the exit of ", fb.Thread(joined, true), " (pthread_join)");
        return "another thread's exit (pthread_join)";
    }
    return "";
  }

  // "waits 2.0 s for {L1} held by T2 (b)": how `w` waits for `b`.
  std::string WaitsFor(FindingBuilder& fb, const Wait& w, const Blocker& b, bool with_duration) {
    const std::string duration = with_duration ? Duration(w.seconds) : "";
    const std::string object = ObjectName(fb, w);
    switch (b.how) {
      case Blocker::kHolds:
        return absl::StrFormat("waits%s for %s held by %s", duration, object,
                               fb.Thread(b.thread, true));
      case Blocker::kQueued:
        return absl::StrFormat("waits%s to read %s behind %s, queued to write it", duration, object,
                               fb.Thread(b.thread, true));
      case Blocker::kJoined: return absl::StrFormat("waits%s for %s", duration, object);
    }
    return "";
  }

  void AddWaitStack(FindingBuilder& fb, const Wait& w) {
    const std::string object = ObjectName(fb, w);
    fb.Stack(w.condition != 0
                 ? absl::StrFormat("Blocked here re-acquiring %s%s, woken from condition "
                                   "variable 0x%x",
                                   object, Duration(w.seconds), w.condition)
                 : absl::StrCat("Blocked here waiting for ", object, Duration(w.seconds)),
             w.thread->tid, w.thread->wait.stack);
  }

  // The acquisition stacks of everything `t` holds (up to the in-dump part).
  void AddHeldStacks(FindingBuilder& fb, const ThreadInfo* t) {
    for (const format::HeldLock& h : t->held) {
      if (!HeldAsLock(h, d_.Lock(h.lock), d_.SyncAt(h.address))) continue;
      const uint8_t kind = KindOf(h);
      fb.Stack(absl::StrCat(LockNoun(kind), " ", fb.Lock(h.address, kind), " acquired here",
                            (h.flags & format::kHeldRead) ? " (for read)" : ""),
               t->tid, h.stack);
    }
  }

  // Which thread state a thread waiting for the GIL holds it with, and which it waits to run
  // (a second thread state of one thread, the main interpreter's under a sub-interpreter's).
  void GilDetails(FindingBuilder& fb, const ThreadInfo& t) {
    auto state = [](uint64_t tstate, int64_t interp) {
      std::string s = absl::StrFormat("thread state 0x%x", tstate);
      if (interp == 0) absl::StrAppend(&s, " of the main interpreter");
      else if (interp > 0) absl::StrAppend(&s, absl::StrFormat(" of sub-interpreter %d", interp));
      return s;
    };
    const std::string who = fb.Thread(&t, true);
    const bool holds = std::any_of(t.held.begin(), t.held.end(), [&](const format::HeldLock& h) {
      return h.address == t.wait.address;
    });
    if (holds && t.py_tstate != 0)
      fb.finding().details.push_back(absl::StrCat("  ", who, " holds the GIL with ",
                                                  state(t.py_tstate, t.py_interp)));
    if (t.py_wait_tstate != 0) {
      std::string line = absl::StrCat("  ", who, " waits for the GIL to run ",
                                      state(t.py_wait_tstate, t.py_wait_interp),
                                      " (its PyGILState thread state)");
      if (holds && t.py_wait_tstate != t.py_tstate)
        absl::StrAppend(&line, ": a second thread state of the same thread, whose GIL it "
                               "already holds");
      fb.finding().details.push_back(line);
    }
  }

  // The threads that wait, directly or through others, for locks the `stuck` threads hold:
  // stuck behind them for good. Told in the same finding (a line and a stack each), not as
  // stalls of their own.
  void BlockedBehind(FindingBuilder& fb, std::set<const ThreadInfo*> stuck,
                     std::set<const ThreadInfo*>* explained) {
    bool grew = true;
    std::vector<const Wait*> behind;
    while (grew) {
      grew = false;
      for (const Wait& w : waits_) {
        if (stuck.count(w.thread) || explained->count(w.thread)) continue;
        for (const Blocker& b : Blockers(w)) {
          if (b.how != Blocker::kHolds || !stuck.count(b.thread)) continue;
          fb.finding().details.push_back(absl::StrCat("  behind it: ", fb.Thread(w.thread, true),
                                                      " ", WaitsFor(fb, w, b, true)));
          behind.push_back(&w);
          stuck.insert(w.thread);
          grew = true;
          break;
        }
      }
    }
    for (const Wait* w : behind) {
      AddWaitStack(fb, *w);
      explained->insert(w->thread);
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
      const uint8_t kind = w.kind;
      if (kind == format::kLockRecursiveMutex || kind == format::kLockErrorcheckMutex) continue;
      if (kind == format::kLockRwlock && !w.write && (mine->held.flags & format::kHeldRead))
        continue;  // a second read lock
      FindingBuilder fb = Builder("self-deadlock");
      const std::string who = fb.Thread(w.thread, true);
      const std::string id = fb.Lock(w.address, kind);
      fb.finding().summary = absl::StrFormat(
          "self-deadlock: %s waits%s for %s, which it already holds", who, Duration(w.seconds), id);
      fb.Stack(absl::StrCat("Blocked here re-acquiring ", id, Duration(w.seconds)), w.thread->tid,
               w.thread->wait.stack);
      fb.Stack(
          absl::StrCat(LockNoun(kind), " ", id, " previously acquired here by the same thread"),
          w.thread->tid, mine->held.stack);
      fb.Step(w.thread->tid, absl::StrCat("lock(", id, ");"));
      fb.Step(w.thread->tid, absl::StrCat("lock(", id, ");"));
      if (kind == format::kLockGil) GilDetails(fb, *w.thread);
      fb.finding().blocked_seconds = w.seconds;
      explained->insert(w.thread);
      BlockedBehind(fb, {w.thread}, explained);
      out->push_back(fb.Take());
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
      for (const Blocker& b : Blockers(w)) {
        if (b.thread == w.thread) continue;
        uint32_t v = node(b.thread);
        adj.resize(nodes.size());
        adj[u].push_back(v);
      }
    }
    adj.resize(nodes.size());
    CycleLimits limits;
    limits.max_cycles = kMaxDeadlocks;
    for (std::vector<uint32_t> cycle : FindCycles(adj, limits).cycles) {
      // Start the story with the thread that registered first.
      auto first = std::min_element(cycle.begin(), cycle.end(), [&](uint32_t a, uint32_t b) {
        return nodes[a]->slot < nodes[b]->slot;
      });
      std::rotate(cycle.begin(), first, cycle.end());
      out->push_back(Deadlock(cycle, nodes, explained));
    }
  }

  // The finding of one wait-for cycle: jstack's "Found one deadlock", each thread's blocked
  // stack and the stacks where it took what it holds, and lockdep's table when every thread
  // holds what the previous one waits for.
  Finding Deadlock(const std::vector<uint32_t>& cycle, const std::vector<const ThreadInfo*>& nodes,
                   std::set<const ThreadInfo*>* explained) {
    FindingBuilder fb = Builder("deadlock");
    Finding& f = fb.finding();
    const size_t k = cycle.size();
    std::string story;
    bool plain = true;
    f.details.push_back(absl::StrFormat("Found one deadlock (%d threads):", k));
    for (size_t i = 0; i < k; ++i) {
      const ThreadInfo* t = nodes[cycle[i]];
      const ThreadInfo* next = nodes[cycle[(i + 1) % k]];
      const Wait* w = WaitOf(t);
      Blocker b{next, Blocker::kHolds, {}};
      for (const Blocker& candidate : Blockers(*w))
        if (candidate.thread == next) {
          b = candidate;
          break;
        }
      plain &= b.how == Blocker::kHolds;
      const std::string who = fb.Thread(t, true);
      f.details.push_back(absl::StrCat("  ", who, " ", WaitsFor(fb, *w, b, true)));
      absl::StrAppend(&story, i == 0 ? who + " " : ", which ", WaitsFor(fb, *w, b, false));
      f.blocked_seconds = std::max(f.blocked_seconds, w->seconds);
      explained->insert(t);
    }
    f.summary = absl::StrCat("deadlock: ", story);
    for (size_t i = 0; i < k; ++i) {
      const ThreadInfo* t = nodes[cycle[i]];
      AddWaitStack(fb, *WaitOf(t));
      AddHeldStacks(fb, t);
    }
    // lockdep's table: each thread takes what it holds, then asks for the next one's.
    for (size_t i = 0; plain && i < k; ++i) {
      const Wait* prev = WaitOf(nodes[cycle[(i + k - 1) % k]]);
      fb.Step(nodes[cycle[i]]->tid,
              absl::StrCat("lock(", fb.Lock(prev->address, prev->kind), ");"));
    }
    for (size_t i = 0; plain && i < k; ++i) {
      const Wait* w = WaitOf(nodes[cycle[i]]);
      fb.Step(nodes[cycle[i]]->tid, absl::StrCat("lock(", fb.Lock(w->address, w->kind), ");"));
    }
    for (size_t i = 0; i < k; ++i)
      if (WaitOf(nodes[cycle[i]])->kind == format::kLockGil) GilDetails(fb, *nodes[cycle[i]]);
    std::set<const ThreadInfo*> stuck;
    for (uint32_t n : cycle) stuck.insert(nodes[n]);
    BlockedBehind(fb, stuck, explained);
    return fb.Take();
  }

  std::string WhoDid(FindingBuilder& fb, int32_t tid) {
    return tid == 0 ? "nobody" : fb.Thread(tid, true);
  }

  // Follows what blocks `w` (holders, and what they wait for) into the finding, a few
  // steps deep, never around a loop. Threads it tells about are `chained_`.
  void Chain(FindingBuilder& fb, const Wait& w, std::set<const ThreadInfo*>* seen, int depth) {
    if (depth > kMaxChainDepth) return;
    Finding& f = fb.finding();
    const std::string object = ObjectName(fb, w);
    if (w.target == Target::kSemaphore) {
      if (const SyncInfo* s = d_.SyncAt(w.address)) {
        f.details.push_back(
            absl::StrFormat("  %s has no owner: last taken by %s, last posted by %s (%d takes, "
                            "%d posts)",
                            object, WhoDid(fb, s->last_take_tid), WhoDid(fb, s->last_post_tid),
                            s->takes, s->posts));
        if (const ThreadInfo* t = d_.ThreadByTid(s->last_take_tid)) {
          if (t->state == format::kThreadExited && t->exit_stack)
            fb.Stack(absl::StrCat("Exited here (it took ", object, " last)"), t->tid,
                     t->exit_stack);
        }
      }
      return;
    }
    if (w.target == Target::kCondvar) {
      const SyncInfo* s = d_.SyncAt(w.address);
      if (s != nullptr && s->posts > 0)
        f.details.push_back(absl::StrFormat("  %s was signalled %d time(s), last by %s", object,
                                            s->posts, WhoDid(fb, s->last_post_tid)));
      else if (s != nullptr)
        f.details.push_back(absl::StrCat("  ", object, " was never signalled"));
      else  // (a full table, or a dump made without the shim: nothing counted its signals)
        f.details.push_back(absl::StrCat("  nothing recorded whether ", object,
                                         " was signalled"));
      return;
    }
    if (w.target == Target::kFutex) {
      f.details.push_back(absl::StrCat("  ", object,
                                       " is of no kind lockscope could read: who would wake "
                                       "it is not known"));
      return;
    }
    std::vector<Blocker> blockers = Blockers(w);
    if (blockers.empty()) {
      f.details.push_back(absl::StrCat("  ", object,
                                       w.target == Target::kJoin
                                           ? ": that thread is not in the dump"
                                           : " is held by no thread the dump knows"));
      return;
    }
    for (const Blocker& b : blockers) {
      const std::string who = fb.Thread(b.thread, true);
      const Wait* next = WaitOf(b.thread);
      std::string doing;
      if (b.thread->state == format::kThreadExited) {
        doing = "which has exited";
      } else if (next != nullptr) {
        doing =
            absl::StrCat("which waits", Duration(next->seconds), " for ", ObjectName(fb, *next));
      } else {
        doing = "which is not blocked on a lock";
      }
      switch (b.how) {
        case Blocker::kHolds:
          f.details.push_back(absl::StrFormat("  %s is held by %s, %s", object, who, doing));
          fb.Stack(absl::StrCat(LockNoun(w.kind), " ", object, " acquired here",
                                (b.held.flags & format::kHeldRead) ? " (for read)" : ""),
                   b.thread->tid, b.held.stack);
          break;
        case Blocker::kQueued:
          f.details.push_back(absl::StrFormat(
              "  %s has a writer queued ahead of its readers: %s, %s", object, who, doing));
          break;
        case Blocker::kJoined:
          f.details.push_back(absl::StrFormat("  %s has not exited, %s", who, doing));
          break;
      }
      if (b.thread->state == format::kThreadExited && b.thread->exit_stack)
        fb.Stack(absl::StrCat("Exited here, still holding ", object), b.thread->tid,
                 b.thread->exit_stack);
      if (next && seen->insert(b.thread).second) {
        chained_.insert(b.thread);
        AddWaitStack(fb, *next);
        Chain(fb, *next, seen, depth + 1);
      }
    }
  }

  void Stalls(std::vector<Finding>* out, const std::set<const ThreadInfo*>& explained) {
    // Crowds by what they wait for: locks first (their chains tell about the threads that
    // hold them), then semaphores, condition variables and futexes, which count only in a
    // quiescent process (otherwise they are idle workers).
    std::map<std::pair<int, uint64_t>, std::vector<const Wait*>> groups;
    for (const Wait& w : waits_) {
      if (explained.count(w.thread) || w.target == Target::kJoin) continue;
      const bool lock = w.target == Target::kLock;
      if (!lock && !quiescent_) continue;
      if (InheritedLocked(d_, w.address, w.lock ? w.lock->index : 0))
        continue;  // held-across-fork tells this one (semaphores have lock index 0)
      groups[{lock ? 0 : 1, w.address}].push_back(&w);
    }
    for (auto& [key, ws] : groups) {
      if (key.first == 1)  // already told in a lock stall's chain
        std::erase_if(ws, [&](const Wait* w) { return chained_.count(w->thread) > 0; });
      if (ws.empty()) continue;
      // The crowd is a stall when its longest wait passed the threshold; everyone waiting
      // on the same object belongs to it, however recently they joined.
      double longest = -1;
      for (const Wait* w : ws) longest = std::max(longest, w->seconds);
      if (longest < opt_.stall_seconds) continue;  // unknown (-1) never counts
      out->push_back(Stall(ws, longest));
    }
  }

  // The finding of one crowd: who waits, then the chain of what blocks them.
  Finding Stall(const std::vector<const Wait*>& ws, double longest) {
    FindingBuilder fb = Builder("stall");
    Finding& f = fb.finding();
    f.blocked_seconds = longest;
    const Wait& front = *ws.front();
    const std::string object = ObjectName(fb, front);
    std::string who;
    for (const Wait* w : ws)
      absl::StrAppend(&who, who.empty() ? "" : ", ", fb.Thread(w->thread, true));
    f.summary = absl::StrFormat("stall: %d thread(s) wait for %s for up to %.1f s: %s", ws.size(),
                                object, longest, who);
    if (front.target == Target::kSemaphore) {
      // An ownerless semaphore's only trail goes into the one line people read.
      if (const SyncInfo* sync = d_.SyncAt(front.address))
        absl::StrAppend(&f.summary, "; last taken by ", WhoDid(fb, sync->last_take_tid),
                        ", last posted by ", WhoDid(fb, sync->last_post_tid));
    } else if (front.target == Target::kCondvar || front.target == Target::kFutex) {
      absl::StrAppend(&f.summary, "; every thread of the process is blocked");
    }
    for (const Wait* w : ws)
      if (w->condition != 0)
        f.details.push_back(absl::StrFormat(
            "  %s was woken from condition variable 0x%x and waits to re-acquire %s "
            "(inside pthread_cond_wait)",
            fb.Thread(w->thread, true), w->condition, object));
    std::set<const ThreadInfo*> seen;
    for (const Wait* w : ws) {
      AddWaitStack(fb, *w);
      seen.insert(w->thread);
    }
    Chain(fb, front, &seen, 0);
    return fb.Take();
  }

  const Dump& d_;
  size_t di_;
  const WaitOptions& opt_;
  absl::flat_hash_map<uint64_t, std::vector<Holder>> holders_;
  std::vector<Wait> waits_;
  bool quiescent_ = false;               // see the glossary
  std::set<const ThreadInfo*> chained_;  // told in a stall's chain
};

}  // namespace

std::vector<Finding> CheckWaits(const std::vector<std::unique_ptr<Dump>>& dumps,
                                const WaitOptions& options) {
  std::vector<Finding> out;
  for (size_t d = 0; d < dumps.size(); ++d) WaitGraph(*dumps[d], d, options).Check(&out);
  return out;
}

}  // namespace lockscope
