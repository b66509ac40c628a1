// A shim configuration with tiny tables, for unit tests that write dumps with the shim's own
// code (CreateDump and the table classes) and read them back.
#ifndef LOCKSCOPE_TESTS_UNIT_SMALL_CONFIG_H_
#define LOCKSCOPE_TESTS_UNIT_SMALL_CONFIG_H_

#include "shim/config.h"

namespace lockscope {

inline Config SmallConfig(const char* dir) {
  Config c;
  c.dir = dir;
  c.locks = 64;
  c.chains = 64;
  c.edges = 64;
  c.stacks = 64;
  c.frames = 1024;
  c.threads = 8;
  c.rings = 2;
  c.ring_events = 16;
  c.modules = 16;
  c.syncs = 16;
  return c;
}

}  // namespace lockscope

#endif  // LOCKSCOPE_TESTS_UNIT_SMALL_CONFIG_H_
