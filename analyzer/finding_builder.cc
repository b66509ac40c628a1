#include "analyzer/finding_builder.h"

#include "absl/strings/str_cat.h"

namespace lockscope {

FindingBuilder::FindingBuilder(const Dump& dump, size_t dump_index, const char* kind,
                               Severity severity)
    : d_(dump), di_(dump_index) {
  f_.kind = kind;
  f_.severity = severity;
}

std::string FindingBuilder::Thread(int32_t tid, bool mark_exited) {
  if (const ThreadInfo* t = d_.ThreadByTid(tid)) return Thread(t, mark_exited);
  return ForeignThread(tid, "", d_.header().pid);
}

std::string FindingBuilder::Thread(const ThreadInfo* t, bool mark_exited) {
  ForeignThread(t->tid, t->name, d_.header().pid);
  std::string label = ThreadLabel(t->tid, t->name);
  if (mark_exited && t->state == format::kThreadExited) absl::StrAppend(&label, " [exited]");
  return label;
}

std::string FindingBuilder::ForeignThread(int32_t tid, const std::string& name, int32_t pid) {
  bool known = false;
  for (const FindingThread& ft : f_.threads) known |= ft.tid == tid && ft.pid == pid;
  if (!known && tid != 0) f_.threads.push_back({tid, name, pid});
  return ThreadLabel(tid, name);
}

std::string FindingBuilder::Lock(uint64_t address, uint8_t kind) {
  for (const FindingLock& l : f_.locks)
    if (l.address == address) return absl::StrCat("{", l.id, "}");
  FindingLock l;
  l.id = absl::StrCat("L", f_.locks.size() + 1);
  l.dump = di_;
  l.address = address;
  l.kind = LockKindName(kind);
  f_.locks.push_back(l);
  return absl::StrCat("{", l.id, "}");
}

size_t FindingBuilder::LockIndex(uint64_t address) const {
  for (size_t i = 0; i < f_.locks.size(); ++i)
    if (f_.locks[i].address == address) return i;
  return f_.locks.size();
}

std::string FindingBuilder::Lock(uint64_t address, const LockInfo* lock) {
  return Lock(address, lock ? lock->kind : uint8_t{format::kLockMutex});
}

void FindingBuilder::Stack(std::string role, int32_t tid, uint32_t stack_id) {
  Stack(std::move(role), tid, d_.Stack(stack_id));
  f_.stacks.back().frame_offset = d_.StackFrameOffset(stack_id);
}

void FindingBuilder::Stack(std::string role, int32_t tid, std::vector<uint64_t> pcs) {
  f_.stacks.push_back({std::move(role), tid, di_, std::move(pcs)});
}

void FindingBuilder::Step(int32_t tid, std::string action) {
  f_.scenario.push_back({tid, std::move(action)});
}

}  // namespace lockscope
