// dl_reorder_plugin.cc — built twice (libdl_reorder_a.so, libdl_reorder_b.so: the same
// layout, so the second lands where the first was): takes the host's two locks in the order
// PLUGIN_ORDER says. See dl_reorder_main.cc.
#include <pthread.h>

extern "C" __attribute__((visibility("default"), noinline)) void plugin_lock_pair(
    pthread_mutex_t* first, pthread_mutex_t* second) {
#if PLUGIN_ORDER == 1
  pthread_mutex_lock(first);
  pthread_mutex_lock(second);  // plugin A: first -> second
  pthread_mutex_unlock(second);
  pthread_mutex_unlock(first);
#else
  pthread_mutex_lock(second);
  pthread_mutex_lock(first);  // plugin B: second -> first
  pthread_mutex_unlock(first);
  pthread_mutex_unlock(second);
#endif
}
