// early_ctor_lib.cc — a library whose constructor takes two locks before main() and before
// most constructors run: lockscope must record it (it starts from the first lock taken).
#include <pthread.h>

pthread_mutex_t g_early_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_early_b = PTHREAD_MUTEX_INITIALIZER;

extern "C" __attribute__((noinline)) void early_ctor_lock_a_then_b() {
  pthread_mutex_lock(&g_early_a);
  pthread_mutex_lock(&g_early_b);
  pthread_mutex_unlock(&g_early_b);
  pthread_mutex_unlock(&g_early_a);
}

__attribute__((constructor(101))) static void early_ctor() { early_ctor_lock_a_then_b(); }
