// make_big_dump.cc — writes a synthetic dump for the analyzer's throughput benchmark:
// LOCKS locks, EDGES lock-order edges (a random DAG plus a few planted 2-cycles), 64 threads
// and EVENTS ring events, through the shim's own table code. usage:
//   make_big_dump DIR LOCKS EDGES EVENTS
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <random>

#include "shim/dump_file.h"
#include "shim/ring_buffer.h"
#include "shim/tables.h"

using namespace lockscope;

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: make_big_dump DIR LOCKS EDGES EVENTS\n");
    return 2;
  }
  const uint64_t locks = strtoull(argv[2], nullptr, 10);
  const uint64_t edges = strtoull(argv[3], nullptr, 10);
  const uint64_t events = strtoull(argv[4], nullptr, 10);
  Config c;
  c.dir = argv[1];
  auto pow2 = [](uint64_t v) {
    uint64_t p = 1;
    while (p < v) p <<= 1;
    return p;
  };
  c.locks = pow2(locks * 2);
  c.edges = pow2(edges * 2);
  c.threads = 65;
  c.rings = 64;
  c.ring_events = pow2((events + 63) / 64);
  DumpView v;
  char path[PATH_MAX];
  if (!CreateDump(c, nullptr, &v, path)) {
    perror("CreateDump");
    return 1;
  }
  format::Counters* counters = &v.header->counters;
  LockTable lt(v.locks, v.locks_capacity, counters);
  EdgeTable et(v.edges, v.edges_capacity, counters);
  StackDepot depot(v.stacks, v.stacks_capacity, v.frames, v.frames_capacity, counters);
  std::mt19937_64 rng(42);
  uint64_t pcs[8] = {0x401000, 0x401100, 0x401200, 0x401300, 0x401400, 0x401500, 0x401600, 0};
  std::vector<uint32_t> ids(locks);
  for (uint64_t i = 0; i < locks; ++i) {
    bool inserted;
    ids[i] = lt.FindOrInsert(0x10000000 + i * 64, format::kLockMutex, &inserted);
  }
  for (uint32_t s = 0; s < 1000; ++s) {
    pcs[7] = s;
    depot.Put(pcs, 8);
  }
  const uint32_t stack = 1;
  // A random DAG (low index -> high index), plus one planted 2-cycle per 1000 edges taken
  // by two different threads, so that the report has findings to symbolize.
  const uint32_t mode = format::kEdgeFromWrite | format::kEdgeToWrite;
  for (uint64_t e = 0; e < edges; ++e) {
    uint64_t a = rng() % locks, b = rng() % locks;
    if (a == b) continue;
    if (a > b) std::swap(a, b);
    et.Add(ids[a], ids[b], stack, stack, 1000 + int(e % 64), 1, nullptr, 0, mode);
    if (e % 1000 == 0)
      et.Add(ids[b], ids[a], stack, stack, 1001 + int(e % 63), 1, nullptr, 0, mode);
  }
  for (uint32_t t = 1; t <= 64; ++t) {
    format::ThreadRecord& r = v.threads[t];
    r.tid = 1000 + t;
    snprintf(r.name, sizeof(r.name), "worker-%u", t);
    r.ring = t - 1;
    v.ring(t - 1)->owner_tid = r.tid;
    v.ring(t - 1)->capacity = v.ring_events;
    RingWriter w(v.ring(t - 1));
    for (uint64_t e = 0; e < events / 64; ++e)
      w.Write(e % 4 ? format::kOpLockWaited : format::kOpCondWaitBegin, ids[e % locks], stack, e);
    r.state = format::kThreadExited;
  }
  v.header->state = format::kStateExited;
  printf("%s\n", path);
  return 0;
}
