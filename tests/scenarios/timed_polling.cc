// timed_polling.cc — waits made of timed slices, as CPython's take_gil and many thread pools
// wait: "poller" holds g_state_lock and polls g_state_changed in 5 ms
// pthread_cond_timedwait slices for a flag nobody sets; "retry-1" and "retry-2" retry
// pthread_mutex_timedlock(g_state_lock) in 10 ms slices. Natively it hangs forever; each
// retried slice is one continuous wait.
#include <errno.h>
#include <pthread.h>
#include <time.h>

pthread_mutex_t g_state_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_poll_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_state_changed = PTHREAD_COND_INITIALIZER;
pthread_barrier_t g_poller_holds;
bool g_changed = false;

timespec In(long ms) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += ms * 1000000;
  ts.tv_sec += ts.tv_nsec / 1000000000;
  ts.tv_nsec %= 1000000000;
  return ts;
}

__attribute__((noinline)) void* poll_for_change(void*) {
  pthread_setname_np(pthread_self(), "poller");
  pthread_mutex_lock(&g_state_lock);
  pthread_barrier_wait(&g_poller_holds);
  pthread_mutex_lock(&g_poll_mutex);
  while (!g_changed) {
    timespec deadline = In(5);
    pthread_cond_timedwait(&g_state_changed, &g_poll_mutex, &deadline);  // times out
  }
  pthread_mutex_unlock(&g_poll_mutex);
  pthread_mutex_unlock(&g_state_lock);
  return nullptr;
}

__attribute__((noinline)) void* retry_state_lock(void* arg) {
  pthread_setname_np(pthread_self(), arg ? "retry-2" : "retry-1");
  for (;;) {
    timespec deadline = In(10);
    if (pthread_mutex_timedlock(&g_state_lock, &deadline) == 0) break;  // never
  }
  pthread_mutex_unlock(&g_state_lock);
  return nullptr;
}

int main() {
  pthread_barrier_init(&g_poller_holds, nullptr, 2);
  pthread_t poller, retry[2];
  pthread_create(&poller, nullptr, poll_for_change, nullptr);
  pthread_barrier_wait(&g_poller_holds);
  pthread_create(&retry[0], nullptr, retry_state_lock, nullptr);
  pthread_create(&retry[1], nullptr, retry_state_lock, &retry[1]);
  for (pthread_t t : retry) pthread_join(t, nullptr);
  pthread_join(poller, nullptr);
  return 0;
}
