// LOCKSCOPE_* environment variables, read once at shim start-up (getenv only: no malloc).
// Documented for users in README.md ("Configuration").
#ifndef LOCKSCOPE_SHIM_CONFIG_H_
#define LOCKSCOPE_SHIM_CONFIG_H_

#include <cstdint>

namespace lockscope {

struct Config {
  const char* dir = nullptr;    // LOCKSCOPE_DIR (default ".")
  uint64_t locks = 1u << 21;    // LOCKSCOPE_LOCKS: lock table slots (1M locks at half load)
  uint64_t chains = 1u << 18;   // LOCKSCOPE_CHAINS: (held locks, lock, call site) chains
  uint64_t edges = 1u << 18;    // LOCKSCOPE_EDGES
  uint64_t stacks = 1u << 16;   // LOCKSCOPE_STACKS
  uint64_t frames = 1u << 20;   // LOCKSCOPE_FRAMES: pcs shared by all stacks
  uint64_t threads = 512;       // LOCKSCOPE_THREADS: thread slots (exited slots are recycled)
  uint64_t rings = 64;          // LOCKSCOPE_RINGS: rings of blocking events (one per live thread)
  uint64_t ring_events = 4096;  // LOCKSCOPE_RING_EVENTS: events per ring
  uint64_t modules = 512;       // LOCKSCOPE_MODULES
  uint64_t syncs = 1u << 15;    // LOCKSCOPE_SYNCS: semaphores and condition variables
  uint64_t misuse = 1024;       // LOCKSCOPE_MISUSE: misuse records kept
  uint64_t fork_held = 1024;    // locks held at fork() that a child's dump lists
  uint32_t stack_depth = 32;    // LOCKSCOPE_STACK_DEPTH (max 64)
  bool disabled = false;        // LOCKSCOPE_DISABLE=1: pass everything through
};

// Reads the environment; rounds table sizes up to powers of two within sane bounds.
Config ReadConfig();

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_CONFIG_H_
