// How an Event sits in a ring (format::Event, RingHeader): the two 8-byte words the writer
// stores, and the reader that takes them back, checked against the write position so that
// an event overwritten while it is read is counted lost rather than invented. Shared by the
// shim's RingWriter (shim/ring_buffer.h) and the analyzer's reader, as the rest of the
// format is. Header-only, no dependency beyond the standard library.
#ifndef LOCKSCOPE_SHIM_FORMAT_RING_EVENTS_H_
#define LOCKSCOPE_SHIM_FORMAT_RING_EVENTS_H_

#include <atomic>
#include <cstdint>

#include "shim/format/dump_format.h"

namespace lockscope::format {

// Word 0: lock << 32 | the write position's low 32 bits (Event::seq).
inline uint64_t EventWord0(uint64_t position, uint32_t lock) {
  return (uint64_t{lock} << 32) | static_cast<uint32_t>(position);
}
// Word 1: aux << 32 | lap << 16 | flags << 8 | op, where lap = position / capacity (low 16
// bits, `shift` = log2 capacity): it differs between two overwrites of one slot.
inline uint64_t EventWord1(uint64_t position, uint32_t shift, uint8_t op, uint32_t aux,
                           uint8_t flags) {
  return (uint64_t{aux} << 32) | (((position >> shift) & 0xffff) << 16) |
         (uint64_t{flags} << 8) | op;
}

// Calls fn(const Event&) for each event of the readable tail of a ring, oldest first (at most
// `max` of them), and returns how many it could not give: overwritten before or while they
// were read (the ring may be live). `cap` is the ring's capacity as the caller validated it
// (read once: the ring may be live) and `ring` must span RingBytes(cap) bytes; a capacity
// that is not a power of two (not a ring this code wrote) yields nothing.
//
// The writer stores word 0 (the sequence), then words 2 and 3, then word 1 (release); the
// reader takes word 1 (acquire), words 0, 2 and 3, then word 0 again after an acquire fence,
// a seqlock: an overwrite that began while it read changed word 0.
template <typename Fn>
uint64_t ForEachRingEvent(const RingHeader* ring, uint64_t cap, uint64_t max, Fn&& fn) {
  if (cap == 0 || (cap & (cap - 1)) != 0) return 0;
  auto* ev = reinterpret_cast<Event*>(reinterpret_cast<char*>(const_cast<RingHeader*>(ring)) +
                                      kRingEventsOffset);
  const uint64_t head =
      std::atomic_ref<uint64_t>(const_cast<uint64_t&>(ring->head)).load(std::memory_order_acquire);
  uint64_t begin = head > cap ? head - cap : 0;
  if (head - begin > max) begin = head - max;
  uint64_t skipped = begin;
  const uint32_t shift = static_cast<uint32_t>(__builtin_ctzll(cap));
  for (uint64_t pos = begin; pos < head; ++pos) {
    auto* slot = reinterpret_cast<uint64_t*>(&ev[pos & (cap - 1)]);
    const uint64_t w1 = std::atomic_ref<uint64_t>(slot[1]).load(std::memory_order_acquire);
    const uint64_t w0 = std::atomic_ref<uint64_t>(slot[0]).load(std::memory_order_relaxed);
    const uint64_t w2 = std::atomic_ref<uint64_t>(slot[2]).load(std::memory_order_relaxed);
    const uint64_t w3 = std::atomic_ref<uint64_t>(slot[3]).load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint64_t again = std::atomic_ref<uint64_t>(slot[0]).load(std::memory_order_relaxed);
    if (static_cast<uint32_t>(w0) != static_cast<uint32_t>(pos) || again != w0 ||
        ((w1 >> 16) & 0xffff) != ((pos >> shift) & 0xffff)) {
      ++skipped;
      continue;
    }
    Event e;
    e.seq = static_cast<uint32_t>(w0);
    e.lock = static_cast<uint32_t>(w0 >> 32);
    e.op = static_cast<uint8_t>(w1);
    e.flags = static_cast<uint8_t>(w1 >> 8);
    e.lap = static_cast<uint16_t>(w1 >> 16);
    e.aux = static_cast<uint32_t>(w1 >> 32);
    e.time_ns = w2;
    e.extra = w3;
    fn(e);
  }
  return skipped;
}

// Copies the readable tail of a ring (oldest first) into out[0..max); returns the count.
// `*lost` receives how many events were overwritten before they could be read.
inline uint64_t ReadRing(const RingHeader* ring, Event* out, uint64_t max, uint64_t* lost) {
  uint64_t n = 0;
  *lost = ForEachRingEvent(ring, ring->capacity, max, [&](const Event& e) { out[n++] = e; });
  return n;
}

}  // namespace lockscope::format

#endif  // LOCKSCOPE_SHIM_FORMAT_RING_EVENTS_H_
