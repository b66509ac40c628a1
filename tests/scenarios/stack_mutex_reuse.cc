// stack_mutex_reuse.cc — a mutex on a thread's stack (PTHREAD_MUTEX_INITIALIZER, never
// destroyed) dies with its thread; glibc gives the stack to the next thread, whose own stack
// mutex then sits at the same address. "first" takes g_table_lock, then its stack mutex;
// "second", started after "first" ended, takes its stack mutex, then g_table_lock. By
// address alone that is an inversion; they were never alive together: clean.
#include <pthread.h>

#include <cstdio>

pthread_mutex_t g_table_lock = PTHREAD_MUTEX_INITIALIZER;
void* g_seen[2];

__attribute__((noinline)) void use_stack_mutex(int who) {
  pthread_mutex_t local = PTHREAD_MUTEX_INITIALIZER;
  g_seen[who] = &local;
  if (who == 0) {
    pthread_mutex_lock(&g_table_lock);
    pthread_mutex_lock(&local);  // table -> local
    pthread_mutex_unlock(&local);
    pthread_mutex_unlock(&g_table_lock);
  } else {
    pthread_mutex_lock(&local);
    pthread_mutex_lock(&g_table_lock);  // local -> table: another lock, at the same address
    pthread_mutex_unlock(&g_table_lock);
    pthread_mutex_unlock(&local);
  }
}

void* run(void* arg) {
  const int who = static_cast<int>(reinterpret_cast<long>(arg));
  pthread_setname_np(pthread_self(), who == 0 ? "first" : "second");
  use_stack_mutex(who);
  return nullptr;
}

int main() {
  for (long who = 0; who < 2; ++who) {
    pthread_t t;
    pthread_create(&t, nullptr, run, reinterpret_cast<void*>(who));
    pthread_join(t, nullptr);  // the stack goes back to glibc's cache for the next thread
  }
  // (That the two mutexes shared an address is the point of the test.)
  std::printf("same address: %d\n", g_seen[0] == g_seen[1]);
  return 0;
}
