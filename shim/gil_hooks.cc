#include "shim/gil_hooks.h"

#include <errno.h>

#include "shim/glibc_layout.h"
#include "shim/python_frames.h"

namespace lockscope::core {

namespace {

int GilLocked(const python::Runtime& py) {
  return __atomic_load_n(reinterpret_cast<const int*>(py.gil + py.layout->gil_locked),
                         __ATOMIC_RELAXED);
}

uint64_t GilHolder(const python::Runtime& py) {
  return __atomic_load_n(reinterpret_cast<const uint64_t*>(py.gil + py.layout->gil_last_holder),
                         __ATOMIC_RELAXED);
}

bool Mine(uint64_t tstate) {
  return tstate != 0 && python::TstateThread(tstate) == static_cast<uint64_t>(pthread_self());
}

}  // namespace

uint64_t GilTakenBy(ThreadCtx& t) {
  const python::Runtime* known = python::Known();
  if (known == nullptr) return 0;  // finalising: not followed any more
  const python::Runtime& py = *known;
  // take_gil ends with the GIL locked and this thread's state its last holder (it holds
  // gil->mutex, so neither can change under us). drop_gil's unlock leaves it unlocked.
  if (t.holds_gil || GilLocked(py) != 1) return 0;
  const uint64_t holder = GilHolder(py);
  return Mine(holder) ? holder : 0;  // else another thread's take_gil gave up (finalisation)
}

void GilTaken(ThreadCtx& t, uint64_t holder) {
  const python::Runtime& py = *python::Detected();
  NoteGilTaken(t, holder);
  format::ThreadRecord& r = *t.rec;
  Atomic(r.py_interp).store(python::InterpreterId(holder), std::memory_order_relaxed);
  Atomic(r.py_tstate).store(holder, std::memory_order_release);
  // Its frames are read as the running thread's (plain loads): the thread state take_gil
  // was called with cannot go away while its thread holds the GIL taken with it.
  t.taking_gil = true;
  Prepared p = Prepare(t, py.gil, format::kLockGil, SiteOf(t, nullptr));
  t.taking_gil = false;
  // Its chain key stored, not left to be derived on demand (ChainAt): the Python lock fast
  // path compares the entry below its take by the stored key alone (semaphore_hooks.cc).
  if (p.chain == 0) p.chain = ChainKey(CurrentChain(t), p.lock, p.flags);
  Commit(t, p);  // ends a timed-out wait for the GIL, too
  RecordEvent(t, format::kOpGilTaken, p.lock, p.stack, holder);
}

void GilDropComing(ThreadCtx& t) {
  const python::Runtime* known = python::Known();
  if (known == nullptr || python::Finalizing(*known)) return;  // GilReleasing reads then
  // drop_gil stored the thread state letting go as the last holder before this lock.
  const uint64_t holder = GilHolder(*known);
  if (!Mine(holder)) return;
  NotePlaceLettingGo(t, holder);
  t.gil_drop_ns = EventClockNs();
  t.gil_drop_tstate = holder;
}

void GilReleasing(ThreadCtx& t) {
  const python::Runtime& py = *python::Detected();
  const uint64_t noted = t.gil_drop_tstate;
  t.gil_drop_tstate = 0;
  if (!t.holds_gil) return;
  const int i = FindHeld(t, py.gil);
  if (i < 0) {
    t.holds_gil = false;
    return;
  }
  uint64_t when;
  if (noted != 0 && GilHolder(py) == noted) {
    // Read by GilDropComing before drop_gil locked gil->mutex: the thread was inside
    // drop_gil, holding the GIL, so neither its frames nor the last holder changed since.
    t.holds_gil = false;
    t.py_tstate = noted;
    when = t.gil_drop_ns;
  } else {
    if (python::Finalizing(py)) {
      // Its thread state may be gone (take_gil's exit path lets go with a dangling one).
      NoteGilLetGo(t, 0);
    } else {
      // drop_gil stored the thread state letting go as the last holder before it locked
      // gil->mutex, which it holds now.
      const uint64_t holder = GilHolder(py);
      NoteGilLetGo(t, Mine(holder) ? holder : t.py_tstate);
    }
    when = EventClockNs();
  }
  const uint32_t lock = Held(t, i).lock;
  RemoveHeld(t, static_cast<uint32_t>(i));
  RecordEventAt(t, when, format::kOpGilDropped, lock, 0, t.py_tstate);
}

namespace {

// Publishes the thread's wait for the GIL (it does not hold the mutex, or holds it while
// the GIL is taken: take_gil). The wait has no deadline: take_gil's 5 ms slices are its own
// way of asking the holder to let go, and the wait goes on until take_gil ends.
void PublishGilWait(ThreadCtx& t, const python::Runtime& py) {
  // Prepared before waiting: a GIL that never comes (a deadlock) leaves its edge too.
  const Prepared p = Prepare(t, py.gil, format::kLockGil, SiteOf(t, nullptr));
  const uint64_t tstate = python::GilStateTstate();
  format::ThreadRecord& r = *t.rec;
  // Waiting for the GIL it holds: with which thread state it runs now (PyThreadState_Swap
  // may have changed it since it took the GIL, as Py_NewInterpreter does).
  if (const uint64_t running = CurrentTstate(t)) {
    Atomic(r.py_interp).store(python::InterpreterId(running), std::memory_order_relaxed);
    Atomic(r.py_tstate).store(running, std::memory_order_release);
  }
  Atomic(r.py_wait_interp).store(tstate ? python::InterpreterId(tstate) : -1,
                                 std::memory_order_relaxed);
  Atomic(r.py_wait_tstate).store(tstate, std::memory_order_relaxed);
  BeginWait(t, py.gil, format::kWaitGil, p.lock, p.stack);
  t.gil_wait_published = true;
}

}  // namespace

void GilWaitComing(ThreadCtx& t) {
  const python::Runtime* known = python::Known();
  // Taken by another thread. A holder of this thread's own is drop_gil by a thread whose
  // take the shim did not follow (GilTakenBy: a take before CPython was detected, or with
  // another thread's thread state), or a take_gil that waits for the GIL its thread holds:
  // WaitForGil publishes that one.
  if (known != nullptr && GilLocked(*known) == 1 && !Mine(GilHolder(*known)))
    PublishGilWait(t, *known);
}

void GilWaitOver(ThreadCtx& t) {
  t.gil_wait_published = false;
  ClearWait(t);
}

int WaitForGil(ThreadCtx& t, pthread_cond_t* c, pthread_mutex_t* m, Timing how, clockid_t clock,
               const timespec* abstime) {
  // Finalising: the wait passes straight through (one published already stays until
  // take_gil's unlock). Published again when the record names something else: a signal
  // handler's lock call between the lock of gil->mutex and this wait used it.
  if (const python::Runtime* known = python::Known();
      known != nullptr &&
      (!t.gil_wait_published ||
       Atomic(t.rec->wait.address).load(std::memory_order_relaxed) != known->gil))
    PublishGilWait(t, *known);
  switch (how) {
    case Timing::kUntimed: return Real().cond_wait(c, m);
    case Timing::kTimed: return Real().cond_timedwait(c, m, abstime);
    default: return Real().cond_clockwait ? Real().cond_clockwait(c, m, clock, abstime) : ENOSYS;
  }
}

}  // namespace lockscope::core
