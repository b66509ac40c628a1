// Populates the dump's pages in bulk where a table is being filled densely.
//
// Why: the dump is a sparse MAP_SHARED file. The first touch of each of its pages costs two
// faults (the read of a hole, then the write that dirties it), each a trip through the
// kernel and the filesystem. A program that meets locks by the thousand (an array of
// mutexes, a pool of objects) walks the whole lock table that way: measured, a third of the
// cost of a million new mutexes. One madvise(MADV_POPULATE_WRITE) over a 256 KiB chunk does
// the same work for 64 pages at once.
//
// Behaviour: the section is cut into at most kChunks chunks (of 256 KiB or more). Each claim
// of a record is counted against its chunk; the claim that brings a chunk to kDenseClaims
// populates the whole chunk, once. A program with few locks, whose claims land far apart,
// never reaches that count and keeps its dump as sparse as it was. A kernel without
// MADV_POPULATE_WRITE (before Linux 5.14), or a populate that fails (no room left on the
// filesystem), turns it off for good: the pages then fault one by one, as before.
//
// Cost: one load and one store to a private counter per claim (slow path only: a claim is a
// lock met for the first time); one madvise per chunk that becomes dense.
// Thread contract: NoteClaim may race with itself: a lost count only delays a populate, and
// two racing claims may both populate a chunk (harmless: populating is idempotent). Init runs
// before any NoteClaim (start-up, and a fork child's switch to its own dump, which runs
// single-threaded).
#ifndef LOCKSCOPE_SHIM_DENSE_PREFAULT_H_
#define LOCKSCOPE_SHIM_DENSE_PREFAULT_H_

#include <cstdint>

namespace lockscope {

class DensePrefault {
 public:
  static constexpr uint32_t kChunks = 1024;
  static constexpr uint32_t kMinChunkShift = 18;  // 256 KiB
  static constexpr uint8_t kDenseClaims = 64;

  // `base`, `bytes`: the section (page-aligned). Forgets every count.
  void Init(void* base, uint64_t bytes);
  // A record was claimed at `offset` bytes into the section.
  void NoteClaim(uint64_t offset) {
    const uint64_t chunk = offset >> chunk_shift_;
    if (chunk >= kChunks) return;
    uint8_t& n = claims_[chunk];
    const uint8_t seen = __atomic_load_n(&n, __ATOMIC_RELAXED);
    if (seen >= kDenseClaims) return;  // populated already, or being populated
    __atomic_store_n(&n, static_cast<uint8_t>(seen + 1), __ATOMIC_RELAXED);
    if (seen + 1 == kDenseClaims) Populate(chunk);
  }

 private:
  void Populate(uint64_t chunk);

  char* base_ = nullptr;
  uint64_t bytes_ = 0;
  uint32_t chunk_shift_ = 63;
  bool off_ = true;
  uint8_t claims_[kChunks] = {};
};

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_DENSE_PREFAULT_H_
