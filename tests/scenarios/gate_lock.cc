// gate_lock.cc — an A/B inversion that cannot deadlock: both orders are only ever taken
// while holding the gate lock G, which serialises them. lockscope must stay quiet.
//
//   thread "gate-1":  G, A, B      thread "gate-2":  G, B, A
#include <pthread.h>

pthread_mutex_t g_gate_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_gated_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_gated_b = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void* gated_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "gate-1");
  for (int i = 0; i < 1000; ++i) {
    pthread_mutex_lock(&g_gate_lock);
    pthread_mutex_lock(&g_gated_a);
    pthread_mutex_lock(&g_gated_b);
    pthread_mutex_unlock(&g_gated_b);
    pthread_mutex_unlock(&g_gated_a);
    pthread_mutex_unlock(&g_gate_lock);
  }
  return nullptr;
}

__attribute__((noinline)) void* gated_b_then_a(void*) {
  pthread_setname_np(pthread_self(), "gate-2");
  for (int i = 0; i < 1000; ++i) {
    pthread_mutex_lock(&g_gate_lock);
    pthread_mutex_lock(&g_gated_b);
    pthread_mutex_lock(&g_gated_a);
    pthread_mutex_unlock(&g_gated_a);
    pthread_mutex_unlock(&g_gated_b);
    pthread_mutex_unlock(&g_gate_lock);
  }
  return nullptr;
}

int main() {
  pthread_t t1, t2;
  // Concurrently: the gate makes it safe.
  pthread_create(&t1, nullptr, gated_a_then_b, nullptr);
  pthread_create(&t2, nullptr, gated_b_then_a, nullptr);
  pthread_join(t1, nullptr);
  pthread_join(t2, nullptr);
  return 0;
}
