// Unit tests for baselines (analyzer/baseline.h): the file, and known / new findings.
#include "analyzer/baseline.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

namespace lockscope {
namespace {

std::string TempPath() {
  char path[] = "/tmp/lockscope-baseline-test.XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  return path;
}

TEST(BaselineTest, WrittenEdgesReadBackAndBadLinesAreNamed) {
  const std::string path = TempPath();
  const std::set<ClassEdge> edges = {
      {"app:g_first", "app:g_second"},
      {"Registry::Registry() at r.cc:4", "Foo::operator->() at f.cc:9"}};
  ASSERT_TRUE(WriteBaseline(path, edges).ok());
  absl::StatusOr<std::set<ClassEdge>> read = ReadBaseline(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, edges);
  std::ofstream(path) << "# a comment\napp:g_first -> app:g_second\n";
  read = ReadBaseline(path);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(std::string(read.status().message()).find(path + ":2: not a baseline edge"),
            std::string::npos)
      << read.status();
  unlink(path.c_str());
  EXPECT_FALSE(ReadBaseline(path).ok());
}

TEST(BaselineTest, AnInversionIsKnownOnlyWhenEveryEdgeIsInTheBaseline) {
  Report report;
  Finding known, fresh, stall;
  known.kind = fresh.kind = "lock-order-inversion";
  known.class_edges = {{"a", "b"}, {"b", "a"}};
  fresh.class_edges = {{"a", "c"}, {"c", "a"}};
  stall.kind = "stall";
  report.findings = {known, fresh, stall};
  ApplyBaseline(report, {{"a", "b"}, {"b", "a"}, {"a", "c"}}, "base");
  EXPECT_EQ(report.findings[0].baseline, "known");
  EXPECT_EQ(report.findings[0].severity, Severity::kWarning);
  EXPECT_EQ(report.findings[1].baseline, "new");
  EXPECT_EQ(report.findings[1].severity, Severity::kError);
  ASSERT_EQ(report.findings[1].details.size(), 1u);
  EXPECT_EQ(report.findings[1].details[0], "new: not in the baseline: c -> a");
  EXPECT_EQ(report.findings[2].baseline, "");
  EXPECT_EQ(report.findings[2].severity, Severity::kError);
}

}  // namespace
}  // namespace lockscope
