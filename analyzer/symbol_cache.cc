#include "analyzer/symbol_cache.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace lockscope {

namespace {

// Whether module `m` holds the pcs of a stack stored at `offset`, of the modules at its
// address: one not unloaded before it, the one loaded before it rather than after (a stack
// may be stored just before its module's record is, by another thread).
bool InEra(const std::vector<ModuleInfo>& modules, const ModuleInfo& m, uint32_t offset) {
  if (offset == kAnyEra) return m.frames_until == 0;
  if (m.frames_until != 0 && m.frames_until <= offset) return false;
  if (m.frames_from <= offset) return true;
  for (const ModuleInfo& o : modules)  // loaded after it: only if no other is there for it
    if (&o != &m && o.base == m.base && o.frames_from <= offset &&
        (o.frames_until == 0 || o.frames_until > offset))
      return false;
  return true;
}

}  // namespace

Symbolizer& SymbolCache::For(size_t dump, uint32_t frame_offset) {
  const std::vector<ModuleInfo>& all = dumps_[dump]->modules();
  bool eras = false;  // a dump where no module left has one era: every stack shares it
  for (const ModuleInfo& m : all) eras |= m.frames_until != 0;
  if (!eras) frame_offset = kAnyEra;
  auto& by_dump = by_dump_[{dump, frame_offset}];
  if (by_dump != nullptr) return *by_dump;
  std::vector<ModuleInfo> modules;
  std::string key;
  for (const ModuleInfo& m : all) {
    if (!InEra(all, m, frame_offset)) continue;
    modules.push_back(m);
    absl::StrAppend(&key, m.path, "@", m.base, "#", m.build_id, ";");
  }
  auto& s = symbolizers_[key];
  if (!s) s = std::make_unique<Symbolizer>(modules);
  by_dump = s.get();
  return *s;
}

std::vector<SymbolizedFrame> SymbolCache::Frames(size_t dump, const std::vector<uint64_t>& pcs,
                                                 uint32_t frame_offset) {
  std::vector<SymbolizedFrame> out;
  Symbolizer& s = For(dump, frame_offset);
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

std::optional<SymbolizedFrame> SymbolCache::Site(size_t dump, const std::vector<uint64_t>& pcs,
                                                 uint32_t frame_offset) {
  const std::vector<SymbolizedFrame> frames = Frames(dump, pcs, frame_offset);
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
