// single_thread_inversion.cc — one thread takes A then B, later B then A. This run cannot
// deadlock (one thread), but the same code paths on two threads could: lockscope reports a
// lock-order-inversion *warning* (not an error), so the exit status stays the program's.
#include <pthread.h>

pthread_mutex_t g_single_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_single_b = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void single_a_then_b() {
  pthread_mutex_lock(&g_single_a);
  pthread_mutex_lock(&g_single_b);
  pthread_mutex_unlock(&g_single_b);
  pthread_mutex_unlock(&g_single_a);
}

__attribute__((noinline)) void single_b_then_a() {
  pthread_mutex_lock(&g_single_b);
  pthread_mutex_lock(&g_single_a);
  pthread_mutex_unlock(&g_single_a);
  pthread_mutex_unlock(&g_single_b);
}

__attribute__((noinline)) void* single_worker(void*) {
  pthread_setname_np(pthread_self(), "single");
  single_a_then_b();
  single_b_then_a();
  return nullptr;
}

int main() {
  pthread_t t;
  pthread_create(&t, nullptr, single_worker, nullptr);
  pthread_join(t, nullptr);
  return 0;
}
