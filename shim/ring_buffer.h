// Per-thread flight-recorder ring inside the dump.
//
// Exactly one writer (the owning thread) and any number of readers, possibly in another
// process. The writer never waits: it overwrites the oldest event. Readers detect events
// overwritten while they copied them by the sequence number each event carries.
#ifndef LOCKSCOPE_SHIM_RING_BUFFER_H_
#define LOCKSCOPE_SHIM_RING_BUFFER_H_

#include <atomic>
#include <cstdint>

#include "shim/format/dump_format.h"
#include "shim/tables.h"

namespace lockscope {

class RingWriter {
 public:
  RingWriter() = default;
  explicit RingWriter(format::RingHeader* ring)
      : hdr_(ring),
        ev_(reinterpret_cast<format::Event*>(reinterpret_cast<char*>(ring) +
                                             format::kRingEventsOffset)),
        mask_(ring->capacity - 1),
        head_(Atomic(ring->head).load(std::memory_order_relaxed)) {}

  bool valid() const { return hdr_ != nullptr; }

  // A few plain stores and one release store: the hot path's whole cost of recording.
  void Write(uint16_t op, uint32_t lock, uint32_t aux, uint16_t flags = 0) {
    format::Event& e = ev_[head_ & mask_];
    // Invalidate the slot first so a reader never pairs a new seq with old contents.
    Atomic(e.seq).store(~static_cast<uint32_t>(head_), std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    e.lock = lock;
    e.op = op;
    e.flags = flags;
    e.aux = aux;
    Atomic(e.seq).store(static_cast<uint32_t>(head_), std::memory_order_release);
    ++head_;
    Atomic(hdr_->head).store(head_, std::memory_order_release);
  }

 private:
  format::RingHeader* hdr_ = nullptr;
  format::Event* ev_ = nullptr;
  uint64_t mask_ = 0;
  uint64_t head_ = 0;
};

// Copies the readable tail of a ring (oldest first) into out[0..max); returns the count.
// `*lost` receives how many events were overwritten before they could be read.
inline uint64_t ReadRing(const format::RingHeader* ring, format::Event* out, uint64_t max,
                         uint64_t* lost) {
  const auto* ev = reinterpret_cast<const format::Event*>(
      reinterpret_cast<const char*>(ring) + format::kRingEventsOffset);
  const uint64_t cap = ring->capacity;
  const uint64_t head =
      Atomic(const_cast<uint64_t&>(ring->head)).load(std::memory_order_acquire);
  uint64_t begin = head > cap ? head - cap : 0;
  if (head - begin > max) begin = head - max;
  uint64_t n = 0;
  uint64_t skipped = begin;
  for (uint64_t pos = begin; pos < head; ++pos) {
    const format::Event& e = ev[pos & (cap - 1)];
    uint32_t s1 = Atomic(const_cast<uint32_t&>(e.seq)).load(std::memory_order_acquire);
    format::Event copy = e;
    std::atomic_thread_fence(std::memory_order_acquire);
    uint32_t s2 = Atomic(const_cast<uint32_t&>(e.seq)).load(std::memory_order_relaxed);
    if (s1 != static_cast<uint32_t>(pos) || s2 != s1) {
      ++skipped;
      continue;
    }
    copy.seq = s1;
    out[n++] = copy;
  }
  *lost = skipped;
  return n;
}

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_RING_BUFFER_H_
