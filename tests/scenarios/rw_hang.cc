// rw_hang.cc — a deadlock between an rwlock and a mutex: "rw-writer" holds the table's
// rwlock for writing and wants the index mutex; "indexer" holds the index mutex and wants
// to read the table. The process hangs forever (the tests kill it).
#include <pthread.h>

pthread_rwlock_t g_table_rw = PTHREAD_RWLOCK_INITIALIZER;
pthread_mutex_t g_index_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_barrier_t g_both_hold_one;

__attribute__((noinline)) void* write_table_then_index(void*) {
  pthread_setname_np(pthread_self(), "rw-writer");
  pthread_rwlock_wrlock(&g_table_rw);
  pthread_barrier_wait(&g_both_hold_one);
  pthread_mutex_lock(&g_index_lock);  // blocks forever: the indexer holds it
  pthread_mutex_unlock(&g_index_lock);
  pthread_rwlock_unlock(&g_table_rw);
  return nullptr;
}

__attribute__((noinline)) void* index_then_read_table(void*) {
  pthread_setname_np(pthread_self(), "indexer");
  pthread_mutex_lock(&g_index_lock);
  pthread_barrier_wait(&g_both_hold_one);
  pthread_rwlock_rdlock(&g_table_rw);  // blocks forever: the writer holds it
  pthread_rwlock_unlock(&g_table_rw);
  pthread_mutex_unlock(&g_index_lock);
  return nullptr;
}

int main() {
  pthread_barrier_init(&g_both_hold_one, nullptr, 2);
  pthread_t writer, indexer;
  pthread_create(&writer, nullptr, write_table_then_index, nullptr);
  pthread_create(&indexer, nullptr, index_then_read_table, nullptr);
  pthread_join(writer, nullptr);
  pthread_join(indexer, nullptr);
  return 0;
}
