// Copyright (c) lockscope authors.
//
// -----------------------------------------------------------------------------
// File: analyzer/symbolizer.h
// -----------------------------------------------------------------------------
//
// Offline symbolization of raw addresses recorded by the lockscope shim.
//
// The shim runs inside the target process and records raw program counters
// (lock-acquisition call stacks) and raw data addresses (the mutexes
// themselves), plus the list of loaded modules (`dl_iterate_phdr`). The
// analyzer runs later, possibly after the target has exited, and turns those
// numbers back into names using the ELF/DWARF files on disk, via elfutils
// libdwfl. No live process is needed.
//
// Example:
//
//   std::vector<lockscope::ModuleInfo> modules = ...;  // from the dump
//   lockscope::Symbolizer symbolizer(std::move(modules));
//   for (const auto& f : symbolizer.Symbolize(pc, /*is_return_address=*/true))
//     printf("%s%s at %s:%d\n", f.inlined ? "(inlined) " : "",
//            f.function.c_str(), f.file.c_str(), f.line);
//   std::optional<std::string> lock = symbolizer.DataSymbol(mutex_addr);
//   // e.g. "g_registry_lock" or "g_locks+40"
//
// Contract summary:
//
//   * Every public method is total: no input (pc 0, pc ~0, addresses outside
//     every module, modules that no longer exist, files that are not ELF, ELF
//     files without symbols or DWARF) makes it crash or throw. Unknown data is
//     reported as empty strings / zero lines / `std::nullopt`.
//   * `Symbolize()` never returns an empty vector.
//   * Debug info is looked up the standard elfutils way: the module itself,
//     then `.gnu_debuglink` / build-id files under `/usr/lib/debug` and
//     `.debug/` next to the module (`dwfl_standard_find_debuginfo`). If the
//     environment has `DEBUGINFOD_URLS` set, libdwfl may also consult
//     debuginfod servers for modules without local debug info.
//   * Results are cached per pc for the Symbolizer's lifetime; libdwfl caches
//     per-module ELF/DWARF data, so repeated lookups are cheap.
//
// Thread safety: a `Symbolizer` is NOT thread-safe (libdwfl handles and the
// result cache are mutated by lookups). Use one instance per thread, or guard
// it externally.

#ifndef LOCKSCOPE_ANALYZER_SYMBOLIZER_H_
#define LOCKSCOPE_ANALYZER_SYMBOLIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace lockscope {

// One loaded ELF object of the recorded process, as reported by the shim.
struct ModuleInfo {
  // Absolute path of the ELF file as loaded (the main executable too).
  std::string path;
  // Load bias: runtime address = base + ELF virtual address
  // (`dl_iterate_phdr`'s `dlpi_addr`; 0 for non-PIE executables).
  uint64_t base = 0;
  // Lowercase hex GNU build-id recorded at runtime; may be empty (unknown).
  std::string build_id;
  // When it was loaded, on the clock of the dump's frames section
  // (format::ModuleRecord::frames_from / frames_until; until 0: still loaded).
  uint32_t frames_from = 0, frames_until = 0;
};

// One (possibly inlined) source-level frame for a pc.
struct SymbolizedFrame {
  // The runtime pc exactly as passed to `Symbolize()` (never adjusted).
  uint64_t pc = 0;
  // Basename of the module containing the pc, or "" if unknown.
  std::string module;
  // pc minus the module's lowest address (what addr2line -e MODULE wants for PIE/DSOs).
  uint64_t module_offset = 0;
  // Demangled function name as `abi::__cxa_demangle` prints it, including the
  // parameter list for C++ functions (e.g. "lock_b_then_a(int)"); plain name
  // for C functions; "" if unknown.
  std::string function;
  // Source file path from DWARF line info, made absolute with the compilation directory
  // and lexically normalised; "" if unknown.
  std::string file;
  // Source line; 0 if unknown.
  int line = 0;
  // True for a frame whose function was inlined into the next (outer) frame
  // of the same `Symbolize()` result.
  bool inlined = false;
  // A Python frame (a format::PythonFrame in the stack, named by the dump's Python code
  // table, not by this class): function, file and line are Python's; no module.
  bool python = false;
};

// A file that a dump or a core names, opened read-only when it is a regular
// file: checked before the open and again on the descriptor (opened without
// blocking), so that a FIFO or a device named by a hostile input never hangs
// or disturbs anything. -1 otherwise.
int OpenRegularFile(const std::string& path);

// Symbolizes addresses of a (possibly dead) process offline, from the module
// list the process recorded. See the file comment for the general contract.
class Symbolizer {
 public:
  // Reports every usable module to libdwfl. Modules with an empty path, a
  // pseudo path ("linux-vdso.so.1", "[vdso]", ...), or a file that cannot be
  // opened as ELF are skipped; addresses inside them are treated as unknown
  // (no module name). A module whose file has a different build-id than the
  // recorded one is still used, but listed by `MismatchedModules()`. Exact
  // duplicate entries (same path and base) are reported once; entries with
  // overlapping address ranges are all reported and lookups in the overlap
  // resolve to one of them (unspecified which).
  explicit Symbolizer(std::vector<ModuleInfo> modules);
  ~Symbolizer();

  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Returns the source-level frames for `pc`: the innermost inlined frame
  // first, the real (out-of-line, outermost) function last. All frames carry
  // the same `pc` (as given) and `module`; every frame except the last has
  // `inlined == true`.
  //
  // The innermost frame's file/line is the line-table entry for the looked-up
  // address; each outer frame's file/line is the call site
  // (DW_AT_call_file/DW_AT_call_line) of the frame inlined into it.
  //
  // If `is_return_address` is true, `pc` is treated as a return address (as
  // found in a stack trace) and `pc - 1` is looked up instead, so that the
  // result describes the call instruction rather than whatever follows it
  // (which may belong to another line, inline scope, or even function).
  //
  // Without DWARF, falls back to the ELF symbol table (one frame, function
  // name only). Never returns an empty vector: an unknown pc yields a single
  // frame with only `pc` (and `module`, if the pc lies in a known module).
  std::vector<SymbolizedFrame> Symbolize(uint64_t pc, bool is_return_address);

  // Returns the (demangled) name of the ELF symbol covering the data address
  // `addr`, e.g. "g_registry_lock", or "g_locks+40" when `addr` is 40 bytes
  // (decimal) into the symbol. Symbols with a size cover
  // [value, value + size); size-less symbols only cover their exact address.
  // Returns `std::nullopt` when `addr` lies in no known module or no symbol
  // covers it (e.g. heap or stack addresses).
  std::optional<std::string> DataSymbol(uint64_t addr);

  // Paths of the modules whose file on disk has a different GNU build-id than
  // the one recorded at runtime (or none at all while one was recorded).
  // Symbols for such modules may be wrong; callers should warn. Modules with
  // no recorded build-id are never listed.
  std::vector<std::string> MismatchedModules() const;

  // The address range [*low, *high) of its modules (with their bases); false when it has
  // none. A symbolizer of one module at base 0 gives the module's own extent.
  bool Extent(uint64_t* low, uint64_t* high) const;

 private:
  struct DwflState;  // libdwfl handle, hidden to keep elfutils headers private

  void Init(const std::vector<ModuleInfo>& modules);
  std::vector<SymbolizedFrame> SymbolizeUncached(uint64_t pc, bool is_return_address);
  std::optional<std::string> DataSymbolUncached(uint64_t addr);

  std::unique_ptr<DwflState> state_;  // null only after allocation failure
  std::vector<std::string> mismatched_;
  // Index 0: is_return_address == false, index 1: true.
  std::unordered_map<uint64_t, std::vector<SymbolizedFrame>> frame_cache_[2];
  std::unordered_map<uint64_t, std::optional<std::string>> data_cache_;
};

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_SYMBOLIZER_H_
