#include "shim/python_layout.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "shim/elf_symbols.h"

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

// The symbols Detect needs, found as dlsym(RTLD_DEFAULT) would, without dlsym (it takes the
// loader's lock: elf_symbols.h).
enum Symbol { kRuntime, kGetVersion, kEvalFrame, kCodeType, kGetUnchecked, kUncheckedGet, kCount };
constexpr const char* kSymbolNames[kCount] = {
    "_PyRuntime",          "Py_GetVersion",          "_PyEval_EvalFrameDefault", "PyCode_Type",
    "PyThreadState_GetUnchecked", "_PyThreadState_UncheckedGet"};

}  // namespace

const char* Detect() {
  const int state = g_detected.load(std::memory_order_acquire);
  if (state == kDone) return g_python.layout == nullptr ? g_note : nullptr;
  FoundSymbol found[kCount];
  FindSymbols(kSymbolNames, found, kCount);
  void* runtime = reinterpret_cast<void*>(found[kRuntime].address);
  auto* get_version = reinterpret_cast<const char* (*)()>(found[kGetVersion].address);
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
  const Layout* layout = LayoutFor(major, minor);
  Runtime r;
  size_t n = 0;
  while (version[n] != '\0' && version[n] != ' ' && n + 1 < sizeof(r.version)) ++n;
  memcpy(r.version, version, n);
  const char* note = nullptr;
  // 3.13t: no GIL, and other thread-state and object layouts.
  const bool free_threaded = strstr(version, "free-threading") != nullptr;
  if (layout == nullptr || free_threaded) {
    WhyNotRead(r.version, free_threaded, g_note, sizeof(g_note));
    note = g_note;
  } else {
    r.layout = layout;
    r.flat = *layout;
    r.runtime = reinterpret_cast<uint64_t>(runtime);
    r.finalizing_at = r.runtime + layout->finalizing;
    r.tstate_current_at =
        layout->tstate_current >= 0 ? r.runtime + static_cast<uint32_t>(layout->tstate_current) : 0;
    r.gil = r.runtime + layout->main_gil;
    r.gil_mutex = r.gil + layout->gil_mutex;
    r.gil_cond = r.gil + layout->gil_cond;
    r.gil_switch_mutex = r.gil + layout->gil_switch_mutex;
    r.gil_switch_cond = r.gil + layout->gil_switch_cond;
    r.eval_begin = found[kEvalFrame].address;
    r.eval_end = r.eval_begin + (found[kEvalFrame].size ? found[kEvalFrame].size : 1);
    r.code_type = found[kCodeType].address;
    const uint64_t get = found[kGetUnchecked].address ? found[kGetUnchecked].address
                                                      : found[kUncheckedGet].address;
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
