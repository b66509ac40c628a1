// inversion_then_wait.cc — records an ABBA inversion, prints "ready", then waits until it is
// killed. Used to analyze the dump of a process that is still running, and after kill -9.
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

pthread_mutex_t g_live_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_live_b = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void* live_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "live-ab");
  pthread_mutex_lock(&g_live_a);
  pthread_mutex_lock(&g_live_b);
  pthread_mutex_unlock(&g_live_b);
  pthread_mutex_unlock(&g_live_a);
  return nullptr;
}

__attribute__((noinline)) void* live_b_then_a(void*) {
  pthread_setname_np(pthread_self(), "live-ba");
  pthread_mutex_lock(&g_live_b);
  pthread_mutex_lock(&g_live_a);
  pthread_mutex_unlock(&g_live_a);
  pthread_mutex_unlock(&g_live_b);
  return nullptr;
}

int main() {
  pthread_t t;
  pthread_create(&t, nullptr, live_a_then_b, nullptr);
  pthread_join(t, nullptr);
  pthread_create(&t, nullptr, live_b_then_a, nullptr);
  pthread_join(t, nullptr);
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
