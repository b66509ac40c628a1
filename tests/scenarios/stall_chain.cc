// stall_chain.cc — a new user's stall chain: thread "p-holder" takes g_l1, then waits forever
// on a condition variable (with a second mutex) that nobody signals. Two unnamed threads
// started 100 ms later block on g_l1 while main joins them. No cycle: a stall on g_l1 whose
// chain ends in a condition wait.
#include <pthread.h>
#include <unistd.h>

pthread_mutex_t g_l1 = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_event_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_event_posted = PTHREAD_COND_INITIALIZER;
bool g_event = false;

__attribute__((noinline)) void* p_hold_and_wait(void*) {
  pthread_setname_np(pthread_self(), "p-holder");
  pthread_mutex_lock(&g_l1);
  pthread_mutex_lock(&g_event_mutex);
  while (!g_event) pthread_cond_wait(&g_event_posted, &g_event_mutex);  // nobody signals
  pthread_mutex_unlock(&g_event_mutex);
  pthread_mutex_unlock(&g_l1);
  return nullptr;
}

__attribute__((noinline)) void* unnamed_take_l1(void*) {
  pthread_mutex_lock(&g_l1);  // blocks forever behind p-holder
  pthread_mutex_unlock(&g_l1);
  return nullptr;
}

int main() {
  pthread_t p, others[2];
  pthread_create(&p, nullptr, p_hold_and_wait, nullptr);
  usleep(100 * 1000);
  for (pthread_t& t : others) pthread_create(&t, nullptr, unnamed_take_l1, nullptr);
  for (pthread_t t : others) pthread_join(t, nullptr);
  pthread_join(p, nullptr);
  return 0;
}
