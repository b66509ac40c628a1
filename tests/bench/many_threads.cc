// many_threads.cc N — N threads blocked on one mutex that main holds forever (a crowd to
// attach to: scripts/bench times `lockscope attach` on it). Prints "ready" once every thread
// was started.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

pthread_mutex_t g_crowd_lock = PTHREAD_MUTEX_INITIALIZER;

void* wait_for_crowd_lock(void*) {
  pthread_mutex_lock(&g_crowd_lock);
  pthread_mutex_unlock(&g_crowd_lock);
  return nullptr;
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 1000;
  pthread_mutex_lock(&g_crowd_lock);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (int i = 0; i < n; ++i) {
    pthread_t t;
    if (pthread_create(&t, &attr, wait_for_crowd_lock, nullptr) != 0) return 1;
  }
  printf("ready\n");
  fflush(stdout);
  pause();
}
