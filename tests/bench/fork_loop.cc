// fork_loop.cc — the cost of process creation under the shim: N times (argv[1], default
// 2000) fork a child and wait for it. The child exits at once, or with `lock` (argv[2])
// first locks and unlocks one mutex, which makes it a process with a dump of its own.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 2000;
  const bool lock = argc > 2 && strcmp(argv[2], "lock") == 0;
  pthread_mutex_lock(&g_lock);  // the parent records too
  pthread_mutex_unlock(&g_lock);
  for (int i = 0; i < n; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      if (lock) {
        pthread_mutex_lock(&g_lock);
        pthread_mutex_unlock(&g_lock);
      }
      _exit(0);
    }
    if (pid < 0) return 1;
    int status = 0;
    waitpid(pid, &status, 0);
  }
  return 0;
}
