// signal_lock.cc — a signal handler that takes a mutex of its own while the interrupted code
// is in the middle of its own lock and unlock calls (the shim's fast path has no re-entrancy
// guard: Push moves the thread's depth first, so the handler pushes above the slot being
// filled and pops back). Thread "sig-worker" runs nested lock/unlock pairs (warmed up first,
// so that they take the fast path) while main sends it 20,000 SIGUSR1s, one at a time, each
// landing wherever the worker happens to be; the handler locks g_signal_lock and unlocks it.
// The worker then exits, so an entry a handler left in its held stack would show as
// exit-holding, and a lock it overwrote as unlock-not-owner or a one-thread inversion.
// Expected: clean (exit 0, no finding): no exit-holding, no unlock-not-owner, no inversion.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

pthread_mutex_t g_outer_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_inner_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_signal_lock = PTHREAD_MUTEX_INITIALIZER;
std::atomic<int> g_signals{0};
std::atomic<bool> g_stop{false};
std::atomic<bool> g_started{false};
long g_work = 0;

int g_ack[2];  // a pipe: the handler says it ran (main blocks on it, and so leaves the CPU)

void on_signal(int sig) {
  pthread_mutex_lock(&g_signal_lock);
  g_signals.fetch_add(1, std::memory_order_relaxed);
  pthread_mutex_unlock(&g_signal_lock);
  if (sig != 0) {
    const char ran = 1;
    ssize_t ignored = write(g_ack[1], &ran, 1);  // async-signal-safe
    (void)ignored;
  }
}

__attribute__((noinline)) void lock_outer_then_inner() {
  pthread_mutex_lock(&g_outer_lock);
  pthread_mutex_lock(&g_inner_lock);
  ++g_work;
  pthread_mutex_unlock(&g_inner_lock);
  pthread_mutex_unlock(&g_outer_lock);
}

__attribute__((noinline)) void* lock_nested_until_stopped(void*) {
  pthread_setname_np(pthread_self(), "sig-worker");
  // Warm-up: every chain the storm can produce is seen once, outside the storm.
  for (int i = 0; i < 1000; ++i) lock_outer_then_inner();
  on_signal(0);
  pthread_mutex_lock(&g_outer_lock);
  on_signal(0);
  pthread_mutex_lock(&g_inner_lock);
  on_signal(0);
  pthread_mutex_unlock(&g_inner_lock);
  pthread_mutex_unlock(&g_outer_lock);
  g_started.store(true);
  while (!g_stop.load(std::memory_order_relaxed)) lock_outer_then_inner();
  return nullptr;
}

int main() {
  if (pipe(g_ack) != 0) return 1;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  pthread_t worker;
  pthread_create(&worker, nullptr, lock_nested_until_stopped, nullptr);
  while (!g_started.load()) {
  }
  // One signal at a time: main waits for the handler's word (blocked in read, off the CPU:
  // on a busy machine a spinning main kept the worker from running for seconds).
  for (int i = 0; i < 20000; ++i) {
    pthread_kill(worker, SIGUSR1);
    char ran;
    while (read(g_ack[0], &ran, 1) != 1) {
    }
  }
  g_stop.store(true);
  pthread_join(worker, nullptr);
  if (g_signals.load() < 20000) {
    std::fprintf(stderr, "signal_lock: only %d signals arrived\n", g_signals.load());
    return 1;
  }
  return 0;
}
