// cancel_wait.cc — a thread cancelled inside pthread_cond_wait releases its locks in cleanup
// handlers (the forced unwind runs them). Nothing is held when it ends: clean.
#include <pthread.h>
#include <unistd.h>

pthread_mutex_t g_outer_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_wait_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_never = PTHREAD_COND_INITIALIZER;

void unlock_cleanup(void* m) { pthread_mutex_unlock(static_cast<pthread_mutex_t*>(m)); }

__attribute__((noinline)) void* cancellable_waiter(void*) {
  pthread_setname_np(pthread_self(), "cancelled");
  pthread_mutex_lock(&g_outer_lock);
  pthread_cleanup_push(unlock_cleanup, &g_outer_lock);
  pthread_mutex_lock(&g_wait_lock);
  pthread_cleanup_push(unlock_cleanup, &g_wait_lock);
  for (;;) pthread_cond_wait(&g_never, &g_wait_lock);
  pthread_cleanup_pop(1);
  pthread_cleanup_pop(1);
  return nullptr;
}

int main() {
  pthread_t t;
  pthread_create(&t, nullptr, cancellable_waiter, nullptr);
  usleep(100 * 1000);
  pthread_cancel(t);
  pthread_join(t, nullptr);
  // Both locks are free again.
  if (pthread_mutex_trylock(&g_outer_lock) != 0) return 1;
  pthread_mutex_unlock(&g_outer_lock);
  return 0;
}
