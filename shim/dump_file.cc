#include "shim/dump_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

namespace lockscope {
namespace {

uint64_t AlignUp(uint64_t v) {
  return (v + format::kSectionAlign - 1) & ~(format::kSectionAlign - 1);
}

struct Plan {
  format::Section sections[format::kMaxSections];
  uint32_t count = 0;
  uint64_t size = format::kHeaderSize;

  void Add(uint32_t id, uint64_t record_size, uint64_t capacity) {
    size = AlignUp(size);
    sections[count++] = {id, static_cast<uint32_t>(record_size), size, capacity};
    size += record_size * capacity;
  }
};

// Bytes per record: the record's size, but for a ring (its header and events).
template <typename Record>
uint64_t RecordSize(const Config&) {
  return sizeof(Record);
}
template <>
uint64_t RecordSize<format::Ring>(const Config& c) {
  return format::RingBytes(static_cast<uint32_t>(c.ring_events));
}

Plan MakePlan(const Config& c) {
  Plan p;
#define LOCKSCOPE_PLAN_SECTION(Name, member, id, Record, ...) \
  p.Add(format::kSection##Name, RecordSize<format::Record>(c), c.member);
  LOCKSCOPE_DUMP_SECTIONS(LOCKSCOPE_PLAN_SECTION)
#undef LOCKSCOPE_PLAN_SECTION
  p.size = AlignUp(p.size);
  return p;
}

uint64_t NowNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

void ReadSmallFile(const char* path, char* out, size_t cap, size_t* len) {
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, out, cap - 1);
  close(fd);
  if (n > 0) *len = static_cast<size_t>(n);
  out[*len] = '\0';
}

// O_EXCL makes an existing name (an exec'ed image of the same pid, a reused pid, or a
// planted symlink) a reason to pick the next name, never to overwrite.
int OpenUnique(const char* dir, char* path) {
  const pid_t pid = getpid();
  for (int n = 0; n < 1000; ++n) {
    if (n == 0)
      snprintf(path, PATH_MAX, "%s/lockscope.%d.dump", dir, pid);
    else
      snprintf(path, PATH_MAX, "%s/lockscope.%d.%d.dump", dir, pid, n);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

// Whether a dump of `size` bytes can live in `dir` without ever killing its process: a file
// sized beyond RLIMIT_FSIZE is SIGXFSZ at ftruncate, and a page of the sparse file that the
// filesystem cannot allocate when it is first stored to is SIGBUS. So the whole size must be
// allowed and free now (errno EFBIG or ENOSPC otherwise). A filesystem that others fill up
// later can still fail a page: docs/limitations.md says so.
bool RoomFor(const char* dir, uint64_t size) {
  rlimit limit;
  if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      limit.rlim_cur < size) {
    errno = EFBIG;
    return false;
  }
  struct statvfs fs;
  if (statvfs(dir, &fs) == 0 && uint64_t(fs.f_bavail) * fs.f_frsize < size) {
    errno = ENOSPC;
    return false;
  }
  return true;
}

}  // namespace

size_t DumpSize(const Config& config) { return MakePlan(config).size; }

const char* DumpErrorHint(int err) {
  if (err == EFBIG)
    return " (the dump's size is over the file size limit, `ulimit -f`: raise it, or lower "
           "LOCKSCOPE_RING_EVENTS and the table sizes)";
  if (err == ENOSPC)
    return " (the dump's size is more than the space free there: set LOCKSCOPE_DIR to a "
           "filesystem with room)";
  return "";
}

bool CreateDump(const Config& config, void* fixed_at, DumpView* view, char* path_out) {
  Plan plan = MakePlan(config);
  if (!RoomFor(config.dir, plan.size)) return false;
  int fd = OpenUnique(config.dir, path_out);
  if (fd < 0) return false;
  if (ftruncate(fd, static_cast<off_t>(plan.size)) != 0) {
    int e = errno;
    unlink(path_out);
    close(fd);
    errno = e;
    return false;
  }
  int flags = MAP_SHARED | (fixed_at ? MAP_FIXED : 0);
  void* base = mmap(fixed_at, plan.size, PROT_READ | PROT_WRITE, flags, fd, 0);
  int e = errno;
  close(fd);
  // The file is sparse and touched at scattered pages (hash tables): without this, every
  // first touch makes the kernel read ahead (zero-fill) dozens of neighbouring pages.
  if (base != MAP_FAILED) madvise(base, plan.size, MADV_RANDOM);
  if (base == MAP_FAILED) {
    unlink(path_out);
    errno = e;
    return false;
  }
  auto* h = static_cast<format::FileHeader*>(base);
  h->major = format::kMajorVersion;
  h->minor = format::kMinorVersion;
  h->header_size = format::kHeaderSize;
  h->pointer_size = sizeof(void*);
  h->endian_check = format::kEndianCheck;
  h->file_size = plan.size;
  h->pid = getpid();
  h->ppid = getppid();
  h->state = format::kStateRunning;
  h->section_count = plan.count;
  h->start_realtime_ns = NowNs(CLOCK_REALTIME);
  h->start_monotonic_ns = NowNs(CLOCK_MONOTONIC);
  ssize_t n = readlink("/proc/self/exe", h->exe_path, sizeof(h->exe_path) - 1);
  if (n > 0) h->exe_path[n] = '\0';
  size_t len = 0;
  ReadSmallFile("/proc/self/cmdline", h->cmdline, sizeof(h->cmdline), &len);
  for (uint32_t i = 0; i < plan.count; ++i) h->sections[i] = plan.sections[i];

  DumpView v;
  v.header = h;
  v.size = plan.size;
  char* b = static_cast<char*>(base);
  for (uint32_t i = 0; i < plan.count; ++i) {
    const format::Section& s = plan.sections[i];
    switch (s.id) {
#define LOCKSCOPE_VIEW_SECTION(Name, member, id, Record, ...)   \
  case format::kSection##Name:                                  \
    v.member = reinterpret_cast<format::Record*>(b + s.offset); \
    v.member##_capacity = s.capacity;                           \
    break;
      LOCKSCOPE_DUMP_SECTIONS(LOCKSCOPE_VIEW_SECTION)
#undef LOCKSCOPE_VIEW_SECTION
    }
  }
  v.ring_bytes = RecordSize<format::Ring>(config);
  v.ring_events = static_cast<uint32_t>(config.ring_events);
  // Ring headers are written when a thread takes the ring (AttachRing): touching all of them
  // here would dirty a page per ring in every process, even one that never locks.
  // Magic last: until now the file does not claim to be a dump.
  __atomic_thread_fence(__ATOMIC_RELEASE);
  memcpy(h->magic, format::kMagic, sizeof(h->magic));
  *view = v;
  return true;
}

}  // namespace lockscope
