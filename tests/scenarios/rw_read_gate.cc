// rw_read_gate.cc — a "gate" that is an rwlock held for read gates nothing: both threads can
// hold it at once, so A->B in one and B->A in the other can still deadlock. An error.
#include <pthread.h>

pthread_rwlock_t g_config_rwlock = PTHREAD_RWLOCK_INITIALIZER;
pthread_mutex_t g_gate_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_gate_b = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void* read_gate_a_then_b(void*) {
  pthread_setname_np(pthread_self(), "rgate-ab");
  pthread_rwlock_rdlock(&g_config_rwlock);
  pthread_mutex_lock(&g_gate_a);
  pthread_mutex_lock(&g_gate_b);
  pthread_mutex_unlock(&g_gate_b);
  pthread_mutex_unlock(&g_gate_a);
  pthread_rwlock_unlock(&g_config_rwlock);
  return nullptr;
}

__attribute__((noinline)) void* read_gate_b_then_a(void*) {
  pthread_setname_np(pthread_self(), "rgate-ba");
  pthread_rwlock_rdlock(&g_config_rwlock);
  pthread_mutex_lock(&g_gate_b);
  pthread_mutex_lock(&g_gate_a);
  pthread_mutex_unlock(&g_gate_a);
  pthread_mutex_unlock(&g_gate_b);
  pthread_rwlock_unlock(&g_config_rwlock);
  return nullptr;
}

int main() {
  pthread_t t;
  pthread_create(&t, nullptr, read_gate_a_then_b, nullptr);
  pthread_join(t, nullptr);
  pthread_create(&t, nullptr, read_gate_b_then_a, nullptr);
  pthread_join(t, nullptr);
  // Write-locked then released, then destroyed: not "destroy-locked".
  pthread_rwlock_wrlock(&g_config_rwlock);
  pthread_rwlock_unlock(&g_config_rwlock);
  pthread_rwlock_destroy(&g_config_rwlock);
  return 0;
}
