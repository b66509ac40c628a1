// dlclose(): a module that leaves the process ends the locks in its writable segments (its
// static mutexes: PTHREAD_MUTEX_INITIALIZER, never destroyed), as free() does for the heap.
// The loader may place the next module at the same address, with its own static locks where
// the old ones were: without this they would inherit the old ones' identities and order
// edges (a false inversion).
//
// Cost: two walks of the loaded modules (dl_iterate_phdr) per dlclose, on the caller's
// thread, outside the loader's own call; nothing when recording is off.
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "shim/module_map.h"
#include "shim/real_functions.h"
#include "shim/recorder.h"
#include "shim/recorder_core.h"

namespace lockscope {
namespace {

using namespace core;

// A module's load bias and name, and the writable PT_LOAD segments found for it.
struct Module {
  uint64_t base = 0;
  const char* name = nullptr;
  bool found = false;
  uint32_t count = 0;
  uint64_t begin[8], end[8];
};

int FindModule(dl_phdr_info* info, size_t, void* arg) {
  auto* m = static_cast<Module*>(arg);
  if (info->dlpi_addr != m->base || info->dlpi_name == nullptr ||
      strcmp(info->dlpi_name, m->name) != 0)
    return 0;
  m->found = true;
  m->count = 0;
  for (int i = 0; i < info->dlpi_phnum && m->count < 8; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W)) continue;
    m->begin[m->count] = info->dlpi_addr + ph.p_vaddr;
    m->end[m->count] = info->dlpi_addr + ph.p_vaddr + ph.p_memsz;
    ++m->count;
  }
  return 1;
}

}  // namespace

int DlClose(void* handle) {
  int (*real)(void*) = Real().dlclose;
  if (real == nullptr) return -1;  // (no libc dlclose: cannot happen with a libc we know)
  link_map* lm = nullptr;
  Module m;
  if (Ready() && handle != nullptr && dlinfo(handle, RTLD_DI_LINKMAP, &lm) == 0 && lm != nullptr &&
      lm->l_name != nullptr) {
    m.base = lm->l_addr;
    m.name = lm->l_name;
    dl_iterate_phdr(FindModule, &m);
  }
  // (The name belongs to the loader's record of the module: copied before it may go.)
  char name[512];
  if (m.found) {
    snprintf(name, sizeof(name), "%s", m.name);
    m.name = name;
  }
  const int rc = real(handle);
  if (m.found && rc == 0) {
    Module after = m;
    after.found = false;
    dl_iterate_phdr(FindModule, &after);
    if (!after.found) {  // gone (not only a reference dropped)
      for (uint32_t i = 0; i < m.count; ++i) RetireLocksIn(m.begin[i], m.end[i]);
      // Its code goes too: stacks through it are symbolized with it, and a module loaded
      // at its address later is another one.
      ModuleUnloaded(g_shim.dump, m.base);
      g_shim.stacks.NewEra();
    }
  }
  return rc;
}

}  // namespace lockscope
