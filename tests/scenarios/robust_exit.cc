// robust_exit.cc — a thread ends holding a robust mutex; the main thread then locks it, gets
// EOWNERDEAD, makes it consistent and goes on. Nobody waits forever: no error, a warning
// that says what the next locker sees.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

pthread_mutex_t g_robust_lock;

__attribute__((noinline)) void* crash_while_holding(void*) {
  pthread_setname_np(pthread_self(), "crasher");
  pthread_mutex_lock(&g_robust_lock);
  return nullptr;  // ends holding it, as a thread that died would
}

int main() {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&g_robust_lock, &attr);
  pthread_t t;
  pthread_create(&t, nullptr, crash_while_holding, nullptr);
  pthread_join(t, nullptr);
  int rc = pthread_mutex_lock(&g_robust_lock);
  if (rc == EOWNERDEAD) {
    pthread_mutex_consistent(&g_robust_lock);
    printf("recovered\n");
  }
  pthread_mutex_unlock(&g_robust_lock);
  return rc == EOWNERDEAD ? 0 : 1;
}
