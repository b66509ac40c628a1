// Symbolizers for the dumps of a report: one per module file (path and build-id), shared by
// every dump that loaded it, wherever it was loaded (ASLR places it anew in each process):
// each module's DWARF is read once for a whole test suite's dumps. A dump's pcs are looked
// up in the module that held them, as offsets into it. Not thread-safe.
#ifndef LOCKSCOPE_ANALYZER_SYMBOL_CACHE_H_
#define LOCKSCOPE_ANALYZER_SYMBOL_CACHE_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/dump_reader.h"
#include "analyzer/symbolizer.h"

namespace lockscope {

class SymbolCache {
 public:
  // `dumps` must outlive the cache.
  explicit SymbolCache(const std::vector<std::unique_ptr<Dump>>& dumps) : dumps_(dumps) {}
  // All frames (inlined ones included) for a stack; every pc is a return address. The
  // stack's frame offset (Dump::StackFrameOffset) picks the modules that were loaded when
  // it was stored: a module unloaded before it, or loaded after it at the same address, is
  // not the one its pcs are in.
  std::vector<SymbolizedFrame> Frames(size_t dump, const std::vector<uint64_t>& pcs,
                                      uint32_t frame_offset = kAnyEra);
  // Where a stack stands, for one-line labels: its innermost Python frame when it has one
  // (the Python line), else its innermost frame with a source line, else its innermost
  // named frame; nullopt for an empty stack.
  std::optional<SymbolizedFrame> Site(size_t dump, const std::vector<uint64_t>& pcs,
                                      uint32_t frame_offset = kAnyEra);
  // Symbol naming a lock's address (a global), or "".
  std::string LockName(size_t dump, uint64_t address);
  // The modules of `dumps` (indices) whose file on disk is not the one the process loaded
  // (its build-id differs: rebuilt since), whose lines and names may therefore be wrong.
  std::vector<std::string> MismatchedModules(const std::vector<size_t>& dumps);

 private:
  // A module file where one dump had it: [start, end) = base + the file's own extent.
  struct Placed {
    uint64_t start = 0, end = 0, base = 0;
    Symbolizer* symbolizer = nullptr;
  };
  // The modules of a dump at a stack's moment (its era), by start address.
  const std::vector<Placed>& Modules(size_t dump, uint32_t frame_offset = kAnyEra);
  // The module holding `address` there, or nullptr.
  const Placed* ModuleAt(size_t dump, uint32_t frame_offset, uint64_t address);
  // The symbolizer of one module file, placed at 0 (its addresses are the file's own).
  Symbolizer& ForFile(const ModuleInfo& m);

  const std::vector<std::unique_ptr<Dump>>& dumps_;
  std::map<std::string, std::unique_ptr<Symbolizer>> files_;           // by path and build-id
  std::map<std::pair<size_t, uint32_t>, std::vector<Placed>> placed_;  // (dump, era's offset)
};

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_SYMBOL_CACHE_H_
