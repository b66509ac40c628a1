// join_deadlock.cc — a deadlock through pthread_join: main takes the table lock, starts a
// worker that needs it, and waits for the worker to finish without letting go of the lock.
// The process hangs forever (the tests kill it).
#include <pthread.h>

pthread_mutex_t g_table_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void* worker_update_table(void*) {
  pthread_setname_np(pthread_self(), "updater");
  pthread_mutex_lock(&g_table_lock);  // blocks forever: main holds it and waits for us
  pthread_mutex_unlock(&g_table_lock);
  return nullptr;
}

__attribute__((noinline)) void update_under_lock() {
  pthread_mutex_lock(&g_table_lock);
  pthread_t worker;
  pthread_create(&worker, nullptr, worker_update_table, nullptr);
  pthread_join(worker, nullptr);  // waits for a thread that waits for our lock
  pthread_mutex_unlock(&g_table_lock);
}

int main() {
  update_under_lock();
  return 0;
}
