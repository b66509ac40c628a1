// fork_forker_holds.cc — main holds g_table_lock across fork(). In the child, a new thread
// takes the first lock (and makes the child's dump) on g_table_lock and waits forever,
// while main, which still holds it, sits in sleep() (no lock operation): the report must
// name main as the holder, from the slot the child's dump made for it.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

pthread_mutex_t g_table_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void* refresh_table(void*) {
  pthread_setname_np(pthread_self(), "refresh");
  pthread_mutex_lock(&g_table_lock);  // held by main since before fork(): forever
  return nullptr;
}

__attribute__((noinline)) void lock_table_then_fork() {
  pthread_mutex_lock(&g_table_lock);
  if (fork() == 0) {
    pthread_t t;
    pthread_create(&t, nullptr, refresh_table, nullptr);
    sleep(60);
    _exit(0);
  }
  pthread_mutex_unlock(&g_table_lock);
}

int main() {
  lock_table_then_fork();
  int status = 0;
  wait(&status);
  return 0;
}
