#include "shim/config.h"

#include <cstdlib>

#include "shim/format/dump_format.h"

namespace lockscope {
namespace {

uint64_t RoundUpPow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// Unparseable or out-of-range values keep the default: the shim must never fail to start.
void ReadSize(const char* name, uint64_t* out, uint64_t lo, uint64_t hi, bool pow2) {
  const char* s = getenv(name);
  if (s == nullptr || *s == '\0') return;
  char* end = nullptr;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) return;
  *out = pow2 ? RoundUpPow2(v) : v;
}

}  // namespace

Config ReadConfig() {
  Config c;
  c.dir = getenv("LOCKSCOPE_DIR");
  if (c.dir == nullptr || *c.dir == '\0') c.dir = ".";
#define LOCKSCOPE_READ_CAPACITY(Name, member, id, Record, required, variable, fallback, lo, hi, \
                                pow2, ...)                                                      \
  ReadSize(variable, &c.member, lo, hi, pow2);
  LOCKSCOPE_DUMP_SECTIONS(LOCKSCOPE_READ_CAPACITY)
#undef LOCKSCOPE_READ_CAPACITY
  ReadSize("LOCKSCOPE_RING_EVENTS", &c.ring_events, 16, 1ull << 24, true);
  uint64_t depth = c.stack_depth;
  ReadSize("LOCKSCOPE_STACK_DEPTH", &depth, 1, format::kMaxFrames, false);
  c.stack_depth = static_cast<uint32_t>(depth);
  const char* off = getenv("LOCKSCOPE_DISABLE");
  c.disabled = off != nullptr && off[0] == '1';
  return c;
}

}  // namespace lockscope
