// scoped_lock.cc — std::scoped_lock over two std::mutex in opposite argument
// orders, run concurrently:
//
//   "scoped-ab": std::scoped_lock(g_scoped_a, g_scoped_b)   x 10000
//   "scoped-ba": std::scoped_lock(g_scoped_b, g_scoped_a)   x 10000
//
// std::lock (used by scoped_lock for 2+ mutexes) blocks on one mutex and only
// *try-locks* the others, backing off on failure, so it can never deadlock.
// A blocking lock followed by a try-lock is not a lock-order edge.
// Expected: clean (exit 0, no lock-order-inversion).

#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

constexpr int kIterations = 10000;

std::mutex g_scoped_a;
std::mutex g_scoped_b;
long g_shared_counter = 0;

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "scoped_lock: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

__attribute__((noinline)) void* scoped_lock_a_b(void*) {
  pthread_setname_np(pthread_self(), "scoped-ab");
  for (int n = 0; n < kIterations; ++n) {
    std::scoped_lock lock(g_scoped_a, g_scoped_b);
    g_shared_counter += 1;
  }
  return nullptr;
}

__attribute__((noinline)) void* scoped_lock_b_a(void*) {
  pthread_setname_np(pthread_self(), "scoped-ba");
  for (int n = 0; n < kIterations; ++n) {
    std::scoped_lock lock(g_scoped_b, g_scoped_a);
    g_shared_counter += 1;
  }
  return nullptr;
}

int main() {
  pthread_t t1, t2;
  check(pthread_create(&t1, nullptr, scoped_lock_a_b, nullptr), "pthread_create");
  check(pthread_create(&t2, nullptr, scoped_lock_b_a, nullptr), "pthread_create");
  check(pthread_join(t1, nullptr), "pthread_join");
  check(pthread_join(t2, nullptr), "pthread_join");
  return g_shared_counter == 2L * kIterations ? 0 : 1;
}
