// The CPython GIL as a lock of kind gil, seen through the libc calls of CPython's take_gil()
// and drop_gil() on the GIL's own mutex and condition variable (python_layout.h says why and
// where they are). The mutex and condition hooks hand these objects here:
//   - the unlock of gil->mutex that leaves the GIL locked with a holder of this thread ends
//     take_gil(): the thread acquired the GIL (held stack, order edges, a ring event);
//   - a signal of gil->cond is drop_gil(): the thread let the GIL go;
//   - a wait on gil->cond is take_gil() waiting for the GIL, in `interval` (5 ms) slices: one
//     wait for the GIL, published with the acquisition prepared first, so that a deadlock
//     leaves its edge (M -> GIL), and a thread that waits for the GIL it holds (a second
//     thread state, PyGILState_Ensure in a sub-interpreter) is a self-deadlock in the dump.
// Cost: what can be done before the lock of gil->mutex is done there (GilDropComing,
// GilWaitComing), and GilTaken after its unlock: work inside the GIL's critical section
// makes the threads that hand the GIL over block on that mutex. On two CPUs it turned a
// Python lock convoy's context switches up by a fifth (docs/performance.md).
// The GIL's mutexes and its switch condition are the GIL's implementation, not locks of the
// program: they pass straight through and never enter the held stack or the order graph.
#ifndef LOCKSCOPE_SHIM_GIL_HOOKS_H_
#define LOCKSCOPE_SHIM_GIL_HOOKS_H_

#include <pthread.h>
#include <time.h>

#include "shim/python_layout.h"
#include "shim/recorder_core.h"

namespace lockscope::core {

// Which of the GIL's objects `address` is, for the CPython of this process (if we know it).
enum class GilObject { kNone, kMutex, kSwitchMutex, kCond, kSwitchCond };
inline GilObject GilObjectAt(uint64_t address) {
  const python::Runtime* py = python::Detected();
  if (__builtin_expect(py == nullptr, 1)) return GilObject::kNone;
  if (address == py->gil_mutex) return GilObject::kMutex;
  if (address == py->gil_cond) return GilObject::kCond;
  if (address == py->gil_switch_mutex) return GilObject::kSwitchMutex;
  if (address == py->gil_switch_cond) return GilObject::kSwitchCond;
  return GilObject::kNone;
}

// gil->mutex is about to be unlocked by this thread: when that ends take_gil(), the thread
// state it took the GIL with (else 0). GilTaken records it after the unlock, outside the
// GIL's critical section.
uint64_t GilTakenBy(ThreadCtx& t);
void GilTaken(ThreadCtx& t, uint64_t tstate);
// gil->mutex is about to be locked by this thread while it holds the GIL: drop_gil (or a
// take_gil that waits for the GIL it holds, which then never lets it go). Reads what
// GilReleasing needs, so that the GIL's critical section does not wait for those reads.
void GilDropComing(ThreadCtx& t);
// gil->cond is about to be signalled by this thread (drop_gil).
void GilReleasing(ThreadCtx& t);
// gil->mutex is about to be locked by this thread, which does not hold the GIL: take_gil.
// When the GIL is taken, take_gil will wait for it: the wait is published now, so that the
// GIL's critical section does not wait for that either (GilWaitOver ends it).
void GilWaitComing(ThreadCtx& t);
// take_gil waits on gil->cond: the real call, the wait published first unless it is already
// (by GilWaitComing, or by an earlier 5 ms slice of this take_gil).
int WaitForGil(ThreadCtx& t, pthread_cond_t* c, pthread_mutex_t* m, Timing how, clockid_t clock,
               const timespec* abstime);
// gil->mutex was unlocked by a thread whose wait for the GIL is published: take_gil ended
// (with the GIL, or without it when the runtime is finalising).
void GilWaitOver(ThreadCtx& t);

}  // namespace lockscope::core

#endif  // LOCKSCOPE_SHIM_GIL_HOOKS_H_
