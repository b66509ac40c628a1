// hand_over_hand.cc — lock coupling over a singly linked list of 1000
// heap-allocated nodes, each with its own pthread_mutex_t.  A walk locks the
// head, then repeatedly locks the next node and unlocks the current one, so at
// most two node locks are held at once and always in list order.
// Two threads ("walker-1", "walker-2") walk it concurrently, 5 times each.
//
// The graph is a 999-edge chain node0 -> node1 -> ... -> node999: no cycle.
// Expected: clean (exit 0, no lock-order-inversion).

#include <pthread.h>

#include <cstdio>
#include <cstdlib>

constexpr int kNodes = 1000;
constexpr int kWalks = 5;

struct Node {
  pthread_mutex_t lock;
  long value;
  Node* next;
};

Node* g_list_head = nullptr;

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "hand_over_hand: %s failed: %d\n", what, rc);
    std::exit(1);
  }
}

// One hand-over-hand walk from head to tail; increments every node's value.
__attribute__((noinline)) long walk_hand_over_hand(Node* head) {
  long visited = 0;
  Node* current = head;
  check(pthread_mutex_lock(&current->lock), "lock head");
  for (;;) {
    current->value += 1;
    visited += 1;
    Node* next = current->next;
    if (next == nullptr) break;
    check(pthread_mutex_lock(&next->lock), "lock next");            // lock next ...
    check(pthread_mutex_unlock(&current->lock), "unlock current");  // ... then let go of current
    current = next;
  }
  check(pthread_mutex_unlock(&current->lock), "unlock tail");
  return visited;
}

__attribute__((noinline)) void* walker(void* arg) {
  char name[16];
  std::snprintf(name, sizeof name, "walker-%ld", reinterpret_cast<long>(arg));
  pthread_setname_np(pthread_self(), name);
  for (int n = 0; n < kWalks; ++n) {
    if (walk_hand_over_hand(g_list_head) != kNodes) {
      std::fprintf(stderr, "hand_over_hand: short walk\n");
      std::exit(1);
    }
  }
  return nullptr;
}

int main() {
  // Build the list back to front so node 0 is the head.
  for (int i = kNodes - 1; i >= 0; --i) {
    Node* node = new Node;
    check(pthread_mutex_init(&node->lock, nullptr), "mutex_init");
    node->value = 0;
    node->next = g_list_head;
    g_list_head = node;
  }

  pthread_t threads[2];
  for (long i = 0; i < 2; ++i)
    check(pthread_create(&threads[i], nullptr, walker, reinterpret_cast<void*>(i + 1)),
          "pthread_create");
  for (pthread_t t : threads) check(pthread_join(t, nullptr), "pthread_join");

  int status = 0;
  for (Node* node = g_list_head; node != nullptr;) {
    if (node->value != 2 * kWalks) status = 1;
    Node* next = node->next;
    check(pthread_mutex_destroy(&node->lock), "mutex_destroy");
    delete node;
    node = next;
  }
  return status;
}
