// fork_storm.cc — 8 threads lock and unlock while the main thread forks 200 times; every
// child exits at once without touching an inherited lock (every 50th forks a grandchild
// first). Nothing may crash or hang, and no child that
// never touches an inherited lock may produce an error.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

pthread_mutex_t g_storm_locks[8];
std::atomic<bool> g_stop{false};

__attribute__((noinline)) void* storm_locker(void* arg) {
  long i = reinterpret_cast<long>(arg);
  char name[16] = "storm-0";
  name[6] = static_cast<char>('0' + i);
  pthread_setname_np(pthread_self(), name);
  // Lock i, then i+1 (always in increasing order: no cycle).
  while (!g_stop.load()) {
    pthread_mutex_lock(&g_storm_locks[i]);
    if (i + 1 < 8) pthread_mutex_lock(&g_storm_locks[i + 1]);
    if (i + 1 < 8) pthread_mutex_unlock(&g_storm_locks[i + 1]);
    pthread_mutex_unlock(&g_storm_locks[i]);
  }
  return nullptr;
}

int main() {
  for (auto& m : g_storm_locks) pthread_mutex_init(&m, nullptr);
  pthread_t threads[8];
  for (long i = 0; i < 8; ++i)
    pthread_create(&threads[i], nullptr, storm_locker, reinterpret_cast<void*>(i));
  int failures = 0;
  for (int n = 0; n < 200; ++n) {
    pid_t pid = fork();
    if (pid == 0) {
      if (n % 50 == 0) {
        // A fork inside a fork child: the grandchild locks a mutex of its own and exits.
        pid_t grandchild = fork();
        if (grandchild == 0) {
          pthread_mutex_t own = PTHREAD_MUTEX_INITIALIZER;
          pthread_mutex_lock(&own);
          pthread_mutex_unlock(&own);
          _exit(0);
        }
        int status = 0;
        waitpid(grandchild, &status, 0);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
      }
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  g_stop = true;
  for (pthread_t t : threads) pthread_join(t, nullptr);
  return failures == 0 ? 0 : 1;
}
