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
    // A lock of its own: a process makes its dump at its first lock, and the test counts
    // the child's.
    pthread_mutex_t child_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&child_lock);
    pthread_mutex_unlock(&child_lock);
    for (;;) pause();
  }
  tree_lock_twice();
  return 0;
}
