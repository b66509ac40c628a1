// dl_reload_plugin.cc — built twice (libdl_reload_a.so, libdl_reload_b.so: the same layout,
// so the second lands where the first was): a static mutex of the plugin, taken with the
// host's lock in the order PLUGIN_ORDER says. See dl_reload_main.cc.
#include <pthread.h>

pthread_mutex_t g_plugin_lock = PTHREAD_MUTEX_INITIALIZER;

extern "C" __attribute__((visibility("default"))) void* plugin_lock() { return &g_plugin_lock; }

extern "C" __attribute__((visibility("default"), noinline)) void plugin_run(pthread_mutex_t* host) {
#if PLUGIN_ORDER == 1
  pthread_mutex_lock(host);
  pthread_mutex_lock(&g_plugin_lock);  // host -> plugin
  pthread_mutex_unlock(&g_plugin_lock);
  pthread_mutex_unlock(host);
#else
  pthread_mutex_lock(&g_plugin_lock);
  pthread_mutex_lock(host);  // plugin -> host: another plugin's lock, at the same address
  pthread_mutex_unlock(host);
  pthread_mutex_unlock(&g_plugin_lock);
#endif
}
