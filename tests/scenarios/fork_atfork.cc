// fork_atfork.cc — the correct pattern: pthread_atfork handlers take the logging mutex in
// prepare (waiting for the logger to finish its write) and release it in parent and child.
// The child logs fine. Clean.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_barrier_t g_logger_holds_lock;

void prepare_take_log_lock() { pthread_mutex_lock(&g_log_lock); }
void release_log_lock() { pthread_mutex_unlock(&g_log_lock); }

__attribute__((noinline)) void* logger_write_slowly(void*) {
  pthread_setname_np(pthread_self(), "logger");
  pthread_mutex_lock(&g_log_lock);
  pthread_barrier_wait(&g_logger_holds_lock);
  usleep(200 * 1000);
  pthread_mutex_unlock(&g_log_lock);
  return nullptr;
}

__attribute__((noinline)) void child_log_message() {
  pthread_mutex_lock(&g_log_lock);
  pthread_mutex_unlock(&g_log_lock);
}

int main() {
  pthread_atfork(prepare_take_log_lock, release_log_lock, release_log_lock);
  pthread_barrier_init(&g_logger_holds_lock, nullptr, 2);
  pthread_t logger;
  pthread_create(&logger, nullptr, logger_write_slowly, nullptr);
  pthread_barrier_wait(&g_logger_holds_lock);
  pid_t pid = fork();
  if (pid == 0) {
    child_log_message();
    _exit(0);
  }
  pthread_join(logger, nullptr);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
