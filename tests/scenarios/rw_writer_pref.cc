// rw_writer_pref.cc — read/read cycles on writer-preferring rwlocks
// (PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP). "rd-ab" reads g_pref_a then g_pref_b,
// later "rd-ba" reads g_pref_b then g_pref_a; they never overlap. A waiting writer blocks
// new readers of such a lock, so with writers on both locks the cycle can deadlock
// (lockdep's rule for recursive readers):
//   written      "writer" write-locks both locks now and then: an inversion (exit 66)
//   one-written  only g_pref_a is ever written: g_pref_b never blocks a reader, clean
//   never        nobody writes: clean
#include <pthread.h>
#include <string.h>

pthread_rwlock_t g_pref_a;
pthread_rwlock_t g_pref_b;
const char* g_mode = "written";

__attribute__((noinline)) void* read_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "rd-ab");
  pthread_rwlock_rdlock(&g_pref_a);
  pthread_rwlock_rdlock(&g_pref_b);
  pthread_rwlock_unlock(&g_pref_b);
  pthread_rwlock_unlock(&g_pref_a);
  return nullptr;
}

__attribute__((noinline)) void* read_b_then_a(void*) {
  pthread_setname_np(pthread_self(), "rd-ba");
  pthread_rwlock_rdlock(&g_pref_b);
  pthread_rwlock_rdlock(&g_pref_a);
  pthread_rwlock_unlock(&g_pref_a);
  pthread_rwlock_unlock(&g_pref_b);
  return nullptr;
}

__attribute__((noinline)) void* write_now_and_then(void*) {
  pthread_setname_np(pthread_self(), "writer");
  for (int i = 0; i < 3; ++i) {
    pthread_rwlock_wrlock(&g_pref_a);
    pthread_rwlock_unlock(&g_pref_a);
    if (strcmp(g_mode, "written") == 0) {
      pthread_rwlock_wrlock(&g_pref_b);
      pthread_rwlock_unlock(&g_pref_b);
    }
  }
  return nullptr;
}

void Run(void* (*f)(void*)) {
  pthread_t t;
  pthread_create(&t, nullptr, f, nullptr);
  pthread_join(t, nullptr);
}

int main(int argc, char** argv) {
  if (argc > 1) g_mode = argv[1];
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&g_pref_a, &attr);
  pthread_rwlock_init(&g_pref_b, &attr);
  Run(read_a_then_b);
  if (strcmp(g_mode, "never") != 0) Run(write_now_and_then);
  Run(read_b_then_a);
  return 0;
}
