// rw_pref_deadlock.cc — the read/read cycle of rw_writer_pref.cc, happening. "rd-ab" holds a
// read lock on g_pref_a, "rd-ba" one on g_pref_b; "wr-a" and "wr-b" then ask to write them
// and wait. These rwlocks prefer writers: a waiting writer blocks new readers. So when
// rd-ab asks to read g_pref_b and rd-ba to read g_pref_a, all four wait forever:
// rd-ab -> wr-b -> rd-ba -> wr-a -> rd-ab.
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>

pthread_rwlock_t g_pref_a;
pthread_rwlock_t g_pref_b;
std::atomic<int> g_readers_in{0};
std::atomic<bool> g_go{false};

__attribute__((noinline)) void* read_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "rd-ab");
  pthread_rwlock_rdlock(&g_pref_a);
  ++g_readers_in;
  while (!g_go) usleep(1000);
  pthread_rwlock_rdlock(&g_pref_b);  // behind wr-b, which waits for rd-ba
  pthread_rwlock_unlock(&g_pref_b);
  pthread_rwlock_unlock(&g_pref_a);
  return nullptr;
}

__attribute__((noinline)) void* read_b_then_a(void*) {
  pthread_setname_np(pthread_self(), "rd-ba");
  pthread_rwlock_rdlock(&g_pref_b);
  ++g_readers_in;
  while (!g_go) usleep(1000);
  pthread_rwlock_rdlock(&g_pref_a);  // behind wr-a, which waits for rd-ab
  pthread_rwlock_unlock(&g_pref_a);
  pthread_rwlock_unlock(&g_pref_b);
  return nullptr;
}

__attribute__((noinline)) void* write_a(void*) {
  pthread_setname_np(pthread_self(), "wr-a");
  pthread_rwlock_wrlock(&g_pref_a);
  pthread_rwlock_unlock(&g_pref_a);
  return nullptr;
}

__attribute__((noinline)) void* write_b(void*) {
  pthread_setname_np(pthread_self(), "wr-b");
  pthread_rwlock_wrlock(&g_pref_b);
  pthread_rwlock_unlock(&g_pref_b);
  return nullptr;
}

// A writer is queued on `l` once a new reader is refused.
void WaitForQueuedWriter(pthread_rwlock_t* l) {
  while (pthread_rwlock_tryrdlock(l) == 0) {
    pthread_rwlock_unlock(l);
    usleep(1000);
  }
}

int main() {
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&g_pref_a, &attr);
  pthread_rwlock_init(&g_pref_b, &attr);
  pthread_t t[4];
  pthread_create(&t[0], nullptr, read_a_then_b, nullptr);
  pthread_create(&t[1], nullptr, read_b_then_a, nullptr);
  while (g_readers_in < 2) usleep(1000);
  pthread_create(&t[2], nullptr, write_a, nullptr);
  pthread_create(&t[3], nullptr, write_b, nullptr);
  WaitForQueuedWriter(&g_pref_a);
  WaitForQueuedWriter(&g_pref_b);
  g_go = true;
  for (pthread_t th : t) pthread_join(th, nullptr);
  return 0;
}
