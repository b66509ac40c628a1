// mutex_state.cc — the shim takes and releases default mutexes itself on its fast path (see
// AcquireFreeNormalMutex in shim/mutex_hooks.cc). This program checks that glibc's view of
// the mutexes stays exactly what glibc itself would leave, in each regime the fast path has:
//   1. single-threaded (plain stores): lock word, __owner and __nusers after lock/unlock,
//      trylock and timedlock on a held mutex;
//   2. a mutex held across the first pthread_create, then waited for by the new thread: the
//      unlock must see the waiter and wake it (else this hangs and the runner's timeout fails);
//   3. 4 threads x 100000 increments under one mutex: the exact total, and a free mutex after;
//   4. a condition-variable hand-off on the same kind of mutex.
// Expected: exit 0, no finding. Any mismatch prints it and exits 1.
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>  // stderr only: the runner reads the JSON report on stdout
#include <cstdlib>

pthread_mutex_t g_state_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_held_at_create = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_counter_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_turn_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_turn_cond = PTHREAD_COND_INITIALIZER;
long g_counter = 0;
int g_turn = 0;

constexpr int kThreads = 4;
constexpr int kIncrements = 100000;
constexpr int kHandOffs = 1000;

static void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "mutex_state: %s\n", what);
    std::exit(1);
  }
}

static void expect_state(const pthread_mutex_t& m, int lock, int owner, unsigned nusers,
                         const char* what) {
  if (m.__data.__lock != lock || m.__data.__owner != owner || m.__data.__nusers != nusers) {
    std::fprintf(stderr, "mutex_state: %s: lock %d owner %d nusers %u, want %d %d %u\n", what,
                 m.__data.__lock, m.__data.__owner, m.__data.__nusers, lock, owner, nusers);
    std::exit(1);
  }
}

__attribute__((noinline)) void single_threaded_state() {
  const int me = static_cast<int>(syscall(SYS_gettid));
  for (int i = 0; i < 3; ++i) {  // the first round learns the lock, later ones hit the fast path
    expect(pthread_mutex_lock(&g_state_mutex) == 0, "lock failed");
    expect_state(g_state_mutex, 1, me, 1, "after lock");
    expect(pthread_mutex_trylock(&g_state_mutex) == EBUSY, "trylock of a held mutex");
    timespec soon{};
    clock_gettime(CLOCK_REALTIME, &soon);
    soon.tv_nsec += 1000000;
    if (soon.tv_nsec >= 1000000000) {
      soon.tv_sec++;
      soon.tv_nsec -= 1000000000;
    }
    expect(pthread_mutex_timedlock(&g_state_mutex, &soon) == ETIMEDOUT,
           "timedlock of a held mutex");
    expect(pthread_mutex_unlock(&g_state_mutex) == 0, "unlock failed");
    expect_state(g_state_mutex, 0, 0, 0, "after unlock");
  }
}

void* wait_for_held_mutex(void*) {
  pthread_setname_np(pthread_self(), "state-waiter");
  expect(pthread_mutex_lock(&g_held_at_create) == 0, "waiter lock failed");
  expect(pthread_mutex_unlock(&g_held_at_create) == 0, "waiter unlock failed");
  return nullptr;
}

__attribute__((noinline)) void held_across_first_thread() {
  expect(pthread_mutex_lock(&g_held_at_create) == 0, "lock failed");
  pthread_t waiter;
  expect(pthread_create(&waiter, nullptr, wait_for_held_mutex, nullptr) == 0, "create");
  // Let the waiter block on the lock word (glibc marks it 2: "has waiters").
  for (int i = 0; i < 200 && g_held_at_create.__data.__lock != 2; ++i) usleep(1000);
  expect(g_held_at_create.__data.__lock == 2, "the waiter never blocked");
  expect(pthread_mutex_unlock(&g_held_at_create) == 0, "unlock failed");
  expect(pthread_join(waiter, nullptr) == 0, "join");
  expect_state(g_held_at_create, 0, 0, 0, "after the waiter");
}

void* count_under_mutex(void*) {
  pthread_setname_np(pthread_self(), "state-counter");
  for (int i = 0; i < kIncrements; ++i) {
    pthread_mutex_lock(&g_counter_mutex);
    ++g_counter;
    pthread_mutex_unlock(&g_counter_mutex);
  }
  return nullptr;
}

void* take_turns(void* arg) {
  const int me = static_cast<int>(reinterpret_cast<long>(arg));
  for (int i = 0; i < kHandOffs; ++i) {
    pthread_mutex_lock(&g_turn_mutex);
    while (g_turn != me) pthread_cond_wait(&g_turn_cond, &g_turn_mutex);
    g_turn = 1 - me;
    pthread_cond_signal(&g_turn_cond);
    pthread_mutex_unlock(&g_turn_mutex);
  }
  return nullptr;
}

int main() {
  single_threaded_state();
  held_across_first_thread();
  pthread_t t[kThreads];
  for (auto& th : t)
    expect(pthread_create(&th, nullptr, count_under_mutex, nullptr) == 0, "create");
  for (auto& th : t) pthread_join(th, nullptr);
  expect(g_counter == long{kThreads} * kIncrements, "lost increments");
  expect_state(g_counter_mutex, 0, 0, 0, "after the counters");
  pthread_t a, b;
  pthread_create(&a, nullptr, take_turns, reinterpret_cast<void*>(0L));
  pthread_create(&b, nullptr, take_turns, reinterpret_cast<void*>(1L));
  pthread_join(a, nullptr);
  pthread_join(b, nullptr);
  expect_state(g_turn_mutex, 0, 0, 0, "after the hand-offs");
  return 0;
}
