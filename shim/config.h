// LOCKSCOPE_* environment variables, read once at shim start-up (getenv only: no malloc).
// Documented for users in docs/usage.md ("Configuration"). The table capacities, their variables,
// defaults and bounds come from the section table (format::LOCKSCOPE_DUMP_SECTIONS).
#ifndef LOCKSCOPE_SHIM_CONFIG_H_
#define LOCKSCOPE_SHIM_CONFIG_H_

#include <cstdint>

#include "shim/format/dump_format.h"

namespace lockscope {

struct Config {
  const char* dir = nullptr;  // LOCKSCOPE_DIR (default ".")
  // Records per section: `threads`, `locks`, ... (`rings`: rings).
#define LOCKSCOPE_CONFIG_CAPACITY(Name, member, id, Record, required, variable, fallback, ...) \
  uint64_t member = fallback;
  LOCKSCOPE_DUMP_SECTIONS(LOCKSCOPE_CONFIG_CAPACITY)
#undef LOCKSCOPE_CONFIG_CAPACITY
  uint64_t ring_events = 2048;  // LOCKSCOPE_RING_EVENTS: events per ring (32 bytes each)
  uint32_t stack_depth = 32;    // LOCKSCOPE_STACK_DEPTH (max 64)
  bool disabled = false;        // LOCKSCOPE_DISABLE=1: pass everything through
};

// Reads the environment; rounds table sizes up to powers of two within sane bounds.
Config ReadConfig();

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_CONFIG_H_
