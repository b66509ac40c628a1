// fork_loop.cc — the cost of process creation under the shim: N times (argv[1], default
// 2000) fork a child that locks and unlocks one mutex and exits, and wait for it. Each child
// is a process of its own for the shim: a dump of its own (today), its own start-up.
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 2000;
  pthread_mutex_lock(&g_lock);  // the parent records too
  pthread_mutex_unlock(&g_lock);
  for (int i = 0; i < n; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      pthread_mutex_lock(&g_lock);
      pthread_mutex_unlock(&g_lock);
      _exit(0);
    }
    if (pid < 0) return 1;
    int status = 0;
    waitpid(pid, &status, 0);
  }
  return 0;
}
