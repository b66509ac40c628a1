// rw_inversion.cc — a reader/writer inversion that can hang: "rw-reader" holds the table
// for read and takes the index lock; "rw-writer" holds the index lock and asks for the table
// for write. A writer waits for every reader: run together they can deadlock. (Here they run
// one after the other, so the program itself finishes.)
#include <pthread.h>

pthread_rwlock_t g_table_rwlock = PTHREAD_RWLOCK_INITIALIZER;
pthread_mutex_t g_index_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void* read_table_then_index(void*) {
  pthread_setname_np(pthread_self(), "rw-reader");
  pthread_rwlock_rdlock(&g_table_rwlock);
  pthread_mutex_lock(&g_index_lock);
  pthread_mutex_unlock(&g_index_lock);
  pthread_rwlock_unlock(&g_table_rwlock);
  return nullptr;
}

__attribute__((noinline)) void* index_then_write_table(void*) {
  pthread_setname_np(pthread_self(), "rw-writer");
  pthread_mutex_lock(&g_index_lock);
  pthread_rwlock_wrlock(&g_table_rwlock);
  pthread_rwlock_unlock(&g_table_rwlock);
  pthread_mutex_unlock(&g_index_lock);
  return nullptr;
}

int main() {
  pthread_t t;
  pthread_create(&t, nullptr, read_table_then_index, nullptr);
  pthread_join(t, nullptr);
  pthread_create(&t, nullptr, index_then_write_table, nullptr);
  pthread_join(t, nullptr);
  return 0;
}
