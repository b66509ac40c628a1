// cond_wait_eperm.cc — a condition wait that fails leaves no phantom: "waiter" calls
// pthread_cond_wait with an error-checking mutex it does not hold (EPERM, the mutex untouched)
// and then takes g_index_lock; later "indexer" takes g_index_lock, then the error-checking
// mutex. No thread ever held g_state_mutex while taking g_index_lock: clean.
#include <errno.h>
#include <pthread.h>

pthread_mutex_t g_state_mutex;  // error-checking
pthread_mutex_t g_index_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_changed = PTHREAD_COND_INITIALIZER;
int g_wait_rc = 0;

__attribute__((noinline)) void* wait_without_the_mutex(void*) {
  pthread_setname_np(pthread_self(), "waiter");
  g_wait_rc = pthread_cond_wait(&g_changed, &g_state_mutex);  // EPERM: not held
  pthread_mutex_lock(&g_index_lock);
  pthread_mutex_unlock(&g_index_lock);
  return nullptr;
}

__attribute__((noinline)) void* index_then_state(void*) {
  pthread_setname_np(pthread_self(), "indexer");
  pthread_mutex_lock(&g_index_lock);
  pthread_mutex_lock(&g_state_mutex);
  pthread_mutex_unlock(&g_state_mutex);
  pthread_mutex_unlock(&g_index_lock);
  return nullptr;
}

int main() {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&g_state_mutex, &attr);
  pthread_t t;
  pthread_create(&t, nullptr, wait_without_the_mutex, nullptr);
  pthread_join(t, nullptr);
  pthread_create(&t, nullptr, index_then_state, nullptr);
  pthread_join(t, nullptr);
  return g_wait_rc == EPERM ? 0 : 1;
}
