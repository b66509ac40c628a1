// Unit tests for lock classes (analyzer/lock_classes.h): which frames are lock wrappers.
#include "analyzer/lock_classes.h"

#include <gtest/gtest.h>

namespace lockscope {
namespace {

TEST(LockClassesTest, BareFunctionNameDropsParametersQualifiersAndReturnType) {
  EXPECT_EQ(BareFunctionName("ns::Mutex::Lock() const"), "ns::Mutex::Lock");
  EXPECT_EQ(BareFunctionName("take_in_order(void*)"), "take_in_order");
  EXPECT_EQ(BareFunctionName("std::lock_guard<std::mutex>::lock_guard(std::mutex&)"),
            "std::lock_guard<std::mutex>::lock_guard");
  EXPECT_EQ(BareFunctionName("void Pool<int>::take<(anonymous namespace)::Tag>(int)"),
            "Pool<int>::take<(anonymous namespace)::Tag>");
  EXPECT_EQ(BareFunctionName("main"), "main");
  EXPECT_EQ(BareFunctionName("Worker.run"), "Worker.run");  // a Python function
}

TEST(LockClassesTest, WrappersAreTheLockPlumbingAndThePatternsGiven) {
  const std::vector<std::unique_ptr<Dump>> none;
  SymbolCache symbols(none);
  LockClasses classes(none, symbols, {"^util::Guarded<"});
  for (const char* wrapper :
       {"std::mutex::lock()", "std::lock_guard<std::mutex>::lock_guard(std::mutex&)",
        "__gthread_mutex_lock(pthread_mutex_t*)", "Mutex::Lock()", "absl::Mutex::Lock()",
        "spin_lock(int*)", "Semaphore::Acquire()", "util::Guarded<Config>::get()"})
    EXPECT_TRUE(classes.IsWrapper(wrapper)) << wrapper;
  for (const char* site :
       {"Registry::Registry()", "take_in_order(void*)", "main", "Account::transfer(Account&, int)",
        "blocked_on_lock_queue()", "unlock_all()", "Clock::now()"})
    EXPECT_FALSE(classes.IsWrapper(site)) << site;
}

}  // namespace
}  // namespace lockscope
