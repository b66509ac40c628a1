// worker_pool.cc — the lost resource: each worker takes the shared resource lock by hand
// (no RAII), uses it, and gives it back; one task throws, the worker's top level catches
// the exception and the worker ends, the lock never given back. Every other worker then
// waits for it forever.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>

pthread_mutex_t g_resource_lock = PTHREAD_MUTEX_INITIALIZER;
std::atomic<int> g_next_task{0};
long g_resource_uses = 0;

__attribute__((noinline)) void use_resource(int task) {
  if (task == 5) throw std::runtime_error("bad task");
  g_resource_uses++;
}

__attribute__((noinline)) void run_task(int task) {
  pthread_mutex_lock(&g_resource_lock);
  use_resource(task);  // throws for task 5: the unlock below is skipped
  pthread_mutex_unlock(&g_resource_lock);
}

__attribute__((noinline)) void* worker_main(void* arg) {
  char name[16] = "worker-0";
  name[7] = static_cast<char>('0' + reinterpret_cast<long>(arg));
  pthread_setname_np(pthread_self(), name);
  try {
    for (;;) {
      int task = g_next_task++;
      run_task(task);
      usleep(1000);
    }
  } catch (const std::exception&) {
    return nullptr;  // the worker gives up: the resource lock is still held
  }
}

int main() {
  pthread_t workers[4];
  for (long i = 0; i < 4; ++i)
    pthread_create(&workers[i], nullptr, worker_main, reinterpret_cast<void*>(i + 1));
  for (pthread_t w : workers) pthread_join(w, nullptr);
  return 0;
}
