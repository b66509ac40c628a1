#include "shim/module_map.h"

#include <elf.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "shim/tables.h"

namespace lockscope {
namespace {

std::atomic<unsigned long long> g_seen_adds{~0ull};
std::atomic<bool> g_refreshing{false};

struct RefreshCtx {
  const DumpView* dump;
};

void ReadBuildId(const dl_phdr_info* info, format::ModuleRecord* rec) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof(ElfW(Nhdr));
      const char* desc = name + ((nh->n_namesz + 3) & ~3u);
      const char* next = desc + ((nh->n_descsz + 3) & ~3u);
      if (next > end) break;
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
        uint32_t n = nh->n_descsz < sizeof(rec->build_id) ? nh->n_descsz : sizeof(rec->build_id);
        memcpy(rec->build_id, desc, n);
        rec->build_id_size = static_cast<uint8_t>(n);
        return;
      }
      p = next;
    }
  }
}

void Range(const dl_phdr_info* info, uint64_t* start, uint64_t* end, bool exec_only) {
  *start = ~0ull;
  *end = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    if (exec_only && !(ph.p_flags & PF_X)) continue;
    uint64_t s = info->dlpi_addr + ph.p_vaddr;
    uint64_t e = s + ph.p_memsz;
    if (s < *start) *start = s;
    if (e > *end) *end = e;
  }
}

int AddModule(dl_phdr_info* info, size_t, void* arg) {
  const DumpView& d = *static_cast<RefreshCtx*>(arg)->dump;
  format::Counters& c = d.header->counters;
  const char* name = info->dlpi_name;
  char exe[256];
  if (name == nullptr || name[0] == '\0') {
    // The main program. (The vDSO also has an empty-ish name but no file: skipped below.)
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return 0;
    exe[n] = '\0';
    name = exe;
  }
  char resolved[PATH_MAX];
  if (name[0] != '/') {
    // dlopen("lib/x.so") leaves a relative name: resolve it (against the current
    // directory, the best we can do now). linux-vdso.so.1 has no file and is skipped.
    if (realpath(name, resolved) == nullptr) return 0;
    name = resolved;
  }
  uint64_t used = Atomic(c.modules_used).load(std::memory_order_acquire);
  for (uint64_t i = 0; i < used && i < d.modules_capacity; ++i) {
    const format::ModuleRecord& m = d.modules[i];
    if (m.base == info->dlpi_addr && m.frames_until == 0 &&
        strncmp(m.path, name, sizeof(m.path) - 1) == 0)
      return 0;
  }
  if (used >= d.modules_capacity) {
    Bump(c.modules_dropped);
    return 0;
  }
  format::ModuleRecord& m = d.modules[used];
  m.base = info->dlpi_addr;
  Range(info, &m.start, &m.end, false);
  size_t len = strlen(name);
  if (len >= sizeof(m.path)) {
    memcpy(m.path, name, sizeof(m.path) - 4);
    memcpy(m.path + sizeof(m.path) - 4, "...", 4);
  } else {
    memcpy(m.path, name, len + 1);
  }
  ReadBuildId(info, &m);
  m.frames_from = static_cast<uint32_t>(Atomic(c.frames_used).load(std::memory_order_acquire));
  Atomic(m.ready).store(1, std::memory_order_release);
  Atomic(c.modules_used).store(used + 1, std::memory_order_release);
  return 0;
}

int ReadAdds(dl_phdr_info* info, size_t, void* arg) {
  *static_cast<unsigned long long*>(arg) = info->dlpi_adds;
  return 1;  // one module is enough: dlpi_adds is global
}

struct SelfCtx {
  uint64_t addr, start, end;
};

int FindSelf(dl_phdr_info* info, size_t, void* arg) {
  auto* s = static_cast<SelfCtx*>(arg);
  uint64_t lo, hi;
  Range(info, &lo, &hi, false);
  if (s->addr < lo || s->addr >= hi) return 0;
  Range(info, &s->start, &s->end, true);
  return 1;
}

}  // namespace

bool RefreshModules(const DumpView& dump) {
  unsigned long long adds = 0;
  dl_iterate_phdr(ReadAdds, &adds);
  if (adds == g_seen_adds.load(std::memory_order_acquire)) return false;
  if (g_refreshing.exchange(true, std::memory_order_acquire)) return false;
  RefreshCtx ctx{&dump};
  dl_iterate_phdr(AddModule, &ctx);
  g_seen_adds.store(adds, std::memory_order_release);
  g_refreshing.store(false, std::memory_order_release);
  return true;
}

void ModuleUnloaded(const DumpView& dump, uint64_t base) {
  format::Counters& c = dump.header->counters;
  const uint64_t used = Atomic(c.modules_used).load(std::memory_order_acquire);
  // 0 means "still loaded": a module gone before any stack was stored ends at 1.
  uint64_t now = Atomic(c.frames_used).load(std::memory_order_acquire);
  if (now == 0) now = 1;
  for (uint64_t i = 0; i < used && i < dump.modules_capacity; ++i) {
    format::ModuleRecord& m = dump.modules[i];
    if (m.base == base && Atomic(m.frames_until).load(std::memory_order_relaxed) == 0)
      Atomic(m.frames_until).store(static_cast<uint32_t>(now), std::memory_order_release);
  }
}

void ResetModuleCache() {
  g_seen_adds.store(~0ull);
  g_refreshing.store(false);
}

void ShimTextRange(uint64_t* start, uint64_t* end) {
  SelfCtx s{reinterpret_cast<uint64_t>(&ShimTextRange), 0, 0};
  dl_iterate_phdr(FindSelf, &s);
  *start = s.start;
  *end = s.end;
}

}  // namespace lockscope
