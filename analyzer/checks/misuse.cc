#include "analyzer/checks/misuse.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lockscope {
namespace {

std::string Label(const Dump& d, int32_t tid) {
  const ThreadInfo* t = d.ThreadByTid(tid);
  if (t == nullptr || t->name.empty()) return absl::StrFormat("T%d", tid);
  return absl::StrFormat("T%d (%s)", tid, t->name);
}

void AddThread(Finding& f, const Dump& d, int32_t tid) {
  if (tid == 0) return;
  for (const FindingThread& t : f.threads)
    if (t.tid == tid) return;
  const ThreadInfo* t = d.ThreadByTid(tid);
  f.threads.push_back({tid, t ? t->name : "", d.header().pid});
}

FindingLock MakeLock(const Dump& d, size_t di, uint64_t address, uint32_t lock_index,
                     const std::string& id) {
  const LockInfo* lock = d.Lock(lock_index);
  FindingLock l;
  l.id = id;
  l.dump = di;
  l.address = address;
  l.kind = LockKindName(lock ? lock->kind : uint8_t{format::kLockMutex});
  return l;
}

}  // namespace

std::vector<Finding> CheckMisuse(const std::vector<std::unique_ptr<Dump>>& dumps) {
  std::vector<Finding> out;
  for (size_t di = 0; di < dumps.size(); ++di) {
    const Dump& d = *dumps[di];
    for (const MisuseInfo& m : d.misuses()) {
      Finding f;
      f.severity = Severity::kError;
      f.locks.push_back(MakeLock(d, di, m.address, m.lock, "L1"));
      AddThread(f, d, m.tid);
      AddThread(f, d, m.owner_tid);
      const std::string who = Label(d, m.tid);
      switch (m.kind) {
        case format::kMisuseUnlockNotOwner:
          f.kind = "unlock-not-owner";
          f.summary = m.owner_tid ? absl::StrFormat("%s unlocked {L1}, which %s holds", who,
                                                    Label(d, m.owner_tid))
                                  : absl::StrFormat("%s unlocked {L1}, which was not locked", who);
          f.stacks.push_back({std::string("Mutex L1 unlocked here"), m.tid, di, d.Stack(m.stack)});
          if (m.owner_tid && m.owner_stack)
            f.stacks.push_back({std::string("Mutex L1 acquired here by its owner"), m.owner_tid, di,
                                d.Stack(m.owner_stack)});
          break;
        case format::kMisuseDestroyLocked:
          f.kind = "destroy-locked";
          f.summary =
              absl::StrFormat("%s destroyed {L1} while it was locked%s", who,
                              m.owner_tid ? absl::StrCat(" by ", Label(d, m.owner_tid)) : "");
          f.stacks.push_back({std::string("Mutex L1 destroyed here"), m.tid, di, d.Stack(m.stack)});
          if (m.owner_tid && m.owner_stack)
            f.stacks.push_back({std::string("Mutex L1 acquired here by its owner"), m.owner_tid, di,
                                d.Stack(m.owner_stack)});
          break;
        case format::kMisuseRelockError:
          f.kind = "relock-error";
          f.summary = absl::StrFormat(
              "%s locked the error-checking mutex {L1} it already holds (EDEADLK)", who);
          f.stacks.push_back({std::string("Mutex L1 re-locked here"), m.tid, di, d.Stack(m.stack)});
          if (m.owner_stack)
            f.stacks.push_back({"Mutex L1 previously acquired here by the same thread", m.tid, di,
                                d.Stack(m.owner_stack)});
          break;
        default: continue;  // kMisuseHeldAcrossFork: checks/fork.cc tells that story
      }
      out.push_back(std::move(f));
    }
    // Threads that ended while holding locks.
    for (const ThreadInfo& t : d.threads()) {
      if (t.state != format::kThreadExited || t.held_count == 0) continue;
      Finding f;
      f.kind = "exit-holding";
      f.severity = Severity::kError;
      AddThread(f, d, t.tid);
      std::string ids;
      for (size_t i = 0; i < t.held.size(); ++i) {
        std::string id = absl::StrCat("L", i + 1);
        f.locks.push_back(MakeLock(d, di, t.held[i].address, t.held[i].lock, id));
        absl::StrAppend(&ids, i ? ", " : "", "{", id, "}");
        f.stacks.push_back(
            {absl::StrCat("Mutex ", id, " acquired here"), t.tid, di, d.Stack(t.held[i].stack)});
      }
      f.summary = absl::StrFormat(
          "%s exited while holding %s: any thread that takes %s next "
          "waits forever",
          Label(d, t.tid), ids, t.held.size() == 1 ? "it" : "them");
      if (t.exit_stack)
        f.stacks.push_back({std::string("Exited here"), t.tid, di, d.Stack(t.exit_stack)});
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace lockscope
