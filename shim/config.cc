#include "shim/config.h"

#include <stdio.h>
#include <string.h>

#include <cstdlib>

#include "shim/format/dump_format.h"
#include "shim/raw_log.h"

extern char** environ;

namespace lockscope {
namespace {

uint64_t RoundUpPow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// A value we do not take keeps the default (the shim must never fail to start), and says so
// in one line: a typo must not record with other settings than the user thinks.
void ReadSize(const char* name, uint64_t* out, uint64_t lo, uint64_t hi, bool pow2) {
  const char* s = getenv(name);
  if (s == nullptr || *s == '\0') return;
  char* end = nullptr;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi || s[0] == '-') {
    char line[160];
    snprintf(line, sizeof(line),
             "=%.40s is not a whole number from %llu to %llu; the default %llu is used", s,
             static_cast<unsigned long long>(lo), static_cast<unsigned long long>(hi),
             static_cast<unsigned long long>(*out));
    RawLog(name, line);
    return;
  }
  *out = pow2 ? RoundUpPow2(v) : v;
}

// Every LOCKSCOPE_* variable: the capacities of the section table, and these.
constexpr const char* kOtherVariables[] = {
    "LOCKSCOPE_DIR",  "LOCKSCOPE_DISABLE", "LOCKSCOPE_RING_EVENTS", "LOCKSCOPE_STACK_DEPTH",
    "LOCKSCOPE_SHIM",  // (the analyzer's: which shim `run` preloads)
};

bool KnownVariable(const char* name, size_t length) {
  auto is = [&](const char* v) { return strlen(v) == length && memcmp(v, name, length) == 0; };
  for (const char* v : kOtherVariables)
    if (is(v)) return true;
#define LOCKSCOPE_IS_VARIABLE(Name, member, id, Record, required, variable, ...) \
  if (is(variable)) return true;
  LOCKSCOPE_DUMP_SECTIONS(LOCKSCOPE_IS_VARIABLE)
#undef LOCKSCOPE_IS_VARIABLE
  return false;
}

// A LOCKSCOPE_ name that is none of ours (a typo) is said, once each, and ignored.
void NoteUnknownVariables() {
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (strncmp(*e, "LOCKSCOPE_", 10) != 0) continue;
    const char* eq = strchr(*e, '=');
    const size_t length = eq ? static_cast<size_t>(eq - *e) : strlen(*e);
    if (KnownVariable(*e, length)) continue;
    char name[64];
    snprintf(name, sizeof(name), "%.*s", static_cast<int>(length < 60 ? length : 60), *e);
    RawLog(name, " is not a lockscope variable: ignored");
  }
}

}  // namespace

Config ReadConfig() {
  Config c;
  NoteUnknownVariables();
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
  c.disabled = off != nullptr && off[0] == '1' && off[1] == '\0';
  if (off != nullptr && *off != '\0' && strcmp(off, "1") != 0 && strcmp(off, "0") != 0)
    RawLog("LOCKSCOPE_DISABLE=", off, " is not 1 or 0; the default (recording on) is used");
  return c;
}

}  // namespace lockscope
