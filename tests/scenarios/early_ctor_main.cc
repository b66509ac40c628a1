// early_ctor_main.cc — closes the cycle that libearly_ctor.so's constructor opened: a thread
// takes B then A. One lock-order inversion whose A->B edge was taken before main().
#include <pthread.h>

extern pthread_mutex_t g_early_a;
extern pthread_mutex_t g_early_b;

__attribute__((noinline)) void* main_lock_b_then_a(void*) {
  pthread_setname_np(pthread_self(), "early-late");
  pthread_mutex_lock(&g_early_b);
  pthread_mutex_lock(&g_early_a);
  pthread_mutex_unlock(&g_early_a);
  pthread_mutex_unlock(&g_early_b);
  return nullptr;
}

int main() {
  pthread_t t;
  pthread_create(&t, nullptr, main_lock_b_then_a, nullptr);
  pthread_join(t, nullptr);
  return 0;
}
