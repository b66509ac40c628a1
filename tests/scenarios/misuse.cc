// misuse.cc — one program per misuse kind, chosen by argv[1]:
//   unlock-not-owner  a thread unlocks an error-checking mutex another thread holds (EPERM)
//   destroy-locked    pthread_mutex_destroy on a locked mutex (EBUSY)
//   relock-error      an error-checking mutex locked twice by its owner (EDEADLK)
//   exit-holding      a thread returns while holding a mutex
// Each finishes normally; the misuse is only reported.
#include <pthread.h>
#include <string.h>

pthread_mutex_t g_misused_lock;
pthread_barrier_t g_locked;
pthread_barrier_t g_tried;

__attribute__((noinline)) void* owner_thread(void*) {
  pthread_setname_np(pthread_self(), "owner");
  pthread_mutex_lock(&g_misused_lock);
  pthread_barrier_wait(&g_locked);
  pthread_barrier_wait(&g_tried);
  pthread_mutex_unlock(&g_misused_lock);
  return nullptr;
}

__attribute__((noinline)) void* intruder_unlock(void*) {
  pthread_setname_np(pthread_self(), "intruder");
  pthread_barrier_wait(&g_locked);
  pthread_mutex_unlock(&g_misused_lock);  // not ours: EPERM
  pthread_barrier_wait(&g_tried);
  return nullptr;
}

__attribute__((noinline)) void destroy_while_locked() {
  pthread_mutex_lock(&g_misused_lock);
  pthread_mutex_destroy(&g_misused_lock);  // EBUSY
  pthread_mutex_unlock(&g_misused_lock);
}

__attribute__((noinline)) void relock_errorcheck() {
  pthread_mutex_lock(&g_misused_lock);
  pthread_mutex_lock(&g_misused_lock);  // EDEADLK
  pthread_mutex_unlock(&g_misused_lock);
}

__attribute__((noinline)) void* exit_while_holding(void*) {
  pthread_setname_np(pthread_self(), "leaver");
  pthread_mutex_lock(&g_misused_lock);
  return nullptr;  // never unlocked
}

int main(int argc, char** argv) {
  const char* what = argc > 1 ? argv[1] : "";
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&g_misused_lock, &attr);
  pthread_t a, b;
  if (strcmp(what, "unlock-not-owner") == 0) {
    pthread_barrier_init(&g_locked, nullptr, 2);
    pthread_barrier_init(&g_tried, nullptr, 2);
    pthread_create(&a, nullptr, owner_thread, nullptr);
    pthread_create(&b, nullptr, intruder_unlock, nullptr);
    pthread_join(a, nullptr);
    pthread_join(b, nullptr);
  } else if (strcmp(what, "destroy-locked") == 0) {
    destroy_while_locked();
  } else if (strcmp(what, "relock-error") == 0) {
    relock_errorcheck();
  } else if (strcmp(what, "exit-holding") == 0) {
    pthread_create(&a, nullptr, exit_while_holding, nullptr);
    pthread_join(a, nullptr);
  } else {
    return 2;
  }
  return 0;
}
