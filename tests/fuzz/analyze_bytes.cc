#include "tests/fuzz/analyze_bytes.h"

#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "analyzer/baseline.h"
#include "analyzer/checks/class_order.h"
#include "analyzer/dump_reader.h"
#include "analyzer/lock_classes.h"
#include "analyzer/lock_names.h"
#include "analyzer/render/render.h"
#include "analyzer/report.h"
#include "analyzer/symbol_cache.h"

namespace lockscope {

void AnalyzeDumpBytes(const uint8_t* data, size_t size) {
  // The reader maps a file: the input becomes one (in memory, never on disk).
  static const int fd = memfd_create("lockscope-fuzz-dump", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, 0) != 0) return;
  for (size_t done = 0; done < size;) {
    const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
  auto dump = Dump::Open("/proc/self/fd/" + std::to_string(fd));
  if (!dump.ok()) return;
  std::vector<std::unique_ptr<Dump>> dumps;
  dumps.push_back(std::move(*dump));
  AnalyzeOptions options;
  options.waits.now_ns = 1ull << 62;  // far in the future: every recorded wait is long
  options.waits.stall_seconds = 1;
  Report report = Analyze(dumps, options);
  SymbolCache symbols(dumps);
  LockClasses classes(dumps, symbols, {});
  for (Finding& f : CheckClassOrder(dumps, classes)) report.findings.push_back(std::move(f));
  NameLocks(report, symbols);
  Fingerprint(report, dumps, classes, symbols);
  (void)ClassEdges(dumps, classes);
  RenderText(report, symbols);
  RenderJson(report, symbols);
  RenderSarif(report, symbols);
  RenderDot(report, dumps, symbols, classes);
  (void)RenderTimeline(dumps, symbols, {}, false);
  (void)RenderTimeline(dumps, symbols, {}, true);
}

}  // namespace lockscope
