// Lock classes: a name for a lock that is the same in every process and every run of a
// program, where its address is not (ASLR, the heap's layout). lockdep's idea, found offline
// from what the dump recorded:
//   - a global or static lock: its module and symbol, "libfoo.so:g_registry" (an element of
//     an array: "app:g_locks+40");
//   - the GIL: "the GIL";
//   - any other lock (heap, member, stack): the site of its first acquisition, past the
//     frames of lock wrappers, "Registry::Registry() at registry.cc:42". A wrapper is a
//     function that only forwards to a lock, so that a project's Mutex::Lock() does not
//     make every lock one class: the standard library's frames (std::mutex::lock, the
//     lock_guard/unique_lock/scoped_lock constructors), the gthread shims, any function
//     whose name ends in lock, Lock, acquire or Acquire, and any matching a --wrapper
//     pattern. A lock taken from Python (threading.Lock): its innermost Python frame,
//     "Worker.run at worker.py:12", not the interpreter's C frames, which all share;
//   - a Python lock that Python code made (threading.Lock()): the line that made it, in
//     the function that ran it, "Account.__init__ at bank.py:3" (the shim notes sem_init's
//     innermost Python frame); a lock made before the shim knew Python, or in a fork child
//     from its parent's code, falls back to its first acquisition.
// A lock whose class cannot be told (no symbol, no stack) has none ("").
//
// Cost: one symbolization per lock asked about, cached per (dump, lock). Not thread-safe.
#ifndef LOCKSCOPE_ANALYZER_LOCK_CLASSES_H_
#define LOCKSCOPE_ANALYZER_LOCK_CLASSES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "analyzer/dump_reader.h"
#include "analyzer/symbol_cache.h"

namespace lockscope {

// A --wrapper pattern (ECMAScript regex, searched in a function's name without its
// parameters), or a one-line reason it is not one.
bool ValidWrapperPattern(const std::string& pattern, std::string* why);

class LockClasses {
 public:
  // `dumps` and `symbols` must outlive this object; `wrappers` are valid patterns.
  LockClasses(const std::vector<std::unique_ptr<Dump>>& dumps, SymbolCache& symbols,
              const std::vector<std::string>& wrappers);

  // The class of lock (record index) `lock` of dump `dump`, or "".
  const std::string& Of(size_t dump, uint32_t lock);
  // Whether that class has one lock per process (a global or static, named by its symbol):
  // only such a class can serialise what threads do, as a gate lock does.
  bool OnePerProcess(size_t dump, uint32_t lock);

  // Whether a frame's function is a lock wrapper's (exposed for tests).
  bool IsWrapper(const std::string& function) const;
  // Of a stack's frames (innermost first), the one a class or a fingerprint names: the
  // innermost Python frame, else the first named frame past the wrappers; nullptr if none.
  const SymbolizedFrame* FrameThatMatters(const std::vector<SymbolizedFrame>& frames) const;

 private:
  // The stacks to take a non-global lock's site from: its first acquisition with nothing
  // held, else its acquisitions in order edges.
  std::vector<uint32_t> SiteStacks(const Dump& d, const LockInfo& l) const;
  // A stack's first frame past the wrappers: "function at file:line", or "".
  std::string Site(size_t dump, uint32_t stack);

  const std::vector<std::unique_ptr<Dump>>& dumps_;
  SymbolCache& symbols_;
  std::vector<std::regex> wrappers_;
  struct Class {
    std::string name;
    bool one_per_process = false;
  };
  Class Compute(size_t dump, uint32_t lock);
  const Class& Get(size_t dump, uint32_t lock);
  std::map<std::pair<size_t, uint32_t>, Class> cache_;
};

// Calls fn(dump, edge, from class, to class) for every order edge of `dumps` between two
// locks that take part in the order graph and both have a class: the edges of the class
// graph (checks/class_order.h) and of a baseline (baseline.h) are these.
void ForEachClassEdge(
    const std::vector<std::unique_ptr<Dump>>& dumps, LockClasses& classes,
    const std::function<void(size_t, const EdgeInfo&, const std::string&, const std::string&)>& fn);

// A function's name without its parameter list and return type: "ns::Mutex::Lock" for
// "ns::Mutex::Lock() const".
std::string BareFunctionName(const std::string& function);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_LOCK_CLASSES_H_
