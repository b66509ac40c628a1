// dl_reorder_main.cc — a real lock-order inversion between two plugins that were never in
// the process together: thread plugin-a loads A, which takes g_first -> g_second, and
// unloads it; thread plugin-b then loads B, which the loader places where A was, and takes
// g_second -> g_first. Each edge's stack is through its own plugin, at the same addresses:
// the report must name libdl_reorder_a.so for one and libdl_reorder_b.so for the other.
//
// Usage: dl_reorder_main PATH/TO/libdl_reorder_a.so PATH/TO/libdl_reorder_b.so
#include <dlfcn.h>
#include <pthread.h>

#include <cstdio>

pthread_mutex_t g_first = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_second = PTHREAD_MUTEX_INITIALIZER;

struct Plugin {
  const char* path;
  const char* thread_name;
  bool loaded;
};

__attribute__((noinline)) void* run_plugin(void* arg) {
  auto* p = static_cast<Plugin*>(arg);
  pthread_setname_np(pthread_self(), p->thread_name);
  void* h = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    std::fprintf(stderr, "dl_reorder_main: %s\n", dlerror());
    return nullptr;
  }
  auto lock_pair =
      reinterpret_cast<void (*)(pthread_mutex_t*, pthread_mutex_t*)>(dlsym(h, "plugin_lock_pair"));
  lock_pair(&g_first, &g_second);
  p->loaded = true;
  dlclose(h);
  return nullptr;
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  Plugin plugins[2] = {{argv[1], "plugin-a", false}, {argv[2], "plugin-b", false}};
  for (Plugin& p : plugins) {
    pthread_t t;
    pthread_create(&t, nullptr, run_plugin, &p);
    pthread_join(t, nullptr);
  }
  return plugins[0].loaded && plugins[1].loaded ? 0 : 3;
}
