// Tests for the shim's lock-free dynamic symbol lookup (shim/elf_symbols.h): it must find
// what dlsym(RTLD_DEFAULT) finds, with sizes, and nothing for names no module defines.
#include "shim/elf_symbols.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdint>

namespace lockscope {
namespace {

TEST(ElfSymbolsTest, FindsWhatDlsymFinds) {
  const char* names[] = {"malloc", "pthread_mutex_lock", "sem_post", "gnu_get_libc_version"};
  FoundSymbol found[4];
  FindSymbols(names, found, 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(found[i].address, reinterpret_cast<uint64_t>(dlsym(RTLD_DEFAULT, names[i])))
        << names[i];
    EXPECT_GT(found[i].size, 0u) << names[i];
  }
}

TEST(ElfSymbolsTest, AbsentNamesAreZero) {
  const char* names[] = {"lockscope_no_such_symbol", "_PyRuntime", "malloc"};
  FoundSymbol found[3];
  found[0] = {1, 1};  // overwritten
  FindSymbols(names, found, 3);
  EXPECT_EQ(found[0].address, 0u);
  EXPECT_EQ(found[1].address, 0u);  // no CPython in this process
  EXPECT_NE(found[2].address, 0u);
}

}  // namespace
}  // namespace lockscope
