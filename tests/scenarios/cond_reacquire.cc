// cond_reacquire.cc — woken, but stuck re-acquiring: "sleeper" waits on g_wakeup with
// g_state_mutex; "waker" takes g_state_mutex, signals g_wakeup and then, still holding
// g_state_mutex, waits forever on g_never (with a mutex of its own). The sleeper wakes and
// blocks inside pthread_cond_wait re-acquiring g_state_mutex: it waits for the waker.
#include <pthread.h>
#include <unistd.h>

pthread_mutex_t g_state_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_wakeup = PTHREAD_COND_INITIALIZER;
pthread_mutex_t g_never_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_never = PTHREAD_COND_INITIALIZER;
bool g_sleeping = false, g_woken = false, g_done = false;

__attribute__((noinline)) void* sleeper_wait_for_wakeup(void*) {
  pthread_setname_np(pthread_self(), "sleeper");
  pthread_mutex_lock(&g_state_mutex);
  g_sleeping = true;
  while (!g_woken) pthread_cond_wait(&g_wakeup, &g_state_mutex);  // woken, then stuck here
  pthread_mutex_unlock(&g_state_mutex);
  return nullptr;
}

__attribute__((noinline)) void* waker_signal_then_block(void*) {
  pthread_setname_np(pthread_self(), "waker");
  pthread_mutex_lock(&g_state_mutex);
  while (!g_sleeping) {  // the sleeper sets it, then releases the mutex only by waiting
    pthread_mutex_unlock(&g_state_mutex);
    usleep(1000);
    pthread_mutex_lock(&g_state_mutex);
  }
  g_woken = true;
  pthread_cond_signal(&g_wakeup);
  pthread_mutex_lock(&g_never_mutex);
  while (!g_done) pthread_cond_wait(&g_never, &g_never_mutex);  // nobody signals
  pthread_mutex_unlock(&g_never_mutex);
  pthread_mutex_unlock(&g_state_mutex);
  return nullptr;
}

int main() {
  pthread_t sleeper, waker;
  pthread_create(&sleeper, nullptr, sleeper_wait_for_wakeup, nullptr);
  pthread_create(&waker, nullptr, waker_signal_then_block, nullptr);
  pthread_join(sleeper, nullptr);
  pthread_join(waker, nullptr);
  return 0;
}
