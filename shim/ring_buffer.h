// Per-thread ring of blocking events inside the dump (see format::EventOp for what goes in).
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
  // `ring->capacity` must be a power of two; anything else gives the invalid writer.
  explicit RingWriter(format::RingHeader* ring)
      : hdr_(ValidCapacity(ring) ? ring : nullptr),
        ev_(reinterpret_cast<format::Event*>(reinterpret_cast<char*>(ring) +
                                             format::kRingEventsOffset)),
        mask_(ring->capacity - 1u),
        shift_(ValidCapacity(ring) ? static_cast<uint32_t>(__builtin_ctz(ring->capacity)) : 0),
        head_(Atomic(ring->head).load(std::memory_order_relaxed)) {}

  static bool ValidCapacity(const format::RingHeader* ring) {
    return ring->capacity != 0 && (ring->capacity & (ring->capacity - 1)) == 0;
  }

  bool valid() const { return hdr_ != nullptr; }
  uint64_t head() const { return head_; }

  // Two 8-byte stores and one release store: the hot path's whole cost of recording.
  void Write(uint8_t op, uint32_t lock, uint32_t aux, uint8_t flags = 0) {
    uint64_t* slot = reinterpret_cast<uint64_t*>(&ev_[head_ & mask_]);
    const uint64_t lap = (head_ >> shift_) & 0xffff;
    Atomic(slot[0]).store((uint64_t{lock} << 32) | static_cast<uint32_t>(head_),
                          std::memory_order_relaxed);
    Atomic(slot[1]).store((uint64_t{aux} << 32) | (lap << 16) | (uint64_t{flags} << 8) | op,
                          std::memory_order_release);
    ++head_;
    Atomic(hdr_->head).store(head_, std::memory_order_release);
  }

 private:
  // No member initialisers: the writer lives in zero-initialised TLS (`__thread` needs a
  // trivial type), and RingWriter{} is the invalid writer.
  format::RingHeader* hdr_;
  format::Event* ev_;
  uint64_t mask_;
  uint32_t shift_;
  uint64_t head_;
};

// Calls fn(const format::Event&) for each event of the readable tail of a ring, oldest
// first, and returns how many it could not give: overwritten before or while they were read
// (the ring may be live). `cap` is the ring's capacity as the caller validated it (read once:
// the ring may be live) and `ring` must span RingBytes(cap) bytes; a capacity that is not a
// power of two (not a ring this code wrote) yields nothing.
template <typename Fn>
uint64_t ForEachRingEvent(const format::RingHeader* ring, uint64_t cap, uint64_t max, Fn&& fn) {
  const auto* ev = reinterpret_cast<const format::Event*>(reinterpret_cast<const char*>(ring) +
                                                          format::kRingEventsOffset);
  if (cap == 0 || (cap & (cap - 1)) != 0) return 0;
  const uint64_t head = Atomic(const_cast<uint64_t&>(ring->head)).load(std::memory_order_acquire);
  uint64_t begin = head > cap ? head - cap : 0;
  if (head - begin > max) begin = head - max;
  uint64_t skipped = begin;
  const uint32_t shift = static_cast<uint32_t>(__builtin_ctzll(cap));
  for (uint64_t pos = begin; pos < head; ++pos) {
    auto* slot = reinterpret_cast<uint64_t*>(const_cast<format::Event*>(&ev[pos & (cap - 1)]));
    // Word 1 first: the writer stores word 0 then word 1, so a new word 1 implies a new
    // word 0; reading them in the opposite order cannot pair an old word 1 with a new word 0
    // without one of the checks failing.
    uint64_t w1 = Atomic(slot[1]).load(std::memory_order_acquire);
    uint64_t w0 = Atomic(slot[0]).load(std::memory_order_acquire);
    if (static_cast<uint32_t>(w0) != static_cast<uint32_t>(pos) ||
        ((w1 >> 16) & 0xffff) != ((pos >> shift) & 0xffff)) {
      ++skipped;
      continue;
    }
    format::Event e;
    e.seq = static_cast<uint32_t>(w0);
    e.lock = static_cast<uint32_t>(w0 >> 32);
    e.op = static_cast<uint8_t>(w1);
    e.flags = static_cast<uint8_t>(w1 >> 8);
    e.lap = static_cast<uint16_t>(w1 >> 16);
    e.aux = static_cast<uint32_t>(w1 >> 32);
    fn(e);
  }
  return skipped;
}

// Copies the readable tail of a ring (oldest first) into out[0..max); returns the count.
// `*lost` receives how many events were overwritten before they could be read.
inline uint64_t ReadRing(const format::RingHeader* ring, format::Event* out, uint64_t max,
                         uint64_t* lost) {
  uint64_t n = 0;
  *lost =
      ForEachRingEvent(ring, ring->capacity, max, [&](const format::Event& e) { out[n++] = e; });
  return n;
}

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_RING_BUFFER_H_
