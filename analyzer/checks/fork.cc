#include "analyzer/checks/fork.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "analyzer/finding_builder.h"

namespace lockscope {
namespace {

// The forking thread lives on in the child (first slot), under the same name.
std::string ForkerName(const Dump& child) {
  for (const ThreadInfo& t : child.threads())
    if (t.slot == 1) return t.name;
  return "";
}

std::string Forker(FindingBuilder& b) {
  const format::FileHeader& h = b.dump().header();
  if (h.fork_tid == 0) return "the process";
  b.ForeignThread(h.fork_tid, ForkerName(b.dump()), h.parent_pid);
  return ThreadLabel(h.fork_tid, "");
}

// The error: the child asked for a lock that a thread of the parent held at fork().
Finding ChildBlocked(const Dump& d, size_t di, const MisuseInfo& m, const ForkHeldInfo& h,
                     const WaitOptions& waits) {
  const format::FileHeader& hdr = d.header();
  FindingBuilder b(d, di, "held-across-fork", Severity::kError);
  // A semaphore taken and not posted back (CPython's threading.Lock is one) is named by its
  // address: the child's lock table does not know it as a lock.
  const bool semaphore = h.kind == format::kLockSemaphore;
  const std::string object =
      semaphore ? absl::StrFormat("semaphore 0x%x", h.address) : b.Lock(h.address, h.kind);
  const std::string child = b.Thread(m.tid);
  const std::string holder = b.ForeignThread(h.holder_tid, h.holder_name, hdr.parent_pid);
  const std::string forker = Forker(b);
  b.finding().summary = absl::StrFormat(
      "held-across-fork: child %d %s blocks forever on %s, which %s %s when %s forked (pid %d); "
      "that thread does not exist in the child",
      hdr.pid, child, object, holder, semaphore ? "had taken and not posted back" : "held",
      forker, hdr.parent_pid);
  b.Stack(semaphore ? absl::StrFormat("Semaphore 0x%x taken here in the parent (pid %d)",
                                      h.address, hdr.parent_pid)
                    : absl::StrFormat("%s %s acquired here in the parent (pid %d)",
                                      LockNoun(h.kind), object, hdr.parent_pid),
          h.holder_tid, h.stack);
  if (hdr.fork_stack != 0)  // (none when the dump was made by attach)
    b.Stack(absl::StrFormat("fork() called here (pid %d)", hdr.parent_pid), hdr.fork_tid,
            hdr.fork_stack);
  b.Stack(absl::StrFormat("Child (pid %d) blocked here acquiring %s", hdr.pid, object), m.tid,
          m.stack);
  // Still blocked on it (a process that ran its exit path waits for nothing).
  const ThreadInfo* t = d.ThreadByTid(m.tid);
  if (t != nullptr && t->state == format::kThreadLive && t->wait.address == m.address &&
      hdr.state != format::kStateExited)
    if (std::optional<double> s = WaitSeconds(d, *t, waits)) b.finding().blocked_seconds = *s;
  return b.Take();
}

// The warning of one fork() call site: the locks other threads held, over every child that
// did not try them (a fork storm's children are folded into one).
struct Warning {
  FindingBuilder builder;
  int32_t parent_pid, first_child, fork_tid;
  uint32_t fork_stack;  // in the first child's dump
  std::vector<std::string> ids;
  size_t children = 0;
};

void AddInherited(Warning& w, const Dump& child, const ForkHeldInfo& h) {
  const size_t before = w.builder.finding().locks.size();
  const std::string id = w.builder.Lock(h.address, h.kind);
  if (w.builder.finding().locks.size() == before) return;  // already told
  w.ids.push_back(id);
  const std::string holder = w.builder.ForeignThread(h.holder_tid, h.holder_name, w.parent_pid);
  w.builder.Stack(absl::StrFormat("%s %s acquired here by %s in the parent (pid %d)",
                                  LockNoun(h.kind), id, holder, w.parent_pid),
                  h.holder_tid, child.Stack(h.stack));  // this child's stack ids
}

Finding FinishWarning(Warning& w) {
  FindingBuilder& b = w.builder;
  Forker(b);
  const std::string ids = absl::StrJoin(w.ids, ", ");
  Finding& f = b.finding();
  if (w.children == 1) {
    f.summary = absl::StrFormat(
        "held-across-fork: when pid %d forked child %d, other threads held %s; the child "
        "would block forever on %s (it did not try: safe if it only execs)",
        w.parent_pid, w.first_child, ids, w.ids.size() == 1 ? "it" : "them");
  } else {
    f.folded = w.children - 1;
    f.summary = absl::StrFormat(
        "held-across-fork: %d fork children of pid %d inherited %s locked by other threads; "
        "none tried to take them (safe if they only exec)",
        w.children, w.parent_pid, ids);
    f.notes = {absl::StrFormat("%d more fork child(ren) from this fork() inherited locks "
                               "held by other threads",
                               f.folded)};
  }
  b.Stack(absl::StrFormat("fork() called here (pid %d)", w.parent_pid), w.fork_tid,
          w.fork_stack);  // last
  return b.Take();
}

}  // namespace

bool InheritedLocked(const Dump& dump, uint64_t address, uint32_t lock) {
  for (const ForkHeldInfo& h : dump.fork_held())
    if (h.address == address && h.lock == lock && !h.by_forker) return true;
  return false;
}

std::vector<Finding> CheckFork(const std::vector<std::unique_ptr<Dump>>& dumps,
                               const WaitOptions& waits) {
  std::vector<Finding> out;
  std::vector<Warning> warnings;
  std::map<std::vector<uint64_t>, size_t> warning_of;  // fork stack -> warnings[]
  for (size_t di = 0; di < dumps.size(); ++di) {
    const Dump& d = *dumps[di];
    if (d.header().parent_pid <= 0) continue;
    std::vector<const ForkHeldInfo*> orphans;
    for (const ForkHeldInfo& h : d.fork_held())
      if (!h.by_forker) orphans.push_back(&h);
    if (orphans.empty()) continue;

    bool attempted = false;
    for (const MisuseInfo& m : d.misuses()) {
      if (m.kind != format::kMisuseHeldAcrossFork) continue;
      for (const ForkHeldInfo* h : orphans)
        if (h->address == m.address) {
          out.push_back(ChildBlocked(d, di, m, *h, waits));
          attempted = true;
          break;
        }
    }
    if (attempted) continue;
    // Inherited semaphores the child never tried are not warned about: it cannot be told
    // whether one was a lock or a counter that simply stood at zero.
    std::erase_if(orphans, [](const ForkHeldInfo* h) { return h->kind == format::kLockSemaphore; });
    if (orphans.empty()) continue;
    const std::vector<uint64_t> fork_stack = d.Stack(d.header().fork_stack);
    auto [it, fresh] = warning_of.try_emplace(fork_stack, warnings.size());
    if (fresh)
      warnings.push_back({FindingBuilder(d, di, "held-across-fork", Severity::kWarning),
                          d.header().parent_pid, d.header().pid, d.header().fork_tid,
                          d.header().fork_stack, {}, 0});
    Warning& w = warnings[it->second];
    ++w.children;
    for (const ForkHeldInfo* h : orphans) AddInherited(w, d, *h);
  }
  for (Warning& w : warnings) out.push_back(FinishWarning(w));
  return out;
}

}  // namespace lockscope
