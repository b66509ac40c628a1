// Assembles a Finding the way every check tells one, so that they all read alike: threads
// labelled "T123 (name)" and listed once, locks written as {Ln} placeholders (NameLocks later
// turns them into "Ln (g_name)") with their kind, stacks with a role, and lockdep's scenario
// steps each in its own thread's column.
//
// Cost: linear in what the finding names (findings name a handful of threads and locks).
// Not thread-safe; one builder per finding.
#ifndef LOCKSCOPE_ANALYZER_FINDING_BUILDER_H_
#define LOCKSCOPE_ANALYZER_FINDING_BUILDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/dump_reader.h"
#include "analyzer/finding.h"

namespace lockscope {

class FindingBuilder {
 public:
  // A finding about dump `dump_index` (`dump`).
  FindingBuilder(const Dump& dump, size_t dump_index, const char* kind, Severity severity);

  // Adds the thread (once) and returns its label; `mark_exited` appends " [exited]" to the
  // label of a thread that has ended. A tid the dump does not know is labelled "T123".
  std::string Thread(int32_t tid, bool mark_exited = false);
  std::string Thread(const ThreadInfo* t, bool mark_exited = false);
  // A thread of another process (a fork child's parent), named by what the child knows.
  std::string ForeignThread(int32_t tid, const std::string& name, int32_t pid);

  // "{Ln}" for the lock at `address`, added (once) with its kind.
  std::string Lock(uint64_t address, uint8_t kind);
  // Its position in the finding's locks (added by Lock first).
  size_t LockIndex(uint64_t address) const;
  // The same with the kind the model knows (a mutex when `lock` is null: untracked).
  std::string Lock(uint64_t address, const LockInfo* lock);

  void Stack(std::string role, int32_t tid, uint32_t stack_id);
  void Stack(std::string role, int32_t tid, std::vector<uint64_t> pcs);
  // A scenario step: thread `tid` does `action` ("lock({L1});").
  void Step(int32_t tid, std::string action);

  const Dump& dump() const { return d_; }
  // The finding so far: summary, details, notes and the rest are set directly.
  Finding& finding() { return f_; }
  Finding Take() { return std::move(f_); }

 private:
  const Dump& d_;
  size_t di_;
  Finding f_;
};

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_FINDING_BUILDER_H_
