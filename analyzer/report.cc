#include "analyzer/report.h"

#include <string.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/checks/fork.h"
#include "analyzer/checks/lock_order.h"
#include "analyzer/checks/misuse.h"

namespace lockscope {

size_t Report::CountSeverity(Severity s) const {
  size_t n = 0;
  for (const Finding& f : findings) n += f.severity == s;
  return n;
}

namespace {

std::string FixedString(const char* p, size_t cap) { return std::string(p, strnlen(p, cap)); }

// What a dump could not hold: every overflow is reported, never silent.
void AddCaveats(const Dump& d, std::vector<std::string>* notes) {
  const format::Counters& c = d.counters();
  const std::string why = FixedString(d.header().shim_note, sizeof(d.header().shim_note));
  if (!why.empty())
    notes->push_back(absl::StrFormat("%s: the shim recorded nothing: %s", d.path(), why));
  if (const std::string py = d.python_note(); !py.empty())
    notes->push_back(absl::StrFormat("%s: %s", d.path(), py));
  auto note = [&](uint64_t n, const char* what, const char* var) {
    if (n > 0) notes->push_back(absl::StrFormat("%s: %d %s (raise %s)", d.path(), n, what, var));
  };
#define LOCKSCOPE_SECTION_NOTE(Name, member, id, Record, required, variable, fallback, lo, hi, \
                               pow2, dropped, lost)                                            \
  note(c.dropped, lost, variable);
  LOCKSCOPE_DUMP_SECTIONS(LOCKSCOPE_SECTION_NOTE)
#undef LOCKSCOPE_SECTION_NOTE
  if (c.held_dropped > 0)
    notes->push_back(absl::StrFormat(
        "%s: %d acquisitions nested deeper than %d locks could not be recorded (no memory for "
        "them)",
        d.path(), c.held_dropped, format::kInlineHeld));
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

}  // namespace lockscope
