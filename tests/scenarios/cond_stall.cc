// cond_stall.cc — three threads wait for g_registry_lock; its holder waits, still holding
// it, on a condition variable that nobody ever signals. No cycle: a stall.
#include <pthread.h>
#include <unistd.h>

pthread_mutex_t g_registry_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_event_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_never_signalled = PTHREAD_COND_INITIALIZER;
pthread_barrier_t g_holder_ready;

__attribute__((noinline)) void* holder_wait_for_event(void*) {
  pthread_setname_np(pthread_self(), "holder");
  pthread_mutex_lock(&g_registry_lock);
  pthread_barrier_wait(&g_holder_ready);
  pthread_mutex_lock(&g_event_mutex);
  pthread_cond_wait(&g_never_signalled, &g_event_mutex);  // forever
  pthread_mutex_unlock(&g_event_mutex);
  pthread_mutex_unlock(&g_registry_lock);
  return nullptr;
}

__attribute__((noinline)) void* waiter_take_registry(void* arg) {
  char name[16] = "waiter-0";
  name[7] = static_cast<char>('0' + reinterpret_cast<long>(arg));
  pthread_setname_np(pthread_self(), name);
  pthread_mutex_lock(&g_registry_lock);  // blocks forever behind the holder
  pthread_mutex_unlock(&g_registry_lock);
  return nullptr;
}

int main() {
  pthread_barrier_init(&g_holder_ready, nullptr, 2);
  pthread_t holder, waiters[3];
  pthread_create(&holder, nullptr, holder_wait_for_event, nullptr);
  pthread_barrier_wait(&g_holder_ready);
  for (long i = 0; i < 3; ++i)
    pthread_create(&waiters[i], nullptr, waiter_take_registry, reinterpret_cast<void*>(i + 1));
  for (pthread_t w : waiters) pthread_join(w, nullptr);
  pthread_join(holder, nullptr);
  return 0;
}
