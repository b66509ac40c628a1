// fork_lazy_child.cc — fork children make their dumps at their first lock operation. Main
// holds g_config across three fork()s. Child 1 exits at once and child 2 execs /bin/true:
// neither takes a lock, neither leaves a dump. In child 3 a new thread takes the first lock
// (and makes the child's dump); main then still holds g_config (it takes that back when it
// registers, at its join) and takes g_cache under it; a last thread takes g_cache, then
// g_config: a lock-order inversion in child 3's dump (exit 66), whose g_config -> g_cache
// edge rests on the lock main held across fork(). Two dumps: the parent's and child 3's.
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

pthread_mutex_t g_config = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_cache = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void* warm_cache(void*) {
  pthread_setname_np(pthread_self(), "warm-cache");
  pthread_mutex_lock(&g_cache);
  pthread_mutex_unlock(&g_cache);
  return nullptr;
}

__attribute__((noinline)) void refresh_cache_under_config() {
  pthread_mutex_lock(&g_cache);  // g_config (held since before fork) -> g_cache
  pthread_mutex_unlock(&g_cache);
  pthread_mutex_unlock(&g_config);
}

__attribute__((noinline)) void* reload_config_under_cache(void*) {
  pthread_setname_np(pthread_self(), "reload");
  pthread_mutex_lock(&g_cache);
  pthread_mutex_lock(&g_config);  // g_cache -> g_config: the inversion
  pthread_mutex_unlock(&g_config);
  pthread_mutex_unlock(&g_cache);
  return nullptr;
}

__attribute__((noinline)) int run_child() {
  pthread_t t;
  pthread_create(&t, nullptr, warm_cache, nullptr);
  pthread_join(t, nullptr);  // main's first lock operation in the child
  refresh_cache_under_config();
  pthread_create(&t, nullptr, reload_config_under_cache, nullptr);
  pthread_join(t, nullptr);
  return 0;
}

__attribute__((noinline)) void take_config_then_fork(pid_t* children) {
  pthread_mutex_lock(&g_config);
  for (int i = 0; i < 3; ++i) {
    children[i] = fork();
    if (children[i] != 0) continue;
    if (i == 0) _exit(0);
    if (i == 1) {
      execl("/bin/true", "true", static_cast<char*>(nullptr));
      _exit(127);
    }
    _exit(run_child());
  }
  pthread_mutex_unlock(&g_config);
}

int main() {
  pid_t children[3];
  take_config_then_fork(children);
  int failed = 0;
  for (pid_t pid : children) {
    int status = 0;
    failed |= waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  return failed;
}
