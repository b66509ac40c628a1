// fork_hold_lib.cc — a tiny C library for the Python fork story (loaded with ctypes): a
// "logger" that holds its mutex while writing slowly, and a log call.
#include <pthread.h>
#include <unistd.h>

static pthread_mutex_t g_ext_log_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int g_holding = 0;

// Runs on a Python thread: takes the lock, says so, holds it for `ms` milliseconds.
extern "C" __attribute__((noinline)) void ext_logger_write_slowly(int ms) {
  pthread_setname_np(pthread_self(), "py-logger");
  pthread_mutex_lock(&g_ext_log_lock);
  g_holding = 1;
  usleep(ms * 1000);
  g_holding = 0;
  pthread_mutex_unlock(&g_ext_log_lock);
}

extern "C" int ext_logger_is_holding() { return g_holding; }

extern "C" __attribute__((noinline)) void ext_log_line() {
  pthread_mutex_lock(&g_ext_log_lock);
  pthread_mutex_unlock(&g_ext_log_lock);
}
