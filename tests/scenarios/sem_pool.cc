// sem_pool.cc — a pool guarded by a counting semaphore with one token: "sem-1" takes the
// token, its task throws and the thread ends without sem_post. The other workers wait on the
// semaphore forever. The semaphore is held, like a lock, by the thread that took it.
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

#include <stdexcept>

sem_t g_pool_tokens;
pthread_barrier_t g_token_taken;

__attribute__((noinline)) void process_with_token(bool fail) {
  sem_wait(&g_pool_tokens);
  if (fail) throw std::runtime_error("task failed");  // the token is never posted back
  sem_post(&g_pool_tokens);
}

__attribute__((noinline)) void* first_worker(void*) {
  pthread_setname_np(pthread_self(), "sem-1");
  try {
    process_with_token(true);
  } catch (const std::exception&) {
  }
  pthread_barrier_wait(&g_token_taken);
  return nullptr;
}

__attribute__((noinline)) void* other_worker(void* arg) {
  char name[16] = "sem-0";
  name[4] = static_cast<char>('0' + reinterpret_cast<long>(arg));
  pthread_setname_np(pthread_self(), name);
  process_with_token(false);  // waits forever
  return nullptr;
}

int main() {
  sem_init(&g_pool_tokens, 0, 1);
  pthread_barrier_init(&g_token_taken, nullptr, 2);
  pthread_t first, others[3];
  pthread_create(&first, nullptr, first_worker, nullptr);
  pthread_barrier_wait(&g_token_taken);
  pthread_join(first, nullptr);
  for (long i = 0; i < 3; ++i)
    pthread_create(&others[i], nullptr, other_worker, reinterpret_cast<void*>(i + 2));
  for (pthread_t t : others) pthread_join(t, nullptr);
  return 0;
}
