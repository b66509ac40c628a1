// What the fuzzer does with one input (a dump file's bytes): read it, run every check, name
// the locks, symbolize and render every format and the timeline. Shared with the unit test
// that replays the inputs that once crashed it (tests/unit/fuzz_crashers/).
#ifndef LOCKSCOPE_TESTS_FUZZ_ANALYZE_BYTES_H_
#define LOCKSCOPE_TESTS_FUZZ_ANALYZE_BYTES_H_

#include <cstddef>
#include <cstdint>

namespace lockscope {

void AnalyzeDumpBytes(const uint8_t* data, size_t size);

}  // namespace lockscope

#endif  // LOCKSCOPE_TESTS_FUZZ_ANALYZE_BYTES_H_
