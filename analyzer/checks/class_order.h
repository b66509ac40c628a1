// Lock-order inversions between lock classes (lock_classes.h) across processes: process 1
// takes A -> B, process 2 (another test of the suite, another run of the program) takes
// B -> A. No process shows the cycle, and no instance address is shared; their lock classes
// are, and the program can take both orders in one run.
//
// Nodes are lock classes; an edge C->D merges every order edge, in every dump, from a lock of
// class C to a lock of class D (edges within one class are left to the instance graph).
// Reported: each cycle (shortest first, bounded by CycleLimits) that no single dump holds
// whole (a cycle within one process is the instance check's), except cycles whose every edge
// was taken, in every process it was seen in, while a lock of one common other class was held
// (a gate: a global or static lock, one per process). Each is an error, marked as class-level, its
// edges naming the process and dump they were seen in.
//
// Cost: one class per endpoint of an edge (a symbolization each, cached), then linear in the
// merged graph. Not thread-safe.
#ifndef LOCKSCOPE_ANALYZER_CHECKS_CLASS_ORDER_H_
#define LOCKSCOPE_ANALYZER_CHECKS_CLASS_ORDER_H_

#include <memory>
#include <vector>

#include "analyzer/cycle_finder.h"
#include "analyzer/dump_reader.h"
#include "analyzer/finding.h"
#include "analyzer/lock_classes.h"

namespace lockscope {

std::vector<Finding> CheckClassOrder(const std::vector<std::unique_ptr<Dump>>& dumps,
                                     LockClasses& classes, const CycleLimits& limits = {});

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_CHECKS_CLASS_ORDER_H_
