// Lock-free tables over the dump's memory.
//
// Contract shared by every table here:
//   - Fixed capacity (a power of two), open addressing with linear probing. A record is
//     never removed from its probe chain: a lock's is retired (kLockRetired, or reset in place
//     when no edge names it), a semaphore's or condition variable's is marked kSyncRetired
//     and reused by a later insert; chains, edges and stacks only ever grow.
//   - A record is claimed by CAS on its key (0 = empty; a lock record by plain stores while
//     the process has one thread, see LockTable::FindOrInsert) and published by a release
//     store of its ready flag/state. Lookups skip records that are claimed but not yet ready (a
//     concurrent inserter): the caller treats that as a miss and may insert a duplicate
//     elsewhere, which readers tolerate.
//   - Full table: the operation fails, and the matching `*_dropped` counter is bumped.
//   - No malloc, no lock, no syscall: safe inside the shim's hot and slow paths.
// Unit tests use these classes on plain memory; the shim points them into the dump.
#ifndef LOCKSCOPE_SHIM_TABLES_H_
#define LOCKSCOPE_SHIM_TABLES_H_

#include <sys/single_threaded.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "shim/format/dump_format.h"

namespace lockscope {

template <typename T>
inline std::atomic_ref<T> Atomic(T& v) {
  return std::atomic_ref<T>(v);
}

inline void Bump(uint64_t& counter, uint64_t n = 1) {
  Atomic(counter).fetch_add(n, std::memory_order_relaxed);
}

// A field other threads may write, read without synchronisation (relaxed: a plain load on
// x86, but no data race).
template <typename T>
inline T Relaxed(const T& v) {
  return std::atomic_ref<T>(const_cast<T&>(v)).load(std::memory_order_relaxed);
}

// A statistic bumped without a read-modify-write: racing bumps may lose one, which a count of
// signals or takes can afford (it synchronises nothing). `order` is the store's.
inline void CountUp(uint32_t& count, std::memory_order order = std::memory_order_relaxed) {
  Atomic(count).store(Relaxed(count) + 1, order);
}

// Maximum probes before an insert gives up (treats the table as full). Keeps a nearly full
// table from turning every miss into a full scan.
inline constexpr uint32_t kMaxProbes = 512;

// address -> lock identity (record index). See format::LockRecord.
//
// A lock that had order edges keeps its record when it ends; the next lock at its address is
// a new generation, probed from a home of its own (format::LockReuseRecord) when a reuse
// table is given, so that generations never pile up on one probe chain. Without one (or with
// a full one, counted) they follow each other on the address's own chain.
class LockTable {
 public:
  LockTable() = default;
  LockTable(format::LockRecord* records, uint64_t capacity, format::Counters* counters,
            format::LockReuseRecord* reuse = nullptr, uint64_t reuse_capacity = 0)
      : r_(records),
        mask_(capacity - 1),
        shift_(64 - __builtin_ctzll(capacity)),
        c_(counters),
        reuse_(reuse_capacity >= 2 ? reuse : nullptr),
        reuse_mask_(reuse_capacity - 1) {}

  // Home slot of a lock of `kind` at `address` (of generation `generation`: its own home for
  // 0). The locks of one 4 KiB page have neighbouring homes: a run of slots, one per 16-byte
  // step, whose start is a Fibonacci hash of the page number. A program that meets many locks
  // for the first time (an array, a slab, a pool of objects) then walks the table as it walks
  // its own memory: the cache lines and pages of the table come in order, and an array of
  // mutexes (40 bytes each) has its records 40 bytes apart, instead of one cache miss, one TLB
  // miss and often one page fault per new lock (measured: 1,000,000 new mutexes 3.6x native
  // with one slot per 4-byte step, 2.8x with one per 16). Every lock object but one is at
  // least 32 bytes (sem_t 32, a mutex 40, a condition 48, an rwlock 56), so two never share a
  // home; pthread_spinlock_t is 4 bytes, and an array of spinlocks sharing homes four at a
  // time would pile up on long probe chains: spinlocks get one slot per 4-byte step (narrow
  // homes, NarrowHome). A lookup by address alone (Retire: free() does not know the kind)
  // probes both homes.
  // Capacity is at least 2 (the configuration's minimum is 64), so the shift is below 64.
  uint64_t Home(uint64_t address, uint8_t kind, uint32_t generation) const {
    const uint64_t a = address ^ (uint64_t{generation} * 0xd6e8feb86659fd93ULL);
    return ((((a >> 12) * 0x9e3779b97f4a7c15ULL) >> shift_) + (a >> (NarrowHome(kind) ? 2 : 4))) &
           mask_;
  }
  static uint64_t HomeSlot(uint64_t address, uint64_t capacity, uint8_t kind) {
    return LockTable(nullptr, capacity, nullptr).Home(address, kind, 0);
  }
  // Whether locks of `kind` have narrow homes (see Home).
  static constexpr bool NarrowHome(uint8_t kind) {
    return (kind & format::kLockKindMask) == format::kLockSpinlock;
  }

  // The generation `address` is at: 0 unless a lock at it that had edges ended (slow paths:
  // one probe of an almost empty table, for an address never reused).
  uint32_t Generation(uint64_t address) const {
    const format::LockReuseRecord* r = ReuseOf(address);
    return r ? Atomic(const_cast<uint32_t&>(r->generation)).load(std::memory_order_acquire) : 0;
  }

  // The lock (record index) that was at `address` before its current one, when the address
  // was reused after a lock with edges (else 0): its stacks serve the new one.
  uint32_t Previous(uint64_t address) const {
    const format::LockReuseRecord* r = ReuseOf(address);
    return r ? Atomic(const_cast<uint32_t&>(r->previous)).load(std::memory_order_relaxed) : 0;
  }

  // Index of the live record for `address`, inserting one (kind, state live) if none.
  // *inserted tells whether this call created it. 0 when the table is full.
  uint32_t FindOrInsert(uint64_t address, uint8_t kind, bool* inserted) {
    *inserted = false;
    // Before any narrow record can be claimed (acquire in Retire): see narrow_seen_.
    if (NarrowHome(kind) && !Atomic(narrow_seen_).load(std::memory_order_relaxed))
      Atomic(narrow_seen_).store(true, std::memory_order_release);
    uint64_t i = Home(address, kind, Generation(address));
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
      if (i == 0) continue;  // index 0 means "untracked"
      format::LockRecord& rec = r_[i];
      uint64_t a = Atomic(rec.address).load(std::memory_order_acquire);
      if (a == 0) {
        // The claim: a CAS and a locked count, or plain stores while the process has one
        // thread, as glibc's own single-thread paths (no other thread can race it, and the
        // shim's guard keeps a signal handler from recording meanwhile). The two locked
        // instructions were a tenth of the cost of a mutex met for the first time (measured).
        const bool alone = __libc_single_threaded;
        uint64_t expected = 0;
        if (alone) {
          Atomic(rec.address).store(address, std::memory_order_relaxed);
        } else if (!Atomic(rec.address)
                        .compare_exchange_strong(expected, address, std::memory_order_acq_rel)) {
          a = expected;
        }
        if (alone || expected == 0) {
          rec.kind = kind;
          Atomic(rec.state).store(format::kLockLive, std::memory_order_release);
          if (alone)
            Atomic(c_->locks_used).store(Relaxed(c_->locks_used) + 1, std::memory_order_relaxed);
          else
            Bump(c_->locks_used);
          *inserted = true;
          return static_cast<uint32_t>(i);
        }
      }
      if (a == address) {
        uint8_t st = Atomic(rec.state).load(std::memory_order_acquire);
        if (st == format::kLockLive) return static_cast<uint32_t>(i);
        // Retired: an older generation, keep probing. Empty-but-claimed: a racing insert
        // of the same address; probe on and possibly insert a twin (harmless).
      }
    }
    Bump(c_->locks_dropped);
    return 0;
  }

  // The hot path's lookup: the live record of a lock of `kind` at `address` when it sits in
  // its home slot (the common case at the load the tables are sized for), else 0 (use
  // FindOrInsert).
  uint32_t FindAtHome(uint64_t address, uint8_t kind) const {
    // Slot 0 is never claimed, so its address (0) matches no lock: no index check needed.
    const uint64_t i = Home(address, kind, 0);
    const format::LockRecord& rec = r_[i];
    // A plain load, not Relaxed(): the compare then reads memory directly, one instruction
    // less on every lock (measured); an aligned 8-byte load is single-copy atomic on x86, and
    // the acquire load of `state` below validates the record.
    if (rec.address == address &&
        Atomic(const_cast<uint8_t&>(rec.state)).load(std::memory_order_acquire) ==
            format::kLockLive)
      return static_cast<uint32_t>(i);
    return 0;
  }

  // Live record index of the lock of `kind` at `address`, or 0.
  uint32_t Find(uint64_t address, uint8_t kind) const {
    uint64_t i = Home(address, kind, Generation(address));
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
      if (i == 0) continue;
      const format::LockRecord& rec = r_[i];
      uint64_t a = Atomic(const_cast<uint64_t&>(rec.address)).load(std::memory_order_acquire);
      if (a == 0) return 0;
      if (a == address && Atomic(const_cast<uint8_t&>(rec.state)).load(std::memory_order_acquire) ==
                              format::kLockLive)
        return static_cast<uint32_t>(i);
    }
    return 0;
  }

  // Ends the current generation of `address` (destroy, re-init, free): every live record
  // of it, of any kind (a lookup by address alone: both homes, see Home), twins from an
  // insert race included. A record that never had an order edge is reset in place instead
  // (same index for the next generation: nothing can confuse them). Returns the index, or 0
  // when the address was not tracked.
  uint32_t Retire(uint64_t address) {
    const uint32_t generation = Generation(address);
    uint32_t kept = 0;  // a record that stays retired: the next lock here is a new generation
    uint32_t retired = RetireFrom(address, Home(address, format::kLockMutex, generation), &kept);
    if (Atomic(narrow_seen_).load(std::memory_order_acquire)) {
      const uint32_t narrow =
          RetireFrom(address, Home(address, format::kLockSpinlock, generation), &kept);
      if (narrow != 0) retired = narrow;
    }
    if (kept != 0) NextGeneration(address, generation, kept);
    return retired;
  }

  format::LockRecord& at(uint32_t i) { return r_[i]; }

  // Sets a flag bit of LockRecord::kind (slow paths): one load when it is set already.
  void SetFlag(uint32_t i, uint8_t flag) {
    if (!(Atomic(r_[i].kind).load(std::memory_order_relaxed) & flag))
      Atomic(r_[i].kind).fetch_or(flag, std::memory_order_relaxed);
  }
  // Whether `i` is a record index of this table (a value read from elsewhere in the dump).
  bool Valid(uint32_t i) const { return i != 0 && i <= mask_; }
  // Marks a lock as an endpoint of an order edge (see kLockHadEdges).
  void NoteEdge(uint32_t i) { SetFlag(i, format::kLockHadEdges); }
  bool valid() const { return r_ != nullptr; }

 private:
  // Retire's walk of one probe chain from `home`; sets *kept to a record that stays retired.
  uint32_t RetireFrom(uint64_t address, uint64_t home, uint32_t* kept) {
    uint32_t retired = 0;
    uint64_t i = home;
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
      if (i == 0) continue;
      format::LockRecord& rec = r_[i];
      uint64_t a = Atomic(rec.address).load(std::memory_order_acquire);
      if (a == 0) break;
      if (a == address && Atomic(rec.state).load(std::memory_order_acquire) == format::kLockLive) {
        if (Atomic(rec.kind).load(std::memory_order_relaxed) & format::kLockHadEdges) {
          Atomic(rec.state).store(format::kLockRetired, std::memory_order_release);
          *kept = static_cast<uint32_t>(i);
        } else {
          // No edge names this identity: the next generation can have it (see
          // kLockHadEdges); only its cached first-site stack and what was seen of its use
          // (rwlock preference, writers) belong to the old one.
          Atomic(rec.first_stack).store(0, std::memory_order_relaxed);
          Atomic(rec.kind).fetch_and(
              static_cast<uint8_t>(~(format::kLockPrefersWriters | format::kLockWritersSeen)),
              std::memory_order_relaxed);
        }
        retired = static_cast<uint32_t>(i);
      }
    }
    return retired;
  }

  uint64_t ReuseHome(uint64_t address) const {
    return ((address * 0x9e3779b97f4a7c15ULL) >> 17) & reuse_mask_;
  }

  const format::LockReuseRecord* ReuseOf(uint64_t address) const {
    // Until the first address moves to a new generation, every address is at its first: no
    // probe (two per lock met for the first time otherwise, a tenth of that path).
    if (reuse_ == nullptr || !Atomic(const_cast<bool&>(reused_)).load(std::memory_order_acquire))
      return nullptr;
    uint64_t i = ReuseHome(address);
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & reuse_mask_) {
      const format::LockReuseRecord& r = reuse_[i];
      const uint64_t a = Atomic(const_cast<uint64_t&>(r.address)).load(std::memory_order_acquire);
      if (a == 0) return nullptr;
      if (a == address) return &r;
    }
    return nullptr;
  }

  // `address` moves from `generation` (whose lock was `retired`) to the next (a racing
  // retire of the same generation moves it once). A full reuse table leaves it where it is:
  // its generations then follow each other on one chain (counted).
  void NextGeneration(uint64_t address, uint32_t generation, uint32_t retired) {
    if (reuse_ == nullptr) return;
    // Before the record it announces (acquire in ReuseOf): a thread that sees the flag
    // probes, and one that does not sees no reuse yet, as if it had run a moment earlier.
    if (!Atomic(reused_).load(std::memory_order_relaxed))
      Atomic(reused_).store(true, std::memory_order_release);
    uint64_t i = ReuseHome(address);
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & reuse_mask_) {
      format::LockReuseRecord& r = reuse_[i];
      uint64_t expected = 0;
      if (Atomic(r.address).compare_exchange_strong(expected, address, std::memory_order_acq_rel)) {
        Atomic(r.previous).store(retired, std::memory_order_relaxed);
        Atomic(r.generation).store(generation + 1, std::memory_order_release);
        Bump(c_->lock_reuse_used);
        return;
      }
      if (expected == address) {
        uint32_t g = generation;
        if (Atomic(r.generation)
                .compare_exchange_strong(g, generation + 1, std::memory_order_acq_rel))
          Atomic(r.previous).store(retired, std::memory_order_relaxed);
        return;
      }
    }
    Bump(c_->lock_reuse_dropped);
  }

  format::LockRecord* r_ = nullptr;
  uint64_t mask_ = 0;
  uint32_t shift_ = 63;
  format::Counters* c_ = nullptr;
  format::LockReuseRecord* reuse_ = nullptr;
  uint64_t reuse_mask_ = 0;
  bool reused_ = false;  // an address has moved past its first generation
  // A lock with a narrow home was met: until then Retire probes the usual homes only (most
  // programs have no spinlock, and free() retires by address alone).
  bool narrow_seen_ = false;
};

// chain key -> stack id (+ flags). See format::ChainRecord.
class ChainTable {
 public:
  ChainTable() = default;
  ChainTable(format::ChainRecord* records, uint64_t capacity, format::Counters* counters)
      : r_(records), mask_(capacity - 1), c_(counters) {}

  // Chain keys are hashes already (ChainKey): their low bits are the home slot.
  static uint64_t HomeSlot(uint64_t key, uint64_t capacity) { return key & (capacity - 1); }

  // The hot path's lookup: the ready record for `key` in its home slot, or nullptr.
  const format::ChainRecord* FindAtHome(uint64_t key) const {
    const format::ChainRecord& rec = r_[key & mask_];
    // A plain load, as in LockTable::FindAtHome; `flags` (acquire) validates the record.
    if (rec.key == key &&
        (Atomic(const_cast<uint16_t&>(rec.flags)).load(std::memory_order_acquire) &
         format::kChainReady))
      return &rec;
    return nullptr;
  }

  // Ready record for `key`, or nullptr.
  format::ChainRecord* Find(uint64_t key) {
    uint64_t i = key & mask_;
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
      format::ChainRecord& rec = r_[i];
      uint64_t k = Atomic(rec.key).load(std::memory_order_acquire);
      if (k == 0) return nullptr;
      if (k == key && (Atomic(rec.flags).load(std::memory_order_acquire) & format::kChainReady))
        return &rec;
    }
    return nullptr;
  }

  // Publishes a new chain; false when full (counted) or already present.
  bool Insert(uint64_t key, uint32_t stack, uint16_t owner_slot) {
    uint64_t i = key & mask_;
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
      format::ChainRecord& rec = r_[i];
      uint64_t expected = 0;
      if (Atomic(rec.key).compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
        rec.stack = stack;
        rec.owner_slot = owner_slot;
        Atomic(rec.flags).store(format::kChainReady, std::memory_order_release);
        Bump(c_->chains_used);
        return true;
      }
      if (expected == key) return false;
    }
    Bump(c_->chains_dropped);
    return false;
  }

 private:
  format::ChainRecord* r_ = nullptr;
  uint64_t mask_ = 0;
  format::Counters* c_ = nullptr;
};

// (from, to) -> edge evidence. See format::EdgeRecord.
class EdgeTable {
 public:
  EdgeTable() = default;
  EdgeTable(format::EdgeRecord* records, uint64_t capacity, format::Counters* counters)
      : r_(records), mask_(capacity - 1), c_(counters) {}

  static uint64_t Key(uint32_t from, uint32_t to) { return (uint64_t{from} << 32) | to; }

  // Records one occurrence of from -> to. `gates` are the other locks held at this
  // occurrence (at most kMaxGates, 0-terminated). The first occurrence stores everything;
  // later ones intersect the gate set and note a second thread. `mode` (kEdgeFrom*/kEdgeTo*
  // bits, rwlock read/write) is OR-ed into the flags. Returns false when full.
  bool Add(uint32_t from, uint32_t to, uint32_t from_stack, uint32_t to_stack, int32_t tid,
           uint32_t held_depth, const uint32_t* gates, uint32_t gate_count, uint32_t mode = 0) {
    const uint64_t key = Key(from, to);
    uint64_t i = format::Mix64(key) & mask_;
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
      format::EdgeRecord& rec = r_[i];
      uint64_t expected = 0;
      if (Atomic(rec.key).compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
        rec.from_stack = from_stack;
        rec.to_stack = to_stack;
        rec.tid = tid;
        rec.held_depth = held_depth;
        for (uint32_t g = 0; g < format::kMaxGates; ++g)
          rec.gates[g] = g < gate_count ? gates[g] : 0;
        // fetch_or: a racing occurrence may already have set kEdgeGatesLost.
        Atomic(rec.flags).fetch_or(format::kEdgeReady | mode, std::memory_order_release);
        Bump(c_->edges_used);
        return true;
      }
      if (expected == key) {
        bool ready = false;
        // The creator is between claim and publish (a few stores): wait briefly. If it is
        // still not there (preempted), say the gates are unknown rather than lose the
        // intersection.
        for (int spin = 0; spin < 1000 && !ready; ++spin)
          ready = Atomic(rec.flags).load(std::memory_order_acquire) & format::kEdgeReady;
        if (ready)
          Intersect(rec, gates, gate_count);
        else
          Atomic(rec.flags).fetch_or(format::kEdgeGatesLost, std::memory_order_relaxed);
        if (mode != 0) Atomic(rec.flags).fetch_or(mode, std::memory_order_relaxed);
        if (tid != rec.tid && Atomic(rec.other_tid).load(std::memory_order_relaxed) == 0)
          Atomic(rec.other_tid).store(tid, std::memory_order_relaxed);
        return true;
      }
    }
    Bump(c_->edges_dropped);
    return false;
  }

  format::EdgeRecord* Find(uint32_t from, uint32_t to) {
    const uint64_t key = Key(from, to);
    uint64_t i = format::Mix64(key) & mask_;
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
      format::EdgeRecord& rec = r_[i];
      uint64_t k = Atomic(rec.key).load(std::memory_order_acquire);
      if (k == 0) return nullptr;
      if (k == key) return &rec;
    }
    return nullptr;
  }

 private:
  // Gate slots only go from a lock id to 0, so concurrent intersections commute.
  static void Intersect(format::EdgeRecord& rec, const uint32_t* gates, uint32_t gate_count) {
    for (uint32_t g = 0; g < format::kMaxGates; ++g) {
      uint32_t cur = Atomic(rec.gates[g]).load(std::memory_order_relaxed);
      if (cur == 0) continue;
      bool present = false;
      for (uint32_t j = 0; j < gate_count; ++j) present |= gates[j] == cur;
      if (!present) Atomic(rec.gates[g]).store(0, std::memory_order_relaxed);
    }
  }

  format::EdgeRecord* r_ = nullptr;
  uint64_t mask_ = 0;
  format::Counters* c_ = nullptr;
};

// address -> trail of an ownerless synchronisation object (semaphore, condition variable).
class SyncTable {
 public:
  SyncTable() = default;
  SyncTable(format::SyncRecord* records, uint64_t capacity, format::Counters* counters)
      : r_(records), mask_(capacity - 1), c_(counters) {}

  // The record for `address`, inserted with `kind` if new; nullptr when full (counted). A
  // new record takes the first retired slot on its probe path, else the first empty one.
  format::SyncRecord* FindOrInsert(uint64_t address, uint8_t kind) {
    uint64_t i = format::Mix64(address) & mask_;
    format::SyncRecord* retired = nullptr;
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
      format::SyncRecord& rec = r_[i];
      uint64_t a = Atomic(rec.address).load(std::memory_order_acquire);
      if (a == address) {
        // Another kind of object lived here (a condition variable freed without
        // pthread_cond_destroy, then a semaphore at its address): its record ends, or the
        // fields one kind keeps would be read as the other's.
        if (!Atomic(rec.ready).load(std::memory_order_acquire) || rec.kind == kind) return &rec;
        Atomic(rec.ready).store(0, std::memory_order_release);
        Atomic(rec.address).store(format::kSyncRetired, std::memory_order_release);
        a = format::kSyncRetired;
      }
      if (a == format::kSyncRetired) {
        if (retired == nullptr) retired = &rec;
        continue;
      }
      if (a != 0) continue;
      // Not present. Two threads inserting the same address try the same retired slot first,
      // so that they do not make two records of it.
      if (retired != nullptr) {
        if (format::SyncRecord* r = Claim(retired, format::kSyncRetired, address, kind)) return r;
        retired = nullptr;  // taken by another address: this empty slot is next
      }
      if (format::SyncRecord* r = Claim(&rec, 0, address, kind)) return r;
    }
    // No empty slot on the path (a table that only ever saw churn): a retired one will do.
    if (retired != nullptr)
      if (format::SyncRecord* r = Claim(retired, format::kSyncRetired, address, kind)) return r;
    Bump(c_->syncs_dropped);
    return nullptr;
  }

  // The record for `address`, or nullptr (never inserts).
  const format::SyncRecord* Find(uint64_t address) const {
    uint64_t i = format::Mix64(address) & mask_;
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
      const format::SyncRecord& rec = r_[i];
      const uint64_t a = Atomic(const_cast<uint64_t&>(rec.address)).load(std::memory_order_acquire);
      if (a == address) return &rec;
      if (a == 0) return nullptr;
    }
    return nullptr;
  }

  // A destroyed semaphore or condition variable gives its record back (it becomes a retired
  // slot that lookups step over and inserts reuse), so that a program creating and
  // destroying them forever (every CPython lock is a semaphore) does not fill the table.
  void Retire(uint64_t address) {
    uint64_t i = format::Mix64(address) & mask_;
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
      format::SyncRecord& rec = r_[i];
      const uint64_t a = Atomic(rec.address).load(std::memory_order_acquire);
      if (a == 0) return;
      if (a != address) continue;
      Atomic(rec.ready).store(0, std::memory_order_release);  // readers skip it from here
      Atomic(rec.address).store(format::kSyncRetired, std::memory_order_release);
      return;
    }
  }

  uint32_t IndexOf(const format::SyncRecord* rec) const { return static_cast<uint32_t>(rec - r_); }
  bool valid() const { return r_ != nullptr; }

 private:
  // Claims `rec` for `address` if its address is still `from` (empty or retired), or
  // returns it if another thread just claimed it for the same address; else nullptr.
  format::SyncRecord* Claim(format::SyncRecord* rec, uint64_t from, uint64_t address,
                            uint8_t kind) {
    uint64_t expected = from;
    if (Atomic(rec->address).compare_exchange_strong(expected, address, std::memory_order_acq_rel))
      return Publish(rec, kind);
    return expected == address ? rec : nullptr;
  }

  // A claimed record (new or reused): fresh counters, then the ready flag.
  format::SyncRecord* Publish(format::SyncRecord* rec, uint8_t kind) {
    rec->kind = kind;
    rec->flags = 0;
    rec->last_post_tid = 0;
    rec->last_take_tid = 0;
    rec->posts = 0;
    rec->takes = 0;
    rec->broadcasts = 0;
    rec->begins = 0;
    rec->waiting = 0;
    rec->last_post_ns = 0;
    Atomic(rec->ready).store(1, std::memory_order_release);
    Bump(c_->syncs_used);
    return rec;
  }

  format::SyncRecord* r_ = nullptr;
  uint64_t mask_ = 0;
  format::Counters* c_ = nullptr;
};

// Deduplicated call stacks. Id = record index (0 = none).
class StackDepot {
 public:
  StackDepot() = default;
  StackDepot(format::StackRecord* records, uint64_t capacity, uint64_t* frames,
             uint64_t frame_capacity, format::Counters* counters)
      : r_(records), mask_(capacity - 1), f_(frames), fcap_(frame_capacity), c_(counters) {}

  static uint64_t Hash(const uint64_t* pcs, uint32_t n, uint64_t era = 0) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n ^ (era << 32);
    for (uint32_t i = 0; i < n; ++i) h = format::Mix64(h ^ pcs[i]) + i;
    return h == 0 ? 1 : h;
  }

  // Id of the stack `pcs[0..n)`, storing it if new (then *stored is set, when given); 0
  // when full (counted).
  uint32_t Put(const uint64_t* pcs, uint32_t n, bool* stored = nullptr) {
    if (n > format::kMaxFrames) n = format::kMaxFrames;
    const uint64_t h = Hash(pcs, n, Atomic(era_).load(std::memory_order_acquire));
    uint64_t i = h & mask_;
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
      if (i == 0) continue;
      format::StackRecord& rec = r_[i];
      uint64_t expected = 0;
      if (Atomic(rec.hash).compare_exchange_strong(expected, h, std::memory_order_acq_rel)) {
        uint64_t off = Atomic(c_->frames_used).load(std::memory_order_relaxed);
        while (off + n <= fcap_ &&
               !Atomic(c_->frames_used)
                    .compare_exchange_weak(off, off + n, std::memory_order_relaxed)) {
        }
        uint16_t ready = format::kStackReady;
        if (off + n > fcap_) {  // frame area full: keep the hash, so it still dedups
          Bump(c_->frames_dropped);
          n = 0;
          off = 0;
          ready = format::kStackNoFrames;
        }
        for (uint32_t k = 0; k < n; ++k) f_[off + k] = pcs[k];
        rec.frame_offset = static_cast<uint32_t>(off);
        rec.frame_count = static_cast<uint16_t>(n);
        Atomic(rec.ready).store(ready, std::memory_order_release);
        Bump(c_->stacks_used);
        if (stored != nullptr) *stored = true;
        return static_cast<uint32_t>(i);
      }
      if (expected != h) continue;
      uint16_t ready = Atomic(rec.ready).load(std::memory_order_acquire);
      if (ready == format::kStackNoFrames || (ready == format::kStackReady && Same(rec, pcs, n)))
        return static_cast<uint32_t>(i);
    }
    Bump(c_->stacks_dropped);
    return 0;
  }

  // A module left the process (dlclose): stacks stored from now on share no record with
  // those stored before, whose pcs may name the same addresses in another module
  // (format::ModuleRecord::frames_until).
  void NewEra() { Atomic(era_).fetch_add(1, std::memory_order_acq_rel); }
  uint64_t era() const {
    return Atomic(const_cast<uint64_t&>(era_)).load(std::memory_order_acquire);
  }

 private:
  bool Same(const format::StackRecord& rec, const uint64_t* pcs, uint32_t n) const {
    if (rec.frame_count != n) return false;
    return std::memcmp(&f_[rec.frame_offset], pcs, n * sizeof(uint64_t)) == 0;
  }

  format::StackRecord* r_ = nullptr;
  uint64_t mask_ = 0;
  uint64_t* f_ = nullptr;
  uint64_t fcap_ = 0;
  uint64_t era_ = 0;
  format::Counters* c_ = nullptr;
};

// Python functions (format::PyCodeRecord), keyed by a hash of file, name and first line.
// Id = record index (0 = none).
class PyCodeTable {
 public:
  PyCodeTable() = default;
  PyCodeTable(format::PyCodeRecord* records, uint64_t capacity, format::Counters* counters)
      : r_(records), cap_(capacity), c_(counters) {}

  // Id of the function (its strings NUL-terminated within the record's sizes), inserted if
  // new; 0 when full (counted).
  uint32_t FindOrInsert(const char* name, const char* filename, int32_t first_line) {
    if (r_ == nullptr || cap_ < 2) return 0;
    uint64_t key = HashBytes(HashBytes(0xcbf29ce484222325ULL, filename) ^ 0x2f, name);
    key = format::Mix64(key ^ static_cast<uint32_t>(first_line));
    if (key == 0) key = 1;
    uint64_t i = key & (cap_ - 1);
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & (cap_ - 1)) {
      if (i == 0) continue;
      format::PyCodeRecord& r = r_[i];
      uint64_t expected = 0;
      if (Atomic(r.key).compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
        r.first_line = first_line;
        memcpy(r.name, name, strnlen(name, sizeof(r.name) - 1));  // the record is zeroed
        memcpy(r.filename, filename, strnlen(filename, sizeof(r.filename) - 1));
        Atomic(r.ready).store(1, std::memory_order_release);
        Bump(c_->py_code_used);
        return static_cast<uint32_t>(i);
      }
      if (expected == key) return static_cast<uint32_t>(i);  // readers wait for `ready`
    }
    Bump(c_->py_code_dropped);
    return 0;
  }

 private:
  static uint64_t HashBytes(uint64_t h, const char* s) {
    for (; *s; ++s) h = (h ^ static_cast<uint8_t>(*s)) * 0x100000001b3ULL;
    return h;
  }

  format::PyCodeRecord* r_ = nullptr;
  uint64_t cap_ = 0;
  format::Counters* c_ = nullptr;
};

// lock (record index) -> the Python frame that made it. See format::LockOriginRecord.
class LockOriginTable {
 public:
  LockOriginTable() = default;
  LockOriginTable(format::LockOriginRecord* records, uint64_t capacity, format::Counters* counters)
      : r_(records), cap_(capacity), c_(counters) {}

  // Notes that `lock` was made at `frame` (a format::PythonFrame; 0: not known). A lock noted
  // already takes the new frame: a lock record reset in place (LockTable::Retire) serves the
  // next lock at its address, which another line (or C code: 0) may have made. An unknown
  // origin claims no record. Full: counted.
  void Note(uint32_t lock, uint64_t frame) {
    if (r_ == nullptr || cap_ < 2 || lock == 0) return;
    if (frame == 0) return Forget(lock);
    uint64_t i = format::Mix64(lock) & (cap_ - 1);
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & (cap_ - 1)) {
      format::LockOriginRecord& r = r_[i];
      uint32_t expected = 0;
      if (Atomic(r.lock).compare_exchange_strong(expected, lock, std::memory_order_acq_rel)) {
        Atomic(r.frame).store(frame, std::memory_order_relaxed);
        Atomic(r.ready).store(1, std::memory_order_release);
        return;
      }
      if (expected == lock) {
        Atomic(r.frame).store(frame, std::memory_order_release);
        return;
      }
    }
    Bump(c_->lock_origins_dropped);
  }

 private:
  // The origin `lock`'s index was noted with, if any, is forgotten (the reader skips 0).
  void Forget(uint32_t lock) {
    uint64_t i = format::Mix64(lock) & (cap_ - 1);
    for (uint32_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & (cap_ - 1)) {
      const uint32_t at = Atomic(r_[i].lock).load(std::memory_order_acquire);
      if (at == 0) return;
      if (at == lock) return Atomic(r_[i].frame).store(0, std::memory_order_release);
    }
  }

  format::LockOriginRecord* r_ = nullptr;
  uint64_t cap_ = 0;
  format::Counters* c_ = nullptr;
};

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_TABLES_H_
