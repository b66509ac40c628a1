// `report --timeline`: the threads' ring events merged in time order (format::EventOp), each
// with where it happened when the event carries a stack (a GIL taken, a lock acquired after
// waiting): the evidence for ordering races, such as a thread that had not run yet when
// another moved on.
#include <algorithm>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/finding.h"
#include "analyzer/render/json_writer.h"
#include "analyzer/render/render.h"

namespace lockscope {
namespace {

struct Row {
  uint64_t time_ns;
  size_t dump;
  int32_t pid;
  const RingEventInfo* event;
};

const char* WaitObject(uint32_t kind) {
  switch (kind) {
    case format::kWaitMutex: return "mutex";
    case format::kWaitCondvar: return "condition variable";
    case format::kWaitRwlockRead: return "rwlock (read)";
    case format::kWaitRwlockWrite: return "rwlock (write)";
    case format::kWaitSemaphore: return "semaphore";
    case format::kWaitGil: return "the GIL";
    case format::kWaitJoin: return "thread exit (pthread_join)";
    case format::kWaitSpinlock: return "spinlock";
    case format::kWaitFutex: return "futex";
  }
  return "object";
}

// The event as a phrase, and the object it concerns.
std::string Describe(const Dump& d, const format::Event& e, SymbolCache& symbols, size_t dump) {
  auto lock = [&](uint32_t index, uint64_t address) {
    const LockInfo* l = d.Lock(index);
    if (l != nullptr && l->kind == format::kLockGil) return std::string("the GIL");
    const uint64_t at = l ? l->address : address;
    const uint8_t kind = l                                    ? l->kind
                         : (e.flags & format::kEventSemaphore) ? uint8_t{format::kLockSemaphore}
                                                               : uint8_t{format::kLockMutex};
    const std::string name = symbols.LockName(dump, at);
    return absl::StrFormat("%s %#x%s", LockKindName(kind), at,
                           name.empty() ? "" : " (" + name + ")");
  };
  switch (e.op) {
    case format::kOpGilTaken: return absl::StrFormat("takes the GIL (thread state %#x)", e.extra);
    case format::kOpGilDropped:
      return absl::StrFormat("lets the GIL go (thread state %#x)", e.extra);
    case format::kOpWaitBegin:
      if (e.flags == format::kWaitGil) return "waits for the GIL";
      if (format::IsLockWait(e.flags) && e.lock != 0) return "waits for " + lock(e.lock, e.extra);
      return absl::StrFormat("waits for %s %#x", WaitObject(e.flags), e.extra);
    case format::kOpLockWaited: return "acquires " + lock(e.lock, e.extra) + " after waiting";
    case format::kOpLockFailed:
      return absl::StrFormat("fails to acquire %s (error %d)", lock(e.lock, e.extra), e.aux);
    case format::kOpCondWaitBegin:
      return absl::StrFormat("waits on condition variable %#x", e.extra);
    case format::kOpCondWaitEnd:
      return absl::StrFormat("returns from condition variable %#x%s", e.extra,
                             e.aux ? absl::StrFormat(" (error %d)", e.aux) : "");
    case format::kOpUnlock:
      return absl::StrFormat("unlocks %#x, which it does not hold", e.extra);
    case format::kOpDestroy: return "destroys " + lock(e.lock, e.extra);
    case format::kOpThreadStart: return "starts (its first lock call)";
    case format::kOpThreadExit: return "exits";
    case format::kOpFork: return "calls fork()";
  }
  return absl::StrFormat("event %d", e.op);
}

// The stack an event carries, if any.
uint32_t StackOf(const format::Event& e) {
  return (e.op == format::kOpGilTaken || e.op == format::kOpLockWaited ||
          e.op == format::kOpWaitBegin)
             ? e.aux
             : 0;
}

std::string FrameText(const SymbolizedFrame& f) {
  if (f.line <= 0) return f.function;
  std::string file = f.file;
  if (size_t slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
  return absl::StrFormat("%s (%s:%d)", f.function, file, f.line);
}

// The standard library's own Python (threading, importlib): the frame of interest is the
// program's, further out.
bool LibraryPython(const SymbolizedFrame& f) {
  return f.file.rfind("<frozen ", 0) == 0 || f.file.find("/lib/python3") != std::string::npos;
}

// Where an event happened: the innermost Python frame, and the program's own Python frame
// when the innermost is the standard library's; else the innermost frame with a line that
// is not the C library's.
std::string Where(SymbolCache& symbols, size_t dump, const std::vector<uint64_t>& pcs,
                  uint32_t frame_offset) {
  const std::vector<SymbolizedFrame> frames = symbols.Frames(dump, pcs, frame_offset);
  const SymbolizedFrame* inner = nullptr;
  for (const SymbolizedFrame& f : frames) {
    if (!f.python) continue;
    if (inner == nullptr) inner = &f;
    if (!LibraryPython(f)) {
      return inner == &f ? FrameText(f) : FrameText(*inner) + " < " + FrameText(f);
    }
  }
  if (inner != nullptr) return FrameText(*inner);
  for (const SymbolizedFrame& f : frames)
    if (f.line > 0 && f.module.rfind("libc.so", 0) != 0) return FrameText(f);
  return "";
}

}  // namespace

absl::StatusOr<std::string> RenderTimeline(const std::vector<std::unique_ptr<Dump>>& dumps,
                                           SymbolCache& symbols,
                                           const std::vector<std::string>& threads,
                                           bool json) {
  // Which threads: by tid or by name.
  std::set<std::string> wanted(threads.begin(), threads.end());
  std::set<std::string> matched;
  auto thread_name = [&](const Dump& d, int32_t tid) -> std::string {
    const ThreadInfo* t = d.ThreadByTid(tid);
    return t ? t->name : "";
  };
  // Only the chosen threads' events are kept (a dump may hold millions).
  std::vector<Row> rows;
  std::vector<std::vector<RingEventInfo>> events(dumps.size());
  for (size_t i = 0; i < dumps.size(); ++i) {
    const Dump& d = *dumps[i];
    d.ForEachEvent([&](const RingEventInfo& e) {
      if (!wanted.empty()) {
        const std::string tid = absl::StrCat(e.tid);
        const std::string name = thread_name(d, e.tid);
        const bool by_tid = e.tid != 0 && wanted.count(tid);
        const bool by_name = !name.empty() && wanted.count(name);
        if (!by_tid && !by_name) return;
        if (by_tid) matched.insert(tid);  // (both, when both were asked for)
        if (by_name) matched.insert(name);
      }
      events[i].push_back(e);
    });
    for (const RingEventInfo& e : events[i])
      rows.push_back({e.event.time_ns, i, d.header().pid, &e});
  }
  for (const std::string& w : wanted)
    if (!matched.count(w))
      return absl::NotFoundError(absl::StrCat("--threads: no events of a thread '", w,
                                              "' (a tid or a thread name) in the dumps"));
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.time_ns < b.time_ns; });
  const uint64_t origin = rows.empty() ? 0 : rows.front().time_ns;
  const bool many_pids = dumps.size() > 1;
  std::string out = json ? "{ \"timeline\": [" : "";
  size_t printed = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const Row& row = rows[r];
    const Dump& d = *dumps[row.dump];
    const format::Event& e = row.event->event;
    const int32_t tid = row.event->tid;
    // A thread taking and letting go of the GIL again and again at one place with nobody
    // else in between (I/O, imports) is one line: "takes and lets go of the GIL N times".
    size_t repeats = 1;
    if (e.op == format::kOpGilTaken)
      while (r + 2 * repeats < rows.size() &&
             rows[r + 2 * repeats - 1].event->tid == tid &&
             rows[r + 2 * repeats - 1].event->event.op == format::kOpGilDropped &&
             rows[r + 2 * repeats].event->tid == tid &&
             rows[r + 2 * repeats].event->event.op == format::kOpGilTaken &&
             rows[r + 2 * repeats].event->event.aux == e.aux)
        ++repeats;
    const std::string who = ThreadLabel(tid, thread_name(d, tid));
    std::string what = Describe(d, e, symbols, row.dump);
    if (repeats > 1) {
      r += 2 * (repeats - 1);
      what = absl::StrFormat("takes and lets go of the GIL %d times until %.6f s, then takes it",
                             repeats, double(rows[r].time_ns - origin) / 1e9);
    }
    const uint32_t stack = StackOf(e);
    const std::string where =
        stack ? Where(symbols, row.dump, d.Stack(stack), d.StackFrameOffset(stack)) : "";
    const double seconds = double(row.time_ns - origin) / 1e9;
    if (json) {
      absl::StrAppendFormat(&out,
                            "%s\n  { \"time\": %.6f, \"pid\": %d, \"tid\": %d, \"thread\": %s, "
                            "\"event\": %d, \"what\": %s, \"where\": %s }",
                            printed ? "," : "", seconds, row.pid, tid,
                            JsonString(thread_name(d, tid)), e.op, JsonString(what),
                            JsonString(where));
    } else {
      absl::StrAppendFormat(&out, "%12.6f s  %s%-24s %s%s\n", seconds,
                            many_pids ? absl::StrFormat("pid %d ", row.pid) : "", who, what,
                            where.empty() ? "" : "  at " + where);
    }
    ++printed;
  }
  if (json) absl::StrAppend(&out, printed == 0 ? "] }\n" : "\n] }\n");
  else if (rows.empty()) out = "(no events)\n";
  return out;
}

}  // namespace lockscope
