// trylock_backoff.cc — the standard way to take locks "against" the order:
//
//   "trylock-ab": lock g_backoff_a, then lock g_backoff_b            (edge A -> B)
//   "trylock-ba": lock g_backoff_b, then *trylock* g_backoff_a; on failure
//                 unlock B, yield and retry
//
// The second thread never blocks on A while holding B, so no deadlock is
// possible; a try-lock that would have failed instead of blocking is not an
// edge B -> A.  Both threads run concurrently.
// Expected: clean (exit 0, no lock-order-inversion).

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

constexpr int kIterations = 2000;

pthread_mutex_t g_backoff_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_backoff_b = PTHREAD_MUTEX_INITIALIZER;
long g_transfers = 0;
long g_backoffs = 0;

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "trylock_backoff: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

__attribute__((noinline)) void* backoff_lock_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "trylock-ab");
  for (int n = 0; n < kIterations; ++n) {
    check(pthread_mutex_lock(&g_backoff_a), "lock a");
    check(pthread_mutex_lock(&g_backoff_b), "lock b");
    g_transfers += 1;
    check(pthread_mutex_unlock(&g_backoff_b), "unlock b");
    check(pthread_mutex_unlock(&g_backoff_a), "unlock a");
  }
  return nullptr;
}

__attribute__((noinline)) void* backoff_lock_b_then_trylock_a(void*) {
  pthread_setname_np(pthread_self(), "trylock-ba");
  for (int n = 0; n < kIterations; ++n) {
    for (;;) {
      check(pthread_mutex_lock(&g_backoff_b), "lock b");
      const int rc = pthread_mutex_trylock(&g_backoff_a);
      if (rc == 0) {
        g_transfers += 1;
        check(pthread_mutex_unlock(&g_backoff_a), "unlock a");
        check(pthread_mutex_unlock(&g_backoff_b), "unlock b");
        break;
      }
      if (rc != EBUSY) check(rc, "trylock a");
      check(pthread_mutex_unlock(&g_backoff_b), "unlock b");  // back off
      g_backoffs += 1;                                        // only this thread writes it
      sched_yield();
    }
  }
  return nullptr;
}

int main() {
  pthread_t t1, t2;
  check(pthread_create(&t1, nullptr, backoff_lock_a_then_b, nullptr), "pthread_create");
  check(pthread_create(&t2, nullptr, backoff_lock_b_then_trylock_a, nullptr), "pthread_create");
  check(pthread_join(t1, nullptr), "pthread_join");
  check(pthread_join(t2, nullptr), "pthread_join");
  return g_transfers == 2L * kIterations ? 0 : 1;
}
