// Creating and mapping a process's dump file (see format/dump_format.h for the layout).
#ifndef LOCKSCOPE_SHIM_DUMP_FILE_H_
#define LOCKSCOPE_SHIM_DUMP_FILE_H_

#include <cstddef>
#include <cstdint>

#include "shim/config.h"
#include "shim/format/dump_format.h"

namespace lockscope {

// Pointers into a mapped dump, one pair per section of the section table: `threads` and
// `threads_capacity`, `locks` and `locks_capacity`, ... The rings section is `rings` (ring
// i at rings + i * ring_bytes, ring_events events each).
struct DumpView {
  format::FileHeader* header = nullptr;
#define LOCKSCOPE_VIEW_MEMBERS(Name, member, id, Record, ...) \
  format::Record* member = nullptr;                           \
  uint64_t member##_capacity = 0;
  LOCKSCOPE_DUMP_SECTIONS(LOCKSCOPE_VIEW_MEMBERS)
#undef LOCKSCOPE_VIEW_MEMBERS
  uint64_t ring_bytes = 0;
  uint32_t ring_events = 0;
  size_t size = 0;

  format::RingHeader* ring(uint64_t i) const {
    return reinterpret_cast<format::RingHeader*>(reinterpret_cast<char*>(rings) + i * ring_bytes);
  }
};

// Creates `<dir>/lockscope.<pid>.dump` (or `.<pid>.<n>.dump` when taken) with
// O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, sizes it and maps it shared. When `fixed_at` is not
// null the mapping replaces the pages at that address (the fork child switching to its own
// file while every pointer into the old mapping stays valid). The path is written to
// `path_out` (PATH_MAX bytes). Returns false (errno set) on failure; nothing is left behind.
// A dump that could kill its process is not made: when its whole size is over the file size
// limit (EFBIG) or over the space free in the directory (ENOSPC).
bool CreateDump(const Config& config, void* fixed_at, DumpView* view, char* path_out);

// What to add to strerror(err) of a CreateDump failure: how to give it room ("" for others).
const char* DumpErrorHint(int err);

// The byte size CreateDump would use for `config` (the fork child needs the same size).
size_t DumpSize(const Config& config);

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_DUMP_FILE_H_
