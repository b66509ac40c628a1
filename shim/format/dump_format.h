// lockscope dump format, version 1.
//
// The ONLY code shared by the shim (writer) and the analyzer (reader). Header-only and
// dependency-free: plain structs of fixed-size integers, every size pinned by static_assert.
//
// A dump is one file, `lockscope.<pid>[.<n>].dump`, memory-mapped MAP_SHARED by the process
// it describes. The shim sizes it once at creation (ftruncate; the file is sparse, so only
// touched pages use disk) and then only stores into it, so the file is a valid dump at every
// moment: after SIGKILL, while the process hangs, or while it still runs.
//
//   offset 0          FileHeader (4096 bytes): magic, versions, pid, counters, section table
//   sections[i]       each an array of `capacity` records of `record_size` bytes
//
// Compatibility rules:
//   - major version: incompatible layout change; readers reject other majors.
//   - minor version: new sections or records grown at the end; readers skip unknown section
//     ids and read only the prefix of a record they know (record_size may be larger).
//   - The magic is written LAST at creation: a half-initialised file is "not a dump yet".
//
// Concurrency: every table is lock-free. A record is claimed by a CAS on its key field and
// published by a release store of a "ready" flag or state; readers ignore records that are
// claimed but not ready. Nothing is ever removed (a retired lock keeps its record with state
// kLockRetired), so a reader of a live process sees a consistent subset; the one exception
// is the syncs section, where the record of a destroyed semaphore or condition variable is
// unpublished, becomes kSyncRetired, and may be claimed again.
// When a table is full the insert is dropped and counted in Counters; the report says so.
#ifndef LOCKSCOPE_SHIM_FORMAT_DUMP_FORMAT_H_
#define LOCKSCOPE_SHIM_FORMAT_DUMP_FORMAT_H_

#include <stddef.h>
#include <stdint.h>

namespace lockscope::format {

inline constexpr char kMagic[8] = {'L', 'O', 'C', 'K', 'S', 'C', 'P', '1'};
// 3.0: CPython (the header's python_version and note, thread states in the thread slot, the
// Python code section, Python frames in stacks); ring events carry a time (32 bytes);
// semaphores used as locks are held locks (no taken_sems list).
// (2.0: the thread slot's wait state is a WaitRecord; lock kinds carry rwlock preference
// bits; spinlock waits. 1.1: syncs, misuse, edge modes; 1.2: rings keep blocking events
// only, sync records are retired and reused.)
inline constexpr uint16_t kMajorVersion = 3;
inline constexpr uint16_t kMinorVersion = 3;  // 3.1: the lock-reuse section; 3.2: module eras;
                                              // 3.3: the lock-origin section
inline constexpr uint32_t kHeaderSize = 4096;
inline constexpr uint32_t kEndianCheck = 0x01020304;
inline constexpr uint32_t kMaxSections = 16;
inline constexpr uint32_t kNoIndex = 0xffffffffu;

// Sections are listed, with their ids, in the section table at the end of this file.

struct Section {
  uint32_t id;           // SectionId (the section table below); 0 = unused slot
  uint32_t record_size;  // bytes per record (rings: bytes per whole ring)
  uint64_t offset;       // from the start of the file, a multiple of kSectionAlign
  uint64_t capacity;     // number of records
};
static_assert(sizeof(Section) == 24);

// Overflow and health counters. Each "dropped" counts an insert that did not fit: the
// analyzer prints them so that a full table is never silent.
struct Counters {
  uint64_t locks_used, locks_dropped;
  uint64_t chains_used, chains_dropped;
  uint64_t edges_used, edges_dropped;
  uint64_t stacks_used, stacks_dropped;
  uint64_t frames_used, frames_dropped;
  uint64_t modules_used, modules_dropped;
  uint64_t threads_used, threads_dropped, threads_recycled;
  uint64_t rings_used, threads_without_ring;
  uint64_t held_spilled;         // acquisitions deeper than ThreadRecord::held (kept off-dump)
  uint64_t held_dropped;         // ... that could not be kept at all (no memory for them)
  uint64_t edges_depth_skipped;  // edges not added because > kMaxEdgeSources locks were held
  uint64_t unwind_failures;
  uint64_t syncs_used, syncs_dropped;
  uint64_t misuse_used, misuse_dropped;
  uint64_t fork_held_used, fork_held_dropped;
  uint64_t py_code_used, py_code_dropped;
  uint64_t lock_reuse_used, lock_reuse_dropped;
  uint64_t lock_origins_dropped;  // (no _used: the header has room for one counter more)
};
static_assert(sizeof(Counters) == 32 * 8);

enum HeaderState : uint32_t {
  kStateRunning = 1,
  kStateExited = 2,  // the process ran its exit path (atexit); absent after SIGKILL
};

struct FileHeader {
  char magic[8];
  uint16_t major, minor;
  uint32_t header_size;   // == kHeaderSize
  uint32_t pointer_size;  // == 8
  uint32_t endian_check;  // == kEndianCheck
  uint64_t file_size;     // bytes the writer ftruncate()d the file to
  int32_t pid, ppid;
  uint32_t state;  // HeaderState
  uint32_t section_count;
  uint64_t start_realtime_ns;
  uint64_t start_monotonic_ns;
  int32_t parent_pid;        // > 0 when this dump was started by fork() in a traced parent
  uint32_t fork_generation;  // 0 for the first image, +1 per fork from the parent's value
  char parent_dump[256];     // path of the parent's dump when parent_pid > 0
  char exe_path[256];        // /proc/self/exe at creation
  char cmdline[512];         // NUL-separated argv, truncated
  Section sections[kMaxSections];
  Counters counters;
  // Fork children (parent_pid > 0): the thread that called fork() and where.
  int32_t fork_tid;
  uint32_t fork_stack;  // in this dump's stack depot
  // Why the shim recorded nothing, when it did not (an unknown glibc, say): one line, for the
  // report; empty otherwise.
  char shim_note[128];
  // The CPython of the process: its version ("3.11.2"; empty: none), and when its GIL and
  // frames are not tracked (a version the shim does not know), why: one line.
  char python_version[16];
  char python_note[176];
  uint8_t reserved[4096 - 8 - 4 - 4 - 4 - 4 - 8 - 8 - 4 - 4 - 8 - 8 - 4 - 4 - 256 - 256 - 512 -
                   kMaxSections * sizeof(Section) - sizeof(Counters) - 8 - 128 - 16 - 176];
};
static_assert(sizeof(FileHeader) == kHeaderSize);
static_assert(offsetof(FileHeader, sections) % 8 == 0);

// ---- locks ---------------------------------------------------------------------------

enum LockKind : uint8_t {
  kLockMutex = 0,
  kLockRecursiveMutex = 1,
  kLockErrorcheckMutex = 2,
  kLockAdaptiveMutex = 3,
  kLockRwlock = 4,
  kLockSpinlock = 5,
  kLockGil = 6,
  kLockSemaphore = 7,
  kLockCondvar = 8,
};

enum LockState : uint8_t {
  kLockEmpty = 0,    // slot unused (address may already be claimed by an inserter)
  kLockLive = 1,     // current identity of `address`
  kLockRetired = 2,  // destroyed / freed / re-initialised: a later use at `address` is a new lock
};

// LockRecord::kind holds a LockKind in its low bits and these flags above it.
inline constexpr uint8_t kLockKindMask = 0x0f;
// Set once the lock is an endpoint of an order edge. Only such a lock needs a new identity
// when its address is reused; one without edges is reset in place, so that an address that
// is freed and reused a million times (a heap object with a mutex) keeps one record.
inline constexpr uint8_t kLockHadEdges = 0x80;
// rwlocks: created writer-preferring (glibc's PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP),
// and some thread asked to write it. Together they mean a queued writer can block a new
// reader, so a cycle through read acquisitions of this lock can deadlock.
inline constexpr uint8_t kLockPrefersWriters = 0x40;
inline constexpr uint8_t kLockWritersSeen = 0x20;
// Semaphores: not used as a lock (so not in the order graph, the wait-for graph or the fork
// snapshot): posted by a thread that had not taken it (a hand-off, as threading.Condition's
// waiter locks are), waited on by the thread that holds it, or still available after a take
// (a counting semaphore).
inline constexpr uint8_t kLockUnowned = 0x10;

// A lock identity is its record index: (address, generation) where the generation is
// implicit: each re-initialisation or free retires the record and a new one is inserted.
struct LockRecord {
  uint64_t address;      // claimed 0 -> address (LockTable::FindOrInsert)
  uint8_t state;         // LockState, release-stored after kind/first_stack
  uint8_t kind;          // LockKind (kLockKindMask) | kLockHadEdges, kLockPrefersWriters, ...
  uint16_t first_site;   // call-site hash (HeldLock::flags >> 16) of first_stack
  uint32_t first_stack;  // stack of the acquisition that first saw this lock with nothing
                         // else held (0 = none yet): the depth-0 fast path for that site
};
static_assert(sizeof(LockRecord) == 16);

// ---- reused lock addresses ----------------------------------------------------------------

// A lock that was an endpoint of an order edge keeps its record when it ends (the edges name
// it), so the next lock at its address needs a record of its own: a generation. Generation g
// of an address is placed from a home of its own (LockTable::Home(address, kind, g)), so that a
// heap address reused by a thousand locks does not grow one probe chain a thousand records
// long; this table says which generation each such address is at. The shim's alone: the
// reader finds every lock record without it.
struct LockReuseRecord {
  uint64_t address;     // claimed by CAS 0 -> address
  uint32_t generation;  // of the address's current lock (1, 2, ...; 0: its own home)
  uint32_t previous;    // the lock (record index) of the generation before it
};
static_assert(sizeof(LockReuseRecord) == 16);

// ---- chains (lockdep's chain cache) -------------------------------------------------------

// Key = hash of the sequence of held lock ids plus the acquired lock (and the try flag). A
// known chain costs one probe; a new one unwinds and records its edges.
struct ChainRecord {
  uint64_t key;         // claimed by CAS 0 -> key (key 0 is never used)
  uint32_t stack;       // where the last lock of the chain was acquired
  uint16_t owner_slot;  // thread slot that first saw it (low 16 bits)
  uint16_t flags;       // kChainReady | kChainMultiThread
};
inline constexpr uint16_t kChainReady = 1;
inline constexpr uint16_t kChainMultiThread = 2;
static_assert(sizeof(ChainRecord) == 16);

// ---- lock-order edges ---------------------------------------------------------------------

inline constexpr uint32_t kMaxGates = 4;
inline constexpr uint32_t kMaxEdgeSources = 32;  // edges from at most the 32 innermost held locks

// from -> to: `to` was acquired (blocking) while `from` was held.
struct EdgeRecord {
  uint64_t key;         // (uint64_t(from) << 32) | to, claimed by CAS
  uint32_t from_stack;  // where `from` was acquired (first occurrence)
  uint32_t to_stack;    // where `to` was acquired while holding `from`
  int32_t tid;          // thread of the first occurrence
  int32_t other_tid;    // some other thread that also took this edge (0 = none seen)
  uint32_t flags;       // kEdgeReady
  uint32_t held_depth;  // locks held at the first occurrence (including `from`)
  // Locks held at every occurrence besides `from` (the "gate" candidates): set at the first
  // occurrence, then only ever cleared (intersection), so concurrent updates are monotone.
  uint32_t gates[kMaxGates];
};
inline constexpr uint32_t kEdgeReady = 1;
// A later occurrence could not intersect the gate set (its creator had not published yet):
// the gates are unknown, so the edge counts as ungated.
inline constexpr uint32_t kEdgeGatesLost = 2;
// Modes seen over all occurrences (rwlocks): `from` held for read / write, `to` requested for
// read / write. Mutexes are write. A cycle through a lock held and requested only for read
// cannot block there.
inline constexpr uint32_t kEdgeFromRead = 4;
inline constexpr uint32_t kEdgeFromWrite = 8;
inline constexpr uint32_t kEdgeToRead = 16;
inline constexpr uint32_t kEdgeToWrite = 32;
static_assert(sizeof(EdgeRecord) == 48);

// ---- stacks -------------------------------------------------------------------------------

inline constexpr uint32_t kMaxFrames = 64;

struct StackRecord {
  uint64_t hash;          // claimed by CAS 0 -> hash
  uint32_t frame_offset;  // index into the frames section
  uint16_t frame_count;
  uint16_t ready;  // kStackReady once frames are written (release), or kStackNoFrames
};
static_assert(sizeof(StackRecord) == 16);
inline constexpr uint16_t kStackReady = 1;
inline constexpr uint16_t kStackNoFrames = 2;  // the frame area was full: hash only

// Python frames in a stack (frames section): kPythonFrame | line << 32 | PyCodeRecord index.
// Native program counters never have bit 63 set (user-space addresses).
inline constexpr uint64_t kPythonFrame = uint64_t{1} << 63;
inline constexpr uint64_t PythonFrame(uint32_t code, uint32_t line) {
  return kPythonFrame | (uint64_t{line & 0x7fffffffu} << 32) | code;
}
inline constexpr bool IsPythonFrame(uint64_t frame) { return (frame & kPythonFrame) != 0; }
inline constexpr uint32_t PythonFrameCode(uint64_t frame) { return static_cast<uint32_t>(frame); }
inline constexpr uint32_t PythonFrameLine(uint64_t frame) {
  return static_cast<uint32_t>(frame >> 32) & 0x7fffffffu;
}

// ---- where Python locks were made ---------------------------------------------------------

// A semaphore that proved to be a lock (CPython's threading.Lock) and was made by Python code:
// the Python frame that made it (the innermost one when sem_init ran: the line of
// `threading.Lock()`), by which its lock class is named, as lockdep names a class by where
// its locks are initialised. Keyed by lock record index (the shim's LockOriginTable).
struct LockOriginRecord {
  uint32_t lock;   // LockRecord index; claimed by CAS 0 -> lock
  uint32_t ready;  // 1 once frame is written (release)
  uint64_t frame;  // PythonFrame(code record, line)
};
static_assert(sizeof(LockOriginRecord) == 16);

// ---- Python code objects ------------------------------------------------------------------

// A Python function as its frames name it: copied out of the code object when a stack that
// runs it is first recorded (the object may be gone by the time anyone reads the dump).
struct PyCodeRecord {
  uint64_t key;        // hash of (filename, name, first line); claimed by CAS 0 -> key
  uint32_t ready;      // 1 once written (release)
  int32_t first_line;  // co_firstlineno
  char name[64];       // co_qualname (3.11+) or co_name; NUL-terminated, truncated
  char filename[176];  // co_filename; NUL-terminated, a long one keeps its end ("...tail")
};
static_assert(sizeof(PyCodeRecord) == 256);

// ---- modules ------------------------------------------------------------------------------

struct ModuleRecord {
  uint64_t base;        // load bias (dl_iterate_phdr dlpi_addr)
  uint64_t start, end;  // runtime address range of the PT_LOAD segments
  uint32_t ready;       // 1 once written
  uint8_t build_id_size;
  uint8_t build_id[31];
  char path[256];  // NUL-terminated; truncated paths end in "..."
  // (3.2) When the module was in the process, on the clock of the frames section: a stack
  // whose frame_offset F has frames_from <= F < frames_until (0: still loaded) was captured
  // while it was. Two modules loaded one after the other at the same address (a dlclose,
  // then a dlopen) are told apart this way: the stack depot starts a new era at every
  // unload, so that no stack captured after it shares a record with one captured before.
  uint32_t frames_from;
  uint32_t frames_until;
};
static_assert(sizeof(ModuleRecord) == 328);

// ---- synchronisation objects without an owner (semaphores, condition variables) ------------

// Who last released / signalled and who last took: the only trail an ownerless object leaves.
// Condition variables also count their waits, so that a waiter that was woken and is stuck
// re-acquiring its mutex inside glibc can be told from one still asleep (checks/waits.h).
struct SyncRecord {
  uint64_t address;  // claimed by CAS 0 (or kSyncRetired) -> address
  uint8_t kind;      // kLockSemaphore | kLockCondvar
  uint8_t ready;     // 1 once kind is written
  uint16_t flags;     // semaphores: kSyncLock, kSyncNotLock, kSyncTriedByHolder
  int32_t last_post_tid;  // sem_post / pthread_cond_signal / _broadcast
  int32_t last_take_tid;  // successful sem_wait / sem_trywait / sem_timedwait
  uint32_t posts;         // counts, wrapping (condition variables: signals + broadcasts)
  uint32_t takes;
  uint32_t broadcasts;    // condition variables: pthread_cond_broadcast calls
  union {
    uint32_t begins;  // condition variables: waits begun (each timed slice is one)
    uint32_t lock;    // semaphores known to be locks (kSyncLock): their LockRecord
  };
  uint32_t waiting;       // condition variables: threads inside a wait now
  union {
    uint64_t last_post_ns;  // condition variables: CLOCK_MONOTONIC_COARSE of the last signal
                            // or broadcast
    uint64_t made_at;       // semaphores made by Python code: the PythonFrame that made it
                            // (sem_init's; 0: none), its LockOriginRecord once it is a lock
  };
};
static_assert(sizeof(SyncRecord) == 48);
// A semaphore posted back by the thread that took it: used as a lock (CPython's
// threading.Lock is one), so its takes have order edges (it has a LockRecord of kind
// kLockSemaphore from then on).
inline constexpr uint16_t kSyncLock = 1;
// A semaphore seen not to be a lock (kLockUnowned says how); wins over kSyncLock.
inline constexpr uint16_t kSyncNotLock = 2;
// A semaphore that the thread holding it, not yet known to be a lock, tried to take again
// (Condition.notify's ownership probe over a Lock; a Condition waiter's second acquire
// starts with a try): its holder dropped it from its held stack, and a post by the thread
// that took it last still proves it a lock.
inline constexpr uint16_t kSyncTriedByHolder = 4;
// `address` of a record given back when its object was destroyed (no object lives at 1):
// readers skip it, writers may reuse it for another object.
inline constexpr uint64_t kSyncRetired = 1;

// ---- misuse ----------------------------------------------------------------------------------

enum MisuseKind : uint32_t {
  kMisuseUnlockNotOwner = 1,  // unlock of a mutex this thread does not hold
  kMisuseDestroyLocked = 2,   // pthread_mutex_destroy / pthread_rwlock_destroy while locked
  kMisuseRelockError = 3,     // an error-checking mutex returned EDEADLK
  kMisuseHeldAcrossFork = 4,  // a fork child blocks on a lock a parent thread held at fork
                              // (owner_tid: that parent thread; owner_stack: where it took it)
};

struct MisuseRecord {
  uint32_t kind;  // MisuseKind; 0 = not yet written
  int32_t tid;    // the thread that misused the lock
  uint64_t address;
  uint32_t lock;         // LockRecord index, 0 if untracked
  uint32_t stack;        // where it happened
  int32_t owner_tid;     // the lock's owner at that moment (0 = none / unknown)
  uint32_t owner_stack;  // where the owner (or this thread, for relock) acquired it
  uint32_t ready;        // 1 once written
  uint32_t reserved;
};
static_assert(sizeof(MisuseRecord) == 40);

// ---- fork ------------------------------------------------------------------------------------

// In a fork child's dump: every lock that was held at the moment of fork() (checked against
// the child's own copy of the lock word, so a lock released just before fork is not listed).
struct ForkHeldRecord {
  uint64_t address;
  int32_t holder_tid;  // the parent thread that held it
  uint32_t lock;       // LockRecord index in this (the child's) dump
  uint32_t stack;      // where the holder acquired it (frames copied into this dump)
  uint8_t kind;        // LockKind
  uint8_t by_forker;   // 1: held by the thread that forked (it lives on in the child)
  uint8_t reported;    // set once the child's attempt to take it was recorded
  uint8_t ready;
  char holder_name[16];
};
static_assert(sizeof(ForkHeldRecord) == 40);

// ---- threads --------------------------------------------------------------------------------

enum ThreadState : uint32_t {
  kThreadFree = 0,
  kThreadLive = 1,
  kThreadExited = 2,
  kThreadClaiming = 3,  // a thread is taking the slot: readers skip it
};

enum HeldFlags : uint32_t {
  kHeldTry = 1,   // acquired by a successful trylock (creates no blocking edge)
  kHeldRead = 2,  // shared (rwlock read) acquisition
  // Taken by a trywait while holding the GIL, as CPython takes its locks: it blocks only
  // after dropping the GIL, so the acquisition has edges from every held lock but the GIL.
  kHeldBehindGil = 4,
  // A semaphore taken (its `lock` is 0 until it proves to be a lock: format::kSyncLock).
  kHeldSemaphore = 8,
  // A robust mutex: when its owner ends holding it, the next locker gets EOWNERDEAD (and
  // must make it consistent) instead of waiting forever.
  kHeldRobust = 16,
  // Bits 16..31: a hash of the call site (the return address into the program), part of
  // the chain key so that each acquisition site keeps its own stack.
  kHeldSiteMask = 0xffff0000u,
};

struct HeldLock {
  uint64_t address;
  uint32_t lock;       // LockRecord index (0 = untracked)
  uint32_t stack;      // where it was acquired
  uint64_t chain;      // chain key up to and including this lock
  uint32_t recursion;  // extra re-acquisitions by the owner (recursive mutexes)
  uint32_t flags;      // HeldFlags
};
static_assert(sizeof(HeldLock) == 32);

inline constexpr uint32_t kInlineHeld = 48;

enum WaitKind : uint32_t {
  kWaitNone = 0,
  kWaitMutex = 1,
  kWaitCondvar = 2,
  kWaitRwlockRead = 3,
  kWaitRwlockWrite = 4,
  kWaitSemaphore = 5,
  kWaitGil = 6,
  kWaitJoin = 7,      // pthread_join: address is the joined thread's handle
  kWaitSpinlock = 8,  // spinning in pthread_spin_lock
  kWaitFutex = 9,     // a futex of no kind it knows (written by attach and cores, not the shim)
};
// Waits whose WaitRecord::index is a LockRecord (the others' is a SyncRecord, or nothing).
inline constexpr bool IsLockWait(uint32_t kind) {
  return kind == kWaitMutex || kind == kWaitRwlockRead || kind == kWaitRwlockWrite ||
         kind == kWaitGil || kind == kWaitSpinlock;
}

// What a thread is blocked on right now. Written by its own thread before it blocks
// (`address` last, with a release store) and cleared (`address` first) when it is done.
//
// A wait made of timed slices is one wait: when a timed call times out, the record stays
// (timed_out_ns set) until the thread acquires the object, waits on something else, or
// calls again within kWaitRetryGraceNs, in which case since_ns is kept. So a thread polling
// in 5 ms slices (CPython's take_gil, thread pools) shows as waiting since its first slice,
// and stays a current wait between slices for that long. One that gave up is not.
struct WaitRecord {
  uint64_t address;       // 0 = not waiting
  uint32_t kind;          // WaitKind
  uint32_t index;         // LockRecord (mutex, rwlock, spinlock) or SyncRecord (sem, cond)
  uint64_t since_ns;      // CLOCK_MONOTONIC_COARSE when the wait began (up to a tick early);
                          // 0 = unknown (the object looked free: the call should not block)
  uint64_t timed_out_ns;  // != 0: the last timed call returned ETIMEDOUT at this time
  uint64_t deadline_ns;   // timed calls: the deadline, on CLOCK_MONOTONIC (0 = none)
  uint64_t cond_mutex;    // condition waits: the mutex released and re-acquired
  uint32_t stack;         // where it blocked
  // Condition waits, the condition's SyncRecord when this call began: posts and broadcasts,
  // and this wait's place among its waits (begins before it, and kCondWaitAlone when no other
  // thread was waiting).
  uint32_t cond_posts;
  uint32_t cond_broadcasts;
  uint32_t cond_ticket;  // low 31 bits: SyncRecord::begins before this call; kCondWaitAlone
};
static_assert(sizeof(WaitRecord) == 64);
inline constexpr uint32_t kCondWaitAlone = 0x80000000u;
inline constexpr uint64_t kWaitRetryGraceNs = 1000000000;

// One slot per thread. Written only by its own thread (the held stack and wait state are
// stored before a thread blocks and after it acquires, so a hung thread's slot is current).
struct ThreadRecord {
  uint32_t state;  // ThreadState, release-stored last
  int32_t tid;
  char name[16];
  uint32_t ring;            // ring index or kNoIndex
  uint32_t held_count;      // total held, may exceed kInlineHeld (the rest is off-dump)
  uint64_t pthread_handle;  // pthread_self() of the thread, to find its slot by handle
  uint32_t exit_stack;      // set when the thread exited while holding locks
  uint32_t reserved0;
  WaitRecord wait;  // in the same cache line as held_count
  // CPython: the thread state it took the GIL with last and its interpreter's id; during a
  // wait for the GIL, the thread state it waits to run with when that is its PyGILState one
  // (PyGILState_Ensure's), and that one's interpreter. 0 / -1 when unknown.
  uint64_t py_tstate;
  int64_t py_interp;
  uint64_t py_wait_tstate;
  int64_t py_wait_interp;
  uint8_t reserved1[48];
  HeldLock held[kInlineHeld];
};
static_assert(offsetof(ThreadRecord, wait) == 48);
static_assert(offsetof(ThreadRecord, held) == 192);
static_assert(sizeof(ThreadRecord) == 192 + kInlineHeld * sizeof(HeldLock));

// ---- rings (per-thread blocking events) ---------------------------------------------------

// What a ring records: the events a post-mortem wants and the hot path can afford, i.e. the
// blocking and unusual ones. An uncontended lock/unlock writes nothing here (its state is the
// held stack); a ring event costs a few stores, which is the whole budget of that path.
// (1, 2 and 8 were format 1.1's every-acquisition events: never reused.)
enum EventOp : uint8_t {
  kOpUnlock = 3,  // an unlock of a lock the thread did not hold (flags 1)
  kOpCondWaitBegin = 4,
  kOpCondWaitEnd = 5,
  kOpLockFailed = 6,  // aux: the error
  kOpDestroy = 7,
  kOpLockWaited = 9,  // acquired after waiting (the lock was visibly taken); aux: stack;
                      // extra: the lock's address
  kOpGilTaken = 10,    // the thread took the GIL (lock: the GIL's; extra: its thread state)
  kOpGilDropped = 11,  // the thread let the GIL go (extra: its thread state)
  kOpWaitBegin = 12,   // a wait that may block began (flags: WaitKind; aux: stack; extra: the
                       // object)
  kOpThreadStart = 13, // the thread's first call into the shim (aux: its tid; extra: its
                       // pthread_t). A ring passes to a new thread: this marks where.
  kOpThreadExit = 14,
  kOpFork = 15,        // the thread called fork()
};
// Event::flags.
inline constexpr uint8_t kEventNotHeld = 1;    // kOpUnlock: of a lock the thread did not hold
inline constexpr uint8_t kEventSemaphore = 2;  // kOpLockWaited: the lock is a semaphore

// Single writer (the owning thread): four 8-byte stores per event, then a release store of
// `head`. Words 0 and 1 carry a check, so a reader that races with the writer overwriting
// the slot never accepts a torn event: `seq` is the full write position (low 32 bits) and
// `lap` is position / capacity (low 16 bits), which differs between consecutive overwrites
// (format/ring_events.h has the protocol).
struct Event {
  uint32_t seq;      // low 32 bits of the write position          } word 0
  uint32_t lock;     // LockRecord index                           }
  uint8_t op;        // EventOp                                     } word 1
  uint8_t flags;     //                                             }
  uint16_t lap;      // (position / capacity) & 0xffff              }
  uint32_t aux;      // op-specific (stack id, error code)          }
  uint64_t time_ns;  // CLOCK_MONOTONIC                               word 2
  uint64_t extra;    // op-specific (a thread state, an object)       word 3
};
static_assert(sizeof(Event) == 32);

struct RingHeader {
  uint64_t head;      // events ever written
  int32_t owner_tid;  // current owner (0 = free)
  uint32_t owner_slot;
  uint32_t capacity;  // events (power of two)
  uint32_t reserved[9];
};
static_assert(sizeof(RingHeader) == 56);

inline constexpr uint64_t kRingEventsOffset = 64;  // events start 64 bytes into a ring
inline constexpr uint64_t RingBytes(uint32_t events) {
  return kRingEventsOffset + uint64_t{events} * sizeof(Event);
}

// Hashes shared by writer and reader (both must agree on probe order).
inline constexpr uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// ---- the section table ------------------------------------------------------------------

// One record of the frames section: a program counter. StackRecord::frame_offset indexes
// them; the section is one array, so its record size is exactly this.
using Frame = uint64_t;

// One ring of the rings section: a RingHeader, then Event[capacity] from kRingEventsOffset
// (RingBytes(capacity) bytes in all).
struct Ring {
  RingHeader header;
};

// What the reader needs of a record at least (a newer minor version may make it larger).
template <typename Record>
inline constexpr uint64_t kMinRecordSize = sizeof(Record);
template <>
inline constexpr uint64_t kMinRecordSize<Ring> = RingBytes(16);
template <>
inline constexpr uint64_t kMinRecordSize<ModuleRecord> = 320;  // before 3.2

// Every section of a dump, one line each. From this list come the section ids, the shim's
// configuration (shim/config.h), its plan and view of a new dump (shim/dump_file.h), the
// reader's checks and views (analyzer/dump_reader.cc), and the report's note when a table
// fills: a new section is a record type above and one line here.
//
//   X(Name, member, id, Record, required, variable, default, min, max, pow2, dropped, lost)
//     Name      kSection<Name>
//     member    the field that names it in views and in the configuration (its capacity)
//     id        its id in the file (never reused)
//     Record    one record; Ring: one whole ring, RingBytes(ring_events) bytes
//     required  a reader refuses a dump without it
//     variable  the LOCKSCOPE_* variable for its capacity (in records), with its default,
//               bounds, and whether it is rounded up to a power of two (hash tables)
//     dropped   the Counters field counting inserts that did not fit, and what they lose
// Index 0 of the threads, locks and stacks tables is never used: id 0 means "none".
// clang-format off
#define LOCKSCOPE_DUMP_SECTIONS(X)                                                              \
  X(Threads, threads, 1, ThreadRecord, true, "LOCKSCOPE_THREADS", 512, 4, 1u << 16, false,      \
    threads_dropped, "threads were not tracked: the thread table was full")                   \
  X(Locks, locks, 2, LockRecord, true, "LOCKSCOPE_LOCKS", 1u << 21, 64, 1u << 28, true,         \
    locks_dropped, "locks were not tracked: the lock table was full")                         \
  X(Chains, chains, 3, ChainRecord, false, "LOCKSCOPE_CHAINS", 1u << 18, 64, 1u << 26, true,    \
    chains_dropped, "lock chains were not cached: the chain table was full")                  \
  X(Edges, edges, 4, EdgeRecord, true, "LOCKSCOPE_EDGES", 1u << 18, 64, 1u << 26, true,         \
    edges_dropped, "lock-order edges were lost: the edge table was full")                     \
  X(Stacks, stacks, 5, StackRecord, true, "LOCKSCOPE_STACKS", 1u << 16, 64, 1u << 26, true,     \
    stacks_dropped, "stacks were not stored: the stack table was full")                       \
  X(Frames, frames, 6, Frame, true, "LOCKSCOPE_FRAMES", 1u << 20, 1024, 1u << 30, false,     \
    frames_dropped, "stacks lost their frames: the frame area was full")                      \
  X(Modules, modules, 7, ModuleRecord, true, "LOCKSCOPE_MODULES", 512, 16, 1u << 16, false,     \
    modules_dropped, "modules were not recorded: the module table was full")                  \
  X(Rings, rings, 8, Ring, false, "LOCKSCOPE_RINGS", 64, 0, 1u << 16, false,                    \
    threads_without_ring, "threads had no event ring")                                        \
  X(Syncs, syncs, 9, SyncRecord, false, "LOCKSCOPE_SYNCS", 1u << 15, 64, 1u << 24, true,        \
    syncs_dropped, "semaphores/condition variables were not tracked: the table was full")     \
  X(Misuse, misuse, 10, MisuseRecord, false, "LOCKSCOPE_MISUSE", 1024, 16, 1u << 20, false,     \
    misuse_dropped, "misuse records were lost: the misuse table was full")                    \
  X(ForkHeld, fork_held, 11, ForkHeldRecord, false, "LOCKSCOPE_FORK_HELD", 1024, 16, 1u << 20,  \
    false, fork_held_dropped, "locks held at fork() were not listed: the table was full")     \
  X(PyCode, py_code, 12, PyCodeRecord, false, "LOCKSCOPE_PY_CODE", 1024, 64, 1u << 20, true,    \
    py_code_dropped, "Python frames lost their names: the Python code table was full")       \
  X(LockReuse, lock_reuse, 13, LockReuseRecord, false, "LOCKSCOPE_LOCK_REUSE", 1u << 12, 64,    \
    1u << 24, true, lock_reuse_dropped,                                                         \
    "reused lock addresses shared one probe chain: the lock-reuse table was full")             \
  X(LockOrigins, lock_origins, 14, LockOriginRecord, false, "LOCKSCOPE_LOCK_ORIGINS", 1u << 12, \
    64, 1u << 24, true, lock_origins_dropped,                                                    \
    "Python locks lost where they were made (their class is their first acquisition's site): "  \
    "the lock-origin table was full")
// clang-format on

enum SectionId : uint32_t {
#define LOCKSCOPE_SECTION_ID(Name, member, id, ...) kSection##Name = id,
  LOCKSCOPE_DUMP_SECTIONS(LOCKSCOPE_SECTION_ID)
#undef LOCKSCOPE_SECTION_ID
};

// Sections are page-aligned in the file (sparse, and easy to read).
inline constexpr uint64_t kSectionAlign = 4096;

}  // namespace lockscope::format

#endif  // LOCKSCOPE_SHIM_FORMAT_DUMP_FORMAT_H_
