// condvar_pc.cc — bounded producer/consumer queue: one mutex, two condition
// variables, 2 producers ("producer-0/1") and 2 consumers ("consumer-0/1"),
// 10000 items in total.  Producers wait with pthread_cond_wait, consumers with
// pthread_cond_timedwait.  Inside the queue mutex both sides also take a
// "stats" mutex, always in the same order (queue -> stats).
//
// A condition wait releases and re-acquires the queue mutex; a correct tool
// must not invent an edge stats -> queue or queue -> queue from that.
// Expected: clean (exit 0, no lock-order-inversion).

#include <pthread.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

constexpr int kProducers = 2;
constexpr int kConsumers = 2;
constexpr long kItems = 10000;  // total, split evenly between the producers
constexpr int kCapacity = 16;

pthread_mutex_t g_queue_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_stats_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_not_full = PTHREAD_COND_INITIALIZER;  // static initialisation
pthread_cond_t g_not_empty;                            // pthread_cond_init in main

long g_ring[kCapacity];
int g_head = 0;  // next slot to pop
int g_size = 0;
long g_consumed = 0;  // items popped so far (under g_queue_lock)

// Statistics, under g_stats_lock.
long g_stat_pushed = 0;
long g_stat_popped = 0;
long g_stat_sum = 0;

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "condvar_pc: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

__attribute__((noinline)) void record_push_stats() {
  check(pthread_mutex_lock(&g_stats_lock), "lock stats");
  g_stat_pushed += 1;
  check(pthread_mutex_unlock(&g_stats_lock), "unlock stats");
}

__attribute__((noinline)) void record_pop_stats(long value) {
  check(pthread_mutex_lock(&g_stats_lock), "lock stats");
  g_stat_popped += 1;
  g_stat_sum += value;
  check(pthread_mutex_unlock(&g_stats_lock), "unlock stats");
}

__attribute__((noinline)) void* producer(void* arg) {
  const long id = reinterpret_cast<long>(arg);
  char name[16];
  std::snprintf(name, sizeof name, "producer-%ld", id);
  pthread_setname_np(pthread_self(), name);

  const long per_producer = kItems / kProducers;
  for (long n = 0; n < per_producer; ++n) {
    const long value = id * per_producer + n + 1;  // 1..kItems over all producers
    check(pthread_mutex_lock(&g_queue_lock), "lock queue");
    while (g_size == kCapacity) check(pthread_cond_wait(&g_not_full, &g_queue_lock), "cond_wait");
    g_ring[(g_head + g_size) % kCapacity] = value;
    g_size += 1;
    record_push_stats();  // queue -> stats
    check(pthread_cond_signal(&g_not_empty), "signal not_empty");
    check(pthread_mutex_unlock(&g_queue_lock), "unlock queue");
  }
  return nullptr;
}

__attribute__((noinline)) void* consumer(void* arg) {
  char name[16];
  std::snprintf(name, sizeof name, "consumer-%ld", reinterpret_cast<long>(arg));
  pthread_setname_np(pthread_self(), name);

  check(pthread_mutex_lock(&g_queue_lock), "lock queue");
  for (;;) {
    while (g_size == 0 && g_consumed < kItems) {
      timespec deadline;
      clock_gettime(CLOCK_REALTIME, &deadline);
      deadline.tv_nsec += 50 * 1000 * 1000;  // 50 ms: a lost wake-up cannot hang us
      if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000L;
      }
      const int rc = pthread_cond_timedwait(&g_not_empty, &g_queue_lock, &deadline);
      if (rc != 0 && rc != ETIMEDOUT) check(rc, "cond_timedwait");
    }
    if (g_consumed == kItems) break;
    const long value = g_ring[g_head];
    g_head = (g_head + 1) % kCapacity;
    g_size -= 1;
    g_consumed += 1;
    record_pop_stats(value);  // queue -> stats
    check(pthread_cond_signal(&g_not_full), "signal not_full");
    if (g_consumed == kItems)  // wake the other consumer so it can leave
      check(pthread_cond_broadcast(&g_not_empty), "broadcast not_empty");
  }
  check(pthread_mutex_unlock(&g_queue_lock), "unlock queue");
  return nullptr;
}

int main() {
  check(pthread_cond_init(&g_not_empty, nullptr), "cond_init");

  pthread_t producers[kProducers];
  pthread_t consumers[kConsumers];
  for (long i = 0; i < kConsumers; ++i)
    check(pthread_create(&consumers[i], nullptr, consumer, reinterpret_cast<void*>(i)), "create");
  for (long i = 0; i < kProducers; ++i)
    check(pthread_create(&producers[i], nullptr, producer, reinterpret_cast<void*>(i)), "create");
  for (pthread_t t : producers) check(pthread_join(t, nullptr), "join");
  for (pthread_t t : consumers) check(pthread_join(t, nullptr), "join");

  check(pthread_cond_destroy(&g_not_empty), "cond_destroy");

  const long expected_sum = kItems * (kItems + 1) / 2;
  if (g_stat_pushed != kItems || g_stat_popped != kItems || g_stat_sum != expected_sum ||
      g_size != 0) {
    std::fprintf(stderr, "condvar_pc: bad totals pushed=%ld popped=%ld sum=%ld (want %ld)\n",
                 g_stat_pushed, g_stat_popped, g_stat_sum, expected_sum);
    return 1;
  }
  return 0;
}
