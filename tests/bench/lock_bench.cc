// lock_bench.cc — lock micro-benchmarks (Google Benchmark). scripts/bench runs this same
// binary natively, under liblockscope.so, under Helgrind, and a ThreadSanitizer build of it,
// and prints the ratios to native.
#include <benchmark/benchmark.h>
#include <pthread.h>

#include <atomic>

namespace {

pthread_mutex_t g_one = PTHREAD_MUTEX_INITIALIZER;
long g_counter = 0;

// One thread, one mutex, nothing else held.
void BM_UncontendedPair(benchmark::State& state) {
  for (auto _ : state) {
    pthread_mutex_lock(&g_one);
    benchmark::DoNotOptimize(++g_counter);
    pthread_mutex_unlock(&g_one);
  }
}
BENCHMARK(BM_UncontendedPair);

// N locks held (taken in a consistent order), then one more taken and released.
pthread_mutex_t g_nest[5] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                             PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                             PTHREAD_MUTEX_INITIALIZER};
void BM_NestedHeld(benchmark::State& state) {
  const int held = static_cast<int>(state.range(0));
  for (int i = 0; i < held; ++i) pthread_mutex_lock(&g_nest[i]);
  for (auto _ : state) {
    pthread_mutex_lock(&g_nest[4]);
    benchmark::DoNotOptimize(++g_counter);
    pthread_mutex_unlock(&g_nest[4]);
  }
  for (int i = held - 1; i >= 0; --i) pthread_mutex_unlock(&g_nest[i]);
}
BENCHMARK(BM_NestedHeld)->Arg(1)->Arg(2)->Arg(4);

// Two threads on one mutex.
pthread_mutex_t g_shared = PTHREAD_MUTEX_INITIALIZER;
long g_shared_counter = 0;
void BM_Contended(benchmark::State& state) {
  for (auto _ : state) {
    pthread_mutex_lock(&g_shared);
    benchmark::DoNotOptimize(++g_shared_counter);
    pthread_mutex_unlock(&g_shared);
  }
}
BENCHMARK(BM_Contended)->Threads(2)->UseRealTime();

// Each thread its own mutex (2 and 16 threads).
struct alignas(64) PaddedMutex {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  long n = 0;
};
PaddedMutex g_own[16];
void BM_Disjoint(benchmark::State& state) {
  PaddedMutex& mine = g_own[state.thread_index() % 16];
  for (auto _ : state) {
    pthread_mutex_lock(&mine.m);
    benchmark::DoNotOptimize(++mine.n);
    pthread_mutex_unlock(&mine.m);
  }
}
BENCHMARK(BM_Disjoint)->Threads(2)->Threads(16)->UseRealTime();

// Condition-variable ping-pong: each iteration is one hand-off between the two threads.
pthread_mutex_t g_pp_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_pp_cond = PTHREAD_COND_INITIALIZER;
int g_turn = 0;
void BM_CondvarPingPong(benchmark::State& state) {
  const int me = state.thread_index();
  for (auto _ : state) {
    pthread_mutex_lock(&g_pp_lock);
    while (g_turn != me) pthread_cond_wait(&g_pp_cond, &g_pp_lock);
    g_turn = 1 - me;
    pthread_cond_signal(&g_pp_cond);
    pthread_mutex_unlock(&g_pp_lock);
  }
  if (me == 0) g_turn = 0;
}
BENCHMARK(BM_CondvarPingPong)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
