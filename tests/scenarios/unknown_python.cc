// unknown_python — a program that looks like a CPython this lockscope does not know (it
// exports _PyRuntime and Py_Version 3.99, as CPython 3.11+ does) and then relocks a mutex it
// holds. attach reports the self-deadlock, reads nothing of the "CPython", and says so.
#include <pthread.h>

extern "C" {
__attribute__((visibility("default"), used)) char _PyRuntime[4096];
__attribute__((visibility("default"))) extern const unsigned long Py_Version;
const unsigned long Py_Version = 0x036300f0;  // 3.99.0 final
}

static pthread_mutex_t g_unknown_lock = PTHREAD_MUTEX_INITIALIZER;

static void __attribute__((noinline)) relock_unknown() {
  pthread_mutex_lock(&g_unknown_lock);
  pthread_mutex_lock(&g_unknown_lock);  // hangs: the default mutex does not check
}

int main() {
  relock_unknown();
  return 0;
}
