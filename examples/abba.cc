// abba.cc — the classic lock-order inversion ("ABBA"), and the README example.
//
// Two threads take the same two mutexes in opposite orders:
//
//   thread "abba-1":  g_accounts_lock (A)  then  g_journal_lock (B)
//   thread "abba-2":  g_journal_lock  (B)  then  g_accounts_lock (A)
//
// If both ran at the same time, each could end up holding its first lock while
// waiting forever for the other's.  Here thread 2 only starts after thread 1
// has been joined, so the program can never hang — yet the deadlock is still
// possible in principle, and lockscope reports it from the lock-order graph:
//
//   $ ./scripts/lockscope run -- ./build/examples/abba
//   ... lock-order-inversion between g_accounts_lock and g_journal_lock ...
//   (exit status 66)
//
// Built by meson as build/examples/abba (the README's first command).

#include <pthread.h>

#include <cstdio>
#include <cstdlib>

// Two global mutexes with names that show up in the report (locks[].name).
pthread_mutex_t g_accounts_lock = PTHREAD_MUTEX_INITIALIZER;  // "A"
pthread_mutex_t g_journal_lock = PTHREAD_MUTEX_INITIALIZER;   // "B"

// Data the locks protect, so the critical sections are not empty.
long g_balance = 0;
long g_journal_entries = 0;

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "abba: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

// Thread "abba-1": A, then B while holding A  (edge A -> B).
__attribute__((noinline)) void* worker_lock_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "abba-1");
  check(pthread_mutex_lock(&g_accounts_lock), "lock accounts");
  g_balance += 100;
  check(pthread_mutex_lock(&g_journal_lock), "lock journal");
  g_journal_entries += 1;
  check(pthread_mutex_unlock(&g_journal_lock), "unlock journal");
  check(pthread_mutex_unlock(&g_accounts_lock), "unlock accounts");
  return nullptr;
}

// Thread "abba-2": B, then A while holding B  (edge B -> A: closes the cycle).
__attribute__((noinline)) void* worker_lock_b_then_a(void*) {
  pthread_setname_np(pthread_self(), "abba-2");
  check(pthread_mutex_lock(&g_journal_lock), "lock journal");
  g_journal_entries += 1;
  check(pthread_mutex_lock(&g_accounts_lock), "lock accounts");
  g_balance -= 100;
  check(pthread_mutex_unlock(&g_accounts_lock), "unlock accounts");
  check(pthread_mutex_unlock(&g_journal_lock), "unlock journal");
  return nullptr;
}

int main() {
  pthread_t t;

  // Run the threads one after the other: the inversion is recorded, but the
  // program itself never deadlocks.
  check(pthread_create(&t, nullptr, worker_lock_a_then_b, nullptr), "create abba-1");
  check(pthread_join(t, nullptr), "join abba-1");

  check(pthread_create(&t, nullptr, worker_lock_b_then_a, nullptr), "create abba-2");
  check(pthread_join(t, nullptr), "join abba-2");

  return (g_balance == 0 && g_journal_entries == 2) ? 0 : 1;
}
