// spinlocks.cc — pthread spinlocks are locks too.
//   abba: "spin-ab" takes g_spin_a then g_spin_b; later "spin-ba" takes g_spin_b then
//         g_spin_a. They never overlap (exit 66 for the inversion), but could deadlock.
//   self: "spinner" takes g_spin_a and, in a helper, takes it again: it spins forever.
#include <pthread.h>
#include <string.h>

pthread_spinlock_t g_spin_a;
pthread_spinlock_t g_spin_b;
long g_counter = 0;

__attribute__((noinline)) void* spin_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "spin-ab");
  pthread_spin_lock(&g_spin_a);
  pthread_spin_lock(&g_spin_b);
  ++g_counter;
  pthread_spin_unlock(&g_spin_b);
  pthread_spin_unlock(&g_spin_a);
  return nullptr;
}

__attribute__((noinline)) void* spin_b_then_a(void*) {
  pthread_setname_np(pthread_self(), "spin-ba");
  pthread_spin_lock(&g_spin_b);
  pthread_spin_lock(&g_spin_a);
  ++g_counter;
  pthread_spin_unlock(&g_spin_a);
  pthread_spin_unlock(&g_spin_b);
  return nullptr;
}

__attribute__((noinline)) void bump_counter_locked() {
  pthread_spin_lock(&g_spin_a);  // already held by this thread: spins forever
  ++g_counter;
  pthread_spin_unlock(&g_spin_a);
}

__attribute__((noinline)) void* spin_relock(void*) {
  pthread_setname_np(pthread_self(), "spinner");
  pthread_spin_lock(&g_spin_a);
  bump_counter_locked();
  pthread_spin_unlock(&g_spin_a);
  return nullptr;
}

int main(int argc, char** argv) {
  pthread_spin_init(&g_spin_a, PTHREAD_PROCESS_PRIVATE);
  pthread_spin_init(&g_spin_b, PTHREAD_PROCESS_PRIVATE);
  pthread_t t;
  if (argc > 1 && strcmp(argv[1], "self") == 0) {
    pthread_create(&t, nullptr, spin_relock, nullptr);
    pthread_join(t, nullptr);
  } else {
    pthread_create(&t, nullptr, spin_a_then_b, nullptr);
    pthread_join(t, nullptr);
    pthread_create(&t, nullptr, spin_b_then_a, nullptr);
    pthread_join(t, nullptr);
  }
  pthread_spin_destroy(&g_spin_b);
  pthread_spin_destroy(&g_spin_a);
  return g_counter == 2 ? 0 : 1;
}
