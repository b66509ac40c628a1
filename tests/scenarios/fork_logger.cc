// fork_logger.cc — "don't mix threads and forks": the logger thread holds the logging mutex
// (it writes slowly) at the moment the main thread forks. The child logs a line: its copy of
// the logging mutex is locked by a thread that does not exist in the child, so it blocks
// forever. (The parent waits for the child, so the whole program hangs.)
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_barrier_t g_logger_holds_lock;

__attribute__((noinline)) void* logger_write_slowly(void*) {
  pthread_setname_np(pthread_self(), "logger");
  pthread_mutex_lock(&g_log_lock);
  pthread_barrier_wait(&g_logger_holds_lock);
  sleep(2);  // a slow write, long enough for main to fork inside it
  pthread_mutex_unlock(&g_log_lock);
  return nullptr;
}

__attribute__((noinline)) void child_log_message() {
  pthread_mutex_lock(&g_log_lock);  // forever: the logger does not exist here
  pthread_mutex_unlock(&g_log_lock);
}

__attribute__((noinline)) pid_t fork_worker() { return fork(); }

int main() {
  pthread_barrier_init(&g_logger_holds_lock, nullptr, 2);
  pthread_t logger;
  pthread_create(&logger, nullptr, logger_write_slowly, nullptr);
  pthread_barrier_wait(&g_logger_holds_lock);
  pid_t pid = fork_worker();
  if (pid == 0) {
    child_log_message();
    _exit(0);
  }
  pthread_join(logger, nullptr);
  int status = 0;
  waitpid(pid, &status, 0);
  return 0;
}
