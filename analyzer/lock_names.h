// Lock names in a report: each finding's locks get the data symbol at their address (a
// global or static lock: "g_registry_lock"), and the {Ln} placeholders of its summary,
// details and stack roles become "Ln (name)" (or "Ln"). The most waited-for locks are noted
// by name, and modules rebuilt since the dump was written (wrong lines) are noted.
#ifndef LOCKSCOPE_ANALYZER_LOCK_NAMES_H_
#define LOCKSCOPE_ANALYZER_LOCK_NAMES_H_

#include "analyzer/report.h"
#include "analyzer/symbol_cache.h"

namespace lockscope {

void NameLocks(Report& report, SymbolCache& symbols);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_LOCK_NAMES_H_
