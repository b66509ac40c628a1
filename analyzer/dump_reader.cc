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
#include "shim/format/ring_events.h"

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

// Reads one ring (a record of the rings section, `ring_size` bytes): calls fn(tid, event) for
// each event it gives, with the thread it belongs to (a ring passes from an exited thread to
// a new one, whose first event says so), and returns how many were lost. The capacity is read
// once and checked against the record, since a live process may still be writing.
template <typename Fn>
uint64_t ReadRingRecord(const char* ring, uint64_t ring_size, Fn&& fn) {
  const auto header = ::lockscope::Load<format::RingHeader>(ring, 0);
  const uint64_t cap = header.capacity;
  if (cap == 0 || (cap & (cap - 1)) != 0 || format::RingBytes(header.capacity) > ring_size)
    return 0;  // never attached, or not a ring this code wrote
  const auto* r = reinterpret_cast<const format::RingHeader*>(ring);
  // Events before the first start in the readable part belong to an earlier owner (0:
  // unknown); with no start at all, to the current owner.
  bool started = false;
  format::ForEachRingEvent(r, cap, cap, [&](const format::Event& e) {
    started |= e.op == format::kOpThreadStart;
  });
  int32_t tid = started ? 0 : header.owner_tid;
  return format::ForEachRingEvent(r, cap, cap, [&](const format::Event& e) {
    if (e.op == format::kOpThreadStart) tid = static_cast<int32_t>(e.aux);
    fn(tid, e);
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
void Dump::ForEachRecord(const SectionView& s, uint64_t first, F&& f) const {
  if (s.base == nullptr) return;
  const uint64_t base = static_cast<uint64_t>(s.base - map_);
  uint64_t next = first;
  for (auto [lo, hi] : data_) {
    if (hi <= base) continue;
    uint64_t a = lo > base ? (lo - base) / s.record_size : 0;
    uint64_t b = (hi - base + s.record_size - 1) / s.record_size;
    for (uint64_t i = std::max(a, next); i < std::min(b, s.capacity); ++i) f(i);
    next = std::max(next, std::min(b, s.capacity));
    if (next >= s.capacity) break;
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
  // Most of a dump is holes, and its data lies in small pieces: read-ahead after each piece
  // would fill the page cache with zeroed pages of the holes around it (a thousand dumps read
  // the first time: 40 s instead of 5).
  madvise(m, st.st_size, MADV_RANDOM);
  std::unique_ptr<Dump> d(new Dump());
  d->data_ = DataExtents(fd, static_cast<uint64_t>(st.st_size));
  close(fd);
  d->path_ = path;
  d->map_ = static_cast<const char*>(m);
  d->size_ = st.st_size;
  if (absl::Status s = d->Load(); !s.ok()) return s;
  // What Load read is copied out: its pages leave this process's memory (they stay in the
  // page cache; a later read of stacks or rings maps what it needs again). A report on a
  // thousand dumps would otherwise hold every page each of them faulted in.
  madvise(m, st.st_size, MADV_DONTNEED);
  return d;
}

absl::Status Dump::Load() {
  if (absl::Status st = LoadHeader(); !st.ok()) return st;
  SectionViews views;
  if (absl::Status st = MapSections(&views); !st.ok()) return st;
  stacks_ = views[format::kSectionStacks];
  frames_ = views[format::kSectionFrames];
  LoadModules(views[format::kSectionModules]);
  LoadLocks(views[format::kSectionLocks]);  // first: the others name locks
  LoadLockOrigins(views[format::kSectionLockOrigins]);
  LoadEdges(views[format::kSectionEdges]);
  LoadSyncs(views[format::kSectionSyncs]);
  LoadMisuse(views[format::kSectionMisuse]);
  LoadForkHeld(views[format::kSectionForkHeld]);
  LoadThreads(views[format::kSectionThreads]);
  LoadRings(views[format::kSectionRings]);
  LoadPythonCode(views[format::kSectionPyCode]);
  return absl::OkStatus();
}

absl::Status Dump::LoadHeader() {
  header_ = ::lockscope::Load<format::FileHeader>(map_, 0);
  const format::FileHeader& h = header_;
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", why));
  };
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
  return absl::OkStatus();
}

// The section table, checked against the file and against the format's table of sections:
// every section inside the file, each known one's records at least as large as this reader
// knows them, the required ones present, hash tables a power of two. Unknown ids (a newer
// minor version's sections) are skipped.
absl::Status Dump::MapSections(SectionViews* views) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": corrupt section table (", why, ")"));
  };
  uint32_t max_id = 0;
#define LOCKSCOPE_MAX_ID(Name, member, id, ...) max_id = std::max<uint32_t>(max_id, id);
  LOCKSCOPE_DUMP_SECTIONS(LOCKSCOPE_MAX_ID)
#undef LOCKSCOPE_MAX_ID
  views->assign(max_id + 1, SectionView{});
  for (uint32_t i = 0; i < header_.section_count; ++i) {
    const Section& s = header_.sections[i];
    if (s.record_size == 0 || s.offset < format::kHeaderSize ||
        s.offset % format::kSectionAlign != 0 || s.offset > size_ ||
        s.capacity > (size_ - s.offset) / s.record_size)
      return bad(absl::StrFormat("section %d lies outside the file", i));
    if (s.id <= max_id) (*views)[s.id] = {map_ + s.offset, s.capacity, s.record_size};
  }
  const SectionViews& v = *views;
#define LOCKSCOPE_CHECK_SECTION(Name, member, id, Record, required, variable, fallback, lo, hi, \
                                pow2, ...)                                                      \
  if (v[id].base == nullptr && required) return bad("no " #member " section");                  \
  if (v[id].base != nullptr && v[id].record_size < format::kMinRecordSize<format::Record>)      \
    return bad(absl::StrFormat("%s records of %d bytes", #member, v[id].record_size));          \
  if (v[id].base != nullptr && pow2 && !IsPow2(v[id].capacity))                                 \
    return bad(absl::StrFormat("%s capacity %d", #member, v[id].capacity));
  LOCKSCOPE_DUMP_SECTIONS(LOCKSCOPE_CHECK_SECTION)
#undef LOCKSCOPE_CHECK_SECTION
  // Stacks point into the frames as into one array of pcs.
  if (v[format::kSectionFrames].record_size != sizeof(format::Frame))
    return bad("frames are not an array of pcs");
  return absl::OkStatus();
}

void Dump::LoadModules(const SectionView& s) {
  const uint64_t n = std::min<uint64_t>(header_.counters.modules_used, s.capacity);
  for (uint64_t i = 0; i < n; ++i) {
    // A record before 3.2 is shorter: no era (loaded throughout).
    format::ModuleRecord m{};
    memcpy(&m, s.at(i), std::min<uint64_t>(sizeof(m), s.record_size));
    if (!m.ready) continue;
    ModuleInfo mi;
    mi.path = FixedString(m.path, sizeof(m.path));
    mi.base = m.base;
    mi.build_id = Hex(m.build_id, std::min<size_t>(m.build_id_size, sizeof(m.build_id)));
    mi.frames_from = m.frames_from;
    mi.frames_until = m.frames_until;
    modules_.push_back(std::move(mi));
  }
}

// Every claimed, published slot (live or retired).
void Dump::LoadLocks(const SectionView& s) {
  ForEachRecord(s, 1, [&](uint64_t i) {
    auto r = ::lockscope::Load<format::LockRecord>(s.at(i), 0);
    if (r.address == 0 || r.state == format::kLockEmpty) return;
    const uint8_t kind = r.kind & format::kLockKindMask;
    if (r.state > format::kLockRetired || kind > format::kLockCondvar) {
      ++skipped_;
      return;
    }
    locks_.push_back({static_cast<uint32_t>(i), r.address, kind,
                      static_cast<uint8_t>(r.kind & ~format::kLockKindMask), r.state,
                      r.first_stack});
    const uint32_t pos = static_cast<uint32_t>(locks_.size() - 1);
    lock_pos_[static_cast<uint32_t>(i)] = pos;
    if (r.state == format::kLockLive) live_lock_[r.address] = pos;
  });
}

// Where Python locks were made (a dump before 3.3 has no such section: none known).
void Dump::LoadLockOrigins(const SectionView& s) {
  ForEachRecord(s, 0, [&](uint64_t i) {
    auto r = ::lockscope::Load<format::LockOriginRecord>(s.at(i), 0);
    if (r.lock == 0 || r.ready != 1 || r.frame == 0) return;  // (0: forgotten)
    auto it = lock_pos_.find(r.lock);
    if (it == lock_pos_.end() || !format::IsPythonFrame(r.frame)) {
      ++skipped_;
      return;
    }
    locks_[it->second].origin = r.frame;
  });
}

// Edges whose endpoints are known locks.
void Dump::LoadEdges(const SectionView& s) {
  ForEachRecord(s, 0, [&](uint64_t i) {
    auto r = ::lockscope::Load<format::EdgeRecord>(s.at(i), 0);
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
}

void Dump::LoadSyncs(const SectionView& s) {
  ForEachRecord(s, 0, [&](uint64_t i) {
    auto r = ::lockscope::Load<format::SyncRecord>(s.at(i), 0);
    if (r.address == 0 || r.address == format::kSyncRetired || !r.ready) return;
    syncs_.push_back({static_cast<uint32_t>(i), r.address, r.kind, r.flags, r.last_post_tid,
                      r.last_take_tid, r.posts, r.takes, r.broadcasts, r.begins, r.waiting,
                      r.last_post_ns});
    sync_pos_.try_emplace(r.address, static_cast<uint32_t>(syncs_.size() - 1));
  });
}

void Dump::LoadMisuse(const SectionView& s) {
  const uint64_t n = std::min<uint64_t>(header_.counters.misuse_used, s.capacity);
  for (uint64_t i = 0; i < n; ++i) {
    auto r = ::lockscope::Load<format::MisuseRecord>(s.at(i), 0);
    if (!r.ready || r.kind < format::kMisuseUnlockNotOwner ||
        r.kind > format::kMisuseHeldAcrossFork) {
      if (r.ready) ++skipped_;
      continue;
    }
    misuses_.push_back(
        {r.kind, r.tid, r.address, Lock(r.lock) ? r.lock : 0, r.stack, r.owner_tid, r.owner_stack});
  }
}

void Dump::LoadForkHeld(const SectionView& s) {
  const uint64_t n = std::min<uint64_t>(header_.counters.fork_held_used, s.capacity);
  for (uint64_t i = 0; i < n; ++i) {
    auto r = ::lockscope::Load<format::ForkHeldRecord>(s.at(i), 0);
    if (!r.ready) continue;
    fork_held_.push_back({r.address, r.holder_tid,
                          FixedString(r.holder_name, sizeof(r.holder_name)),
                          Lock(r.lock) ? r.lock : 0, r.stack, r.kind, r.by_forker != 0});
  }
}

void Dump::LoadThreads(const SectionView& s) {
  for (uint64_t i = 1; i < s.capacity; ++i) {
    const format::ThreadRecord r = LoadThread(s.at(i));
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
    t.py_tstate = r.py_tstate;
    t.py_interp = r.py_interp;
    t.py_wait_tstate = r.py_wait_tstate;
    t.py_wait_interp = r.py_wait_interp;
    threads_.push_back(std::move(t));
  }
}

// A ring passes from an exited thread to a new one: each is read once, whoever has it.
// Only counted here (events, lost, waited acquisitions per lock): Events() reads them.
void Dump::LoadRings(const SectionView& s) {
  rings_ = s;
  absl::flat_hash_map<uint32_t, uint64_t> waits;  // lock index -> waited acquisitions
  for (uint64_t i = 0; s.base != nullptr && i < s.capacity; ++i)
    ring_lost_ += ReadRingRecord(s.at(i), s.record_size, [&](int32_t, const format::Event& e) {
      ++ring_events_;
      if (e.op == format::kOpLockWaited) ++waits[e.lock];
    });
  for (LockInfo& l : locks_) {
    auto it = waits.find(l.index);
    if (it != waits.end()) l.waits = it->second;
  }
}

void Dump::ForEachEvent(const std::function<void(const RingEventInfo&)>& fn) const {
  for (uint64_t i = 0; rings_.base != nullptr && i < rings_.capacity; ++i)
    ReadRingRecord(rings_.at(i), rings_.record_size,
                   [&](int32_t tid, const format::Event& e) { fn(RingEventInfo{tid, e}); });
}

std::vector<RingEventInfo> Dump::Events() const {
  std::vector<RingEventInfo> out;
  ForEachEvent([&](const RingEventInfo& e) { out.push_back(e); });
  return out;
}

void Dump::LoadPythonCode(const SectionView& s) {
  ForEachRecord(s, 1, [&](uint64_t i) {
    auto r = ::lockscope::Load<format::PyCodeRecord>(s.at(i), 0);
    if (r.key == 0 || r.ready != 1) return;
    py_code_[static_cast<uint32_t>(i)] = {FixedString(r.name, sizeof(r.name)),
                                          FixedString(r.filename, sizeof(r.filename)),
                                          r.first_line};
  });
}

const PyCodeInfo* Dump::PythonCode(uint32_t index) const {
  auto it = py_code_.find(index);
  return it == py_code_.end() ? nullptr : &it->second;
}

std::string Dump::python_note() const {
  return FixedString(header_.python_note, sizeof(header_.python_note));
}

const LockInfo* Dump::Lock(uint32_t index) const {
  auto it = lock_pos_.find(index);
  return it == lock_pos_.end() ? nullptr : &locks_[it->second];
}

const LockInfo* Dump::LockAt(uint64_t address) const {
  auto it = live_lock_.find(address);
  return it == live_lock_.end() ? nullptr : &locks_[it->second];
}

const SyncInfo* Dump::SyncAt(uint64_t address) const {
  auto it = sync_pos_.find(address);
  return it == sync_pos_.end() ? nullptr : &syncs_[it->second];
}

absl::StatusOr<ThreadWaits> ReadWaits(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": ", strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < sizeof(format::FileHeader)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a lockscope dump"));
  }
  format::FileHeader h{};
  bool ok = pread(fd, &h, sizeof(h), 0) == static_cast<ssize_t>(sizeof(h)) &&
            memcmp(h.magic, format::kMagic, sizeof(h.magic)) == 0 &&
            h.major == format::kMajorVersion && h.section_count <= format::kMaxSections;
  ThreadWaits out;
  out.exited = ok && h.state == format::kStateExited;
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

uint32_t Dump::StackFrameOffset(uint32_t id) const {
  if (id == 0 || id >= stacks_.capacity) return kAnyEra;
  const auto r = ::lockscope::Load<format::StackRecord>(stacks_.at(id), 0);
  return r.hash != 0 && r.ready == format::kStackReady ? r.frame_offset : kAnyEra;
}

std::vector<uint64_t> Dump::Stack(uint32_t id) const {
  if (id == 0 || id >= stacks_.capacity) return {};
  const auto r = ::lockscope::Load<format::StackRecord>(stacks_.at(id), 0);
  if (r.hash == 0 || !r.ready || r.frame_count > format::kMaxFrames ||
      uint64_t{r.frame_offset} + r.frame_count > frames_.capacity)
    return {};
  const auto* pcs = reinterpret_cast<const format::Frame*>(frames_.base) + r.frame_offset;
  return std::vector<uint64_t>(pcs, pcs + r.frame_count);
}

}  // namespace lockscope
