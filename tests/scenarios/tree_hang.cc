// tree_hang.cc — a program that hangs while a child of its own lives on, in a session of its
// own (so killing the program's process group alone would miss it). `run --hang-timeout`
// must kill the whole tree.
#include <pthread.h>
#include <unistd.h>

pthread_mutex_t g_tree_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void tree_lock_twice() {
  pthread_mutex_lock(&g_tree_lock);
  pthread_mutex_lock(&g_tree_lock);  // self-deadlock
}

int main() {
  if (fork() == 0) {
    setsid();
    for (;;) pause();
  }
  tree_lock_twice();
  return 0;
}
