// DensePrefault: a chunk of a sparse shared file mapping is populated at its kDenseClaims-th
// claim, all of it and nothing else; fewer claims leave the file as sparse as it was.
#include "shim/dense_prefault.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

namespace lockscope {
namespace {

constexpr uint64_t kChunk = uint64_t{1} << DensePrefault::kMinChunkShift;

class DensePrefaultTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kBytes = 16 * kChunk;

  void SetUp() override {
    char path[] = "/tmp/lockscope-prefault-XXXXXX";
    fd_ = mkstemp(path);
    ASSERT_GE(fd_, 0);
    unlink(path);
    ASSERT_EQ(ftruncate(fd_, kBytes), 0);
    base_ = static_cast<char*>(mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0));
    ASSERT_NE(base_, MAP_FAILED);
    madvise(base_, kBytes, MADV_RANDOM);  // as the shim maps its dump: no read-ahead
  }
  void TearDown() override {
    munmap(base_, kBytes);
    close(fd_);
  }

  // Pages of [offset, offset + length) that are in memory.
  uint64_t Resident(uint64_t offset, uint64_t length) const {
    const uint64_t page = sysconf(_SC_PAGESIZE);
    std::vector<unsigned char> v(length / page);
    EXPECT_EQ(mincore(base_ + offset, length, v.data()), 0);
    uint64_t n = 0;
    for (unsigned char c : v) n += c & 1;
    return n;
  }
  uint64_t AllocatedBytes() const {
    struct stat st;
    fstat(fd_, &st);
    return uint64_t(st.st_blocks) * 512;
  }

  int fd_ = -1;
  char* base_ = nullptr;
};

TEST_F(DensePrefaultTest, PopulatesADenseChunkWhole) {
  DensePrefault p;
  p.Init(base_, kBytes);
  const uint64_t pages = kChunk / sysconf(_SC_PAGESIZE);
  for (int i = 0; i + 1 < DensePrefault::kDenseClaims; ++i) p.NoteClaim(5 * kChunk + 16 * i);
  EXPECT_EQ(Resident(5 * kChunk, kChunk), 0u) << "populated before the chunk was dense";
  p.NoteClaim(5 * kChunk + kChunk - 16);
  EXPECT_EQ(Resident(5 * kChunk, kChunk), pages);
  EXPECT_EQ(Resident(4 * kChunk, kChunk), 0u);
  EXPECT_EQ(Resident(6 * kChunk, kChunk), 0u);
  // Writable too: a store now costs no fault, and the file holds the chunk.
  EXPECT_GE(AllocatedBytes(), kChunk);
  // Populated once: more claims change nothing.
  for (int i = 0; i < 300; ++i) p.NoteClaim(5 * kChunk + 16 * i);
  EXPECT_EQ(Resident(6 * kChunk, kChunk), 0u);
}

TEST_F(DensePrefaultTest, ScatteredClaimsKeepTheFileSparse) {
  DensePrefault p;
  p.Init(base_, kBytes);
  // As many claims as would make one chunk dense, one chunk apart each (a program with a
  // few locks all over its heap): nothing is populated.
  for (int i = 0; i < DensePrefault::kDenseClaims; ++i) p.NoteClaim((i % 16) * kChunk);
  EXPECT_EQ(Resident(0, kBytes), 0u);
  EXPECT_EQ(AllocatedBytes(), 0u);
}

TEST_F(DensePrefaultTest, ClaimsBeyondTheSectionAreIgnored) {
  DensePrefault p;
  p.Init(base_, 2 * kChunk);  // only the first two chunks are the section
  for (int i = 0; i < 2 * DensePrefault::kDenseClaims; ++i) p.NoteClaim(3 * kChunk + i);
  EXPECT_EQ(Resident(0, kBytes), 0u);
}

}  // namespace
}  // namespace lockscope
