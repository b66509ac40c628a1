#include "analyzer/dump_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "shim/ring_buffer.h"

namespace lockscope {
namespace {

using format::Section;

// Copies a record out of the mapping: the writer may still be storing into it.
template <typename T>
T Load(const char* base, uint64_t offset) {
  T v;
  memcpy(&v, base + offset, sizeof(T));
  return v;
}

bool IsPow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

std::string Hex(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) absl::StrAppendFormat(&s, "%02x", p[i]);
  return s;
}

std::string FixedString(const char* p, size_t cap) {
  size_t n = strnlen(p, cap);
  return std::string(p, n);
}

// The parts of a (sparse) file that hold data. A dump is mostly holes: scanning only these
// keeps reading a 60 MiB dump proportional to what the process wrote.
std::vector<std::pair<uint64_t, uint64_t>> DataExtents(int fd, uint64_t size) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < size) {
    off_t data = lseek(fd, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // no data after pos
      return {{0, size}};         // SEEK_DATA unsupported: everything may be data
    }
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) hole = static_cast<off_t>(size);
    out.push_back({static_cast<uint64_t>(data), static_cast<uint64_t>(hole)});
    pos = hole;
  }
  return out;
}

// Reads one ring (a record of the rings section, `ring_size` bytes): adds the events it gives
// and loses, and each lock's waited acquisitions. The capacity is read once and checked
// against the record, since a live process may still be writing.
void ReadRingRecord(const char* ring, uint64_t ring_size, uint64_t* events, uint64_t* lost,
                    absl::flat_hash_map<uint32_t, uint64_t>* waits) {
  const auto header = ::lockscope::Load<format::RingHeader>(ring, 0);
  const uint64_t cap = header.capacity;
  if (cap == 0 || (cap & (cap - 1)) != 0 || format::RingBytes(header.capacity) > ring_size)
    return;  // never attached, or not a ring this code wrote
  *lost += ForEachRingEvent(reinterpret_cast<const format::RingHeader*>(ring), cap, cap,
                            [&](const format::Event& e) {
                              ++*events;
                              if (e.op == format::kOpLockWaited) ++(*waits)[e.lock];
                            });
}

// A thread slot as one consistent state. Its thread writes it while we read (a live
// process): a copy is taken again until two copies of its wait record and held count agree,
// so that a wait and a held stack from different moments (a wait for a lock the thread has
// just taken, say) are not mixed. A thread that keeps changing gets its last copy.
format::ThreadRecord LoadThread(const char* slot) {
  format::ThreadRecord r = ::lockscope::Load<format::ThreadRecord>(slot, 0);
  for (int attempt = 0; attempt < 8; ++attempt) {
    const format::ThreadRecord again = ::lockscope::Load<format::ThreadRecord>(slot, 0);
    const bool same =
        memcmp(&again.wait, &r.wait, sizeof(r.wait)) == 0 && again.held_count == r.held_count &&
        again.state == r.state &&
        memcmp(again.held, r.held,
               sizeof(r.held[0]) * std::min<uint32_t>(r.held_count, format::kInlineHeld)) == 0;
    r = again;
    if (same) break;
  }
  return r;
}

}  // namespace

template <typename F>
void Dump::ForEachRecord(const char* section, uint64_t record_size, uint64_t first, uint64_t count,
                         F&& f) const {
  const uint64_t base = static_cast<uint64_t>(section - map_);
  uint64_t next = first;
  for (auto [lo, hi] : data_) {
    if (hi <= base) continue;
    uint64_t a = lo > base ? (lo - base) / record_size : 0;
    uint64_t b = (hi - base + record_size - 1) / record_size;
    for (uint64_t i = std::max(a, next); i < std::min(b, count); ++i) f(i);
    next = std::max(next, std::min(b, count));
    if (next >= count) break;
  }
}

Dump::~Dump() {
  if (map_ != nullptr) munmap(const_cast<char*>(map_), size_);
}

absl::StatusOr<std::unique_ptr<Dump>> Dump::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": ", strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) < sizeof(format::FileHeader)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: not a lockscope dump (%d bytes, shorter than the %d-byte header)",
                        path, st.st_size, sizeof(format::FileHeader)));
  }
  void* m = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) {
    close(fd);
    return absl::InternalError(absl::StrCat(path, ": mmap: ", strerror(errno)));
  }
  std::unique_ptr<Dump> d(new Dump());
  d->data_ = DataExtents(fd, static_cast<uint64_t>(st.st_size));
  close(fd);
  d->path_ = path;
  d->map_ = static_cast<const char*>(m);
  d->size_ = st.st_size;
  if (absl::Status s = d->Load(); !s.ok()) return s;
  return d;
}

absl::Status Dump::Load() {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", why));
  };
  header_ = ::lockscope::Load<format::FileHeader>(map_, 0);
  const format::FileHeader& h = header_;
  if (memcmp(h.magic, format::kMagic, sizeof(h.magic)) != 0)
    return bad("not a lockscope dump (bad magic)");
  if (h.major != format::kMajorVersion)
    return bad(absl::StrFormat("dump format version %d.%d, this analyzer reads %d.x", h.major,
                               h.minor, format::kMajorVersion));
  if (h.header_size != format::kHeaderSize || h.pointer_size != 8 ||
      h.endian_check != format::kEndianCheck)
    return bad("corrupt header (size, pointer size or byte order)");
  if (h.file_size != size_)
    return bad(absl::StrFormat("truncated or altered: %d bytes on disk, header says %d", size_,
                               h.file_size));
  if (h.section_count > format::kMaxSections) return bad("corrupt header (section count)");

  const char* threads = nullptr;
  uint64_t nthreads = 0, thread_rs = 0;
  const char* locks = nullptr;
  uint64_t nlocks = 0, lock_rs = 0;
  const char* edges = nullptr;
  uint64_t nedges = 0, edge_rs = 0;
  const char* modules = nullptr;
  uint64_t nmodules = 0, module_rs = 0;
  const char* rings = nullptr;
  uint64_t nrings = 0, ring_rs = 0;
  const char* syncs = nullptr;
  uint64_t nsyncs = 0, sync_rs = 0;
  const char* misuse = nullptr;
  uint64_t nmisuse = 0, misuse_rs = 0;
  const char* fork_held = nullptr;
  uint64_t nfork = 0, fork_rs = 0;
  uint64_t stack_rs = 0;
  for (uint32_t i = 0; i < h.section_count; ++i) {
    const Section& s = h.sections[i];
    if (s.record_size == 0 || s.offset < format::kHeaderSize || s.offset % 8 != 0 ||
        s.offset > size_ || s.capacity > (size_ - s.offset) / s.record_size)
      return bad(absl::StrFormat("corrupt section table (section %d lies outside the file)", i));
    auto need = [&](size_t record) -> absl::Status {
      if (s.record_size < record)
        return bad(absl::StrFormat("corrupt section %d (record size %d < %d)", s.id, s.record_size,
                                   record));
      return absl::OkStatus();
    };
    const char* p = map_ + s.offset;
    absl::Status st;
    switch (s.id) {
      case format::kSectionThreads:
        st = need(sizeof(format::ThreadRecord));
        threads = p;
        nthreads = s.capacity;
        thread_rs = s.record_size;
        break;
      case format::kSectionLocks:
        st = need(sizeof(format::LockRecord));
        locks = p;
        nlocks = s.capacity;
        lock_rs = s.record_size;
        break;
      case format::kSectionEdges:
        st = need(sizeof(format::EdgeRecord));
        edges = p;
        nedges = s.capacity;
        edge_rs = s.record_size;
        break;
      case format::kSectionStacks:
        st = need(sizeof(format::StackRecord));
        if (s.record_size != sizeof(format::StackRecord)) st = bad("unsupported stack record size");
        stacks_ = reinterpret_cast<const format::StackRecord*>(p);
        stack_capacity_ = s.capacity;
        stack_rs = s.record_size;
        break;
      case format::kSectionFrames:
        if (s.record_size != sizeof(uint64_t)) st = bad("corrupt frames section");
        frames_ = reinterpret_cast<const uint64_t*>(p);
        frame_capacity_ = s.capacity;
        break;
      case format::kSectionModules:
        st = need(sizeof(format::ModuleRecord));
        modules = p;
        nmodules = s.capacity;
        module_rs = s.record_size;
        break;
      case format::kSectionRings:
        st = need(format::RingBytes(16));
        rings = p;
        nrings = s.capacity;
        ring_rs = s.record_size;
        break;
      case format::kSectionSyncs:
        st = need(sizeof(format::SyncRecord));
        syncs = p;
        nsyncs = s.capacity;
        sync_rs = s.record_size;
        break;
      case format::kSectionForkHeld:
        st = need(sizeof(format::ForkHeldRecord));
        fork_held = p;
        nfork = s.capacity;
        fork_rs = s.record_size;
        break;
      case format::kSectionMisuse:
        st = need(sizeof(format::MisuseRecord));
        misuse = p;
        nmisuse = s.capacity;
        misuse_rs = s.record_size;
        break;
      default: break;  // a newer minor version's section: skip
    }
    if (!st.ok()) return st;
  }
  if (!threads || !locks || !edges || !stacks_ || !frames_ || !modules)
    return bad("corrupt section table (a required section is missing)");
  if (!IsPow2(nlocks) || !IsPow2(nedges) || !IsPow2(stack_capacity_))
    return bad("corrupt section table (hash table capacity)");
  (void)stack_rs;

  // Modules.
  uint64_t nmod = std::min<uint64_t>(h.counters.modules_used, nmodules);
  for (uint64_t i = 0; i < nmod; ++i) {
    auto m = ::lockscope::Load<format::ModuleRecord>(modules, i * module_rs);
    if (!m.ready) continue;
    ModuleInfo mi;
    mi.path = FixedString(m.path, sizeof(m.path));
    mi.base = m.base;
    mi.build_id = Hex(m.build_id, std::min<size_t>(m.build_id_size, sizeof(m.build_id)));
    modules_.push_back(std::move(mi));
  }

  // Locks: every claimed, published slot (live or retired).
  ForEachRecord(locks, lock_rs, 1, nlocks, [&](uint64_t i) {
    auto r = ::lockscope::Load<format::LockRecord>(locks, i * lock_rs);
    if (r.address == 0 || r.state == format::kLockEmpty) return;
    const uint8_t kind = r.kind & format::kLockKindMask;
    if (r.state > format::kLockRetired || kind > format::kLockCondvar) {
      ++skipped_;
      return;
    }
    locks_.push_back({static_cast<uint32_t>(i), r.address, kind,
                      static_cast<uint8_t>(r.kind & ~format::kLockKindMask), r.state,
                      r.first_stack});
    lock_pos_[static_cast<uint32_t>(i)] = static_cast<uint32_t>(locks_.size() - 1);
  });

  // Edges whose endpoints are known locks.
  ForEachRecord(edges, edge_rs, 0, nedges, [&](uint64_t i) {
    auto r = ::lockscope::Load<format::EdgeRecord>(edges, i * edge_rs);
    if (r.key == 0 || !(r.flags & format::kEdgeReady)) return;
    EdgeInfo e;
    e.from = static_cast<uint32_t>(r.key >> 32);
    e.to = static_cast<uint32_t>(r.key);
    if (!Lock(e.from) || !Lock(e.to) || e.from == e.to) {
      ++skipped_;
      return;
    }
    e.from_stack = r.from_stack;
    e.to_stack = r.to_stack;
    e.tid = r.tid;
    e.other_tid = r.other_tid;
    e.held_depth = r.held_depth;
    e.modes = r.flags & (format::kEdgeFromRead | format::kEdgeFromWrite | format::kEdgeToRead |
                         format::kEdgeToWrite);
    if (!(r.flags & format::kEdgeGatesLost))
      for (uint32_t g : r.gates)
        if (g != 0 && Lock(g)) e.gates.push_back(g);
    edges_.push_back(std::move(e));
  });

  // Semaphores and condition variables (optional sections: minor version 1).
  if (syncs)
    ForEachRecord(syncs, sync_rs, 0, nsyncs, [&](uint64_t i) {
      auto r = ::lockscope::Load<format::SyncRecord>(syncs, i * sync_rs);
      if (r.address == 0 || r.address == format::kSyncRetired || !r.ready) return;
      syncs_.push_back({static_cast<uint32_t>(i), r.address, r.kind, r.last_post_tid,
                        r.last_take_tid, r.posts, r.takes, r.broadcasts, r.begins, r.waiting,
                        r.last_post_ns});
    });
  uint64_t nmis = misuse ? std::min<uint64_t>(h.counters.misuse_used, nmisuse) : 0;
  for (uint64_t i = 0; i < nmis; ++i) {
    auto r = ::lockscope::Load<format::MisuseRecord>(misuse, i * misuse_rs);
    if (!r.ready || r.kind < format::kMisuseUnlockNotOwner ||
        r.kind > format::kMisuseHeldAcrossFork) {
      if (r.ready) ++skipped_;
      continue;
    }
    misuses_.push_back(
        {r.kind, r.tid, r.address, Lock(r.lock) ? r.lock : 0, r.stack, r.owner_tid, r.owner_stack});
  }

  uint64_t nheld = fork_held ? std::min<uint64_t>(h.counters.fork_held_used, nfork) : 0;
  for (uint64_t i = 0; i < nheld; ++i) {
    auto r = ::lockscope::Load<format::ForkHeldRecord>(fork_held, i * fork_rs);
    if (!r.ready) continue;
    fork_held_.push_back({r.address, r.holder_tid,
                          FixedString(r.holder_name, sizeof(r.holder_name)),
                          Lock(r.lock) ? r.lock : 0, r.stack, r.kind, r.by_forker != 0});
  }

  // Threads, then the rings.
  absl::flat_hash_map<uint32_t, uint64_t> waits;  // lock index -> waited acquisitions
  for (uint64_t i = 1; i < nthreads; ++i) {
    const format::ThreadRecord r = LoadThread(threads + i * thread_rs);
    if (r.state != format::kThreadLive && r.state != format::kThreadExited) continue;
    ThreadInfo t;
    t.slot = static_cast<uint32_t>(i);
    t.tid = r.tid;
    t.name = FixedString(r.name, sizeof(r.name));
    t.state = r.state;
    t.held_count = r.held_count;
    uint32_t n = std::min<uint32_t>(r.held_count, format::kInlineHeld);
    t.held.assign(r.held, r.held + n);
    t.wait = r.wait;
    t.exit_stack = r.exit_stack;
    t.pthread_handle = r.pthread_handle;
    threads_.push_back(std::move(t));
  }
  // A ring passes from an exited thread to a new one: each is read once, whoever has it.
  for (uint64_t i = 0; rings != nullptr && i < nrings; ++i)
    ReadRingRecord(rings + i * ring_rs, ring_rs, &ring_events_, &ring_lost_, &waits);
  for (LockInfo& l : locks_) {
    auto it = waits.find(l.index);
    if (it != waits.end()) l.waits = it->second;
  }
  return absl::OkStatus();
}

const LockInfo* Dump::Lock(uint32_t index) const {
  auto it = lock_pos_.find(index);
  return it == lock_pos_.end() ? nullptr : &locks_[it->second];
}

const LockInfo* Dump::LockAt(uint64_t address) const {
  const LockInfo* found = nullptr;
  for (const LockInfo& l : locks_)
    if (l.address == address && l.state == format::kLockLive) found = &l;
  return found;
}

const SyncInfo* Dump::SyncAt(uint64_t address) const {
  for (const SyncInfo& s : syncs_)
    if (s.address == address) return &s;
  return nullptr;
}

absl::StatusOr<ThreadWaits> ReadWaits(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": ", strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < sizeof(format::FileHeader)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a lockscope dump"));
  }
  format::FileHeader h;
  bool ok = pread(fd, &h, sizeof(h), 0) == static_cast<ssize_t>(sizeof(h)) &&
            memcmp(h.magic, format::kMagic, sizeof(h.magic)) == 0 &&
            h.major == format::kMajorVersion && h.section_count <= format::kMaxSections;
  ThreadWaits out;
  out.exited = h.state == format::kStateExited;
  for (uint32_t i = 0; ok && i < h.section_count; ++i) {
    const format::Section& s = h.sections[i];
    if (s.id != format::kSectionThreads) continue;
    if (s.record_size < sizeof(format::ThreadRecord) || s.offset > uint64_t(st.st_size) ||
        s.capacity > (st.st_size - s.offset) / s.record_size) {
      ok = false;
      break;
    }
    // Only the fixed head of each record (everything before the held stack).
    for (uint64_t t = 1; t < s.capacity; ++t) {
      char head[offsetof(format::ThreadRecord, held)];
      if (pread(fd, head, sizeof(head), s.offset + t * s.record_size) != ssize_t(sizeof(head)))
        break;
      format::ThreadRecord r;
      memcpy(&r, head, sizeof(head));
      if (r.state == format::kThreadFree) break;  // slots are taken in order, never freed
      if (r.state != format::kThreadLive) continue;
      if (r.wait.address != 0) out.waits.push_back({r.tid, r.wait});
    }
  }
  close(fd);
  if (!ok) return absl::InvalidArgumentError(absl::StrCat(path, ": not a readable lockscope dump"));
  return out;
}

const ThreadInfo* Dump::ThreadByHandle(uint64_t handle) const {
  for (const ThreadInfo& t : threads_)
    if (t.pthread_handle == handle && t.state == format::kThreadLive) return &t;
  return nullptr;
}

const ThreadInfo* Dump::ThreadByTid(int32_t tid) const {
  const ThreadInfo* found = nullptr;
  for (const ThreadInfo& t : threads_)
    if (t.tid == tid) found = &t;
  return found;
}

std::vector<uint64_t> Dump::Stack(uint32_t id) const {
  if (id == 0 || id >= stack_capacity_) return {};
  format::StackRecord r;
  memcpy(&r, &stacks_[id], sizeof(r));
  if (r.hash == 0 || !r.ready || r.frame_count > format::kMaxFrames ||
      uint64_t{r.frame_offset} + r.frame_count > frame_capacity_)
    return {};
  return std::vector<uint64_t>(frames_ + r.frame_offset, frames_ + r.frame_offset + r.frame_count);
}

}  // namespace lockscope
