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
// gil->cond is about to be signalled by this thread (drop_gil).
void GilReleasing(ThreadCtx& t);
// take_gil waits on gil->cond: the published wait around the real call.
int WaitForGil(ThreadCtx& t, pthread_cond_t* c, pthread_mutex_t* m, Timing how, clockid_t clock,
               const timespec* abstime, const void* caller);

}  // namespace lockscope::core

#endif  // LOCKSCOPE_SHIM_GIL_HOOKS_H_
