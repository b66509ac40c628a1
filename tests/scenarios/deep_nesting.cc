// deep_nesting.cc — many locks held at once.  Thread "deep-1" locks 200
// distinct mutexes in index order and unlocks them in reverse, twice; thread
// "deep-2" does the same, in the same order, concurrently.
//
// The tool must not cap the number of held locks (a dropped entry would lose
// edges or, worse, make a later unlock look like a misuse).  Every edge goes
// from a lower to a higher index: no cycle.
// Expected: clean (exit 0, no lock-order-inversion, no misuse finding).

#include <pthread.h>

#include <cstdio>
#include <cstdlib>

constexpr int kLocks = 200;
constexpr int kPasses = 2;

pthread_mutex_t g_deep_locks[kLocks];
long g_deep_work[kLocks];

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "deep_nesting: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

__attribute__((noinline)) void lock_all_in_order() {
  for (int i = 0; i < kLocks; ++i) {
    check(pthread_mutex_lock(&g_deep_locks[i]), "pthread_mutex_lock");
    g_deep_work[i] += 1;
  }
  for (int i = kLocks - 1; i >= 0; --i) check(pthread_mutex_unlock(&g_deep_locks[i]), "unlock");
}

__attribute__((noinline)) void* deep_worker(void* arg) {
  char name[16];
  std::snprintf(name, sizeof name, "deep-%ld", reinterpret_cast<long>(arg));
  pthread_setname_np(pthread_self(), name);
  for (int pass = 0; pass < kPasses; ++pass) lock_all_in_order();
  return nullptr;
}

int main() {
  for (auto& m : g_deep_locks) check(pthread_mutex_init(&m, nullptr), "pthread_mutex_init");

  pthread_t threads[2];
  for (long i = 0; i < 2; ++i)
    check(pthread_create(&threads[i], nullptr, deep_worker, reinterpret_cast<void*>(i + 1)),
          "pthread_create");
  for (pthread_t t : threads) check(pthread_join(t, nullptr), "pthread_join");

  for (auto& m : g_deep_locks) check(pthread_mutex_destroy(&m), "pthread_mutex_destroy");
  for (long w : g_deep_work)
    if (w != 2 * kPasses) return 1;
  return 0;
}
