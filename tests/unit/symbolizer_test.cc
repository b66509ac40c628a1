// Copyright (c) lockscope authors.
//
// Tests for lockscope::Symbolizer. The test process symbolizes its own
// addresses "offline": it records its module list with dl_iterate_phdr
// exactly like the shim does, and hands that list to a Symbolizer, which then
// reads the ELF/DWARF files from disk.
//
// Must be compiled with -g (the project default is -O2 -g).

#include "analyzer/symbolizer.h"

#include <elf.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

// --- Data symbols looked up by DataSymbol() (external linkage on purpose). --

pthread_mutex_t g_test_registry_lock = PTHREAD_MUTEX_INITIALIZER;
uint64_t g_test_lock_array[8] = {1, 2, 3, 4, 5, 6, 7, 8};

namespace lockscope_symtest {

int g_namespaced_counter = 42;

// --- Code whose addresses are symbolized. ---
//
// Everything is noinline/noclone so that the functions exist out of line
// under their own names at -O2, and the empty asm statements keep calls from
// being turned into tail calls (which would lose the return address).

__attribute__((noinline, noclone)) uintptr_t CaptureReturnAddress() {
  uintptr_t ra = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  asm volatile("" : "+r"(ra)::"memory");
  return ra;
}

constexpr int kTargetFirstLine = __LINE__ + 1;
__attribute__((noinline, noclone)) int SymTestTarget(int x) {
  int acc = x;
  for (int i = 0; i < x; ++i) {
    acc = acc * 31 + i;
    asm volatile("" : "+r"(acc)::"memory");
  }
  return acc;
}
constexpr int kTargetLastLine = __LINE__ - 1;

// The recorded line and the call must stay on one line: no reformatting here.
// clang-format off
__attribute__((noinline, noclone)) uintptr_t SymTestCaller(int* line) {
  *line = __LINE__; uintptr_t ra = CaptureReturnAddress();
  asm volatile("" : "+r"(ra)::"memory");
  return ra;
}

static inline __attribute__((always_inline)) uintptr_t SymTestInlined(
    int* line) {
  *line = __LINE__; uintptr_t ra = CaptureReturnAddress();
  asm volatile("" : "+r"(ra)::"memory");
  return ra;
}

__attribute__((noinline, noclone)) uintptr_t SymTestInlineOuter(
    int* inner_line, int* call_line) {
  *call_line = __LINE__; uintptr_t ra = SymTestInlined(inner_line);
  asm volatile("" : "+r"(ra)::"memory");
  return ra;
}
// clang-format on

}  // namespace lockscope_symtest

namespace lockscope {
namespace {

using lockscope_symtest::CaptureReturnAddress;
using lockscope_symtest::kTargetFirstLine;
using lockscope_symtest::kTargetLastLine;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string SelfExePath() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return std::string();
  return std::string(buf, static_cast<size_t>(n));
}

// GNU build-id from the in-memory PT_NOTE segments, as the shim records it.
std::string RuntimeBuildId(const dl_phdr_info* info) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof(ElfW(Nhdr));
      const char* desc = name + ((nh->n_namesz + 3) & ~3u);
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
        static constexpr char kHex[] = "0123456789abcdef";
        std::string out;
        for (unsigned j = 0; j < nh->n_descsz; ++j) {
          const auto b = static_cast<unsigned char>(desc[j]);
          out.push_back(kHex[b >> 4]);
          out.push_back(kHex[b & 0xf]);
        }
        return out;
      }
      p = desc + ((nh->n_descsz + 3) & ~3u);
    }
  }
  return std::string();
}

// The module list of this process, like the shim records it (the vDSO is
// included on purpose: the Symbolizer must skip it).
std::vector<ModuleInfo> SelfModules() {
  std::vector<ModuleInfo> modules;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* out = static_cast<std::vector<ModuleInfo>*>(data);
        ModuleInfo m;
        m.path = (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0')
                     ? info->dlpi_name
                     : (out->empty() ? SelfExePath() : std::string());
        m.base = info->dlpi_addr;
        m.build_id = RuntimeBuildId(info);
        out->push_back(std::move(m));
        return 0;
      },
      &modules);
  return modules;
}

// One Symbolizer for the whole process: loading DWARF is the expensive part.
Symbolizer& Self() {
  static Symbolizer* symbolizer = new Symbolizer(SelfModules());
  return *symbolizer;
}

std::string DumpFrames(const std::vector<SymbolizedFrame>& frames) {
  std::string out;
  for (const SymbolizedFrame& f : frames) {
    out += "  pc=" + std::to_string(f.pc) + " module=" + f.module + " function=" + f.function +
           " at " + f.file + ":" + std::to_string(f.line) + (f.inlined ? " (inlined)" : "") + "\n";
  }
  return out;
}

std::string ExeBasename() {
  const std::string exe = SelfExePath();
  return exe.substr(exe.find_last_of('/') + 1);
}

TEST(SymbolizerTest, SelfModuleListHasMainProgramAndBuildIdsMatch) {
  const std::vector<ModuleInfo> modules = SelfModules();
  ASSERT_FALSE(modules.empty());
  EXPECT_EQ(modules[0].path, SelfExePath());
  EXPECT_FALSE(modules[0].build_id.empty());
  // The files on disk are the ones loaded, so nothing is mismatched.
  EXPECT_TRUE(Self().MismatchedModules().empty());
}

TEST(SymbolizerTest, FunctionEntryPc) {
  const auto pc = reinterpret_cast<uintptr_t>(&lockscope_symtest::SymTestTarget);
  const std::vector<SymbolizedFrame> frames = Self().Symbolize(pc, false);
  ASSERT_FALSE(frames.empty());
  SCOPED_TRACE(DumpFrames(frames));
  const SymbolizedFrame& f = frames.back();
  EXPECT_EQ(f.pc, pc);
  EXPECT_FALSE(f.inlined);
  EXPECT_EQ(f.module, ExeBasename());
  EXPECT_EQ(f.function, "lockscope_symtest::SymTestTarget(int)");
  EXPECT_TRUE(EndsWith(f.file, "symbolizer_test.cc")) << f.file;
  EXPECT_GE(f.line, kTargetFirstLine);
  EXPECT_LE(f.line, kTargetLastLine);
}

TEST(SymbolizerTest, PcInsideFunctionBody) {
  // A pc in the middle of the function (a few bytes past the entry is still
  // inside the prologue/body of a non-trivial function).
  const auto entry = reinterpret_cast<uintptr_t>(&lockscope_symtest::SymTestTarget);
  EXPECT_EQ(lockscope_symtest::SymTestTarget(3), ((3 * 31 + 0) * 31 + 1) * 31 + 2);
  const std::vector<SymbolizedFrame> frames = Self().Symbolize(entry + 4, false);
  SCOPED_TRACE(DumpFrames(frames));
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().pc, entry + 4);
  EXPECT_EQ(frames.back().function, "lockscope_symtest::SymTestTarget(int)");
  EXPECT_GE(frames.front().line, kTargetFirstLine);
  EXPECT_LE(frames.front().line, kTargetLastLine);
}

TEST(SymbolizerTest, ReturnAddressGivesCallerAndExactCallLine) {
  int call_line = 0;
  const uintptr_t ra = lockscope_symtest::SymTestCaller(&call_line);
  ASSERT_NE(call_line, 0);

  const std::vector<SymbolizedFrame> frames = Self().Symbolize(ra, true);
  SCOPED_TRACE(DumpFrames(frames));
  ASSERT_EQ(frames.size(), 1u);
  const SymbolizedFrame& f = frames[0];
  EXPECT_EQ(f.pc, ra);  // reported as given, not ra - 1
  EXPECT_FALSE(f.inlined);
  EXPECT_EQ(f.function, "lockscope_symtest::SymTestCaller(int*)");
  EXPECT_TRUE(EndsWith(f.file, "symbolizer_test.cc")) << f.file;
  EXPECT_EQ(f.line, call_line);

  // Results are cached and stable.
  const std::vector<SymbolizedFrame> again = Self().Symbolize(ra, true);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].function, f.function);
  EXPECT_EQ(again[0].line, f.line);
}

TEST(SymbolizerTest, InlinedFrames) {
  int inner_line = 0;
  int call_line = 0;
  const uintptr_t ra = lockscope_symtest::SymTestInlineOuter(&inner_line, &call_line);

  const std::vector<SymbolizedFrame> frames = Self().Symbolize(ra, true);
  SCOPED_TRACE(DumpFrames(frames));
  ASSERT_FALSE(frames.empty());
  // Robust part: the real (outermost) function is always last.
  const SymbolizedFrame& outer = frames.back();
  EXPECT_EQ(outer.function, "lockscope_symtest::SymTestInlineOuter(int*, int*)");
  EXPECT_FALSE(outer.inlined);
  EXPECT_TRUE(EndsWith(outer.file, "symbolizer_test.cc")) << outer.file;
  for (const SymbolizedFrame& f : frames) EXPECT_EQ(f.pc, ra);

  // With GCC's usual DWARF for always_inline functions there is an inlined
  // frame; check it in detail when present.
  if (frames.size() >= 2) {
    const SymbolizedFrame& inner = frames.front();
    EXPECT_TRUE(inner.inlined);
    EXPECT_NE(inner.function.find("SymTestInlined"), std::string::npos) << inner.function;
    EXPECT_EQ(inner.line, inner_line);
    EXPECT_TRUE(EndsWith(inner.file, "symbolizer_test.cc")) << inner.file;
    // The outer frame's location is the call site of the inlined function.
    EXPECT_EQ(outer.line, call_line);
  }
}

TEST(SymbolizerTest, DataSymbols) {
  EXPECT_EQ(Self().DataSymbol(reinterpret_cast<uintptr_t>(&g_test_registry_lock)),
            "g_test_registry_lock");
  EXPECT_EQ(Self().DataSymbol(reinterpret_cast<uintptr_t>(&g_test_registry_lock) + 3),
            "g_test_registry_lock+3");
  const uintptr_t array = reinterpret_cast<uintptr_t>(g_test_lock_array);
  EXPECT_EQ(Self().DataSymbol(array), "g_test_lock_array");
  EXPECT_EQ(Self().DataSymbol(array + 8), "g_test_lock_array+8");
  EXPECT_EQ(Self().DataSymbol(array + 40), "g_test_lock_array+40");
  // C++ names are demangled.
  EXPECT_EQ(
      Self().DataSymbol(reinterpret_cast<uintptr_t>(&lockscope_symtest::g_namespaced_counter)),
      "lockscope_symtest::g_namespaced_counter");
}

TEST(SymbolizerTest, DataSymbolOutsideModulesIsNullopt) {
  auto heap = std::make_unique<int[]>(16);
  EXPECT_EQ(Self().DataSymbol(reinterpret_cast<uintptr_t>(heap.get())), std::nullopt);
  int on_stack = 0;
  EXPECT_EQ(Self().DataSymbol(reinterpret_cast<uintptr_t>(&on_stack)), std::nullopt);
  EXPECT_EQ(Self().DataSymbol(0), std::nullopt);
  EXPECT_EQ(Self().DataSymbol(~uint64_t{0}), std::nullopt);
}

TEST(SymbolizerTest, SharedLibraryFunctionWithoutLocalDebugInfo) {
  // libc may or may not have separate debug info installed; either way the
  // symbol table names the function.
  const auto pc = reinterpret_cast<uintptr_t>(&pthread_mutex_lock);
  const std::vector<SymbolizedFrame> frames = Self().Symbolize(pc, false);
  SCOPED_TRACE(DumpFrames(frames));
  ASSERT_FALSE(frames.empty());
  // (Under ASan the interceptor in libasan.so is found instead of libc's.)
  EXPECT_NE(frames.back().module, "");
  EXPECT_NE(frames.back().function.find("pthread_mutex_lock"), std::string::npos);
}

TEST(SymbolizerTest, UnknownPcGivesSingleEmptyFrame) {
  for (const uint64_t pc : {uint64_t{0x10}, uint64_t{0}, ~uint64_t{0}}) {
    for (const bool is_ra : {false, true}) {
      const std::vector<SymbolizedFrame> frames = Self().Symbolize(pc, is_ra);
      ASSERT_EQ(frames.size(), 1u);
      EXPECT_EQ(frames[0].pc, pc);
      EXPECT_EQ(frames[0].module, "");
      EXPECT_EQ(frames[0].function, "");
      EXPECT_EQ(frames[0].file, "");
      EXPECT_EQ(frames[0].line, 0);
      EXPECT_FALSE(frames[0].inlined);
    }
  }
}

TEST(SymbolizerTest, BadModulesAreSkipped) {
  // A FIFO (opening it for reading would wait for a writer forever).
  char dir[] = "/tmp/lockscope-symbolizer-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string fifo = std::string(dir) + "/module.so";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(OpenRegularFile(fifo), -1);
  EXPECT_EQ(OpenRegularFile("/dev/zero"), -1);
  std::vector<ModuleInfo> modules = {
      {fifo, 0x700000, ""},
      {"/nonexistent/dir/libgone.so", 0x100000, "abcdef"},
      {"", 0x200000, ""},
      {"linux-vdso.so.1", 0x300000, ""},
      {"[vdso]", 0x300000, ""},
      {"/dev/null", 0x400000, ""},    // not a regular file
      {"/", 0x500000, ""},            // directory
      {"/etc/passwd", 0x600000, ""},  // not ELF
  };
  Symbolizer symbolizer(std::move(modules));
  for (const uint64_t pc : {0x100010, 0x200010, 0x300010, 0x400010, 0x600010, 0x700010}) {
    const std::vector<SymbolizedFrame> frames = symbolizer.Symbolize(pc, true);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].pc, pc);
    EXPECT_EQ(frames[0].module, "");
    EXPECT_EQ(frames[0].function, "");
    EXPECT_EQ(symbolizer.DataSymbol(pc), std::nullopt);
  }
  // Skipped modules are not build-id checked.
  EXPECT_TRUE(symbolizer.MismatchedModules().empty());
  unlink(fifo.c_str());
  rmdir(dir);
}

TEST(SymbolizerTest, EmptyModuleList) {
  Symbolizer symbolizer({});
  const std::vector<SymbolizedFrame> frames = symbolizer.Symbolize(0x1234, false);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "");
  EXPECT_EQ(symbolizer.DataSymbol(0x1234), std::nullopt);
  EXPECT_TRUE(symbolizer.MismatchedModules().empty());
}

TEST(SymbolizerTest, MixedWithMissingModuleStillSymbolizesOthers) {
  std::vector<ModuleInfo> modules = SelfModules();
  modules.insert(modules.begin(), ModuleInfo{"/nonexistent/libx.so", 0x1000, ""});
  Symbolizer symbolizer(std::move(modules));
  int call_line = 0;
  const uintptr_t ra = lockscope_symtest::SymTestCaller(&call_line);
  const std::vector<SymbolizedFrame> frames = symbolizer.Symbolize(ra, true);
  SCOPED_TRACE(DumpFrames(frames));
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().function, "lockscope_symtest::SymTestCaller(int*)");
  EXPECT_EQ(frames.back().line, call_line);
}

TEST(SymbolizerTest, DuplicateModuleEntriesAreHarmless) {
  std::vector<ModuleInfo> modules = SelfModules();
  const std::vector<ModuleInfo> copy = modules;
  modules.insert(modules.end(), copy.begin(), copy.end());
  Symbolizer symbolizer(std::move(modules));
  EXPECT_TRUE(symbolizer.MismatchedModules().empty());
  int call_line = 0;
  const uintptr_t ra = lockscope_symtest::SymTestCaller(&call_line);
  const std::vector<SymbolizedFrame> frames = symbolizer.Symbolize(ra, true);
  SCOPED_TRACE(DumpFrames(frames));
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().module, ExeBasename());
  EXPECT_EQ(frames.back().function, "lockscope_symtest::SymTestCaller(int*)");
  EXPECT_EQ(frames.back().line, call_line);
  EXPECT_EQ(symbolizer.DataSymbol(reinterpret_cast<uintptr_t>(&g_test_registry_lock)),
            "g_test_registry_lock");
}

TEST(SymbolizerTest, DuplicateAndOverlappingModulesDoNotCrash) {
  // A corrupt or odd dump: the same module twice, and another ELF file placed
  // over the main executable's range.
  std::vector<ModuleInfo> modules = SelfModules();
  ASSERT_FALSE(modules.empty());
  const ModuleInfo exe = modules[0];
  modules.push_back(exe);
  modules.push_back(ModuleInfo{"/lib/x86_64-linux-gnu/libc.so.6", exe.base, "ff"});
  modules.push_back(ModuleInfo{exe.path, ~uint64_t{0} - 0x1000, ""});
  Symbolizer symbolizer(std::move(modules));
  int call_line = 0;
  const uintptr_t ra = lockscope_symtest::SymTestCaller(&call_line);
  for (const uint64_t pc : {uint64_t{ra}, exe.base, exe.base + 0x1000, ~uint64_t{0} - 0x10}) {
    EXPECT_FALSE(symbolizer.Symbolize(pc, true).empty());
    EXPECT_FALSE(symbolizer.Symbolize(pc, false).empty());
    (void)symbolizer.DataSymbol(pc);
  }
}

TEST(SymbolizerTest, BuildIdMismatchIsReported) {
  std::vector<ModuleInfo> modules = SelfModules();
  ASSERT_FALSE(modules.empty());
  const std::string exe = modules[0].path;
  modules[0].build_id = "00112233445566778899aabbccddeeff00112233";
  // Upper-case recorded ids compare equal to the file's (lower-case) id.
  for (size_t i = 1; i < modules.size(); ++i) {
    for (char& c : modules[i].build_id) c = static_cast<char>(toupper(c));
  }
  Symbolizer symbolizer(std::move(modules));
  EXPECT_EQ(symbolizer.MismatchedModules(), std::vector<std::string>{exe});
}

}  // namespace
}  // namespace lockscope
