// The glibc protocols the shim performs itself, against glibc's own calls on the same object:
// SemTryTake is sem_trywait (the Python fast path takes Locks with it).
#include "shim/glibc_layout.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <semaphore.h>

#include <cstdint>
#include <cstring>

namespace lockscope::glibc {
namespace {

uint64_t Word(const sem_t& s) {
  uint64_t word;
  memcpy(&word, &s, sizeof(word));
  return word;
}

TEST(SemTryTake, TakesWhatSemTrywaitTakesAndLeavesWhatGlibcReads) {
  sem_t s;
  ASSERT_EQ(sem_init(&s, 0, 2), 0);
  EXPECT_TRUE(SemTryTake(&s));
  EXPECT_EQ(SemValue(&s), 1u);
  EXPECT_EQ(sem_trywait(&s), 0);  // glibc takes the unit left
  EXPECT_EQ(SemValue(&s), 0u);
  EXPECT_FALSE(SemTryTake(&s));  // nothing left: nothing changes
  EXPECT_EQ(SemValue(&s), 0u);
  ASSERT_EQ(sem_post(&s), 0);
  int value = -1;
  ASSERT_EQ(sem_getvalue(&s, &value), 0);
  EXPECT_EQ(value, 1);
  EXPECT_TRUE(SemTryTake(&s));
  ASSERT_EQ(sem_getvalue(&s, &value), 0);
  EXPECT_EQ(value, 0);
  errno = 0;
  EXPECT_EQ(sem_trywait(&s), -1);
  EXPECT_EQ(errno, EAGAIN);
  sem_destroy(&s);
}

TEST(SemTryTake, KeepsTheWaiterCount) {
  // The word's high half counts waiters (sem_wait's slow path): a take changes the value only.
  sem_t s;
  ASSERT_EQ(sem_init(&s, 0, 0), 0);
  const uint64_t one_waiter_one_unit = (uint64_t{1} << 32) | 1;
  memcpy(&s, &one_waiter_one_unit, sizeof(one_waiter_one_unit));
  EXPECT_TRUE(SemTryTake(&s));
  EXPECT_EQ(Word(s), uint64_t{1} << 32);
  EXPECT_FALSE(SemTryTake(&s));
  EXPECT_EQ(Word(s), uint64_t{1} << 32);
}

TEST(SemTryTake, TellsTheValueItTookFrom) {
  // The Python fast path tells a counting semaphore (still available after the take) from a
  // lock by it, with no second read of the word.
  sem_t s;
  ASSERT_EQ(sem_init(&s, 0, 2), 0);
  uint32_t before = 0;
  EXPECT_TRUE(SemTryTake(&s, &before));
  EXPECT_EQ(before, 2u);
  EXPECT_TRUE(SemTryTake(&s, &before));
  EXPECT_EQ(before, 1u);
  before = 7;
  EXPECT_FALSE(SemTryTake(&s, &before));
  EXPECT_EQ(before, 7u);  // not taken: not written
  sem_destroy(&s);
}

}  // namespace
}  // namespace lockscope::glibc
