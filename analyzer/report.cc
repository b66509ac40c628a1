#include "analyzer/report.h"

#include <fnmatch.h>
#include <string.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "analyzer/checks/fork.h"
#include "analyzer/checks/lock_order.h"
#include "analyzer/checks/misuse.h"

namespace lockscope {

size_t Report::CountSeverity(Severity s) const {
  size_t n = 0;
  for (const Finding& f : findings) n += f.severity == s;
  return n;
}

// Dumps with the same loaded modules at the same addresses (a parent and its fork children,
// runs of the same program without ASLR) share one symbolizer: DWARF is read once.
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
    std::vector<SymbolizedFrame> f = s.Symbolize(pc, /*is_return_address=*/true);
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

std::string SymbolCache::LockName(size_t dump, uint64_t address) {
  std::optional<std::string> name = For(dump).DataSymbol(address);
  return name ? *name : "";
}

namespace {

std::string FixedString(const char* p, size_t cap) { return std::string(p, strnlen(p, cap)); }

// What a dump could not hold: every overflow is reported, never silent.
void AddCaveats(const Dump& d, std::vector<std::string>* notes) {
  const format::Counters& c = d.counters();
  const std::string why = FixedString(d.header().shim_note, sizeof(d.header().shim_note));
  if (!why.empty())
    notes->push_back(absl::StrFormat("%s: the shim recorded nothing: %s", d.path(), why));
  auto note = [&](uint64_t n, const char* what, const char* var) {
    if (n > 0) notes->push_back(absl::StrFormat("%s: %d %s (raise %s)", d.path(), n, what, var));
  };
#define LOCKSCOPE_SECTION_NOTE(Name, member, id, Record, required, variable, fallback, lo, hi, \
                               pow2, dropped, lost)                                          \
  note(c.dropped, lost, variable);
  LOCKSCOPE_DUMP_SECTIONS(LOCKSCOPE_SECTION_NOTE)
#undef LOCKSCOPE_SECTION_NOTE
  if (c.edges_depth_skipped > 0)
    notes->push_back(absl::StrFormat(
        "%s: %d order edges from deeply nested locks were implied rather than recorded (more "
        "than %d locks held)",
        d.path(), c.edges_depth_skipped, format::kMaxEdgeSources));
  if (c.unwind_failures > 0)
    notes->push_back(
        absl::StrFormat("%s: %d stacks could not be unwound", d.path(), c.unwind_failures));
  if (d.skipped_records() > 0)
    notes->push_back(
        absl::StrFormat("%s: %d inconsistent records were skipped", d.path(), d.skipped_records()));
}

}  // namespace

Report Analyze(const std::vector<std::unique_ptr<Dump>>& dumps, const AnalyzeOptions& options) {
  Report r;
  for (const auto& d : dumps) {
    r.dump_paths.push_back(d->path());
    AddCaveats(*d, &r.notes);
    r.threads += d->threads().size();
    r.locks += d->locks().size();
    r.edges += d->edges().size();
    r.events += d->ring_events();
    r.events_lost += d->ring_lost();
  }
  for (size_t i = 0; i < dumps.size(); ++i)
    for (const LockInfo& l : dumps[i]->locks())
      if (l.waits > 0) r.most_waited.push_back({i, l.address, l.kind, l.waits});
  const size_t keep = std::min<size_t>(3, r.most_waited.size());
  std::partial_sort(
      r.most_waited.begin(), r.most_waited.begin() + keep, r.most_waited.end(),
      [](const Report::WaitedLock& a, const Report::WaitedLock& b) { return a.waits > b.waits; });
  r.most_waited.resize(keep);
  // What is wrong right now first (hangs), then misuse, then what could go wrong.
  for (Finding& f : CheckWaits(dumps, options.waits)) r.findings.push_back(std::move(f));
  for (Finding& f : CheckFork(dumps, options.waits)) r.findings.push_back(std::move(f));
  for (Finding& f : CheckMisuse(dumps)) r.findings.push_back(std::move(f));
  LockOrderResult lo = CheckLockOrder(dumps);
  for (Finding& f : lo.findings) r.findings.push_back(std::move(f));
  if (lo.gated > 0)
    r.notes.push_back(absl::StrFormat(
        "%d lock-order cycle(s) not reported: every edge was taken under one common gate lock",
        lo.gated));
  if (lo.read_only > 0)
    r.notes.push_back(absl::StrFormat(
        "%d lock-order cycle(s) not reported: they pass through an rwlock only ever read there",
        lo.read_only));
  if (lo.truncated)
    r.notes.push_back(
        "the lock-order graph is dense: the cycle search stopped at its limits "
        "(the shortest cycles are reported)");
  return r;
}

void NameLocks(Report& report, SymbolCache& symbols) {
  for (Finding& f : report.findings) {
    std::vector<std::pair<std::string, std::string>> repl;
    for (FindingLock& l : f.locks) {
      l.name = symbols.LockName(l.dump, l.address);
      repl.push_back({absl::StrCat("{", l.id, "}"),
                      l.name.empty() ? l.id : absl::StrCat(l.id, " (", l.name, ")")});
    }
    f.summary = absl::StrReplaceAll(f.summary, repl);
    for (std::string& d : f.details) d = absl::StrReplaceAll(d, repl);
    for (FindingStack& s : f.stacks) s.role = absl::StrReplaceAll(s.role, repl);
  }
  if (!report.most_waited.empty()) {
    std::vector<std::string> parts;
    for (const Report::WaitedLock& w : report.most_waited) {
      const std::string name = symbols.LockName(w.dump, w.address);
      parts.push_back(absl::StrFormat("%s (%s) %d",
                                      name.empty() ? absl::StrFormat("%#x", w.address) : name,
                                      LockKindName(w.kind), w.waits));
    }
    report.notes.push_back(absl::StrCat(
        "most waited-for locks (acquisitions that blocked): ", absl::StrJoin(parts, ", "),
        report.events_lost == 0
            ? ""
            : absl::StrFormat(" (counted over what the rings still hold: %d older events were "
                              "overwritten; LOCKSCOPE_RING_EVENTS keeps more)",
                              report.events_lost)));
  }
}

size_t ApplySuppressions(Report& report, SymbolCache& symbols,
                         const std::vector<std::pair<std::string, std::string>>& rules) {
  if (rules.empty()) return 0;
  size_t dropped = 0;
  std::vector<Finding> kept;
  for (Finding& f : report.findings) {
    bool suppressed = false;
    for (const auto& [kind, pattern] : rules) {
      if (kind != "*" && kind != f.kind) continue;
      for (const FindingStack& s : f.stacks) {
        for (const SymbolizedFrame& fr : symbols.Frames(s.dump, s.pcs)) {
          for (const std::string* field : {&fr.function, &fr.file, &fr.module})
            if (!field->empty() && fnmatch(pattern.c_str(), field->c_str(), 0) == 0)
              suppressed = true;
          if (suppressed) break;
        }
        if (suppressed) break;
      }
      for (const FindingLock& l : f.locks)
        if (!suppressed && !l.name.empty() && fnmatch(pattern.c_str(), l.name.c_str(), 0) == 0)
          suppressed = true;
      if (suppressed) break;
    }
    if (suppressed)
      ++dropped;
    else
      kept.push_back(std::move(f));
  }
  report.findings = std::move(kept);
  if (dropped > 0) report.notes.push_back(absl::StrFormat("%d finding(s) suppressed", dropped));
  return dropped;
}

}  // namespace lockscope
