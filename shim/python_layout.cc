#include "shim/python_layout.h"

#include <dlfcn.h>
#include <pthread.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

namespace lockscope::python {

constinit Runtime g_python;
constinit std::atomic<bool> g_python_known{false};

namespace {

// Detect's outcome: not looked yet / no CPython in the process yet / found (known or not).
enum : int { kNotYet = 0, kAbsent = 1, kDone = 2 };
std::atomic<int> g_detected{kNotYet};
char g_note[160];

int ParseInt(const char** p) {
  int v = 0;
  while (**p >= '0' && **p <= '9') v = v * 10 + (*(*p)++ - '0');
  return v;
}

// [begin, end) of a function's code, from its ELF symbol.
void FunctionRange(void* fn, uint64_t* begin, uint64_t* end) {
  Dl_info info;
  void* extra = nullptr;
  if (fn == nullptr || dladdr1(fn, &info, &extra, RTLD_DL_SYMENT) == 0 || extra == nullptr) return;
  const auto* sym = static_cast<const ElfW(Sym)*>(extra);
  *begin = reinterpret_cast<uint64_t>(fn);
  *end = *begin + (sym->st_size ? sym->st_size : 1);
}

}  // namespace

const char* Detect() {
  const int state = g_detected.load(std::memory_order_acquire);
  if (state == kDone) return g_python.layout == nullptr ? g_note : nullptr;
  void* runtime = dlsym(RTLD_DEFAULT, "_PyRuntime");
  auto* get_version = reinterpret_cast<const char* (*)()>(dlsym(RTLD_DEFAULT, "Py_GetVersion"));
  if (runtime == nullptr || get_version == nullptr) {
    if (state != kAbsent) g_detected.store(kAbsent, std::memory_order_release);
    return nullptr;
  }
  // "3.11.2 (main, ...)": Py_GetVersion formats into a static buffer; safe before
  // Py_Initialize, no allocation, no lock.
  const char* version = get_version();
  const char* p = version;
  const int major = ParseInt(&p);
  const int minor = *p == '.' ? (++p, ParseInt(&p)) : -1;
  const Layout* layout = nullptr;
  for (const Layout& l : kLayouts)
    if (major == 3 && l.minor == minor) layout = &l;
  Runtime r;
  size_t n = 0;
  while (version[n] != '\0' && version[n] != ' ' && n + 1 < sizeof(r.version)) ++n;
  memcpy(r.version, version, n);
  const char* note = nullptr;
  if (layout == nullptr) {
    snprintf(g_note, sizeof(g_note),
             "CPython %s is not a version this lockscope knows (3.%d to 3.%d): the GIL and "
             "Python stacks are not tracked",
             r.version, kLayouts[0].minor, kLayouts[sizeof(kLayouts) / sizeof(kLayouts[0]) - 1].minor);
    note = g_note;
  } else {
    r.layout = layout;
    r.runtime = reinterpret_cast<uint64_t>(runtime);
    r.gil = r.runtime + layout->main_gil;
    r.gil_mutex = r.gil + layout->gil_mutex;
    r.gil_cond = r.gil + layout->gil_cond;
    r.gil_switch_mutex = r.gil + layout->gil_switch_mutex;
    r.gil_switch_cond = r.gil + layout->gil_switch_cond;
    FunctionRange(dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault"), &r.eval_begin, &r.eval_end);
    r.code_type = reinterpret_cast<uint64_t>(dlsym(RTLD_DEFAULT, "PyCode_Type"));
    void* get = dlsym(RTLD_DEFAULT, "PyThreadState_GetUnchecked");
    if (get == nullptr) get = dlsym(RTLD_DEFAULT, "_PyThreadState_UncheckedGet");
    r.unchecked_get = reinterpret_cast<uint64_t (*)()>(get);
  }
  g_python = r;
  g_detected.store(kDone, std::memory_order_release);
  if (r.layout != nullptr) g_python_known.store(true, std::memory_order_release);
  return note;
}

int64_t InterpreterId(uint64_t tstate) {
  const Layout* l = g_python.layout;
  if (l == nullptr || tstate == 0) return -1;
  const uint64_t interp = *reinterpret_cast<const uint64_t*>(tstate + l->tstate_interp);
  if (interp == 0) return -1;
  return *reinterpret_cast<const int64_t*>(interp + l->interp_id);
}

uint64_t GilStateTstate() {
  const Layout* l = g_python.layout;
  if (l == nullptr) return 0;
  // Py_tss_t: int _is_initialized, then the pthread_key_t.
  const uint64_t tss = g_python.runtime + l->autotss;
  if (*reinterpret_cast<const int*>(tss) == 0) return 0;
  return reinterpret_cast<uint64_t>(
      pthread_getspecific(*reinterpret_cast<const pthread_key_t*>(tss + sizeof(int))));
}

uint64_t TstateThread(uint64_t tstate) {
  const Layout* l = g_python.layout;
  if (l == nullptr || tstate == 0) return 0;
  return *reinterpret_cast<const uint64_t*>(tstate + l->tstate_thread_id);
}

}  // namespace lockscope::python
