// dump_reader_fuzzer — libFuzzer target for everything the analyzer does with a dump file:
// the reader (analyzer/dump_reader.cc, which validates every offset and size before use), the
// checks, lock naming and symbolization, every renderer and the timeline (analyze_bytes.h).
// A hostile or truncated dump must give an error or a report: never a crash, a leak,
// undefined behaviour or a hang. Built with clang by ./scripts/fuzz (build-fuzz/), seeded
// with real dumps.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/analyze_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lockscope::AnalyzeDumpBytes(data, size);
  return 0;
}
