// dl_inversion_lib.cc — built as the shared library libdl_inversion.so and
// loaded at run time by dl_inversion_main with dlopen().
//
// The library owns two global mutexes and two entry points that take them in
// opposite orders.  The resulting lock-order inversion must be reported with
// the library's lock names (g_dl_first / g_dl_second) and with stacks that
// name these functions and this file, although the library was not loaded at
// program start.
//
// Build: g++ -std=c++20 -g -fno-omit-frame-pointer -pthread -shared -fPIC
//          dl_inversion_lib.cc -o libdl_inversion.so

#include <pthread.h>

#include <cstdio>
#include <cstdlib>

#define DL_EXPORT extern "C" __attribute__((visibility("default")))

// Default visibility, external linkage: the names appear in the library's
// symbol tables.
__attribute__((visibility("default"))) pthread_mutex_t g_dl_first = PTHREAD_MUTEX_INITIALIZER;
__attribute__((visibility("default"))) pthread_mutex_t g_dl_second = PTHREAD_MUTEX_INITIALIZER;
__attribute__((visibility("default"))) long g_dl_work = 0;

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "libdl_inversion: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

DL_EXPORT __attribute__((noinline)) void dl_lock_first_then_second() {
  check(pthread_mutex_lock(&g_dl_first), "lock first");
  check(pthread_mutex_lock(&g_dl_second), "lock second");
  g_dl_work += 1;
  check(pthread_mutex_unlock(&g_dl_second), "unlock second");
  check(pthread_mutex_unlock(&g_dl_first), "unlock first");
}

DL_EXPORT __attribute__((noinline)) void dl_lock_second_then_first() {
  check(pthread_mutex_lock(&g_dl_second), "lock second");
  check(pthread_mutex_lock(&g_dl_first), "lock first");
  g_dl_work += 1;
  check(pthread_mutex_unlock(&g_dl_first), "unlock first");
  check(pthread_mutex_unlock(&g_dl_second), "unlock second");
}

DL_EXPORT long dl_work_done() { return g_dl_work; }
