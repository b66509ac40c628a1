// The writer of a per-thread ring of blocking events inside the dump (see format::EventOp for
// what goes in; format/ring_events.h for how an event is stored and read back).
//
// Exactly one writer (the owning thread) and any number of readers, possibly in another
// process. The writer never waits: it overwrites the oldest event. Readers detect events
// overwritten while they copied them by the sequence number each event carries.
#ifndef LOCKSCOPE_SHIM_RING_BUFFER_H_
#define LOCKSCOPE_SHIM_RING_BUFFER_H_

#include <atomic>
#include <cstdint>

#include "shim/format/dump_format.h"
#include "shim/format/ring_events.h"
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

  // Four 8-byte stores and one release store (format/ring_events.h has their layout and
  // the order the reader relies on). `time_ns`: CLOCK_MONOTONIC (EventClockNs).
  void Write(uint8_t op, uint32_t lock, uint32_t aux, uint64_t time_ns, uint64_t extra = 0,
             uint8_t flags = 0) {
    uint64_t* slot = reinterpret_cast<uint64_t*>(&ev_[head_ & mask_]);
    Atomic(slot[0]).store(format::EventWord0(head_, lock), std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);  // word 0 changes first
    Atomic(slot[2]).store(time_ns, std::memory_order_relaxed);
    Atomic(slot[3]).store(extra, std::memory_order_relaxed);
    Atomic(slot[1]).store(format::EventWord1(head_, shift_, op, aux, flags),
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

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_RING_BUFFER_H_
