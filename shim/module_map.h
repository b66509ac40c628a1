// Records every loaded ELF module (path, load bias, address range, GNU build-id) into the
// dump, so that the analyzer can symbolize offline, after the process is gone.
#ifndef LOCKSCOPE_SHIM_MODULE_MAP_H_
#define LOCKSCOPE_SHIM_MODULE_MAP_H_

#include <cstdint>

#include "shim/dump_file.h"

namespace lockscope {

// Adds modules not recorded yet; true when this call saw new ones. Cheap when nothing was
// loaded since the last call (one dl_iterate_phdr step reading the loader's load counter);
// called on slow paths only (new stack, start-up, fork child). Concurrent callers: one
// refreshes, the others return.
bool RefreshModules(const DumpView& dump);

// The module loaded at `base` left the process (dlclose): its record ends now, on the clock
// of the frames section (format::ModuleRecord::frames_until). The caller then starts a new
// era of the stack depot.
void ModuleUnloaded(const DumpView& dump, uint64_t base);

// Forget the cached load counter (the fork child starts a new dump).
void ResetModuleCache();

// [start, end) of this shim's own code, so that its frames can be cut from stacks.
void ShimTextRange(uint64_t* start, uint64_t* end);

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_MODULE_MAP_H_
