// rw_read_read.cc — the same shape as rw_inversion.cc, but both threads only ever read the
// table: readers do not exclude each other, so the cycle table -> index -> table cannot
// block. Clean. (Run concurrently, many times.)
#include <pthread.h>

pthread_rwlock_t g_table_rwlock = PTHREAD_RWLOCK_INITIALIZER;
pthread_mutex_t g_index_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void* read_table_then_index(void*) {
  pthread_setname_np(pthread_self(), "rr-first");
  for (int i = 0; i < 2000; ++i) {
    pthread_rwlock_rdlock(&g_table_rwlock);
    pthread_mutex_lock(&g_index_lock);
    pthread_mutex_unlock(&g_index_lock);
    pthread_rwlock_unlock(&g_table_rwlock);
  }
  return nullptr;
}

__attribute__((noinline)) void* index_then_read_table(void*) {
  pthread_setname_np(pthread_self(), "rr-second");
  for (int i = 0; i < 2000; ++i) {
    pthread_mutex_lock(&g_index_lock);
    pthread_rwlock_rdlock(&g_table_rwlock);
    pthread_rwlock_unlock(&g_table_rwlock);
    pthread_mutex_unlock(&g_index_lock);
  }
  return nullptr;
}

int main() {
  pthread_t t1, t2;
  pthread_create(&t1, nullptr, read_table_then_index, nullptr);
  pthread_create(&t2, nullptr, index_then_read_table, nullptr);
  pthread_join(t1, nullptr);
  pthread_join(t2, nullptr);
  return 0;
}
