// Every input the dump reader's fuzzer once crashed on (tests/unit/fuzz_crashers/), run
// through the same analysis (tests/fuzz/analyze_bytes.h): it must now end normally. Under the
// sanitized build (scripts/test), any memory error or undefined behaviour fails it.
#include <dirent.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/analyze_bytes.h"

namespace lockscope {
namespace {

TEST(FuzzCrashersTest, EveryOnceCrashingInputEndsNormally) {
  const std::string dir = LOCKSCOPE_FUZZ_CRASHERS;
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  int count = 0;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 5 || name.compare(name.size() - 5, 5, ".dump") != 0) continue;
    std::ifstream in(dir + "/" + name, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    SCOPED_TRACE(name);
    AnalyzeDumpBytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++count;
  }
  closedir(d);
  EXPECT_GT(count, 0);
}

}  // namespace
}  // namespace lockscope
