// stack_memo.cc — the unwind memo (shim/stack_capture.cc) must never give one caller's stack
// to another, nor a fork child the parent's stacks.
//
// take() is reached through via_warm() and through via_outer(), whose frames are the same
// size, from the same place: the shim's unwind starts at the same stack position for both.
// Thread memo-ab meets three new locks through via_warm() (the second memoises that stack),
// then g_outer through via_outer(): the stack of g_outer's first acquisition must name
// via_outer(), and never via_warm(). Holding it, memo-ab takes g_inner; memo-ba takes them
// the other way round: an inversion that shows that stack.
//
// The main thread memoises via_warm() too, then forks. The child (child-main) meets a new
// lock through via_warm() again, from the same call site, holds it and takes g_child_inner, and a
// thread of the child takes them the other way round: the child's inversion must show via_warm() (a
// memo kept from the parent would give a stack of the parent's dump, which the child's lacks).
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

pthread_mutex_t g_pool[8];  // zero = PTHREAD_MUTEX_INITIALIZER
pthread_mutex_t g_outer = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_inner = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_child_inner = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_child_first = PTHREAD_MUTEX_INITIALIZER;  // makes the child's dump
volatile int g_warm_calls, g_outer_calls;  // keeps the two callers different functions
volatile int g_rounds = 3;  // not a constant: a loop unrolled would call from three places

__attribute__((noinline)) void take(pthread_mutex_t* m) {
  pthread_mutex_lock(m);
  asm volatile("" ::: "memory");
}

__attribute__((noinline)) void via_warm(pthread_mutex_t* m) {
  take(m);
  g_warm_calls = g_warm_calls + 1;
}

__attribute__((noinline)) void via_outer(pthread_mutex_t* m) {
  take(m);
  g_outer_calls = g_outer_calls + 1;
}

__attribute__((noinline)) void* memo_ab(void*) {
  pthread_setname_np(pthread_self(), "memo-ab");
  for (int i = 0; i < g_rounds; ++i) {
    via_warm(&g_pool[i]);
    pthread_mutex_unlock(&g_pool[i]);
  }
  via_outer(&g_outer);
  pthread_mutex_lock(&g_inner);
  pthread_mutex_unlock(&g_inner);
  pthread_mutex_unlock(&g_outer);
  return nullptr;
}

__attribute__((noinline)) void* memo_ba(void*) {
  pthread_setname_np(pthread_self(), "memo-ba");
  pthread_mutex_lock(&g_inner);
  pthread_mutex_lock(&g_outer);
  pthread_mutex_unlock(&g_outer);
  pthread_mutex_unlock(&g_inner);
  return nullptr;
}

__attribute__((noinline)) void* child_ba(void*) {
  pthread_setname_np(pthread_self(), "child-ba");
  pthread_mutex_lock(&g_child_inner);
  pthread_mutex_lock(&g_pool[6]);
  pthread_mutex_unlock(&g_pool[6]);
  pthread_mutex_unlock(&g_child_inner);
  return nullptr;
}

// The child's first lock makes its dump (the memos would not be asked before).
__attribute__((noinline)) void child_prologue() {
  pthread_setname_np(pthread_self(), "child-main");
  pthread_mutex_lock(&g_child_first);
  pthread_mutex_unlock(&g_child_first);
}

volatile bool g_in_child = false;

__attribute__((noinline)) void fork_here(pid_t* pid) {
  *pid = fork();
  if (*pid == 0) {
    g_in_child = true;
    child_prologue();
  }
}

int main() {
  // Three rounds memoise via_warm() from this call site; in the fourth, both the parent and
  // the child call it from the same site at the same depth (one call instruction: the
  // branches are elsewhere), both single-threaded (glibc's single-thread lock path).
  pid_t pid = -1;
  const int last = 3 + g_rounds;
  for (int i = 3; i <= last; ++i) {
    if (i == last) fork_here(&pid);
    via_warm(&g_pool[i]);
    if (g_in_child) break;  // the child keeps it
    pthread_mutex_unlock(&g_pool[i]);
  }
  pthread_t t;
  if (g_in_child) {
    pthread_mutex_lock(&g_child_inner);
    pthread_mutex_unlock(&g_child_inner);
    pthread_mutex_unlock(&g_pool[6]);
    pthread_create(&t, nullptr, child_ba, nullptr);
    pthread_join(t, nullptr);
    _exit(0);
  }

  pthread_create(&t, nullptr, memo_ab, nullptr);
  pthread_join(t, nullptr);
  pthread_create(&t, nullptr, memo_ba, nullptr);
  pthread_join(t, nullptr);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
