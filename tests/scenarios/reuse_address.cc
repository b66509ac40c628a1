// reuse_address.cc — a destroyed/freed mutex whose address is reused is a NEW
// lock.  Lock identity is (address, generation), not the address alone.
//
// Every round takes "first" then "second" (always in that order), then
// destroys/frees both.  The next round's pair is placed so that the new
// "first" sits at the old "second"'s address and vice versa.  Judged by
// address alone the rounds alternate X -> Y and Y -> X — an inversion that does
// not exist, because no two of these locks were ever alive at the same time.
//
// Three kinds of storage:
//   heap-pthread : malloc'ed struct, pthread_mutex_init / pthread_mutex_destroy / free
//   slot-pthread : a fixed static buffer, pthread_mutex_init / destroy in place
//                  (the address reuse is guaranteed here)
//   heap-std     : `new` of a struct holding a std::mutex, freed with `delete`
//                  (no pthread_mutex_init and no pthread_mutex_destroy at all)
// For the heap kinds the program allocates until the two old addresses come
// back and then assigns them swapped roles; if the allocator never returns
// them, it notes that on stderr and carries on with fresh addresses.
//
// Phase 1: thread "reuse-1", then thread "reuse-2" each run all rounds by
//          themselves (allocate, lock, free within the thread).
// Phase 2: main allocates and frees; each round's locking runs on a new thread,
//          alternately named "reuse-1" / "reuse-2", so the swapped-address
//          orders are also seen from different threads.
// Expected: clean (exit 0, no lock-order-inversion, no misuse finding).

#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>

constexpr int kRounds = 6;
constexpr int kMaxProbe = 64;  // allocations tried when looking for the old addresses

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "reuse_address: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

struct PthreadBox {
  pthread_mutex_t mutex;
  long value;
};

struct StdBox {
  std::mutex mutex;
  long value = 0;
};

enum Kind { kHeapPthread, kSlotPthread, kHeapStd, kKinds };
const char* const kKindNames[kKinds] = {"heap-pthread", "slot-pthread", "heap-std"};

alignas(64) static unsigned char slots[2][64];
static_assert(sizeof(PthreadBox) <= sizeof(slots[0]));

struct Pair {
  void* first = nullptr;
  void* second = nullptr;
};

// How often the old addresses really came back swapped, per kind.
int g_swapped_rounds[kKinds];
long g_work = 0;

static void* raw_alloc(Kind kind) {
  if (kind == kHeapStd) return new StdBox;  // constructed; nothing else to do
  void* p = std::malloc(sizeof(PthreadBox));
  if (p == nullptr) {
    std::fprintf(stderr, "reuse_address: out of memory\n");
    std::exit(1);
  }
  return p;
}

static void raw_free(Kind kind, void* p) {
  if (kind == kHeapStd)
    delete static_cast<StdBox*>(p);
  else
    std::free(p);
}

// Allocates a pair for `round`.  When `prev` is set (the previous round's pair,
// already freed), the new first gets prev.second's address and the new second
// gets prev.first's, if the allocator hands them out again.
static Pair make_pair(Kind kind, int round, Pair prev) {
  Pair pair;
  if (kind == kSlotPthread) {
    pair.first = slots[round % 2];
    pair.second = slots[(round + 1) % 2];
  } else {
    void* extra[kMaxProbe];
    int n_extra = 0;
    if (prev.first != nullptr) {
      for (int i = 0; i < kMaxProbe && (pair.first == nullptr || pair.second == nullptr); ++i) {
        void* p = raw_alloc(kind);
        if (p == prev.second && pair.first == nullptr)
          pair.first = p;
        else if (p == prev.first && pair.second == nullptr)
          pair.second = p;
        else
          extra[n_extra++] = p;
      }
    }
    if (pair.first == nullptr) pair.first = n_extra > 0 ? extra[--n_extra] : raw_alloc(kind);
    if (pair.second == nullptr) pair.second = n_extra > 0 ? extra[--n_extra] : raw_alloc(kind);
    while (n_extra > 0) raw_free(kind, extra[--n_extra]);
  }
  if (prev.first != nullptr && pair.first == prev.second && pair.second == prev.first)
    g_swapped_rounds[kind] += 1;

  if (kind != kHeapStd) {
    for (void* p : {pair.first, pair.second}) {
      auto* box = static_cast<PthreadBox*>(p);
      check(pthread_mutex_init(&box->mutex, nullptr), "pthread_mutex_init");
      box->value = 0;
    }
  }
  return pair;
}

static void destroy_pair(Kind kind, Pair pair) {
  for (void* p : {pair.first, pair.second}) {
    if (kind == kHeapStd) {
      raw_free(kind, p);  // delete: no pthread_mutex_destroy ever happens
    } else {
      check(pthread_mutex_destroy(&static_cast<PthreadBox*>(p)->mutex), "pthread_mutex_destroy");
      if (kind == kHeapPthread) raw_free(kind, p);
    }
  }
}

// Takes pair.first, then pair.second while holding it.
__attribute__((noinline)) void reuse_lock_first_then_second(Kind kind, Pair pair) {
  if (kind == kHeapStd) {
    auto* first = static_cast<StdBox*>(pair.first);
    auto* second = static_cast<StdBox*>(pair.second);
    std::lock_guard<std::mutex> hold_first(first->mutex);
    std::lock_guard<std::mutex> hold_second(second->mutex);
    first->value += 1;
    second->value += 1;
  } else {
    auto* first = static_cast<PthreadBox*>(pair.first);
    auto* second = static_cast<PthreadBox*>(pair.second);
    check(pthread_mutex_lock(&first->mutex), "lock first");
    check(pthread_mutex_lock(&second->mutex), "lock second");
    first->value += 1;
    second->value += 1;
    check(pthread_mutex_unlock(&second->mutex), "unlock second");
    check(pthread_mutex_unlock(&first->mutex), "unlock first");
  }
  __atomic_fetch_add(&g_work, 1, __ATOMIC_RELAXED);
}

// Phase 1: a thread that allocates, locks and frees every round by itself.
__attribute__((noinline)) void* reuse_rounds_in_thread(void* arg) {
  pthread_setname_np(pthread_self(), static_cast<const char*>(arg));
  for (int k = 0; k < kKinds; ++k) {
    const Kind kind = static_cast<Kind>(k);
    Pair prev;
    for (int round = 0; round < kRounds; ++round) {
      Pair pair = make_pair(kind, round, prev);
      reuse_lock_first_then_second(kind, pair);
      destroy_pair(kind, pair);
      prev = pair;
    }
  }
  return nullptr;
}

struct OneRound {
  const char* thread_name;
  Kind kind;
  Pair pair;
};

__attribute__((noinline)) void* reuse_one_round(void* arg) {
  auto* job = static_cast<OneRound*>(arg);
  pthread_setname_np(pthread_self(), job->thread_name);
  reuse_lock_first_then_second(job->kind, job->pair);
  return nullptr;
}

int main(int argc, char** argv) {
  const bool verbose = argc > 1 && argv[1][0] == '-' && argv[1][1] == 'v';

  // Phase 1: two threads, one after the other.
  for (const char* name : {"reuse-1", "reuse-2"}) {
    pthread_t t;
    check(pthread_create(&t, nullptr, reuse_rounds_in_thread, const_cast<char*>(name)),
          "pthread_create");
    check(pthread_join(t, nullptr), "pthread_join");
  }

  // Phase 2: main owns the memory; the locking alternates between threads.
  for (int k = 0; k < kKinds; ++k) {
    const Kind kind = static_cast<Kind>(k);
    Pair prev;
    for (int round = 0; round < kRounds; ++round) {
      OneRound job{round % 2 == 0 ? "reuse-1" : "reuse-2", kind, make_pair(kind, round, prev)};
      pthread_t t;
      check(pthread_create(&t, nullptr, reuse_one_round, &job), "pthread_create");
      check(pthread_join(t, nullptr), "pthread_join");
      destroy_pair(kind, job.pair);
      prev = job.pair;
    }
  }

  // Per kind, 3 sequences (2 threads in phase 1, main in phase 2) of kRounds
  // rounds each, of which all but the first can reuse swapped addresses.
  if (verbose) {
    for (int k = 0; k < kKinds; ++k)
      std::fprintf(stderr, "reuse_address: %s: %d of %d rounds reused swapped addresses\n",
                   kKindNames[k], g_swapped_rounds[k], 3 * (kRounds - 1));
  }
  if (g_swapped_rounds[kSlotPthread] != 3 * (kRounds - 1)) {
    std::fprintf(stderr, "reuse_address: static slots were not swapped as intended\n");
    return 1;
  }
  for (int k = 0; k < kKinds; ++k) {
    if (g_swapped_rounds[k] == 0)
      std::fprintf(stderr,
                   "reuse_address: note: %s: the allocator never returned the old "
                   "addresses, that kind was not exercised\n",
                   kKindNames[k]);
  }
  return g_work == 3L * kKinds * kRounds ? 0 : 1;
}
