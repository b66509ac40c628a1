// reused_heap_lock.cc — one heap address reused by 700 locks in turn, each with an order edge
// (the bank's lock, then the account's), and a real inversion on the last one only: audit()
// takes the account's lock, then the bank's. Every earlier account was freed before the
// next was made, so only the last one's two orders conflict: one lock-order-inversion (one
// thread: a warning), and every lock tracked (no "were not tracked" note).
#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <new>

struct Account {
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  long balance = 0;
};

pthread_mutex_t g_bank_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void deposit(Account* a, long amount) {
  pthread_mutex_lock(&g_bank_lock);
  pthread_mutex_lock(&a->lock);  // bank -> account
  a->balance += amount;
  pthread_mutex_unlock(&a->lock);
  pthread_mutex_unlock(&g_bank_lock);
}

__attribute__((noinline)) long audit(Account* a) {
  pthread_mutex_lock(&a->lock);
  pthread_mutex_lock(&g_bank_lock);  // account -> bank: the inversion
  const long b = a->balance;
  pthread_mutex_unlock(&g_bank_lock);
  pthread_mutex_unlock(&a->lock);
  return b;
}

int main() {
  void* first = nullptr;
  int same = 0;
  for (int round = 0; round < 700; ++round) {
    Account* a = new Account;
    if (round == 0) first = a;
    same += a == first;
    deposit(a, 1);
    delete a;
  }
  Account* last = new Account;
  deposit(last, 5);
  const long balance = audit(last);
  delete last;
  // (How often the allocator gave the same address back: the point of the test.)
  std::printf("balance %ld, address reused %d times\n", balance, same);
  return 0;
}
