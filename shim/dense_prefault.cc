#include "shim/dense_prefault.h"

#include <errno.h>
#include <sys/mman.h>

namespace lockscope {

void DensePrefault::Init(void* base, uint64_t bytes) {
  base_ = static_cast<char*>(base);
  bytes_ = bytes;
  chunk_shift_ = kMinChunkShift;
  while ((uint64_t{kChunks} << chunk_shift_) < bytes) ++chunk_shift_;
  off_ = base == nullptr || bytes == 0;
  for (uint8_t& n : claims_) n = 0;
}

void DensePrefault::Populate(uint64_t chunk) {
  if (__atomic_load_n(&off_, __ATOMIC_RELAXED)) return;
  const uint64_t begin = chunk << chunk_shift_;
  if (begin >= bytes_) return;
  const uint64_t length =
      bytes_ - begin < (uint64_t{1} << chunk_shift_) ? bytes_ - begin : uint64_t{1} << chunk_shift_;
  const int saved = errno;  // the program's errno is never ours to change
  if (madvise(base_ + begin, length, MADV_POPULATE_WRITE) != 0)
    __atomic_store_n(&off_, true, __ATOMIC_RELAXED);
  errno = saved;
}

}  // namespace lockscope
