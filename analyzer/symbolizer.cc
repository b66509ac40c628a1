// Copyright (c) lockscope authors.
//
// Offline symbolizer built on elfutils libdwfl. See symbolizer.h for the
// contract.
//
// Implementation notes:
//
//   * Modules are reported with dwfl_report_elf(..., base, add_p_vaddr=true).
//     Our `base` is the load bias (dlpi_addr); with add_p_vaddr=true libdwfl
//     uses it as the bias (start = base + first PT_LOAD p_vaddr), which is
//     exactly right even for the rare ET_DYN whose first PT_LOAD has a
//     non-zero p_vaddr (prelinked libraries). With add_p_vaddr=false libdwfl
//     would treat `base` as the start address instead; for ordinary shared
//     objects and PIEs (first p_vaddr == 0) both are identical. ET_EXEC files
//     ignore `base` either way. Modules are named by their full path; the
//     frame's `module` is its basename.
//
//   * Reporting a module whose name and address range equal an already
//     reported one, but with another fd, makes libdwfl return
//     DWFL_E_OVERLAP *and* garbage-collect the first module at
//     dwfl_report_end (freeing its handle). Duplicate (path, base) entries are
//     therefore dropped before reporting, and module handles are only used
//     after checking they survived dwfl_report_end.
//
//   * Inline chains: dwarf_getscopes() finds the innermost DIE containing the
//     address, but once it crosses a DW_TAG_inlined_subroutine it continues
//     in the *abstract* origin's tree, so it cannot give the whole concrete
//     chain for nested inlining. We therefore take only its innermost DIE and
//     ask dwarf_getscopes_die() for that DIE's concrete parents (the same
//     approach as `eu-addr2line -i`).
//
//   * All libdwfl/libdw calls are C and do not throw; the only C++ exceptions
//     possible here are allocation failures, which the public entry points
//     catch and turn into "unknown" results.

#include "analyzer/symbolizer.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>
#include <utility>

namespace lockscope {

namespace {

// Returns the demangled form of `name` when it is an Itanium C++ mangled
// symbol ("_Z..."), otherwise `name` unchanged. Only "_Z" names are passed to
// the demangler because __cxa_demangle also "demangles" bare type encodings
// (e.g. "i" -> "int"), which would corrupt plain C names.
std::string Demangle(const char* name) {
  if (name == nullptr) return std::string();
  if (name[0] == '_' && name[1] == 'Z') {
    int status = 0;
    char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    if (status == 0 && demangled != nullptr) {
      std::string result(demangled);
      std::free(demangled);
      return result;
    }
    std::free(demangled);
  }
  return std::string(name);
}

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// True for module "paths" that do not name a file on disk: the vDSO as named
// by dl_iterate_phdr ("linux-vdso.so.1", "linux-gate.so.1") or by
// /proc/pid/maps ("[vdso]", "[vsyscall]", ...).
bool IsPseudoPath(const std::string& path) {
  if (path.empty()) return true;
  if (path[0] == '[') return true;
  const std::string base = Basename(path);
  return base.rfind("linux-vdso", 0) == 0 || base.rfind("linux-gate", 0) == 0;
}

std::string ToLowerHex(const unsigned char* bytes, int len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(static_cast<size_t>(len) * 2);
  for (int i = 0; i < len; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0xf]);
  }
  return out;
}

std::string ToLower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Name of a function-like DIE. Follows DW_AT_abstract_origin and
// DW_AT_specification (dwarf_attr_integrate), so it works for inlined
// instances and out-of-line member function definitions. Prefers the
// demangled linkage name (full signature); falls back to DW_AT_name.
// `*from_linkage_name` tells which one was used.
std::string DieFunctionName(Dwarf_Die* die, bool* from_linkage_name) {
  *from_linkage_name = false;
  Dwarf_Attribute attr;
  for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
    if (dwarf_attr_integrate(die, at, &attr) != nullptr) {
      const char* name = dwarf_formstring(&attr);
      if (name != nullptr && name[0] != '\0') {
        *from_linkage_name = true;
        return Demangle(name);
      }
    }
  }
  if (dwarf_attr_integrate(die, DW_AT_name, &attr) != nullptr) {
    const char* name = dwarf_formstring(&attr);
    if (name != nullptr) return std::string(name);
  }
  return std::string();
}

bool IsFunctionTag(int tag) {
  return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_entry_point;
}

// `file` made absolute against `comp_dir` (relative paths come from builds run in a
// build directory, e.g. "../src/x.cc"), with "." and ".." removed lexically.
std::string AbsolutePath(const std::string& file, const char* comp_dir) {
  std::string joined = file;
  if (!file.empty() && file[0] != '/' && comp_dir != nullptr && comp_dir[0] == '/')
    joined = std::string(comp_dir) + "/" + file;
  if (joined.empty() || joined[0] != '/') return joined;
  std::vector<std::string> parts;
  size_t i = 1;
  while (i <= joined.size()) {
    size_t j = joined.find('/', i);
    if (j == std::string::npos) j = joined.size();
    std::string part = joined.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (const std::string& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

const char* CompDir(Dwarf_Die* cu) {
  Dwarf_Attribute attr;
  return dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
}

// Call site (DW_AT_call_file / DW_AT_call_line) of an inlined-subroutine DIE,
// i.e. the location inside the function it was inlined into.
void CallSite(Dwarf_Die* inlined, std::string* file, int* line) {
  file->clear();
  *line = 0;
  Dwarf_Attribute attr;
  Dwarf_Word value = 0;
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &value) == 0) {
    *line = static_cast<int>(value);
  }
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &value) != 0) {
    return;
  }
  Dwarf_Die cu;
  if (dwarf_diecu(inlined, &cu, nullptr, nullptr) == nullptr) return;
  Dwarf_Files* files = nullptr;
  size_t nfiles = 0;
  if (dwarf_getsrcfiles(&cu, &files, &nfiles) != 0 || value >= nfiles) return;
  // libdw indexes the file table the way DW_AT_call_file does for both
  // DWARF 4 (entry 0 is a placeholder) and DWARF 5 (entry 0 is the CU file).
  const char* name = dwarf_filesrc(files, value, nullptr, nullptr);
  if (name != nullptr) *file = AbsolutePath(name, CompDir(&cu));
}

}  // namespace

struct Symbolizer::DwflState {
  // libdwfl keeps a pointer to the callbacks, so they live as long as `dwfl`.
  char* debuginfo_path = nullptr;  // nullptr: elfutils' default search path
  Dwfl_Callbacks callbacks{};
  Dwfl* dwfl = nullptr;

  ~DwflState() {
    if (dwfl != nullptr) dwfl_end(dwfl);
  }
};

int OpenRegularFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return -1;
  }
  return fd;
}

Symbolizer::Symbolizer(std::vector<ModuleInfo> modules) {
  try {
    Init(modules);
  } catch (...) {
    // Only allocation failures can get here; degrade to "nothing known".
    state_.reset();
    mismatched_.clear();
  }
}

void Symbolizer::Init(const std::vector<ModuleInfo>& modules) {
  state_ = std::make_unique<DwflState>();
  DwflState& s = *state_;
  s.callbacks.find_elf = dwfl_build_id_find_elf;  // unused by dwfl_report_elf
  s.callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
  s.callbacks.section_address = dwfl_offline_section_address;
  s.callbacks.debuginfo_path = &s.debuginfo_path;
  s.dwfl = dwfl_begin(&s.callbacks);
  if (s.dwfl == nullptr) return;  // Every lookup then yields "unknown".

  // Reported modules paired with what the dump recorded for them.
  std::vector<std::pair<Dwfl_Module*, const ModuleInfo*>> reported;
  std::set<std::pair<std::string, uint64_t>> seen;
  dwfl_report_begin(s.dwfl);
  for (const ModuleInfo& m : modules) {
    if (IsPseudoPath(m.path)) continue;
    // Reporting the same file at the same address twice makes libdwfl flag
    // an overlap and garbage-collect the FIRST module at dwfl_report_end, so
    // exact duplicates in the dump are dropped here.
    if (!seen.emplace(m.path, m.base).second) continue;
    // Only regular files: opening a FIFO named by a hostile dump would block
    // forever, and opening some devices does something. Checked before the
    // open, and again on the descriptor (opened without blocking), so that a
    // file swapped meanwhile is refused too.
    const int fd = OpenRegularFile(m.path);
    if (fd < 0) continue;
    // The module is named by its full path (as dwfl_linux_proc_report does),
    // so distinct files never collide by name. libdwfl owns the descriptor
    // once it took the module; it fails cleanly for non-ELF files.
    Dwfl_Module* mod = dwfl_report_elf(s.dwfl, m.path.c_str(), m.path.c_str(), fd, m.base,
                                       /*add_p_vaddr=*/true);
    if (mod == nullptr) {
      close(fd);
      continue;
    }
    reported.emplace_back(mod, &m);
  }
  if (dwfl_report_end(s.dwfl, nullptr, nullptr) != 0) {
    dwfl_end(s.dwfl);
    s.dwfl = nullptr;
    return;
  }

  // dwfl_report_end frees modules that were garbage-collected (e.g. a later
  // report overlapped them), so only touch handles that are still live.
  std::set<Dwfl_Module*> live;
  dwfl_getmodules(
      s.dwfl,
      [](Dwfl_Module* mod, void**, const char*, Dwarf_Addr, void* arg) -> int {
        static_cast<std::set<Dwfl_Module*>*>(arg)->insert(mod);
        return DWARF_CB_OK;
      },
      &live, 0);
  for (const auto& [mod, info] : reported) {
    if (info->build_id.empty() || live.count(mod) == 0) continue;
    const unsigned char* bits = nullptr;
    GElf_Addr vaddr = 0;
    const int len = dwfl_module_build_id(mod, &bits, &vaddr);
    const std::string on_disk = len > 0 ? ToLowerHex(bits, len) : "";
    if (on_disk != ToLower(info->build_id) &&
        std::find(mismatched_.begin(), mismatched_.end(), info->path) == mismatched_.end()) {
      mismatched_.push_back(info->path);
    }
  }
}

Symbolizer::~Symbolizer() = default;

std::vector<std::string> Symbolizer::MismatchedModules() const { return mismatched_; }

bool Symbolizer::Extent(uint64_t* low, uint64_t* high) const {
  if (state_ == nullptr || state_->dwfl == nullptr) return false;
  struct Range {
    uint64_t low = UINT64_MAX, high = 0;
  } range;
  dwfl_getmodules(
      state_->dwfl,
      [](Dwfl_Module* mod, void**, const char*, Dwarf_Addr, void* arg) -> int {
        Dwarf_Addr start = 0, end = 0;
        if (dwfl_module_info(mod, nullptr, &start, &end, nullptr, nullptr, nullptr, nullptr)) {
          auto* r = static_cast<Range*>(arg);
          r->low = std::min<uint64_t>(r->low, start);
          r->high = std::max<uint64_t>(r->high, end);
        }
        return DWARF_CB_OK;
      },
      &range, 0);
  if (range.low >= range.high) return false;
  *low = range.low;
  *high = range.high;
  return true;
}

std::vector<SymbolizedFrame> Symbolizer::Symbolize(uint64_t pc, bool is_return_address) {
  try {
    auto& cache = frame_cache_[is_return_address ? 1 : 0];
    auto it = cache.find(pc);
    if (it != cache.end()) return it->second;
    std::vector<SymbolizedFrame> frames = SymbolizeUncached(pc, is_return_address);
    if (frames.empty()) frames.emplace_back().pc = pc;  // defensive
    cache.emplace(pc, frames);
    return frames;
  } catch (...) {
    std::vector<SymbolizedFrame> unknown(1);
    unknown[0].pc = pc;
    return unknown;
  }
}

std::vector<SymbolizedFrame> Symbolizer::SymbolizeUncached(uint64_t pc, bool is_return_address) {
  SymbolizedFrame unknown;
  unknown.pc = pc;
  // A return address points after the call; pc - 1 is inside the call
  // instruction and so attributes to the calling line / inline scope.
  const uint64_t addr = (is_return_address && pc > 0) ? pc - 1 : pc;

  Dwfl* dwfl = state_ != nullptr ? state_->dwfl : nullptr;
  Dwfl_Module* mod = dwfl != nullptr ? dwfl_addrmodule(dwfl, addr) : nullptr;
  if (mod == nullptr) return {unknown};

  Dwarf_Addr mod_start = 0;
  const char* mod_name =
      dwfl_module_info(mod, nullptr, &mod_start, nullptr, nullptr, nullptr, nullptr, nullptr);
  if (mod_name != nullptr) unknown.module = Basename(mod_name);
  unknown.module_offset = pc - mod_start;

  std::vector<SymbolizedFrame> frames;
  bool outer_has_linkage_name = false;

  // --- DWARF scopes: the inline chain. ---
  Dwarf_Addr bias = 0;
  Dwarf_Die* cudie = dwfl_module_addrdie(mod, addr, &bias);
  if (cudie != nullptr) {
    Dwarf_Die* scopes = nullptr;
    const int n = dwarf_getscopes(cudie, addr - bias, &scopes);
    Dwarf_Die innermost;
    const bool have_innermost = n > 0;
    if (have_innermost) innermost = scopes[0];
    std::free(scopes);
    scopes = nullptr;

    const int nchain = have_innermost ? dwarf_getscopes_die(&innermost, &scopes) : 0;
    // Function-like scopes, innermost first, up to (and including) the first
    // real (non-inlined) subprogram.
    std::vector<Dwarf_Die*> funcs;
    for (int i = 0; i < nchain; ++i) {
      const int tag = dwarf_tag(&scopes[i]);
      if (!IsFunctionTag(tag)) continue;
      funcs.push_back(&scopes[i]);
      if (tag != DW_TAG_inlined_subroutine) break;
    }
    for (size_t i = 0; i < funcs.size(); ++i) {
      SymbolizedFrame f = unknown;
      f.function = DieFunctionName(funcs[i], &outer_has_linkage_name);
      f.inlined = dwarf_tag(funcs[i]) == DW_TAG_inlined_subroutine;
      // Frame i+1's location is where frame i was inlined into it.
      if (i > 0) CallSite(funcs[i - 1], &f.file, &f.line);
      frames.push_back(std::move(f));
    }
    std::free(scopes);
  }

  // --- Line table: location of the innermost frame. ---
  std::string src_file;
  int src_line = 0;
  if (Dwfl_Line* line = dwfl_module_getsrc(mod, addr); line != nullptr) {
    int lineno = 0;
    const char* src = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
    if (src != nullptr) src_file = AbsolutePath(src, dwfl_line_comp_dir(line));
    src_line = lineno;
  }

  // --- ELF symbol table: fallback name for the outermost function. ---
  const bool need_symtab =
      frames.empty() || !outer_has_linkage_name || frames.back().function.empty();
  if (need_symtab) {
    GElf_Off offset = 0;
    GElf_Sym sym;
    std::memset(&sym, 0, sizeof sym);
    const char* name = dwfl_module_addrinfo(mod, addr, &offset, &sym, nullptr, nullptr, nullptr);
    if (name != nullptr && name[0] != '\0') {
      if (frames.empty()) {
        frames.push_back(unknown);
        frames.back().function = Demangle(name);
      } else if (!frames.back().inlined &&
                 (frames.back().function.empty() || (name[0] == '_' && name[1] == 'Z'))) {
        // DWARF had only a bare DW_AT_name (e.g. some constructors); the
        // mangled ELF symbol carries the full signature.
        frames.back().function = Demangle(name);
      }
    }
  }

  if (frames.empty()) frames.push_back(unknown);
  frames.front().file = std::move(src_file);
  frames.front().line = src_line;
  return frames;
}

std::optional<std::string> Symbolizer::DataSymbol(uint64_t addr) {
  try {
    auto it = data_cache_.find(addr);
    if (it != data_cache_.end()) return it->second;
    std::optional<std::string> result = DataSymbolUncached(addr);
    data_cache_.emplace(addr, result);
    return result;
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<std::string> Symbolizer::DataSymbolUncached(uint64_t addr) {
  Dwfl* dwfl = state_ != nullptr ? state_->dwfl : nullptr;
  Dwfl_Module* mod = dwfl != nullptr ? dwfl_addrmodule(dwfl, addr) : nullptr;
  if (mod == nullptr) return std::nullopt;

  GElf_Off offset = 0;
  GElf_Sym sym;
  std::memset(&sym, 0, sizeof sym);
  // Searches .symtab (from the debug file when available) or .dynsym; when no
  // sized symbol contains addr it may return the nearest size-less symbol
  // below it, which we only accept on an exact hit.
  const char* name = dwfl_module_addrinfo(mod, addr, &offset, &sym, nullptr, nullptr, nullptr);
  if (name == nullptr || name[0] == '\0') return std::nullopt;
  const bool covered = sym.st_size > 0 ? offset < sym.st_size : offset == 0;
  if (!covered) return std::nullopt;

  std::string result = Demangle(name);
  if (offset != 0) {
    result += '+';
    result += std::to_string(offset);
  }
  return result;
}

}  // namespace lockscope
