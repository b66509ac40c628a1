#include "analyzer/checks/fork.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lockscope {
namespace {

std::string HolderLabel(const ForkHeldInfo& h) {
  return h.holder_name.empty() ? absl::StrFormat("T%d", h.holder_tid)
                               : absl::StrFormat("T%d (%s)", h.holder_tid, h.holder_name);
}

std::string ThreadLabel(const Dump& d, int32_t tid) {
  const ThreadInfo* t = d.ThreadByTid(tid);
  if (t == nullptr || t->name.empty()) return absl::StrFormat("T%d", tid);
  return absl::StrFormat("T%d (%s)", tid, t->name);
}

void AddLock(Finding& f, size_t di, const Dump& d, const ForkHeldInfo& h) {
  FindingLock l;
  l.id = absl::StrCat("L", f.locks.size() + 1);
  l.dump = di;
  l.address = h.address;
  l.kind = LockKindName(h.kind);
  f.locks.push_back(l);
  (void)d;
}

// The parent's threads: in the parent process, not the child's.
void AddParentThread(Finding& f, const Dump& child, int32_t tid, const std::string& name) {
  for (const FindingThread& t : f.threads)
    if (t.tid == tid) return;
  f.threads.push_back({tid, name, child.header().parent_pid});
}

std::string LockList(const Finding& f) {
  std::string ids;
  for (const FindingLock& l : f.locks)
    absl::StrAppend(&ids, ids.empty() ? "" : ", ", "{", l.id, "}");
  return ids;
}

// Adds an inherited lock (and its holder and acquisition stack) to a warning, once.
void AddWarningLock(Finding& f, size_t di, const Dump& d, const ForkHeldInfo& h) {
  for (const FindingLock& l : f.locks)
    if (l.address == h.address) return;
  AddLock(f, di, d, h);
  const std::string& id = f.locks.back().id;
  AddParentThread(f, d, h.holder_tid, h.holder_name);
  f.stacks.insert(f.stacks.end() - 1,  // the fork stack stays last
                  {absl::StrFormat("%s %s acquired here by %s in the parent (pid %d)",
                                   LockNoun(h.kind), id, HolderLabel(h), d.header().parent_pid),
                   h.holder_tid, di, d.Stack(h.stack)});
}

// The forking thread lives on in the child (first slot), under the same name.
std::string ForkerName(const Dump& child) {
  for (const ThreadInfo& t : child.threads())
    if (t.slot == 1) return t.name;
  return "";
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
  // Warnings folded by what they say: (fork stack, held locks and their stacks).
  std::map<std::vector<uint64_t>, size_t> warning_of;  // fork stack -> finding
  for (size_t di = 0; di < dumps.size(); ++di) {
    const Dump& d = *dumps[di];
    if (d.header().parent_pid <= 0) continue;
    const int32_t child_pid = d.header().pid;
    const std::vector<uint64_t> fork_stack = d.Stack(d.header().fork_stack);
    std::vector<const ForkHeldInfo*> orphans;
    for (const ForkHeldInfo& h : d.fork_held())
      if (!h.by_forker) orphans.push_back(&h);
    if (orphans.empty()) continue;

    bool attempted = false;
    for (const MisuseInfo& m : d.misuses()) {
      if (m.kind != format::kMisuseHeldAcrossFork) continue;
      const ForkHeldInfo* h = nullptr;
      for (const ForkHeldInfo* o : orphans)
        if (o->address == m.address) h = o;
      if (h == nullptr) continue;
      attempted = true;
      // A semaphore taken and not posted back (CPython's threading.Lock is one) is named by
      // its address: it is no lock-table lock, and its take was not unwound.
      const bool semaphore = h->kind == format::kLockSemaphore;
      const std::string object = semaphore ? absl::StrFormat("semaphore 0x%x", h->address) : "L1";
      Finding f;
      f.kind = "held-across-fork";
      f.severity = Severity::kError;
      if (!semaphore) AddLock(f, di, d, *h);
      const ThreadInfo* child_thread = d.ThreadByTid(m.tid);
      f.threads.push_back({m.tid, child_thread ? child_thread->name : "", child_pid});
      AddParentThread(f, d, h->holder_tid, h->holder_name);
      if (d.header().fork_tid) AddParentThread(f, d, d.header().fork_tid, ForkerName(d));
      f.summary = absl::StrFormat(
          "held-across-fork: child %d %s blocks forever on %s, which %s %s when %s forked "
          "(pid %d); that thread does not exist in the child",
          child_pid, ThreadLabel(d, m.tid), semaphore ? object : "{L1}", HolderLabel(*h),
          semaphore ? "had taken and not posted back" : "held",
          d.header().fork_tid ? absl::StrFormat("T%d", d.header().fork_tid) : "the process",
          d.header().parent_pid);
      if (!semaphore)
        f.stacks.push_back(
            {absl::StrFormat("%s L1 acquired here by %s in the parent (pid %d)", LockNoun(h->kind),
                             HolderLabel(*h), d.header().parent_pid),
             h->holder_tid, di, d.Stack(h->stack)});
      f.stacks.push_back({absl::StrFormat("fork() called here (pid %d)", d.header().parent_pid),
                          d.header().fork_tid, di, fork_stack});
      f.stacks.push_back(
          {absl::StrFormat("Child (pid %d) blocked here acquiring %s", child_pid, object), m.tid,
           di, d.Stack(m.stack)});
      // Still blocked on it (a process that ran its exit path waits for nothing).
      if (child_thread != nullptr && child_thread->state == format::kThreadLive &&
          child_thread->wait.address == m.address && d.header().state != format::kStateExited) {
        if (std::optional<double> s = WaitSeconds(d, *child_thread, waits)) f.blocked_seconds = *s;
      }
      out.push_back(std::move(f));
    }
    if (attempted) continue;
    // Inherited semaphores the child never tried are not warned about: it cannot be told
    // whether one was a lock or a counter that simply stood at zero.
    std::erase_if(orphans, [](const ForkHeldInfo* h) { return h->kind == format::kLockSemaphore; });
    if (orphans.empty()) continue;

    // One warning per fork() call site: many children from the same fork (a fork storm)
    // inherit overlapping sets of locks; they are merged into one finding.
    if (auto it = warning_of.find(fork_stack); it != warning_of.end()) {
      Finding& f = out[it->second];
      ++f.folded;
      for (const ForkHeldInfo* h : orphans) AddWarningLock(f, di, d, *h);
      f.summary = absl::StrFormat(
          "held-across-fork: %d fork children of pid %d inherited %s locked by other threads; "
          "none tried to take them (safe if they only exec)",
          f.folded + 1, d.header().parent_pid, LockList(f));
      f.notes = {
          absl::StrFormat("%d more fork child(ren) from this fork() inherited locks "
                          "held by other threads",
                          f.folded)};
      continue;
    }
    Finding f;
    f.kind = "held-across-fork";
    f.severity = Severity::kWarning;
    f.stacks.push_back({absl::StrFormat("fork() called here (pid %d)", d.header().parent_pid),
                        d.header().fork_tid, di, fork_stack});
    for (const ForkHeldInfo* h : orphans) AddWarningLock(f, di, d, *h);
    if (d.header().fork_tid) AddParentThread(f, d, d.header().fork_tid, ForkerName(d));
    f.summary = absl::StrFormat(
        "held-across-fork: when pid %d forked child %d, other threads held %s; the child "
        "would block forever on %s (it did not try: safe if it only execs)",
        d.header().parent_pid, child_pid, LockList(f), f.locks.size() == 1 ? "it" : "them");
    warning_of[fork_stack] = out.size();
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace lockscope
