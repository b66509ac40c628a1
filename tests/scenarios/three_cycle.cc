// three_cycle.cc — a lock-order cycle of length 3 spread over 3 threads:
//
//   "cycle-1": g_cycle_lock_a -> g_cycle_lock_b
//   "cycle-2": g_cycle_lock_b -> g_cycle_lock_c
//   "cycle-3": g_cycle_lock_c -> g_cycle_lock_a
//
// No pair of threads inverts a pair of locks; only the whole cycle A->B->C->A
// can deadlock.  The threads run one after another, so the program never hangs.
// Expected: exactly one lock-order-inversion (error) with 3 locks.

#include <pthread.h>

#include <cstdio>
#include <cstdlib>

pthread_mutex_t g_cycle_lock_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_cycle_lock_b = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_cycle_lock_c = PTHREAD_MUTEX_INITIALIZER;

long g_work = 0;

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "three_cycle: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

__attribute__((noinline)) void* cycle_lock_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "cycle-1");
  check(pthread_mutex_lock(&g_cycle_lock_a), "lock a");
  check(pthread_mutex_lock(&g_cycle_lock_b), "lock b");
  g_work += 1;
  check(pthread_mutex_unlock(&g_cycle_lock_b), "unlock b");
  check(pthread_mutex_unlock(&g_cycle_lock_a), "unlock a");
  return nullptr;
}

__attribute__((noinline)) void* cycle_lock_b_then_c(void*) {
  pthread_setname_np(pthread_self(), "cycle-2");
  check(pthread_mutex_lock(&g_cycle_lock_b), "lock b");
  check(pthread_mutex_lock(&g_cycle_lock_c), "lock c");
  g_work += 2;
  check(pthread_mutex_unlock(&g_cycle_lock_c), "unlock c");
  check(pthread_mutex_unlock(&g_cycle_lock_b), "unlock b");
  return nullptr;
}

__attribute__((noinline)) void* cycle_lock_c_then_a(void*) {
  pthread_setname_np(pthread_self(), "cycle-3");
  check(pthread_mutex_lock(&g_cycle_lock_c), "lock c");
  check(pthread_mutex_lock(&g_cycle_lock_a), "lock a");
  g_work += 3;
  check(pthread_mutex_unlock(&g_cycle_lock_a), "unlock a");
  check(pthread_mutex_unlock(&g_cycle_lock_c), "unlock c");
  return nullptr;
}

int main() {
  void* (*const workers[])(void*) = {cycle_lock_a_then_b, cycle_lock_b_then_c, cycle_lock_c_then_a};
  for (auto* worker : workers) {  // sequential: create, then join, then the next
    pthread_t t;
    check(pthread_create(&t, nullptr, worker, nullptr), "pthread_create");
    check(pthread_join(t, nullptr), "pthread_join");
  }
  return g_work == 6 ? 0 : 1;
}
