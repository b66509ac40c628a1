// fork_reinit_child.cc — pthread_atfork handlers that take a registry lock in prepare and,
// in the child, re-initialise it instead of unlocking it (as jemalloc does with its
// mutexes). The child's main thread then holds nothing: its g_cache takes, and a thread's
// g_cache -> g_registry, are no inversion. Clean (exit 0), two dumps.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

pthread_mutex_t g_registry = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_cache = PTHREAD_MUTEX_INITIALIZER;

void prepare_take_registry() { pthread_mutex_lock(&g_registry); }
void parent_release_registry() { pthread_mutex_unlock(&g_registry); }
void child_reinit_registry() { pthread_mutex_init(&g_registry, nullptr); }

__attribute__((noinline)) void* register_cache(void*) {
  pthread_mutex_lock(&g_cache);
  pthread_mutex_lock(&g_registry);  // g_cache -> g_registry: the only order in the child
  pthread_mutex_unlock(&g_registry);
  pthread_mutex_unlock(&g_cache);
  return nullptr;
}

__attribute__((noinline)) int run_child() {
  pthread_mutex_lock(&g_cache);  // the child's first lock operation: nothing held
  pthread_mutex_unlock(&g_cache);
  pthread_t t;
  pthread_create(&t, nullptr, register_cache, nullptr);
  pthread_join(t, nullptr);
  return 0;
}

int main() {
  pthread_atfork(prepare_take_registry, parent_release_registry, child_reinit_registry);
  const pid_t pid = fork();
  if (pid == 0) _exit(run_child());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
