// free(): locks that lived in the freed block end their generation, so that the address,
// when reused, is a new lock (std::mutex has no destructor call to tell us otherwise). The
// same for the locks a thread made on its own stack, when it exits.
#include <pthread.h>
#include <stdlib.h>

#include "shim/recorder.h"
#include "shim/recorder_core.h"

extern "C" void __libc_free(void*);

namespace lockscope {
namespace {

using namespace core;

// Locks ever inserted, hashed by 64-byte line and by page: free() looks here first, so that
// freeing memory that never held a lock costs two bit tests.
constexpr uint64_t kFilterBits = 1u << 20;
uint64_t g_line_filter[kFilterBits / 64];
uint64_t g_page_filter[kFilterBits / 64];

// Neighbouring lines and pages (an array of locks) have neighbouring bits, so that a program
// meeting locks by the thousand sets bits of one filter word after another instead of one
// cache line of the filter per lock (SetBit runs for every lock met for the first time:
// measured, 1,000,000 new mutexes 3% faster than with a Fibonacci hash of the line); each
// 2^20-key block (64 MiB of lines, 4 GiB of pages) is shifted by a Fibonacci hash of its
// number, so that blocks a power of two apart (malloc's 64 MiB arenas) do not share bits.
inline uint64_t FilterBit(uint64_t key) {
  return (key + ((key >> 20) * 0x9e3779b97f4a7c15ULL >> 44)) & (kFilterBits - 1);
}

inline bool TestBit(const uint64_t* f, uint64_t key) {
  uint64_t h = FilterBit(key);
  return (__atomic_load_n(&f[h / 64], __ATOMIC_RELAXED) >> (h % 64)) & 1;
}
inline void SetBit(uint64_t* f, uint64_t key) {
  uint64_t h = FilterBit(key);
  if (!((__atomic_load_n(&f[h / 64], __ATOMIC_RELAXED) >> (h % 64)) & 1))
    __atomic_fetch_or(&f[h / 64], uint64_t{1} << (h % 64), __ATOMIC_RELAXED);
}

}  // namespace

namespace core {

void NoteLockAddress(uint64_t address) {
  SetBit(g_line_filter, address >> 6);
  SetBit(g_page_filter, address >> 12);
}

void NoteNewLock(ThreadCtx& t, uint64_t address, uint32_t lock) {
  NoteLockAddress(address);
  g_shim.lock_pages.NoteClaim(uint64_t{lock} * sizeof(format::LockRecord));
  const uint64_t sp = reinterpret_cast<uint64_t>(__builtin_frame_address(0));
  if (address < sp || address >= static_cast<uint64_t>(pthread_self())) return;
  if (t.stack_locks_high == 0 || address < t.stack_locks_low) t.stack_locks_low = address;
  if (address > t.stack_locks_high) t.stack_locks_high = address;
}

void RetireLocksIn(uint64_t begin, uint64_t end) {
  for (uint64_t page = begin >> 12; page <= (end - 1) >> 12; ++page) {
    if (!TestBit(g_page_filter, page)) continue;
    uint64_t lo = page << 12 > begin ? page << 12 : begin;
    uint64_t hi = (page + 1) << 12 < end ? (page + 1) << 12 : end;
    for (uint64_t line = lo >> 6; line <= (hi - 1) >> 6; ++line) {
      if (!TestBit(g_line_filter, line)) continue;
      uint64_t a = line << 6 > lo ? line << 6 : (lo + 7) & ~uint64_t{7};
      uint64_t b = (line + 1) << 6 < hi ? (line + 1) << 6 : hi;
      for (; a + 8 <= b; a += 8)
        if (g_shim.locks.Retire(a) != 0) NoteSemaphoresChanged();  // an identity ended
    }
  }
}

}  // namespace core

void Free(void* ptr) {
  if (ptr == nullptr) return;
  const RealFunctions& real = g_real;
  if (!g_real_resolved.load(std::memory_order_acquire)) {
    if (t_ctx.resolving) return __libc_free(ptr);
    Real();
    if (g_real.free == nullptr) return __libc_free(ptr);
  }
  if (Ready() && real.malloc_usable_size != nullptr) {
    const uint64_t begin = reinterpret_cast<uint64_t>(ptr);
    RetireLocksIn(begin, begin + real.malloc_usable_size(ptr));
  }
  g_real.free(ptr);
}

}  // namespace lockscope
