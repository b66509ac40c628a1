// self_relock.cc — a default (non-recursive) mutex re-locked by the thread that holds it:
// the thread blocks on itself forever.
#include <pthread.h>

pthread_mutex_t g_config_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void reload_config_inner() {
  pthread_mutex_lock(&g_config_lock);  // already held by this thread: hangs
  pthread_mutex_unlock(&g_config_lock);
}

__attribute__((noinline)) void* reload_config(void*) {
  pthread_setname_np(pthread_self(), "reloader");
  pthread_mutex_lock(&g_config_lock);
  reload_config_inner();
  pthread_mutex_unlock(&g_config_lock);
  return nullptr;
}

int main() {
  pthread_t t;
  pthread_create(&t, nullptr, reload_config, nullptr);
  pthread_join(t, nullptr);
  return 0;
}
