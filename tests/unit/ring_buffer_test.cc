// Unit tests for the flight-recorder ring (shim/ring_buffer.h): RingWriter and ReadRing on
// plain memory laid out exactly as in the dump (RingHeader, then Event[capacity] at
// kRingEventsOffset).
#include "shim/ring_buffer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "shim/format/dump_format.h"

namespace lockscope {
namespace {

using format::ReadRing;

using format::Event;
using format::RingHeader;

// Zeroed, 64-byte aligned memory for `count` adjacent rings of `events` events each (the
// rings section of a dump), each ring's capacity set before any RingWriter is made.
class RingMemory {
 public:
  RingMemory(uint32_t events, uint32_t count = 1)
      : bytes_per_ring_(format::RingBytes(events)), count_(count) {
    const size_t total = bytes_per_ring_ * count;
    mem_ = static_cast<char*>(::operator new (total, std::align_val_t{64}));
    std::memset(mem_, 0, total);
    for (uint32_t i = 0; i < count; ++i) ring(i)->capacity = events;
  }
  ~RingMemory() { ::operator delete (mem_, std::align_val_t{64}); }
  RingMemory(const RingMemory&) = delete;
  RingMemory& operator=(const RingMemory&) = delete;

  RingHeader* ring(uint32_t i = 0) {
    return reinterpret_cast<RingHeader*>(mem_ + i * bytes_per_ring_);
  }
  const Event* events(uint32_t i = 0) {
    return reinterpret_cast<const Event*>(mem_ + i * bytes_per_ring_ + format::kRingEventsOffset);
  }
  uint32_t count() const { return count_; }

 private:
  size_t bytes_per_ring_;
  uint32_t count_;
  char* mem_;
};

// A payload derived from the write position, so that every event can be checked on its own.
uint32_t LockFor(uint64_t pos, uint32_t salt = 0) {
  return static_cast<uint32_t>(pos * 2654435761u) ^ salt;
}
uint32_t AuxFor(uint64_t pos, uint32_t salt = 0) {
  return ~static_cast<uint32_t>(pos) ^ 0x5a5a5a5au ^ (salt * 31u);
}
using OpType = decltype(Event::op);
using FlagsType = decltype(Event::flags);
OpType OpFor(uint64_t pos) { return static_cast<OpType>(1 + pos % 8); }
FlagsType FlagsFor(uint64_t pos) { return static_cast<FlagsType>(pos >> 7); }

uint64_t TimeFor(uint64_t pos, uint32_t salt = 0) { return pos * 1000003u + salt; }
uint64_t ExtraFor(uint64_t pos, uint32_t salt = 0) { return ~(pos << 7) ^ salt; }

void WritePayload(RingWriter& w, uint64_t pos, uint32_t salt = 0) {
  w.Write(OpFor(pos), LockFor(pos, salt), AuxFor(pos, salt), TimeFor(pos, salt),
          ExtraFor(pos, salt), FlagsFor(pos));
}

// True when `e` is exactly what WritePayload wrote at a position whose low 32 bits are e.seq
// (positions in these tests stay below 2^32 unless stated).
bool Consistent(const Event& e, uint32_t salt = 0) {
  const uint64_t pos = e.seq;
  return e.lock == LockFor(pos, salt) && e.aux == AuxFor(pos, salt) && e.op == OpFor(pos) &&
         e.flags == FlagsFor(pos) && e.time_ns == TimeFor(pos, salt) &&
         e.extra == ExtraFor(pos, salt);
}

uint64_t Head(RingHeader* r) { return Atomic(r->head).load(std::memory_order_acquire); }

TEST(RingBufferTest, EmptyRingReadsNothing) {
  RingMemory mem(16);
  std::vector<Event> out(16);
  uint64_t lost = 12345;
  EXPECT_EQ(ReadRing(mem.ring(), out.data(), out.size(), &lost), 0u);
  EXPECT_EQ(lost, 0u);
}

TEST(RingBufferTest, SingleThreadWriteRead) {
  RingMemory mem(16);
  RingWriter w(mem.ring());
  ASSERT_TRUE(w.valid());
  EXPECT_FALSE(RingWriter().valid());
  w.Write(format::kOpLockWaited, 7, 100, 1000);
  w.Write(format::kOpLockFailed, 8, 101, 2000, 0x1234, 3);
  w.Write(format::kOpUnlock, 7, 0, 3000);
  EXPECT_EQ(Head(mem.ring()), 3u);

  std::vector<Event> out(16);
  uint64_t lost = 99;
  ASSERT_EQ(ReadRing(mem.ring(), out.data(), out.size(), &lost), 3u);
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(out[0].seq, 0u);
  EXPECT_EQ(out[0].op, format::kOpLockWaited);
  EXPECT_EQ(out[0].lock, 7u);
  EXPECT_EQ(out[0].aux, 100u);
  EXPECT_EQ(out[0].flags, 0u);
  EXPECT_EQ(out[1].seq, 1u);
  EXPECT_EQ(out[1].op, format::kOpLockFailed);
  EXPECT_EQ(out[1].lock, 8u);
  EXPECT_EQ(out[1].aux, 101u);
  EXPECT_EQ(out[1].flags, 3u);
  EXPECT_EQ(out[1].time_ns, 2000u);
  EXPECT_EQ(out[1].extra, 0x1234u);
  EXPECT_EQ(out[2].seq, 2u);
  EXPECT_EQ(out[2].op, format::kOpUnlock);
  EXPECT_EQ(out[2].lock, 7u);

  // Reading is non-destructive.
  std::vector<Event> again(16);
  ASSERT_EQ(ReadRing(mem.ring(), again.data(), again.size(), &lost), 3u);
  EXPECT_EQ(std::memcmp(out.data(), again.data(), 3 * sizeof(Event)), 0);
}

TEST(RingBufferTest, ExactlyFullRingLosesNothing) {
  constexpr uint32_t kCap = 32;
  RingMemory mem(kCap);
  RingWriter w(mem.ring());
  for (uint64_t pos = 0; pos < kCap; ++pos) WritePayload(w, pos);
  std::vector<Event> out(kCap);
  uint64_t lost = 99;
  ASSERT_EQ(ReadRing(mem.ring(), out.data(), out.size(), &lost), kCap);
  EXPECT_EQ(lost, 0u);
  for (uint32_t k = 0; k < kCap; ++k) {
    EXPECT_EQ(out[k].seq, k);
    EXPECT_TRUE(Consistent(out[k])) << "k=" << k;
  }
}

TEST(RingBufferTest, WrapAroundKeepsNewestCapacityEvents) {
  constexpr uint32_t kCap = 64;
  RingMemory mem(kCap);
  RingWriter w(mem.ring());
  const uint64_t total = 3 * kCap;
  for (uint64_t pos = 0; pos < total; ++pos) WritePayload(w, pos);
  EXPECT_EQ(Head(mem.ring()), total);

  // A buffer larger than the ring: still only `capacity` events are readable.
  std::vector<Event> out(4 * kCap);
  uint64_t lost = 0;
  const uint64_t n = ReadRing(mem.ring(), out.data(), out.size(), &lost);
  ASSERT_EQ(n, kCap);
  EXPECT_EQ(lost, total - kCap);
  for (uint64_t k = 0; k < n; ++k) {
    EXPECT_EQ(out[k].seq, total - kCap + k) << "k=" << k;  // oldest first, consecutive
    EXPECT_TRUE(Consistent(out[k])) << "k=" << k;
  }
}

TEST(RingBufferTest, WrapAroundNotAMultipleOfCapacity) {
  constexpr uint32_t kCap = 16;
  RingMemory mem(kCap);
  RingWriter w(mem.ring());
  const uint64_t total = 5 * kCap + 7;
  for (uint64_t pos = 0; pos < total; ++pos) WritePayload(w, pos);
  std::vector<Event> out(kCap);
  uint64_t lost = 0;
  ASSERT_EQ(ReadRing(mem.ring(), out.data(), out.size(), &lost), kCap);
  EXPECT_EQ(lost, total - kCap);
  for (uint64_t k = 0; k < kCap; ++k) {
    EXPECT_EQ(out[k].seq, total - kCap + k);
    EXPECT_TRUE(Consistent(out[k]));
  }
}

TEST(RingBufferTest, SmallOutputBufferGetsTheNewestEvents) {
  constexpr uint32_t kCap = 32;
  RingMemory mem(kCap);
  RingWriter w(mem.ring());
  const uint64_t total = 40;
  for (uint64_t pos = 0; pos < total; ++pos) WritePayload(w, pos);
  std::vector<Event> out(5);
  uint64_t lost = 0;
  const uint64_t n = ReadRing(mem.ring(), out.data(), out.size(), &lost);
  ASSERT_EQ(n, 5u);
  // Every position before the returned window is accounted for in `lost`.
  EXPECT_EQ(n + lost, total);
  for (uint64_t k = 0; k < n; ++k) EXPECT_EQ(out[k].seq, total - 5 + k);

  EXPECT_EQ(ReadRing(mem.ring(), out.data(), 0, &lost), 0u);
  EXPECT_EQ(lost, total);
}

TEST(RingBufferTest, NewWriterResumesAtHead) {
  // A ring handed over to another thread keeps counting from its header's head.
  constexpr uint32_t kCap = 16;
  RingMemory mem(kCap);
  {
    RingWriter first(mem.ring());
    for (uint64_t pos = 0; pos < 10; ++pos) WritePayload(first, pos);
  }
  RingWriter second(mem.ring());
  for (uint64_t pos = 10; pos < 20; ++pos) WritePayload(second, pos);
  EXPECT_EQ(Head(mem.ring()), 20u);
  std::vector<Event> out(kCap);
  uint64_t lost = 0;
  ASSERT_EQ(ReadRing(mem.ring(), out.data(), out.size(), &lost), kCap);
  EXPECT_EQ(lost, 4u);
  for (uint64_t k = 0; k < kCap; ++k) {
    EXPECT_EQ(out[k].seq, 4 + k);
    EXPECT_TRUE(Consistent(out[k]));
  }
}

TEST(RingBufferTest, SequenceNumbersWrapAt32Bits) {
  // seq is the low 32 bits of the 64-bit position: crossing 2^32 must not confuse the reader.
  constexpr uint32_t kCap = 8;
  RingMemory mem(kCap);
  const uint64_t start = (uint64_t{1} << 32) - 5;
  mem.ring()->head = start;
  RingWriter w(mem.ring());
  for (uint64_t pos = start; pos < start + 12; ++pos)
    w.Write(format::kOpLockWaited, static_cast<uint32_t>(pos - start), 0, pos);
  std::vector<Event> out(kCap);
  uint64_t lost = 0;
  ASSERT_EQ(ReadRing(mem.ring(), out.data(), out.size(), &lost), kCap);
  EXPECT_EQ(lost, start + 12 - kCap);
  for (uint64_t k = 0; k < kCap; ++k) {
    const uint64_t pos = start + 12 - kCap + k;
    EXPECT_EQ(out[k].seq, static_cast<uint32_t>(pos));
    EXPECT_EQ(out[k].lock, pos - start);
  }
}

TEST(RingBufferTest, TornSlotIsSkippedAndCountedLost) {
  // A slot whose seq does not match its position (overwritten, or invalidated by a writer in
  // the middle of a store) is not returned.
  constexpr uint32_t kCap = 8;
  RingMemory mem(kCap);
  RingWriter w(mem.ring());
  for (uint64_t pos = 0; pos < 6; ++pos) WritePayload(w, pos);
  // What Write() leaves behind between its first and last store.
  Event* ev = const_cast<Event*>(mem.events());
  ev[3].seq = ~uint32_t{3};
  std::vector<Event> out(kCap);
  uint64_t lost = 0;
  ASSERT_EQ(ReadRing(mem.ring(), out.data(), out.size(), &lost), 5u);
  EXPECT_EQ(lost, 1u);
  const uint32_t want[] = {0, 1, 2, 4, 5};
  for (int k = 0; k < 5; ++k) {
    EXPECT_EQ(out[k].seq, want[k]);
    EXPECT_TRUE(Consistent(out[k]));
  }
}

TEST(RingBufferTest, SlotWithMatchingSeqButOtherLapIsSkipped) {
  // A torn slot: word 0 (seq, lock) of the expected position, word 1 (op, flags, lap, aux)
  // left over from another lap. The lap check must reject it.
  constexpr uint32_t kCap = 8;
  RingMemory mem(kCap);
  RingWriter w(mem.ring());
  for (uint64_t pos = 0; pos < 2 * kCap; ++pos) WritePayload(w, pos);
  Event* ev = const_cast<Event*>(mem.events());
  const uint64_t victim = kCap + 2;  // slot 2, second lap
  ASSERT_EQ(ev[victim % kCap].seq, victim);
  ASSERT_EQ(ev[victim % kCap].lap, victim / kCap);
  ev[victim % kCap].lap = static_cast<decltype(Event::lap)>(victim / kCap - 1);
  std::vector<Event> out(kCap);
  uint64_t lost = 0;
  ASSERT_EQ(ReadRing(mem.ring(), out.data(), out.size(), &lost), kCap - 1);
  EXPECT_EQ(lost, kCap + 1);
  for (uint32_t k = 0; k < kCap - 1; ++k) {
    EXPECT_NE(out[k].seq, victim);
    EXPECT_TRUE(Consistent(out[k]));
  }
}

// One writer, one concurrent reader: everything the reader returns must be an event exactly
// as written (never a mix of two), oldest first. No timing is asserted: the reader may see
// anything from nothing to the whole run.
TEST(RingBufferTest, ConcurrentReaderSeesOnlyConsistentEvents) {
  constexpr uint32_t kCap = 256;
  constexpr uint64_t kEvents = 2'000'000;
  RingMemory mem(kCap);
  std::atomic<bool> done{false};

  std::thread writer([&] {
    RingWriter w(mem.ring());
    for (uint64_t pos = 0; pos < kEvents; ++pos) WritePayload(w, pos);
    done.store(true, std::memory_order_release);
  });

  std::vector<Event> out(kCap);
  uint64_t reads = 0, events_seen = 0, bad_payload = 0, bad_order = 0, bad_count = 0;
  auto check = [&] {
    uint64_t lost = 0;
    const uint64_t n = ReadRing(mem.ring(), out.data(), out.size(), &lost);
    ++reads;
    if (n > kCap) ++bad_count;
    events_seen += n;
    for (uint64_t k = 0; k < n && k < kCap; ++k) {
      if (!Consistent(out[k])) ++bad_payload;
      if (out[k].seq >= kEvents) ++bad_payload;
      if (k > 0 && out[k].seq <= out[k - 1].seq) ++bad_order;
    }
  };
  while (!done.load(std::memory_order_acquire)) check();
  writer.join();

  check();  // quiescent: exactly the newest kCap events
  EXPECT_EQ(bad_payload, 0u);
  EXPECT_EQ(bad_order, 0u);
  EXPECT_EQ(bad_count, 0u);
  uint64_t lost = 0;
  ASSERT_EQ(ReadRing(mem.ring(), out.data(), out.size(), &lost), kCap);
  EXPECT_EQ(lost, kEvents - kCap);
  for (uint64_t k = 0; k < kCap; ++k) {
    EXPECT_EQ(out[k].seq, kEvents - kCap + k);
    EXPECT_TRUE(Consistent(out[k]));
  }
  EXPECT_EQ(Head(mem.ring()), kEvents);
  // Informational only (depends on scheduling): how much the reader overlapped the writer.
  RecordProperty("reads", std::to_string(reads));
  RecordProperty("events_seen", std::to_string(events_seen));
}

// One writer per ring (the contract), several rings side by side in one allocation as in
// the dump's rings section: no writer may disturb a neighbour's header or events.
TEST(RingBufferTest, SeveralRingsOneWriterEach) {
  constexpr uint32_t kCap = 128;
  constexpr uint32_t kRings = 4;
  RingMemory mem(kCap, kRings);
  std::vector<uint64_t> counts;
  for (uint32_t r = 0; r < kRings; ++r) counts.push_back(50'000 + 1'001 * r);

  std::vector<std::thread> writers;
  for (uint32_t r = 0; r < kRings; ++r) {
    writers.emplace_back([&, r] {
      mem.ring(r)->owner_tid = static_cast<int32_t>(1000 + r);
      mem.ring(r)->owner_slot = r + 1;
      RingWriter w(mem.ring(r));
      for (uint64_t pos = 0; pos < counts[r]; ++pos) WritePayload(w, pos, /*salt=*/r + 1);
    });
  }
  // A concurrent reader over all rings: whatever it sees must be consistent for its ring.
  uint64_t bad = 0;
  std::thread reader([&] {
    std::vector<Event> out(kCap);
    for (int iter = 0; iter < 2000; ++iter) {
      const uint32_t r = static_cast<uint32_t>(iter) % kRings;
      uint64_t lost = 0;
      const uint64_t n = ReadRing(mem.ring(r), out.data(), out.size(), &lost);
      for (uint64_t k = 0; k < n; ++k) {
        if (!Consistent(out[k], r + 1)) ++bad;
        if (k > 0 && out[k].seq <= out[k - 1].seq) ++bad;
      }
    }
  });
  for (auto& t : writers) t.join();
  reader.join();
  EXPECT_EQ(bad, 0u);

  for (uint32_t r = 0; r < kRings; ++r) {
    SCOPED_TRACE(r);
    RingHeader* h = mem.ring(r);
    EXPECT_EQ(h->head, counts[r]);
    EXPECT_EQ(h->capacity, kCap);
    EXPECT_EQ(h->owner_tid, static_cast<int32_t>(1000 + r));
    EXPECT_EQ(h->owner_slot, r + 1);
    std::vector<Event> out(kCap);
    uint64_t lost = 0;
    ASSERT_EQ(ReadRing(h, out.data(), out.size(), &lost), kCap);
    EXPECT_EQ(lost, counts[r] - kCap);
    for (uint64_t k = 0; k < kCap; ++k) {
      ASSERT_EQ(out[k].seq, counts[r] - kCap + k);
      ASSERT_TRUE(Consistent(out[k], r + 1)) << "k=" << k;
    }
  }
}

}  // namespace
}  // namespace lockscope
