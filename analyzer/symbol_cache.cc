#include "analyzer/symbol_cache.h"

#include <algorithm>
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

Symbolizer& SymbolCache::ForFile(const ModuleInfo& m) {
  auto& s = files_[absl::StrCat(m.path, "#", m.build_id)];
  if (!s) {
    ModuleInfo at_zero = m;
    at_zero.base = 0;
    at_zero.frames_from = at_zero.frames_until = 0;
    s = std::make_unique<Symbolizer>(std::vector<ModuleInfo>{at_zero});
  }
  return *s;
}

const std::vector<SymbolCache::Placed>& SymbolCache::Modules(size_t dump, uint32_t frame_offset) {
  const std::vector<ModuleInfo>& all = dumps_[dump]->modules();
  bool eras = false;  // a dump where no module left has one era: every stack shares it
  for (const ModuleInfo& m : all) eras |= m.frames_until != 0;
  if (!eras) frame_offset = kAnyEra;
  auto [it, inserted] = placed_.try_emplace({dump, frame_offset});
  if (!inserted) return it->second;
  std::vector<Placed>& placed = it->second;
  for (const ModuleInfo& m : all) {
    if (!InEra(all, m, frame_offset)) continue;
    Symbolizer& s = ForFile(m);
    uint64_t low = 0, high = 0;
    if (!s.Extent(&low, &high) || m.base + low < m.base) continue;  // unreadable, or absurd
    placed.push_back({m.base + low, m.base + high, m.base, &s});
  }
  std::sort(placed.begin(), placed.end(),
            [](const Placed& a, const Placed& b) { return a.start < b.start; });
  return placed;
}

const SymbolCache::Placed* SymbolCache::ModuleAt(size_t dump, uint32_t frame_offset,
                                                 uint64_t address) {
  const std::vector<Placed>& placed = Modules(dump, frame_offset);
  auto it = std::upper_bound(placed.begin(), placed.end(), address,
                             [](uint64_t a, const Placed& p) { return a < p.start; });
  if (it == placed.begin()) return nullptr;
  --it;
  return address < it->end ? &*it : nullptr;
}

std::vector<SymbolizedFrame> SymbolCache::Frames(size_t dump, const std::vector<uint64_t>& pcs,
                                                 uint32_t frame_offset) {
  std::vector<SymbolizedFrame> out;
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
    // A return address: the call is just before it (Symbolizer::Symbolize looks up pc - 1).
    const Placed* m = pc > 0 ? ModuleAt(dump, frame_offset, pc - 1) : nullptr;
    if (m == nullptr) {
      out.emplace_back().pc = pc;
      continue;
    }
    for (SymbolizedFrame& f : m->symbolizer->Symbolize(pc - m->base, /*is_return_address=*/true)) {
      f.pc = pc;
      out.push_back(std::move(f));
    }
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
  const Placed* m = ModuleAt(dump, kAnyEra, address);
  if (m == nullptr) return "";
  std::optional<std::string> name = m->symbolizer->DataSymbol(address - m->base);
  return name ? *name : "";
}

std::vector<std::string> SymbolCache::MismatchedModules(const std::vector<size_t>& dumps) {
  std::set<std::string> paths;
  for (size_t d : dumps)
    for (const ModuleInfo& m : dumps_[d]->modules())
      for (const std::string& path : ForFile(m).MismatchedModules()) paths.insert(path);
  return std::vector<std::string>(paths.begin(), paths.end());
}

}  // namespace lockscope
