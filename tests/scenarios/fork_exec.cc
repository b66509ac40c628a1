// fork_exec.cc — fork while another thread holds a lock, then exec in the child (what
// subprocess does): safe. At most a held-across-fork warning; the program's exit status (3,
// from the child) is preserved.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_barrier_t g_logger_holds_lock;

__attribute__((noinline)) void* logger_write_slowly(void*) {
  pthread_setname_np(pthread_self(), "logger");
  pthread_mutex_lock(&g_log_lock);
  pthread_barrier_wait(&g_logger_holds_lock);
  usleep(300 * 1000);
  pthread_mutex_unlock(&g_log_lock);
  return nullptr;
}

int main() {
  pthread_barrier_init(&g_logger_holds_lock, nullptr, 2);
  pthread_t logger;
  pthread_create(&logger, nullptr, logger_write_slowly, nullptr);
  pthread_barrier_wait(&g_logger_holds_lock);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", "exit 3", static_cast<char*>(nullptr));
    _exit(127);
  }
  pthread_join(logger, nullptr);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
