// philosophers.cc — dining philosophers: a lock-order cycle of length 5.
//
// Philosopher i ("philosopher-i") takes fork i, then fork (i+1)%5 while holding
// it.  Edges: fork0->fork1->fork2->fork3->fork4->fork0.  The philosophers eat
// one after another (each thread is joined before the next starts), so the
// program never deadlocks, but the cycle is there.
// Expected: exactly one lock-order-inversion (error) with 5 locks.

#include <pthread.h>

#include <cstdio>
#include <cstdlib>

constexpr int kPhilosophers = 5;

pthread_mutex_t g_forks[kPhilosophers];
int g_meals[kPhilosophers];

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "philosophers: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

__attribute__((noinline)) void* philosopher(void* arg) {
  const int i = static_cast<int>(reinterpret_cast<long>(arg));
  char name[16];
  std::snprintf(name, sizeof name, "philosopher-%d", i);
  pthread_setname_np(pthread_self(), name);

  const int left = i;
  const int right = (i + 1) % kPhilosophers;
  check(pthread_mutex_lock(&g_forks[left]), "take left fork");
  check(pthread_mutex_lock(&g_forks[right]), "take right fork");
  g_meals[i] += 1;  // eat
  check(pthread_mutex_unlock(&g_forks[right]), "put right fork");
  check(pthread_mutex_unlock(&g_forks[left]), "put left fork");
  return nullptr;
}

int main() {
  for (auto& fork : g_forks) check(pthread_mutex_init(&fork, nullptr), "init fork");

  for (long i = 0; i < kPhilosophers; ++i) {
    pthread_t t;
    check(pthread_create(&t, nullptr, philosopher, reinterpret_cast<void*>(i)), "pthread_create");
    check(pthread_join(t, nullptr), "pthread_join");
  }

  for (auto& fork : g_forks) check(pthread_mutex_destroy(&fork), "destroy fork");
  for (int meals : g_meals)
    if (meals != 1) return 1;
  return 0;
}
