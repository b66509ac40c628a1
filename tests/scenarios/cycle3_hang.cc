// cycle3_hang.cc — a deadlock of three threads: each takes its own lock, all three meet at a
// barrier, then each asks for the next one's (A -> B -> C -> A). No two threads invert a
// pair of locks; only the whole cycle deadlocks. The process hangs forever (the tests kill
// it).
#include <pthread.h>

pthread_mutex_t g_ring_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_ring_b = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_ring_c = PTHREAD_MUTEX_INITIALIZER;
pthread_barrier_t g_all_hold_one;

struct Seat {
  const char* name;
  pthread_mutex_t* mine;
  pthread_mutex_t* next;
};

__attribute__((noinline)) void* ring_take_mine_then_next(void* arg) {
  const Seat* seat = static_cast<const Seat*>(arg);
  pthread_setname_np(pthread_self(), seat->name);
  pthread_mutex_lock(seat->mine);
  pthread_barrier_wait(&g_all_hold_one);
  pthread_mutex_lock(seat->next);  // blocks forever: its holder waits for the next lock
  pthread_mutex_unlock(seat->next);
  pthread_mutex_unlock(seat->mine);
  return nullptr;
}

int main() {
  static const Seat seats[] = {{"ring-a", &g_ring_a, &g_ring_b},
                               {"ring-b", &g_ring_b, &g_ring_c},
                               {"ring-c", &g_ring_c, &g_ring_a}};
  pthread_barrier_init(&g_all_hold_one, nullptr, 3);
  pthread_t threads[3];
  for (int i = 0; i < 3; ++i)
    pthread_create(&threads[i], nullptr, ring_take_mine_then_next, const_cast<Seat*>(&seats[i]));
  for (pthread_t t : threads) pthread_join(t, nullptr);
  return 0;
}
