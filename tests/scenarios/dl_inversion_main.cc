// dl_inversion_main.cc — loads libdl_inversion.so with dlopen() at run time
// and calls its two entry points on two threads, one after the other:
//
//   "dl-first":  dl_lock_first_then_second()   g_dl_first -> g_dl_second
//   "dl-second": dl_lock_second_then_first()   g_dl_second -> g_dl_first
//
// Usage: dl_inversion_main PATH/TO/libdl_inversion.so [--dlclose]
//   --dlclose  unload the library before exiting (the report must still
//              symbolize its frames).
// Expected: one lock-order-inversion (error) between g_dl_first and
// g_dl_second, with stacks in dl_inversion_lib.cc.

#include <dlfcn.h>
#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

using EntryPoint = void (*)();

struct Job {
  const char* thread_name;
  EntryPoint entry;
};

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "dl_inversion_main: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

static void* lookup(void* handle, const char* symbol) {
  void* p = dlsym(handle, symbol);
  if (p == nullptr) {
    std::fprintf(stderr, "dl_inversion_main: dlsym(%s): %s\n", symbol, dlerror());
    std::exit(1);
  }
  return p;
}

__attribute__((noinline)) void* dl_thread_main(void* arg) {
  auto* job = static_cast<Job*>(arg);
  pthread_setname_np(pthread_self(), job->thread_name);
  job->entry();
  return nullptr;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH/TO/libdl_inversion.so [--dlclose]\n", argv[0]);
    return 2;
  }
  const bool unload = argc > 2 && std::strcmp(argv[2], "--dlclose") == 0;

  void* handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    std::fprintf(stderr, "dl_inversion_main: dlopen: %s\n", dlerror());
    return 1;
  }
  Job jobs[] = {
      {"dl-first", reinterpret_cast<EntryPoint>(lookup(handle, "dl_lock_first_then_second"))},
      {"dl-second", reinterpret_cast<EntryPoint>(lookup(handle, "dl_lock_second_then_first"))},
  };
  auto work_done = reinterpret_cast<long (*)()>(lookup(handle, "dl_work_done"));

  for (Job& job : jobs) {  // sequential: never deadlocks
    pthread_t t;
    check(pthread_create(&t, nullptr, dl_thread_main, &job), "pthread_create");
    check(pthread_join(t, nullptr), "pthread_join");
  }

  const long done = work_done();
  if (unload && dlclose(handle) != 0) {
    std::fprintf(stderr, "dl_inversion_main: dlclose: %s\n", dlerror());
    return 1;
  }
  return done == 2 ? 0 : 1;
}
