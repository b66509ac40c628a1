// busy_clean.cc — a clean program that runs for about three seconds: two threads take
// a shared mutex in turns and sleep between turns, then main prints what they did and exits
// with status 7. `attach` in the middle must leave its output and status as they would be.
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

pthread_mutex_t g_tally_lock = PTHREAD_MUTEX_INITIALIZER;
long g_tally = 0;

__attribute__((noinline)) void* busy_count(void*) {
  for (int i = 0; i < 300; ++i) {
    pthread_mutex_lock(&g_tally_lock);
    ++g_tally;
    pthread_mutex_unlock(&g_tally_lock);
    usleep(10000);
  }
  return nullptr;
}

int main() {
  pthread_t a, b;
  pthread_create(&a, nullptr, busy_count, nullptr);
  pthread_create(&b, nullptr, busy_count, nullptr);
  pthread_join(a, nullptr);
  pthread_join(b, nullptr);
  printf("tally %ld\n", g_tally);
  return 7;
}
