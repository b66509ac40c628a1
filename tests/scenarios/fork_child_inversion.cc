// fork_child_inversion.cc — the parent forks; only the child runs an ABBA inversion (on two
// threads, one after the other). The child writes its own dump; the parent's stays clean.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

pthread_mutex_t g_child_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_child_b = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void* child_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "child-ab");
  pthread_mutex_lock(&g_child_a);
  pthread_mutex_lock(&g_child_b);
  pthread_mutex_unlock(&g_child_b);
  pthread_mutex_unlock(&g_child_a);
  return nullptr;
}

__attribute__((noinline)) void* child_b_then_a(void*) {
  pthread_setname_np(pthread_self(), "child-ba");
  pthread_mutex_lock(&g_child_b);
  pthread_mutex_lock(&g_child_a);
  pthread_mutex_unlock(&g_child_a);
  pthread_mutex_unlock(&g_child_b);
  return nullptr;
}

int main() {
  // The parent takes A alone (no order edge) before forking.
  pthread_mutex_lock(&g_child_a);
  pthread_mutex_unlock(&g_child_a);
  pid_t pid = fork();
  if (pid == 0) {
    pthread_t t;
    pthread_create(&t, nullptr, child_a_then_b, nullptr);
    pthread_join(t, nullptr);
    pthread_create(&t, nullptr, child_b_then_a, nullptr);
    pthread_join(t, nullptr);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
