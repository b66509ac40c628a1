// Tests for the wait rules (analyzer/checks/waits.h) on dumps written with the shim's own
// dump code: timing of waits made of timed slices, quiescence, woken condition waiters, the
// wait-for graph through pthread_join, and the hang verdict.
#include "analyzer/checks/waits.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "shim/config.h"
#include "shim/dump_file.h"
#include "shim/format/dump_format.h"
#include "shim/tables.h"
#include "tests/unit/small_config.h"

namespace lockscope {
namespace {

constexpr uint64_t kSecond = 1000000000;
constexpr uint64_t kLockA = 0x7f0000001000, kLockB = 0x7f0000002000;
constexpr uint64_t kCond = 0x7f0000003000, kCond2 = 0x7f0000004000;

format::WaitRecord Waiting(uint64_t address, uint64_t since_ns) {
  format::WaitRecord w{};
  w.address = address;
  w.kind = format::kWaitMutex;
  w.since_ns = since_ns;
  return w;
}

TEST(WaitSecondsTest, TimesCurrentWaitsOnly) {
  const uint64_t now = 100 * kSecond;
  EXPECT_FALSE(WaitSeconds(format::WaitRecord{}, 0, now).has_value());  // not waiting
  EXPECT_DOUBLE_EQ(*WaitSeconds(Waiting(kLockA, now - 3 * kSecond), 0, now), 3.0);
  // A wait that looked uncontended has no start: the monitor's first sight, or unknown.
  EXPECT_LT(*WaitSeconds(Waiting(kLockA, 0), 0, now), 0);
  EXPECT_DOUBLE_EQ(*WaitSeconds(Waiting(kLockA, 0), now - 2 * kSecond, now), 2.0);
  // Started after `now` (read after the clock): no time yet.
  EXPECT_DOUBLE_EQ(*WaitSeconds(Waiting(kLockA, now + kSecond), 0, now), 0.0);
}

TEST(WaitSecondsTest, TimedOutSlicesAreOneWaitUntilTheThreadGivesUp) {
  const uint64_t now = 100 * kSecond;
  format::WaitRecord w = Waiting(kLockA, now - 5 * kSecond);
  w.timed_out_ns = now - kSecond / 100;  // between two 10 ms slices
  EXPECT_DOUBLE_EQ(*WaitSeconds(w, 0, now), 5.0);
  w.timed_out_ns = now - format::kWaitRetryGraceNs - 1;  // not retried: it gave up
  EXPECT_FALSE(WaitSeconds(w, 0, now).has_value());
}

// A dump written with the shim's code, whose thread slots the tests fill by hand.
class WaitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lockscope_waits_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    char path[PATH_MAX];
    ASSERT_TRUE(CreateDump(SmallConfig(dir_.c_str()), nullptr, &v_, path));
    path_ = path;
    locks_ = LockTable(v_.locks, v_.locks_capacity, &v_.header->counters);
    syncs_ = SyncTable(v_.syncs, v_.syncs_capacity, &v_.header->counters);
    now_ = MonotonicNowNs();
  }
  void TearDown() override {
    munmap(v_.header, v_.size);
    std::filesystem::remove_all(dir_);
  }

  // A live thread in slot `slot` (tid 100 + slot, its pthread_t 0x1000 * slot).
  format::ThreadRecord& Thread(uint32_t slot, const char* name) {
    format::ThreadRecord& r = v_.threads[slot];
    r.tid = 100 + static_cast<int32_t>(slot);
    strncpy(r.name, name, sizeof(r.name) - 1);
    r.pthread_handle = 0x1000 * slot;
    r.state = format::kThreadLive;
    return r;
  }
  uint32_t Lock(uint64_t address) {
    bool inserted;
    return locks_.FindOrInsert(address, format::kLockMutex, &inserted);
  }
  void Hold(format::ThreadRecord& r, uint64_t address) {
    r.held[r.held_count++] = {address, Lock(address), 0, 1, 0, 0};
  }
  void WaitFor(format::ThreadRecord& r, uint64_t address, uint32_t kind, double seconds_ago) {
    r.wait.address = address;
    r.wait.kind = kind;
    r.wait.index = kind == format::kWaitMutex ? Lock(address) : 0;
    r.wait.since_ns = now_ - static_cast<uint64_t>(seconds_ago * kSecond);
  }
  // A condition wait on `cond` with `mutex`, begun as its only waiter `seconds_ago`.
  void CondWait(format::ThreadRecord& r, uint64_t cond, uint64_t mutex, double seconds_ago) {
    WaitFor(r, cond, format::kWaitCondvar, seconds_ago);
    format::SyncRecord* s = syncs_.FindOrInsert(cond, format::kLockCondvar);
    r.wait.cond_mutex = mutex;
    r.wait.cond_posts = s->posts;
    r.wait.cond_broadcasts = s->broadcasts;
    r.wait.cond_ticket = (s->begins++) | (s->waiting++ == 0 ? format::kCondWaitAlone : 0);
  }
  void Signal(uint64_t cond, double seconds_ago) {
    format::SyncRecord* s = syncs_.FindOrInsert(cond, format::kLockCondvar);
    ++s->posts;
    s->last_post_ns = now_ - static_cast<uint64_t>(seconds_ago * kSecond);
  }

  std::vector<Finding> Check(double stall_seconds, size_t tasks = 0) {
    std::vector<std::unique_ptr<Dump>> dumps;
    auto d = Dump::Open(path_);
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) return {};
    dumps.push_back(std::move(*d));
    WaitOptions o;
    o.now_ns = now_;
    o.stall_seconds = stall_seconds;
    if (tasks) o.tasks[path_] = tasks;
    return CheckWaits(dumps, o);
  }

  std::string dir_, path_;
  DumpView v_;
  LockTable locks_;
  SyncTable syncs_;
  uint64_t now_ = 0;
};

std::string Kinds(const std::vector<Finding>& fs) {
  std::string s;
  for (const Finding& f : fs) s += f.kind + " ";
  return s;
}

// A lost wake-up: a worker waits on a condition nobody signals while main joins it. Every
// thread is blocked, so it is a stall once each has waited for the threshold.
TEST_F(WaitsTest, ConditionStallNeedsEveryThreadBlockedForTheThreshold) {
  WaitFor(Thread(1, "main"), 0x2000, format::kWaitJoin, 5);
  CondWait(Thread(2, "worker"), kCond, kLockA, 5);
  std::vector<Finding> fs = Check(2);
  ASSERT_EQ(fs.size(), 1u) << Kinds(fs);
  EXPECT_EQ(fs[0].kind, "stall");
  EXPECT_NE(fs[0].summary.find("condition variable"), std::string::npos) << fs[0].summary;
  EXPECT_NEAR(fs[0].blocked_seconds, 5, 0.01);
  EXPECT_TRUE(IsHang(fs[0], 2));
  EXPECT_FALSE(IsHang(fs[0], 6));
  // The kernel lists a thread the dump does not know (it never locked): it may be running.
  EXPECT_TRUE(Check(2, /*tasks=*/3).empty());
  // The same with a threshold the join has not reached: an idle worker, not a hang.
  EXPECT_TRUE(Check(6).empty());
}

TEST_F(WaitsTest, ARecentWaitKeepsTheProcessFromBeingQuiescent) {
  WaitFor(Thread(1, "main"), 0x2000, format::kWaitJoin, 0.5);  // just started joining
  WaitFor(Thread(2, "worker"), 0x5000, format::kWaitSemaphore, 30);
  EXPECT_TRUE(Check(2).empty());
}

// Woken by a signal while it was the condition's only waiter, then stuck on the mutex the
// signaller still holds: a wait for that mutex, timed from the signal.
TEST_F(WaitsTest, WokenConditionWaiterWaitsForItsMutex) {
  format::ThreadRecord& sleeper = Thread(1, "sleeper");
  CondWait(sleeper, kCond, kLockA, 10);
  format::ThreadRecord& waker = Thread(2, "waker");
  Hold(waker, kLockA);
  Signal(kCond, 3);
  CondWait(waker, kCond2, kLockB, 3);
  std::vector<Finding> fs = Check(2);
  ASSERT_EQ(fs.size(), 1u) << Kinds(fs);
  EXPECT_EQ(fs[0].kind, "stall");
  EXPECT_NEAR(fs[0].blocked_seconds, 3, 0.01);  // from the signal, not from the wait's start
  ASSERT_EQ(fs[0].locks.size(), 1u);
  EXPECT_EQ(fs[0].locks[0].address, kLockA);
  bool woken = false, held = false;
  for (const std::string& d : fs[0].details) {
    woken |= d.find("(sleeper) was woken from condition variable") != std::string::npos;
    held |= d.find("is held by T102 (waker)") != std::string::npos;
  }
  EXPECT_TRUE(woken && held) << fs[0].details.size();
}

// Another thread began waiting on the condition too: the signal may have been its own, so
// the sleeper is not taken for woken (no stall on the mutex, which would be an invention).
TEST_F(WaitsTest, SignalWithTwoWaitersWakesNobodyInParticular) {
  format::ThreadRecord& sleeper = Thread(1, "sleeper");
  CondWait(sleeper, kCond, kLockA, 10);
  CondWait(Thread(3, "other"), kCond, kLockA, 9);
  format::ThreadRecord& holder = Thread(2, "holder");
  Hold(holder, kLockA);
  Signal(kCond, 3);
  for (const Finding& f : Check(2)) EXPECT_NE(f.kind, "stall") << f.summary;
}

// A thread that joins another while holding the lock that one waits for: a deadlock through
// pthread_join.
TEST_F(WaitsTest, JoinIsAnEdgeOfTheWaitForGraph) {
  format::ThreadRecord& main = Thread(1, "main");
  Hold(main, kLockA);
  WaitFor(main, 0x2000, format::kWaitJoin, 3);  // joins slot 2
  WaitFor(Thread(2, "worker"), kLockA, format::kWaitMutex, 3);
  std::vector<Finding> fs = Check(10);
  ASSERT_EQ(fs.size(), 1u) << Kinds(fs);
  EXPECT_EQ(fs[0].kind, "deadlock");
  EXPECT_NE(fs[0].summary.find("pthread_join"), std::string::npos) << fs[0].summary;
  EXPECT_TRUE(IsHang(fs[0], 2));
}

}  // namespace
}  // namespace lockscope
