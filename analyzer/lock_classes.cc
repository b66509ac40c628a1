#include "analyzer/lock_classes.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace lockscope {

namespace {

// Names of functions that only forward to a lock, searched in the bare name.
const char kBuiltinWrappers[] =
    "^std::|^__gthread|^__gthrw|(^|::|_)(lock|Lock|acquire|Acquire|lock_shared|LockShared)$";

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

bool ValidWrapperPattern(const std::string& pattern, std::string* why) {
  try {
    std::regex re(pattern);
    return true;
  } catch (const std::regex_error& e) {
    *why = e.what();
    return false;
  }
}

std::string BareFunctionName(const std::string& function) {
  // The parameter list is the last top-level "(...)": skip a trailing qualifier (" const"),
  // then walk back to its matching '('.
  size_t end = function.rfind(')');
  if (end == std::string::npos) return function;
  int depth = 0;
  size_t open = std::string::npos;
  for (size_t i = end + 1; i-- > 0;) {
    if (function[i] == ')') ++depth;
    if (function[i] == '(' && --depth == 0) {
      open = i;
      break;
    }
  }
  if (open == std::string::npos || open == 0) return function;
  std::string name = function.substr(0, open);
  // A return type before the name ("void foo<int>(int)" of a template): the last top-level
  // space splits it off.
  depth = 0;
  for (size_t i = name.size(); i-- > 0;) {
    const char c = name[i];
    if (c == '>' || c == ')') ++depth;
    if (c == '<' || c == '(') --depth;
    if (c == ' ' && depth == 0) return name.substr(i + 1);
  }
  return name;
}

LockClasses::LockClasses(const std::vector<std::unique_ptr<Dump>>& dumps, SymbolCache& symbols,
                         const std::vector<std::string>& wrappers)
    : dumps_(dumps), symbols_(symbols) {
  wrappers_.emplace_back(kBuiltinWrappers);
  for (const std::string& w : wrappers) wrappers_.emplace_back(w);
}

bool LockClasses::IsWrapper(const std::string& function) const {
  const std::string bare = BareFunctionName(function);
  for (const std::regex& re : wrappers_)
    if (std::regex_search(bare, re)) return true;
  return false;
}

const LockClasses::Class& LockClasses::Get(size_t dump, uint32_t lock) {
  auto [it, inserted] = cache_.try_emplace({dump, lock});
  if (inserted) it->second = Compute(dump, lock);
  return it->second;
}

const std::string& LockClasses::Of(size_t dump, uint32_t lock) { return Get(dump, lock).name; }

bool LockClasses::OnePerProcess(size_t dump, uint32_t lock) {
  return Get(dump, lock).one_per_process;
}

std::vector<uint32_t> LockClasses::SiteStacks(const Dump& d, const LockInfo& l) const {
  if (l.first_stack != 0) return {l.first_stack};
  std::vector<uint32_t> stacks;
  for (const EdgeInfo& e : d.edges())
    if (e.to == l.index && e.to_stack != 0) stacks.push_back(e.to_stack);
  return stacks;
}

const SymbolizedFrame* LockClasses::FrameThatMatters(
    const std::vector<SymbolizedFrame>& frames) const {
  // A lock taken from Python (threading.Lock) is Python's: its innermost Python frame, not
  // the interpreter's C frames, which every Python lock shares.
  for (const SymbolizedFrame& f : frames)
    if (f.python && !f.function.empty()) return &f;
  for (const SymbolizedFrame& f : frames)
    if (!f.function.empty() && !IsWrapper(f.function)) return &f;
  return nullptr;
}

namespace {

// "function at file:line" (the file's base name).
std::string SiteName(const SymbolizedFrame& f) {
  std::string site = f.function;
  if (!f.file.empty())
    absl::StrAppend(&site, " at ", Basename(f.file), f.line > 0 ? absl::StrCat(":", f.line) : "");
  return site;
}

}  // namespace

std::string LockClasses::Site(size_t dump, uint32_t stack) {
  const Dump& d = *dumps_[dump];
  const std::vector<SymbolizedFrame> frames =
      symbols_.Frames(dump, d.Stack(stack), d.StackFrameOffset(stack));
  const SymbolizedFrame* f = FrameThatMatters(frames);
  return f == nullptr ? "" : SiteName(*f);
}

LockClasses::Class LockClasses::Compute(size_t dump, uint32_t lock) {
  const Dump& d = *dumps_[dump];
  const LockInfo* l = d.Lock(lock);
  if (l == nullptr) return {};
  if (l->kind == format::kLockGil) return {"the GIL"};
  const std::string symbol = symbols_.LockName(dump, l->address);
  if (!symbol.empty()) {
    const std::vector<SymbolizedFrame> where = symbols_.Frames(dump, {l->address + 1});
    const std::string module = where.empty() ? "" : where.back().module;
    return {module.empty() ? symbol : absl::StrCat(module, ":", symbol), true};
  }
  // A Python lock that Python code made: the line that made it (lockdep names a class by where
  // its locks are initialised), the same for every lock that line makes.
  if (l->origin != 0 && l->kind == format::kLockSemaphore) {
    const std::vector<SymbolizedFrame> made = symbols_.Frames(dump, {l->origin});
    if (!made.empty() && made[0].python && !made[0].function.empty()) return {SiteName(made[0])};
  }
  // The site of its first acquisition with nothing held; for a lock only ever taken with
  // something held, of the sites that took it, the one that sorts first (so that every run
  // that took it at the same sites gives it the same class).
  std::string best;
  for (uint32_t stack : SiteStacks(d, *l)) {
    std::string site = Site(dump, stack);
    if (!site.empty() && (best.empty() || site < best)) best = std::move(site);
  }
  return {best};
}

void ForEachClassEdge(const std::vector<std::unique_ptr<Dump>>& dumps, LockClasses& classes,
                      const std::function<void(size_t, const EdgeInfo&, const std::string&,
                                               const std::string&)>& fn) {
  for (size_t d = 0; d < dumps.size(); ++d)
    for (const EdgeInfo& e : dumps[d]->edges()) {
      const LockInfo* from = dumps[d]->Lock(e.from);
      const LockInfo* to = dumps[d]->Lock(e.to);
      if (from == nullptr || to == nullptr || !OrderedLock(*from) || !OrderedLock(*to)) continue;
      const std::string& cu = classes.Of(d, e.from);
      const std::string& cv = classes.Of(d, e.to);
      if (!cu.empty() && !cv.empty()) fn(d, e, cu, cv);
    }
}

}  // namespace lockscope
