// spinlocks.cc — pthread spinlocks are locks too.
//   abba:  "spin-ab" takes g_spin_a then g_spin_b; later "spin-ba" takes g_spin_b then
//          g_spin_a. They never overlap (exit 66 for the inversion), but could deadlock.
//   self:  "spinner" takes g_spin_a and, in a helper, takes it again: it spins forever.
//   stall: "spin-holder" takes g_spin_a and waits on a condition nobody signals;
//          "spin-waiter" spins on g_spin_a forever.
//   fork:  "spin-holder" holds g_spin_b when main forks; the child spins on it forever.
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

pthread_spinlock_t g_spin_a;
pthread_spinlock_t g_spin_b;
long g_counter = 0;

__attribute__((noinline)) void* spin_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "spin-ab");
  pthread_spin_lock(&g_spin_a);
  pthread_spin_lock(&g_spin_b);
  ++g_counter;
  pthread_spin_unlock(&g_spin_b);
  pthread_spin_unlock(&g_spin_a);
  return nullptr;
}

__attribute__((noinline)) void* spin_b_then_a(void*) {
  pthread_setname_np(pthread_self(), "spin-ba");
  pthread_spin_lock(&g_spin_b);
  pthread_spin_lock(&g_spin_a);
  ++g_counter;
  pthread_spin_unlock(&g_spin_a);
  pthread_spin_unlock(&g_spin_b);
  return nullptr;
}

__attribute__((noinline)) void bump_counter_locked() {
  pthread_spin_lock(&g_spin_a);  // already held by this thread: spins forever
  ++g_counter;
  pthread_spin_unlock(&g_spin_a);
}

__attribute__((noinline)) void* spin_relock(void*) {
  pthread_setname_np(pthread_self(), "spinner");
  pthread_spin_lock(&g_spin_a);
  bump_counter_locked();
  pthread_spin_unlock(&g_spin_a);
  return nullptr;
}

pthread_mutex_t g_never_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_never = PTHREAD_COND_INITIALIZER;
std::atomic<bool> g_holding{false};

__attribute__((noinline)) void* hold_spin_and_wait(void* lock) {
  pthread_setname_np(pthread_self(), "spin-holder");
  pthread_spin_lock(static_cast<pthread_spinlock_t*>(lock));
  g_holding = true;
  pthread_mutex_lock(&g_never_mutex);
  for (;;) pthread_cond_wait(&g_never, &g_never_mutex);  // nobody signals
  return nullptr;
}

__attribute__((noinline)) void* spin_behind_holder(void*) {
  pthread_setname_np(pthread_self(), "spin-waiter");
  pthread_spin_lock(&g_spin_a);  // spins forever
  pthread_spin_unlock(&g_spin_a);
  return nullptr;
}

__attribute__((noinline)) void child_spin_on_b() {
  pthread_spin_lock(&g_spin_b);  // its holder does not exist in the child: spins forever
  pthread_spin_unlock(&g_spin_b);
}

int main(int argc, char** argv) {
  pthread_spin_init(&g_spin_a, PTHREAD_PROCESS_PRIVATE);
  pthread_spin_init(&g_spin_b, PTHREAD_PROCESS_PRIVATE);
  const char* mode = argc > 1 ? argv[1] : "abba";
  pthread_t t, u;
  if (strcmp(mode, "self") == 0) {
    pthread_create(&t, nullptr, spin_relock, nullptr);
    pthread_join(t, nullptr);
  } else if (strcmp(mode, "stall") == 0) {
    pthread_create(&t, nullptr, hold_spin_and_wait, const_cast<int*>(&g_spin_a));
    while (!g_holding) usleep(1000);
    pthread_create(&u, nullptr, spin_behind_holder, nullptr);
    pthread_join(u, nullptr);
  } else if (strcmp(mode, "fork") == 0) {
    pthread_create(&t, nullptr, hold_spin_and_wait, const_cast<int*>(&g_spin_b));
    while (!g_holding) usleep(1000);
    pid_t child = fork();
    if (child == 0) {
      child_spin_on_b();
      _exit(0);
    }
    waitpid(child, nullptr, 0);
  } else {
    pthread_create(&t, nullptr, spin_a_then_b, nullptr);
    pthread_join(t, nullptr);
    pthread_create(&t, nullptr, spin_b_then_a, nullptr);
    pthread_join(t, nullptr);
  }
  pthread_spin_destroy(&g_spin_b);
  pthread_spin_destroy(&g_spin_a);
  return g_counter == 2 ? 0 : 1;
}
