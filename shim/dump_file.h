// Creating and mapping a process's dump file (see format/dump_format.h for the layout).
#ifndef LOCKSCOPE_SHIM_DUMP_FILE_H_
#define LOCKSCOPE_SHIM_DUMP_FILE_H_

#include <cstddef>
#include <cstdint>

#include "shim/config.h"
#include "shim/format/dump_format.h"

namespace lockscope {

// Pointers into a mapped dump, derived from its section table.
struct DumpView {
  format::FileHeader* header = nullptr;
  format::ThreadRecord* threads = nullptr;
  uint64_t thread_capacity = 0;
  format::LockRecord* locks = nullptr;
  uint64_t lock_capacity = 0;
  format::ChainRecord* chains = nullptr;
  uint64_t chain_capacity = 0;
  format::EdgeRecord* edges = nullptr;
  uint64_t edge_capacity = 0;
  format::StackRecord* stacks = nullptr;
  uint64_t stack_capacity = 0;
  uint64_t* frames = nullptr;
  uint64_t frame_capacity = 0;
  format::ModuleRecord* modules = nullptr;
  uint64_t module_capacity = 0;
  format::SyncRecord* syncs = nullptr;
  uint64_t sync_capacity = 0;
  format::MisuseRecord* misuse = nullptr;
  uint64_t misuse_capacity = 0;
  format::ForkHeldRecord* fork_held = nullptr;
  uint64_t fork_held_capacity = 0;
  char* rings = nullptr;
  uint64_t ring_count = 0;
  uint64_t ring_bytes = 0;
  uint32_t ring_events = 0;
  size_t size = 0;

  format::RingHeader* ring(uint64_t i) const {
    return reinterpret_cast<format::RingHeader*>(rings + i * ring_bytes);
  }
};

// Creates `<dir>/lockscope.<pid>.dump` (or `.<pid>.<n>.dump` when taken) with
// O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, sizes it and maps it shared. When `fixed_at` is not
// null the mapping replaces the pages at that address (the fork child switching to its own
// file while every pointer into the old mapping stays valid). The path is written to
// `path_out` (PATH_MAX bytes). Returns false (errno set) on failure; nothing is left behind.
bool CreateDump(const Config& config, void* fixed_at, DumpView* view, char* path_out);

// The byte size CreateDump would use for `config` (the fork child needs the same size).
size_t DumpSize(const Config& config);

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_DUMP_FILE_H_
