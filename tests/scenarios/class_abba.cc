// class_abba.cc — one lock order per run: `class_abba ab` takes g_first -> g_second and
// `class_abba ba` the other way round (c is g_third: `ac`, `ca`), each on a thread of its
// own, and exits 0. No run shows a cycle; two runs, reported together, show one between
// the lock classes (the globals, by symbol). `heap-ab` and `heap-ba` do the same with two
// heap objects, a Registry and a Cache, whose mutexes are taken through the program's own
// Mutex::Lock() wrapper: their classes are the sites of their first acquisitions (in their
// constructors), past the wrapper.
#include <pthread.h>

#include <cstdio>
#include <cstring>

pthread_mutex_t g_first = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_second = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t g_third = PTHREAD_MUTEX_INITIALIZER;

pthread_mutex_t* Global(char letter) {
  return letter == 'a' ? &g_first : letter == 'b' ? &g_second : &g_third;
}

class Mutex {
 public:
  Mutex() { pthread_mutex_init(&m_, nullptr); }
  __attribute__((noinline)) void Lock() { pthread_mutex_lock(&m_); }
  __attribute__((noinline)) void Unlock() { pthread_mutex_unlock(&m_); }

 private:
  pthread_mutex_t m_;
};

struct Registry {
  Registry() {
    mu.Lock();  // the class of a Registry's mutex: this line
    entries = 1;
    mu.Unlock();
  }
  Mutex mu;
  int entries = 0;
};

struct Cache {
  Cache() {
    mu.Lock();  // the class of a Cache's mutex: this line
    size = 1;
    mu.Unlock();
  }
  Mutex mu;
  int size = 0;
};

const char* g_order = "";

__attribute__((noinline)) void* take_in_order(void*) {
  pthread_setname_np(pthread_self(), g_order);
  if (strlen(g_order) == 2) {
    pthread_mutex_t* outer = Global(g_order[0]);
    pthread_mutex_t* inner = Global(g_order[1]);
    pthread_mutex_lock(outer);
    pthread_mutex_lock(inner);
    pthread_mutex_unlock(inner);
    pthread_mutex_unlock(outer);
    return nullptr;
  }
  Registry* registry = new Registry;
  Cache* cache = new Cache;
  if (strcmp(g_order, "heap-ab") == 0) {
    registry->mu.Lock();
    cache->mu.Lock();
    cache->mu.Unlock();
    registry->mu.Unlock();
  } else {
    cache->mu.Lock();
    registry->mu.Lock();
    registry->mu.Unlock();
    cache->mu.Unlock();
  }
  delete cache;
  delete registry;
  return nullptr;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: class_abba ab|ba|ac|ca|heap-ab|heap-ba\n");
    return 2;
  }
  g_order = argv[1];
  pthread_t t;
  pthread_create(&t, nullptr, take_in_order, nullptr);
  pthread_join(t, nullptr);
  return 0;
}
