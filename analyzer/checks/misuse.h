// Lock misuse: unlock-not-owner, destroy-locked and relock-error (recorded by the shim when
// they happen, with the stack), and exit-holding (a thread that ended while holding locks:
// the worker pool whose resource is never returned).
#ifndef LOCKSCOPE_ANALYZER_CHECKS_MISUSE_H_
#define LOCKSCOPE_ANALYZER_CHECKS_MISUSE_H_

#include <memory>
#include <vector>

#include "analyzer/dump_reader.h"
#include "analyzer/finding.h"

namespace lockscope {

std::vector<Finding> CheckMisuse(const std::vector<std::unique_ptr<Dump>>& dumps);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_CHECKS_MISUSE_H_
