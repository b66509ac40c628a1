// The report's renderers. Text (the default, on stderr): ThreadSanitizer's layout plus
// lockdep's scenario table. JSON: docs/usage.md's shape, with details and notes. SARIF 2.1.0: one
// result per finding, stacks as thread flows. DOT: the lock-order graph between lock
// classes, cycle edges red (SVG: the same, drawn by graphviz).
// Each symbolizes only the stacks findings name. The timeline (report --timeline) is the
// rings' events, not findings.
#ifndef LOCKSCOPE_ANALYZER_RENDER_RENDER_H_
#define LOCKSCOPE_ANALYZER_RENDER_RENDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "analyzer/dump_reader.h"
#include "analyzer/lock_classes.h"
#include "analyzer/report.h"
#include "analyzer/symbol_cache.h"

namespace lockscope {

std::string RenderText(const Report& report, SymbolCache& symbols);
std::string RenderJson(const Report& report, SymbolCache& symbols);
// `source_root` (absolute, or ""): files under it are named relative to it.
std::string RenderSarif(const Report& report, SymbolCache& symbols,
                        const std::string& source_root = "");
// JUnit XML: a test case per finding (errors fail), its text report as the body.
std::string RenderJunit(const Report& report, SymbolCache& symbols);
std::string RenderDot(const Report& report, const std::vector<std::unique_ptr<Dump>>& dumps,
                      SymbolCache& symbols, LockClasses& classes);
// The ring events of `threads` (tids or names; all when empty) in time order, text or JSON;
// NotFound when a thread asked for has no events.
absl::StatusOr<std::string> RenderTimeline(const std::vector<std::unique_ptr<Dump>>& dumps,
                                           SymbolCache& symbols,
                                           const std::vector<std::string>& threads, bool json);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_RENDER_RENDER_H_
