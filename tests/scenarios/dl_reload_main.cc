// dl_reload_main.cc — loads plugin A, runs it (host lock -> A's static mutex), unloads it;
// then loads plugin B, which the loader places where A was, and runs it (B's static mutex
// -> host lock). By address the two orders conflict; A's mutex left the process with A, so
// they are two locks that never met: clean.
//
// Usage: dl_reload_main PATH/TO/libdl_reload_a.so PATH/TO/libdl_reload_b.so
#include <dlfcn.h>
#include <pthread.h>

#include <cstdio>

pthread_mutex_t g_host_lock = PTHREAD_MUTEX_INITIALIZER;

static void* run_plugin(const char* path, bool unload) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    std::fprintf(stderr, "dl_reload_main: %s\n", dlerror());
    return nullptr;
  }
  auto lock_of = reinterpret_cast<void* (*)()>(dlsym(h, "plugin_lock"));
  auto run = reinterpret_cast<void (*)(pthread_mutex_t*)>(dlsym(h, "plugin_run"));
  void* where = lock_of();
  run(&g_host_lock);
  if (unload) dlclose(h);
  return where;
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  void* a = run_plugin(argv[1], true);
  void* b = run_plugin(argv[2], false);
  // (That B's mutex took A's address is the point of the test.)
  std::printf("same address: %d\n", a != nullptr && a == b);
  return 0;
}
