// dump_reader_fuzzer — libFuzzer target for everything the analyzer does with a dump file:
// the reader (analyzer/dump_reader.cc, which validates every offset and size before use), the
// checks, lock naming and symbolization, every renderer and the timeline. A hostile or
// truncated dump must give an error or a report: never a crash, a leak, undefined behaviour
// or a hang. Built with clang by ./scripts/fuzz (build-fuzz/), seeded with real dumps.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "analyzer/dump_reader.h"
#include "analyzer/lock_names.h"
#include "analyzer/render/render.h"
#include "analyzer/report.h"
#include "analyzer/symbol_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lockscope;
  // The reader maps a file: the input becomes one (in memory, never on disk).
  static const int fd = memfd_create("lockscope-fuzz-dump", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, 0) != 0) return 0;
  for (size_t done = 0; done < size;) {
    const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) return 0;
    done += static_cast<size_t>(n);
  }
  auto dump = Dump::Open("/proc/self/fd/" + std::to_string(fd));
  if (!dump.ok()) return 0;
  std::vector<std::unique_ptr<Dump>> dumps;
  dumps.push_back(std::move(*dump));
  AnalyzeOptions options;
  options.waits.now_ns = 1ull << 62;  // far in the future: every recorded wait is long
  options.waits.stall_seconds = 1;
  Report report = Analyze(dumps, options);
  SymbolCache symbols(dumps);
  NameLocks(report, symbols);
  RenderText(report, symbols);
  RenderJson(report, symbols);
  RenderSarif(report, symbols);
  RenderDot(report, dumps, symbols);
  (void)RenderTimeline(dumps, symbols, {}, false);
  (void)RenderTimeline(dumps, symbols, {}, true);
  return 0;
}
