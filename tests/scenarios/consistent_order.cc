// consistent_order.cc — 4 threads ("consistent-0".."consistent-3") run
// concurrently and all take g_order_a, then g_order_b, then g_order_c.
// The lock-order graph is A->B, B->C, A->C: no cycle.
// Expected: clean (exit 0, no lock-order-inversion).

#include <pthread.h>

#include <cstdio>
#include <cstdlib>

pthread_mutex_t g_order_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_order_b = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_order_c = PTHREAD_MUTEX_INITIALIZER;

constexpr int kThreads = 4;
constexpr int kIterations = 2000;
long g_counter = 0;

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "consistent_order: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

__attribute__((noinline)) void* consistent_lock_a_b_c(void* arg) {
  char name[16];
  std::snprintf(name, sizeof name, "consistent-%d", static_cast<int>(reinterpret_cast<long>(arg)));
  pthread_setname_np(pthread_self(), name);
  for (int n = 0; n < kIterations; ++n) {
    check(pthread_mutex_lock(&g_order_a), "lock a");
    check(pthread_mutex_lock(&g_order_b), "lock b");
    check(pthread_mutex_lock(&g_order_c), "lock c");
    g_counter += 1;
    check(pthread_mutex_unlock(&g_order_c), "unlock c");
    check(pthread_mutex_unlock(&g_order_b), "unlock b");
    check(pthread_mutex_unlock(&g_order_a), "unlock a");
  }
  return nullptr;
}

int main() {
  pthread_t threads[kThreads];
  for (long i = 0; i < kThreads; ++i)
    check(pthread_create(&threads[i], nullptr, consistent_lock_a_b_c, reinterpret_cast<void*>(i)),
          "pthread_create");
  for (pthread_t t : threads) check(pthread_join(t, nullptr), "pthread_join");
  return g_counter == long{kThreads} * kIterations ? 0 : 1;
}
