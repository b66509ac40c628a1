// recursive.cc — recursive mutexes re-locked by their owner.
//
// Part 1 (pthread): g_recursive_lock is PTHREAD_MUTEX_RECURSIVE.  Threads
// "recursive-1" and "recursive-2" (one after the other) each lock it 3 times
// nested, and take g_inner_lock inside the innermost level: R, R, R, M.
// Part 2 (std::recursive_mutex): threads "std-recursive-1/2" do the same with a
// std::recursive_mutex and a std::mutex.
//
// Re-locking a recursive mutex you own is neither a self-deadlock nor an
// R -> R edge, and the order R -> M is the same everywhere.
// Expected: clean (exit 0, no lock-order-inversion, no relock/self-deadlock error).

#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

constexpr int kDepth = 3;

pthread_mutex_t g_recursive_lock;  // initialised as PTHREAD_MUTEX_RECURSIVE in main
pthread_mutex_t g_inner_lock = PTHREAD_MUTEX_INITIALIZER;
long g_pthread_work = 0;

std::recursive_mutex g_std_recursive_lock;
std::mutex g_std_inner_lock;
long g_std_work = 0;

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "recursive: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

// Locks g_recursive_lock once per level; at the innermost level takes g_inner_lock.
__attribute__((noinline)) void recursive_enter(int level) {
  check(pthread_mutex_lock(&g_recursive_lock), "lock recursive");
  if (level < kDepth) {
    recursive_enter(level + 1);
  } else {
    check(pthread_mutex_lock(&g_inner_lock), "lock inner");
    g_pthread_work += 1;
    check(pthread_mutex_unlock(&g_inner_lock), "unlock inner");
  }
  check(pthread_mutex_unlock(&g_recursive_lock), "unlock recursive");
}

__attribute__((noinline)) void* recursive_worker(void* arg) {
  char name[16];
  std::snprintf(name, sizeof name, "recursive-%ld", reinterpret_cast<long>(arg));
  pthread_setname_np(pthread_self(), name);
  for (int n = 0; n < 100; ++n) recursive_enter(1);
  return nullptr;
}

__attribute__((noinline)) void std_recursive_enter(int level) {
  std::lock_guard<std::recursive_mutex> guard(g_std_recursive_lock);
  if (level < kDepth) {
    std_recursive_enter(level + 1);
  } else {
    std::lock_guard<std::mutex> inner(g_std_inner_lock);
    g_std_work += 1;
  }
}

__attribute__((noinline)) void* std_recursive_worker(void* arg) {
  char name[16];
  std::snprintf(name, sizeof name, "std-recursive-%ld", reinterpret_cast<long>(arg));
  pthread_setname_np(pthread_self(), name);
  for (int n = 0; n < 100; ++n) std_recursive_enter(1);
  return nullptr;
}

static void run_sequentially(void* (*fn)(void*)) {
  for (long i = 1; i <= 2; ++i) {
    pthread_t t;
    check(pthread_create(&t, nullptr, fn, reinterpret_cast<void*>(i)), "pthread_create");
    check(pthread_join(t, nullptr), "pthread_join");
  }
}

int main() {
  pthread_mutexattr_t attr;
  check(pthread_mutexattr_init(&attr), "mutexattr_init");
  check(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE), "mutexattr_settype");
  check(pthread_mutex_init(&g_recursive_lock, &attr), "mutex_init");
  check(pthread_mutexattr_destroy(&attr), "mutexattr_destroy");

  run_sequentially(recursive_worker);
  run_sequentially(std_recursive_worker);

  check(pthread_mutex_destroy(&g_recursive_lock), "mutex_destroy");
  return (g_pthread_work == 200 && g_std_work == 200) ? 0 : 1;
}
