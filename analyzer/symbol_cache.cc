#include "analyzer/symbol_cache.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace lockscope {

Symbolizer& SymbolCache::For(size_t dump) {
  auto& by_dump = by_dump_[dump];
  if (by_dump != nullptr) return *by_dump;
  std::string key;
  for (const ModuleInfo& m : dumps_[dump]->modules())
    absl::StrAppend(&key, m.path, "@", m.base, "#", m.build_id, ";");
  auto& s = symbolizers_[key];
  if (!s) s = std::make_unique<Symbolizer>(dumps_[dump]->modules());
  by_dump = s.get();
  return *s;
}

std::vector<SymbolizedFrame> SymbolCache::Frames(size_t dump, const std::vector<uint64_t>& pcs) {
  std::vector<SymbolizedFrame> out;
  Symbolizer& s = For(dump);
  for (uint64_t pc : pcs) {
    if (format::IsPythonFrame(pc)) {
      SymbolizedFrame f;
      f.pc = pc;
      f.python = true;
      f.line = static_cast<int>(format::PythonFrameLine(pc));
      if (const PyCodeInfo* code = dumps_[dump]->PythonCode(format::PythonFrameCode(pc))) {
        f.function = code->name;
        f.file = code->filename;
      }
      out.push_back(std::move(f));
      continue;
    }
    std::vector<SymbolizedFrame> f = s.Symbolize(pc, /*is_return_address=*/true);
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

std::optional<SymbolizedFrame> SymbolCache::Site(size_t dump, const std::vector<uint64_t>& pcs) {
  const std::vector<SymbolizedFrame> frames = Frames(dump, pcs);
  const SymbolizedFrame* best = nullptr;
  for (const SymbolizedFrame& f : frames) {
    if (f.python) return f;
    if (best == nullptr && f.line > 0) best = &f;
  }
  if (best == nullptr)
    for (const SymbolizedFrame& f : frames)
      if (!f.function.empty()) return f;
  if (best == nullptr) return std::nullopt;
  return *best;
}

std::string SymbolCache::LockName(size_t dump, uint64_t address) {
  std::optional<std::string> name = For(dump).DataSymbol(address);
  return name ? *name : "";
}

std::vector<std::string> SymbolCache::MismatchedModules(const std::vector<size_t>& dumps) {
  std::set<std::string> paths;
  for (size_t d : dumps)
    for (const std::string& path : For(d).MismatchedModules()) paths.insert(path);
  return std::vector<std::string>(paths.begin(), paths.end());
}

}  // namespace lockscope
