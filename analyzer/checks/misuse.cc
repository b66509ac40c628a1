#include "analyzer/checks/misuse.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/finding_builder.h"

namespace lockscope {
namespace {

uint8_t KindOf(const LockInfo* lock) { return lock ? lock->kind : uint8_t{format::kLockMutex}; }

// A misuse the shim recorded when it happened (kMisuseHeldAcrossFork is checks/fork.cc's).
void RecordedMisuse(const Dump& d, size_t di, const MisuseInfo& m, std::vector<Finding>* out) {
  const LockInfo* lock = d.Lock(m.lock);
  const char* noun = LockNoun(KindOf(lock));
  const char* kind = m.kind == format::kMisuseUnlockNotOwner  ? "unlock-not-owner"
                     : m.kind == format::kMisuseDestroyLocked ? "destroy-locked"
                     : m.kind == format::kMisuseRelockError   ? "relock-error"
                                                              : nullptr;
  if (kind == nullptr) return;
  FindingBuilder b(d, di, kind, Severity::kError);
  const std::string id = b.Lock(m.address, lock);
  const std::string who = b.Thread(m.tid);
  const std::string owner = m.owner_tid ? b.Thread(m.owner_tid) : "";
  Finding& f = b.finding();
  switch (m.kind) {
    case format::kMisuseUnlockNotOwner:
      f.summary = m.owner_tid ? absl::StrFormat("%s unlocked %s, which %s holds", who, id, owner)
                              : absl::StrFormat("%s unlocked %s, which was not locked", who, id);
      b.Stack(absl::StrCat(noun, " ", id, " unlocked here"), m.tid, m.stack);
      if (m.owner_tid && m.owner_stack)
        b.Stack(absl::StrCat(noun, " ", id, " acquired here by its owner"), m.owner_tid,
                m.owner_stack);
      break;
    case format::kMisuseDestroyLocked:
      f.summary = absl::StrFormat("%s destroyed %s while it was locked%s", who, id,
                                  m.owner_tid ? absl::StrCat(" by ", owner) : "");
      b.Stack(absl::StrCat(noun, " ", id, " destroyed here"), m.tid, m.stack);
      if (m.owner_tid && m.owner_stack)
        b.Stack(absl::StrCat(noun, " ", id, " acquired here by its owner"), m.owner_tid,
                m.owner_stack);
      break;
    case format::kMisuseRelockError:
      f.summary = absl::StrFormat(
          "%s locked the error-checking mutex %s it already holds (EDEADLK)", who, id);
      b.Stack(absl::StrCat(noun, " ", id, " re-locked here"), m.tid, m.stack);
      if (m.owner_stack)
        b.Stack(absl::StrCat(noun, " ", id, " previously acquired here by the same thread"),
                m.tid, m.owner_stack);
      break;
  }
  out->push_back(b.Take());
}

// A thread that ended while holding locks (semaphores only while they count as locks: a
// hand-off it took and another thread posted is not held). Robust mutexes apart: their next
// locker does not wait, it gets EOWNERDEAD: a warning that says so.
void ExitHolding(const Dump& d, size_t di, const ThreadInfo& t, std::vector<Finding>* out) {
  std::vector<const format::HeldLock*> held, robust;
  for (const format::HeldLock& h : t.held)
    if (HeldAsLock(h, d.Lock(h.lock), d.SyncAt(h.address)))
      ((h.flags & format::kHeldRobust) ? robust : held).push_back(&h);
  auto report = [&](const std::vector<const format::HeldLock*>& locks, bool robust_ones) {
    if (locks.empty()) return;
    FindingBuilder b(d, di, "exit-holding", robust_ones ? Severity::kWarning : Severity::kError);
    const std::string who = b.Thread(&t);
    std::string ids;
    for (const format::HeldLock* h : locks) {
      const uint8_t kind = HeldKind(*h, d.Lock(h->lock));
      const std::string id = b.Lock(h->address, kind);
      absl::StrAppend(&ids, ids.empty() ? "" : ", ", id);
      b.Stack(absl::StrCat(LockNoun(kind), " ", id, " acquired here"), t.tid, h->stack);
    }
    const char* them = locks.size() == 1 ? "it" : "them";
    b.finding().summary =
        robust_ones
            ? absl::StrFormat(
                  "%s exited while holding the robust mutex%s %s: the next thread that locks %s "
                  "gets EOWNERDEAD, and must call pthread_mutex_consistent before unlocking, or "
                  "the mutex becomes unusable (ENOTRECOVERABLE)",
                  who, locks.size() == 1 ? "" : "es", ids, them)
            : absl::StrFormat(
                  "%s exited while holding %s: any thread that takes %s next waits "
                  "forever",
                  who, ids, them);
    if (t.exit_stack) b.Stack("Exited here", t.tid, t.exit_stack);
    out->push_back(b.Take());
  };
  report(held, false);
  report(robust, true);
}

}  // namespace

std::vector<Finding> CheckMisuse(const std::vector<std::unique_ptr<Dump>>& dumps) {
  std::vector<Finding> out;
  for (size_t di = 0; di < dumps.size(); ++di) {
    const Dump& d = *dumps[di];
    for (const MisuseInfo& m : d.misuses()) RecordedMisuse(d, di, m, &out);
    for (const ThreadInfo& t : d.threads())
      if (t.state == format::kThreadExited && t.held_count > 0) ExitHolding(d, di, t, &out);
  }
  return out;
}

}  // namespace lockscope
