// abba_hang.cc — an ABBA deadlock that always happens: both threads take their first lock,
// meet at a barrier, then ask for the other's. The process hangs forever (the tests kill it).
#include <pthread.h>

pthread_mutex_t g_hang_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_hang_b = PTHREAD_MUTEX_INITIALIZER;
pthread_barrier_t g_both_hold_one;

__attribute__((noinline)) void* hang_lock_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "hang-ab");
  pthread_mutex_lock(&g_hang_a);
  pthread_barrier_wait(&g_both_hold_one);
  pthread_mutex_lock(&g_hang_b);  // blocks forever: hang-ba holds B and wants A
  pthread_mutex_unlock(&g_hang_b);
  pthread_mutex_unlock(&g_hang_a);
  return nullptr;
}

__attribute__((noinline)) void* hang_lock_b_then_a(void*) {
  pthread_setname_np(pthread_self(), "hang-ba");
  pthread_mutex_lock(&g_hang_b);
  pthread_barrier_wait(&g_both_hold_one);
  pthread_mutex_lock(&g_hang_a);  // blocks forever
  pthread_mutex_unlock(&g_hang_a);
  pthread_mutex_unlock(&g_hang_b);
  return nullptr;
}

int main() {
  pthread_barrier_init(&g_both_hold_one, nullptr, 2);
  pthread_t t1, t2;
  pthread_create(&t1, nullptr, hang_lock_a_then_b, nullptr);
  pthread_create(&t2, nullptr, hang_lock_b_then_a, nullptr);
  pthread_join(t1, nullptr);
  pthread_join(t2, nullptr);
  return 0;
}
