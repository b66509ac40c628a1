// slow_holder.cc — a long wait that ends by itself: "slow-holder" takes g_slow_lock and keeps
// it for 3 s while main waits for it; then main prints "slow_holder done" and exits 0. Under
// `run --hang-timeout 1` that wait is a stall and the program is killed; with the stall
// suppressed, it runs to its end.
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>

pthread_mutex_t g_slow_lock = PTHREAD_MUTEX_INITIALIZER;
std::atomic<bool> g_held{false};

__attribute__((noinline)) void* slow_hold(void*) {
  pthread_setname_np(pthread_self(), "slow-holder");
  pthread_mutex_lock(&g_slow_lock);
  g_held = true;
  sleep(3);
  pthread_mutex_unlock(&g_slow_lock);
  return nullptr;
}

__attribute__((noinline)) void take_slow_lock() {
  pthread_mutex_lock(&g_slow_lock);  // waits 3 s
  pthread_mutex_unlock(&g_slow_lock);
}

int main() {
  pthread_t t;
  pthread_create(&t, nullptr, slow_hold, nullptr);
  while (!g_held) usleep(1000);
  take_slow_lock();
  pthread_join(t, nullptr);
  printf("slow_holder done\n");
  fflush(stdout);
  return 0;
}
