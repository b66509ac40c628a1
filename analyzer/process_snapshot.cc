#include "analyzer/process_snapshot.h"

#include <dirent.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/ptrace.h>
#include <sys/reg.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "analyzer/checks/waits.h"
#include "analyzer/python_snapshot.h"
#include "analyzer/symbolizer.h"
#include "shim/dump_file.h"
#include "shim/tables.h"

namespace lockscope {

const char kAttachCaveat[] =
    "read without the shim: the threads' stacks and what they block on are known, but "
    "not where a lock was taken, the locks nobody waits for, when a wait began, or the lock "
    "order; `lockscope run` records those";

namespace {

constexpr long kSysFutex = 202;  // x86_64

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A thread's name, or one of its parent's (/proc/PID/task/TID/comm).
std::string ThreadName(pid_t pid, pid_t tid) {
  std::string comm = ReadFile(absl::StrCat("/proc/", pid, "/task/", tid, "/comm"));
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

// Whether futex(2)'s `op` puts the caller to sleep: FUTEX_WAIT, FUTEX_LOCK_PI,
// FUTEX_WAIT_BITSET, FUTEX_LOCK_PI2 (without FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME).
bool FutexSleeps(uint64_t op) {
  const uint64_t cmd = op & 0x7f;
  return cmd == 0 || cmd == 6 || cmd == 9 || cmd == 13;
}

// One thread as seen: its name, the futex it sleeps on (0: not in a futex wait) and since
// when at the latest (0: unknown), its stack.
struct SeenThread {
  pid_t tid = 0;
  std::string name;
  uint64_t futex = 0;
  uint64_t since_ns = 0;
  std::vector<uint64_t> pcs;
  std::vector<std::string> functions;  // of the innermost frames, for the blocking call
  bool visited = false;                // its stack was walked (it still existed then)
  uint64_t pthread = 0;                // pthread_self (its fs base): its Python thread states
};

// After the walk (no thread is stopped any more: a first lookup in a module loads its
// symbols): the names of each thread's innermost frames, and the threads the walk did not
// find dropped (they ended meanwhile).
void NameFrames(Dwfl* dwfl, std::map<pid_t, SeenThread>* threads) {
  for (auto it = threads->begin(); it != threads->end();) {
    SeenThread& t = it->second;
    if (!t.visited) {
      it = threads->erase(it);
      continue;
    }
    for (size_t i = 0; i < t.pcs.size() && i < 12; ++i) {
      const char* name = nullptr;
      if (Dwfl_Module* m = dwfl_addrmodule(dwfl, t.pcs[i] - 1))
        name = dwfl_module_addrname(m, t.pcs[i] - 1);
      t.functions.push_back(name ? name : "");
    }
    ++it;
  }
}

// /proc/PID/task/TID/syscall of a thread asleep in futex(uaddr, FUTEX_WAIT*...): uaddr.
uint64_t FutexOf(pid_t pid, pid_t tid) {
  const std::string s = ReadFile(absl::StrCat("/proc/", pid, "/task/", tid, "/syscall"));
  long nr = -1;
  unsigned long long uaddr = 0, op = 0;
  if (sscanf(s.c_str(), "%ld 0x%llx 0x%llx", &nr, &uaddr, &op) != 3 || nr != kSysFutex) return 0;
  return FutexSleeps(op) ? uaddr : 0;
}

// How often the thread was switched out, voluntarily or not: unchanged, it did not run.
std::string Switches(pid_t pid, pid_t tid) {
  const std::string status = ReadFile(absl::StrCat("/proc/", pid, "/task/", tid, "/status"));
  const size_t at = status.find("voluntary_ctxt_switches");
  return at == std::string::npos ? "" : status.substr(at);
}

// Where glibc keeps what attach reads of a pthread object: the layouts of this machine's
// glibc (the process's, on this machine), NPTL 2.25 and later on x86_64, checked here at
// compile time against its headers.
namespace nptl {
constexpr uint64_t kMutexOwner = offsetof(pthread_mutex_t, __data.__owner);
constexpr uint64_t kMutexKind = offsetof(pthread_mutex_t, __data.__kind);
constexpr int32_t kMutexPshared = 128;  // PTHREAD_MUTEX_PSHARED_BIT in __kind
constexpr uint64_t kRwlockWrphaseFutex = offsetof(pthread_rwlock_t, __data.__wrphase_futex);
constexpr uint64_t kRwlockWritersFutex = offsetof(pthread_rwlock_t, __data.__writers_futex);
constexpr uint64_t kRwlockCurWriter = offsetof(pthread_rwlock_t, __data.__cur_writer);
constexpr uint64_t kRwlockShared = offsetof(pthread_rwlock_t, __data.__shared);
constexpr uint64_t kCondSignals = offsetof(pthread_cond_t, __data.__g_signals);
// A thread sleeps on one of two words of an rwlock or a condition variable; the object is
// 8-byte aligned and the two words are 4 bytes apart, the first of them 8-byte aligned.
static_assert(kRwlockWrphaseFutex % 8 == 0 && kRwlockWritersFutex == kRwlockWrphaseFutex + 4);
static_assert(kCondSignals % 8 == 0);
// The object whose word at `first` or `first + 4` is `futex`.
inline uint64_t ObjectOfWord(uint64_t futex, uint64_t first) {
  return futex % 8 == 0 ? futex - first : futex - first - 4;
}
}  // namespace nptl

// What a blocked thread's innermost frames say it waits in.
enum class Blocking { kNone, kMutex, kRwlockRead, kRwlockWrite, kCondvar, kSemaphore, kJoin };
Blocking BlockingCall(const std::vector<std::string>& functions) {
  // By the pthread entry point, innermost first (a condition wait re-acquiring its mutex is
  // in pthread_mutex_cond_lock first). glibc's own locks (__lll_lock_wait_private: malloc
  // arenas, stdio) are not pthread objects: their words say nothing of an owner.
  for (const std::string& f : functions) {
    if (absl::StrContains(f, "pthread_mutex_lock") ||
        absl::StrContains(f, "pthread_mutex_cond_lock") ||
        absl::StrContains(f, "pthread_mutex_timedlock") ||
        absl::StrContains(f, "pthread_mutex_clocklock"))
      return Blocking::kMutex;
    if (absl::StrContains(f, "pthread_rwlock_") && absl::StrContains(f, "rdlock"))
      return Blocking::kRwlockRead;
    if (absl::StrContains(f, "pthread_rwlock_") && absl::StrContains(f, "wrlock"))
      return Blocking::kRwlockWrite;
    if (absl::StrContains(f, "pthread_cond_wait") ||
        absl::StrContains(f, "pthread_cond_timedwait") ||
        absl::StrContains(f, "pthread_cond_clockwait"))
      return Blocking::kCondvar;
    if (absl::StrContains(f, "pthread_clockjoin") || absl::StrContains(f, "pthread_join") ||
        absl::StrContains(f, "pthread_timedjoin"))
      return Blocking::kJoin;
    if (absl::StrContains(f, "sem_wait") || absl::StrContains(f, "sem_timedwait") ||
        absl::StrContains(f, "sem_clockwait"))
      return Blocking::kSemaphore;
  }
  return Blocking::kNone;
}

struct Walk {
  std::map<pid_t, SeenThread>* threads = nullptr;
  bool live = false;  // a live process (else a core, whose registers are in its notes)
};

struct ThreadWalk {
  SeenThread* thread;
  bool live;
};

int OnFrame(Dwfl_Frame* frame, void* arg) {
  auto* t = static_cast<ThreadWalk*>(arg);
  // libdwfl holds the thread stopped while it walks: its fs base (pthread_self) is read then.
  if (t->live && t->thread->pcs.empty()) {
    errno = 0;
    const long fs_base =
        ptrace(PTRACE_PEEKUSER, t->thread->tid, offsetof(user_regs_struct, fs_base), nullptr);
    if (errno == 0) t->thread->pthread = static_cast<uint64_t>(fs_base);
  }
  Dwarf_Addr pc = 0;
  bool activation = false;
  if (!dwfl_frame_pc(frame, &pc, &activation)) return DWARF_CB_ABORT;
  // Recorded stacks hold return addresses (the symbolizer looks at pc - 1): the interrupted
  // frame's pc is the instruction itself.
  if (activation) ++pc;
  t->thread->pcs.push_back(pc);
  return t->thread->pcs.size() < format::kMaxFrames ? DWARF_CB_OK : DWARF_CB_ABORT;
}

int OnThread(Dwfl_Thread* thread, void* arg) {
  Walk* w = static_cast<Walk*>(arg);
  const pid_t tid = dwfl_thread_tid(thread);
  SeenThread& t = (*w->threads)[tid];
  t.tid = tid;
  t.visited = true;
  ThreadWalk ctx{&t, w->live};
  dwfl_thread_getframes(thread, OnFrame, &ctx);  // a partial stack is still a stack
  return DWARF_CB_OK;
}

struct ModuleOut {
  format::ModuleRecord* records;
  uint64_t capacity, used;
  format::Counters* counters;
  bool core = false;                 // of a core file (its modules are all ELF images)
  std::vector<std::string> missing;  // modules whose file was not found
};

int OnModule(Dwfl_Module* m, void**, const char* module_name, Dwarf_Addr, void* arg) {
  auto* out = static_cast<ModuleOut*>(arg);
  if (out->used == out->capacity) {
    Bump(out->counters->modules_dropped);  // (the report says so)
    return DWARF_CB_OK;
  }
  // Its file: the one libdwfl opened for it, which the symbolizer opens again (a core
  // names modules by soname, or by a path that --sysroot moved); else its name.
  Dwarf_Addr bias = 0;
  if (dwfl_module_getelf(m, &bias) == nullptr) {
    // (A live process's modules are all its file mappings: a file that is there but is no
    // ELF image, such as a locale, is not missing.)
    struct stat st;
    if (module_name != nullptr && module_name[0] == '/' &&
        (out->core || stat(module_name, &st) != 0))
      out->missing.push_back(module_name);
    return DWARF_CB_OK;
  }
  Dwarf_Addr start = 0, end = 0;
  const char* mainfile = nullptr;
  const char* name =
      dwfl_module_info(m, nullptr, &start, &end, nullptr, nullptr, &mainfile, nullptr);
  const char* path = mainfile != nullptr && mainfile[0] == '/' ? mainfile : name;
  if (path == nullptr || path[0] != '/') return DWARF_CB_OK;  // [vdso] and the like
  format::ModuleRecord& r = out->records[out->used++];
  r.base = bias;
  r.start = start;
  r.end = end;
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  const int n = dwfl_module_build_id(m, &bits, &vaddr);
  if (n > 0 && n <= int(sizeof(r.build_id))) {
    memcpy(r.build_id, bits, n);
    r.build_id_size = uint8_t(n);
  }
  snprintf(r.path, sizeof(r.path), "%s", path);
  r.ready = 1;
  return DWARF_CB_OK;
}

std::string Link(const std::string& path) {
  char buf[PATH_MAX];
  const ssize_t n = readlink(path.c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : "";
}

// Thread `tid` of a fork child waits on the mutex at `address`, owned by `owner` (named
// `holder_name` there), a thread of its parent: what the shim records when a fork child blocks on a
// lock inherited locked (a ForkHeldRecord, and the child's attempt as a misuse record).
void NoteHeldAcrossFork(const DumpView& view, format::Counters* c, const std::string& holder_name,
                        pid_t tid, pid_t owner, uint64_t address, uint32_t lock, uint32_t stack) {
  for (uint64_t i = 0; i < c->fork_held_used; ++i)
    if (view.fork_held[i].address == address) return;
  if (c->fork_held_used == view.fork_held_capacity || c->misuse_used == view.misuse_capacity) {
    Bump(c->fork_held_dropped);
    return;
  }
  format::ForkHeldRecord& f = view.fork_held[c->fork_held_used++];
  f.address = address;
  f.holder_tid = owner;
  f.lock = lock;
  f.kind = format::kLockMutex;
  f.reported = 1;
  snprintf(f.holder_name, sizeof(f.holder_name), "%s", holder_name.c_str());
  f.ready = 1;
  format::MisuseRecord& m = view.misuse[c->misuse_used++];
  m.kind = format::kMisuseHeldAcrossFork;
  m.tid = tid;
  m.address = address;
  m.lock = lock;
  m.stack = stack;
  m.owner_tid = owner;
  m.ready = 1;
}

// Its parent: the 4th field of /proc/PID/stat, after the parenthesised name (0: unknown).
pid_t ParentOf(pid_t pid) {
  const std::string stat_line = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  const size_t close_paren = stat_line.rfind(')');
  int ppid = 0;
  if (close_paren == std::string::npos ||
      sscanf(stat_line.c_str() + close_paren + 1, " %*c %d", &ppid) != 1)
    return 0;
  return ppid;
}

// Why we may not trace `pid`, in one line.
std::string NotTraceable(pid_t pid, int err) {
  std::string why = absl::StrCat("cannot trace process ", pid, " (", strerror(err), ")");
  const std::string scope = ReadFile("/proc/sys/kernel/yama/ptrace_scope");
  const int level = scope.empty() ? -1 : scope[0] - '0';
  if (level >= 1)
    absl::StrAppend(&why, ": /proc/sys/kernel/yama/ptrace_scope is ", level,
                    level == 1 ? " (only a parent may trace its children): run lockscope as root, "
                                 "or allow it with `sudo sysctl kernel.yama.ptrace_scope=0`"
                               : " (tracing is restricted to root, or off): run lockscope as "
                                 "root");
  else
    absl::StrAppend(&why, ": run lockscope as the process's user, or as root");
  return why;
}

// What a snapshot knows of its process, live or from a core: its threads (their stacks and
// futex waits), how to read its memory, its modules (libdwfl's).
struct Target {
  pid_t pid = 0, ppid = 0;
  std::string exe, cmdline;
  bool forked = false;  // a fork child still running its parent's program
  bool core = false;    // read from a core file
  std::function<bool(uint64_t address, void* out, size_t size)> read;
  Dwfl* dwfl = nullptr;
  std::map<pid_t, SeenThread> threads;
  // A process in a PID namespace of its own (a container) writes its own tids in lock words:
  // each of its threads' tid there, to ours (empty when they are the same).
  std::map<pid_t, pid_t> tid_of_inner;
  // The parent's thread names, read first (one that held a lock at fork() may end soon).
  std::map<pid_t, std::string> parent_thread_names;
};

// Thread `o` holds the lock at `address` (record `lock`): listed once among its held locks.
void Hold(format::ThreadRecord& o, uint64_t address, uint32_t lock) {
  for (uint32_t i = 0; i < o.held_count; ++i)
    if (o.held[i].address == address) return;
  if (o.held_count < format::kInlineHeld) {
    o.held[o.held_count] = format::HeldLock{address, lock, 0, 0, 0, 0};
    ++o.held_count;
  }
}

// Which of the GIL's objects a thread blocked in `blocking` on `futex` waits on: the GIL
// itself (its condition or its mutex: take_gil), the rest of its implementation (drop_gil
// waiting on the switch condition for another thread to take it), or none.
enum class GilObject { kNone, kGil, kImplementation };
GilObject GilObjectOf(const PythonSnapshot& py, Blocking blocking, uint64_t futex) {
  if (blocking == Blocking::kCondvar) {
    const uint64_t cond = nptl::ObjectOfWord(futex, nptl::kCondSignals);
    if (cond == py.gil_cond) return GilObject::kGil;
    if (cond == py.gil_switch_cond) return GilObject::kImplementation;
  } else if (blocking == Blocking::kMutex) {
    if (futex == py.gil_mutex) return GilObject::kGil;
    if (futex == py.gil_switch_mutex) return GilObject::kImplementation;
  }
  return GilObject::kNone;
}

// The thread's stack in the dump: its native frames, and its Python frames beside the eval
// loop's (0 when it has none).
uint32_t ThreadStack(const PythonSnapshot& py, const ReadMemory& read, const SeenThread& t,
                     PyCodeTable& codes, StackDepot& stacks) {
  if (t.pcs.empty()) return 0;
  const uint32_t n = static_cast<uint32_t>(t.pcs.size());
  python::PythonFrames frames;
  ReadPythonStack(py, read, t.pthread, codes, &frames);
  if (frames.count == 0) return stacks.Put(t.pcs.data(), n);
  uint64_t merged[format::kMaxFrames];
  const uint32_t m =
      python::MergePythonFrames(py.eval_begin, py.eval_end, t.pcs.data(), n,
                                n == format::kMaxFrames, frames, merged, format::kMaxFrames);
  return stacks.Put(merged, m);
}

// The dump of `target` in `dir`, with the shim's own layout and tables; its path.
absl::StatusOr<SnapshotResult> WriteDump(const Target& target, const std::string& dir) {
  SnapshotResult result;
  // The dump: the shim's own layout and tables, written from here.
  Config config;
  config.dir = dir.c_str();
  // (Slot 0 is never used: 0 means no slot. Each waiter may add the slot of an owner that
  // is gone.)
  config.threads = 4;
  while (config.threads < 2 * target.threads.size() + 1) config.threads <<= 1;
  config.locks = 4096;
  config.chains = 64;
  config.edges = 64;
  config.stacks = 1;
  while (config.stacks < 2 * target.threads.size() + 2) config.stacks <<= 1;
  config.frames = std::max<uint64_t>(1024, config.stacks * format::kMaxFrames);
  config.rings = 0;
  config.syncs = 4096;
  config.py_code = 1024;
  DumpView view;
  char path[PATH_MAX];
  if (!CreateDump(config, nullptr, &view, path))
    return absl::InternalError(absl::StrCat("cannot write a dump in ", dir, ": ", strerror(errno)));
  format::FileHeader& h = *view.header;
  format::Counters* c = &h.counters;
  LockTable locks(view.locks, view.locks_capacity, c);
  StackDepot stacks(view.stacks, view.stacks_capacity, view.frames, view.frames_capacity, c);
  h.pid = target.pid;
  h.ppid = target.ppid;
  memset(h.exe_path, 0, sizeof(h.exe_path));
  snprintf(h.exe_path, sizeof(h.exe_path), "%s", target.exe.c_str());
  memset(h.cmdline, 0, sizeof(h.cmdline));
  memcpy(h.cmdline, target.cmdline.data(), std::min(target.cmdline.size(), sizeof(h.cmdline) - 1));
  ModuleOut modules{view.modules, view.modules_capacity, 0, c, target.core, {}};
  dwfl_getmodules(target.dwfl, OnModule, &modules, 0);
  c->modules_used = modules.used;
  if (!modules.missing.empty())
    result.notes.push_back(
        absl::StrCat("its files not found here (their frames and locks stay unnamed): ",
                     absl::StrJoin(modules.missing, ", "),
                     target.core ? " (report --sysroot DIR: where a copy of them is)" : ""));
  // The lock words are read with the layouts of this machine's glibc (nptl above): in a
  // process of another C library (musl, in a container), or a static one whose glibc may be
  // another, they may mean something else, and nothing is read.
  std::vector<std::string> paths = modules.missing;
  for (uint64_t i = 0; i < modules.used; ++i) paths.emplace_back(view.modules[i].path);
  const bool glibc = std::any_of(paths.begin(), paths.end(), [](const std::string& p) {
    return absl::EndsWith(p, "/libc.so.6");
  });
  if (!glibc)
    result.notes.push_back(
        "no libc.so.6 is loaded (another C library, or a static program): its lock words are "
        "not read, so what its threads wait on is not known");

  if (target.forked) h.parent_pid = target.ppid;

  // CPython: its GIL, who holds it, and each thread's Python frames.
  const PythonSnapshot py = glibc ? ReadPython(target.dwfl, target.read) : PythonSnapshot();
  if (!py.note.empty()) result.notes.push_back(py.note);
  PyCodeTable codes(view.py_code, view.py_code_capacity, c);
  pid_t gil_holder = 0;
  for (const auto& [tid, t] : target.threads)
    if (py.holder_thread != 0 && t.pthread == py.holder_thread) gil_holder = tid;

  // Threads and their waits; a mutex waited on is held by its owner.
  std::map<pid_t, uint32_t> slot_of;
  uint32_t slot = 1;
  for (const auto& [tid, t] : target.threads) {
    if (slot == view.threads_capacity) break;
    format::ThreadRecord& r = view.threads[slot];
    slot_of[tid] = slot++;
    r.tid = tid;
    snprintf(r.name, sizeof(r.name), "%s", t.name.c_str());
    r.ring = format::kNoIndex;
    r.py_interp = -1;
    r.py_wait_interp = -1;
    if (tid == gil_holder) {
      r.py_tstate = py.holder_tstate;
      r.py_interp = py.InterpreterOf(py.holder_tstate);
    }
  }
  // `owner` holds the lock at `address` (record `lock`) that thread `tid` waits for. An owner
  // the process does not have: in a fork child of the same program, one of the parent's
  // threads held it when it forked (a mutex: the shim's record of that, for the fork check);
  // otherwise it ended holding it (an exited slot, as the shim keeps for such a thread).
  auto held_by = [&](pid_t tid, int32_t owner, uint64_t address, uint32_t lock, uint32_t stack,
                     bool mutex, bool shared) {
    if (owner <= 0) return;  // (a lock word without an owner: nobody to wait for)
    if (auto ours = target.tid_of_inner.find(owner); ours != target.tid_of_inner.end())
      owner = ours->second;
    auto holder = slot_of.find(owner);
    if (holder == slot_of.end() && shared) return;  // (owned in another process, maybe alive)
    if (holder == slot_of.end() && target.forked && mutex) {
      const auto name = target.parent_thread_names.find(owner);
      NoteHeldAcrossFork(view, c, name == target.parent_thread_names.end() ? "" : name->second, tid,
                         owner, address, lock, stack);
      return;
    }
    if (holder == slot_of.end()) {
      if (slot == view.threads_capacity) {
        Bump(c->threads_dropped);
        return;
      }
      format::ThreadRecord& gone = view.threads[slot];
      holder = slot_of.emplace(owner, slot++).first;
      gone.tid = owner;
      gone.ring = format::kNoIndex;
      gone.py_interp = -1;
      gone.py_wait_interp = -1;
      gone.state = format::kThreadExited;  // (published with the others below)
    }
    Hold(view.threads[holder->second], address, lock);
  };
  for (const auto& [tid, t] : target.threads) {
    auto where = slot_of.find(tid);
    if (where == slot_of.end()) continue;
    format::ThreadRecord& r = view.threads[where->second];
    if (t.pcs.empty()) ++c->unwind_failures;  // (the report says how many)
    const uint32_t stack = ThreadStack(py, target.read, t, codes, stacks);
    if (t.futex == 0) continue;
    format::WaitRecord& w = r.wait;
    w.stack = stack;
    w.since_ns = t.since_ns;
    const Blocking blocking = glibc ? BlockingCall(t.functions) : Blocking::kNone;
    switch (py.layout ? GilObjectOf(py, blocking, t.futex) : GilObject::kNone) {
      case GilObject::kNone: break;
      case GilObject::kImplementation: continue;  // (the GIL's own business: not a wait)
      case GilObject::kGil: {
        // take_gil() waits on the GIL's condition (in 5 ms slices) or its mutex: a wait for
        // the GIL, held by the thread of its last holder while it is locked.
        bool inserted = false;
        w.kind = format::kWaitGil;
        w.address = py.gil;
        w.index = locks.FindOrInsert(py.gil, format::kLockGil, &inserted);
        if (auto holder = slot_of.find(gil_holder); gil_holder != 0 && holder != slot_of.end())
          Hold(view.threads[holder->second], py.gil, w.index);
        continue;
      }
    }
    switch (blocking) {
      case Blocking::kNone:
        // No pthread call we know of (a lock of another library, a glibc-internal lock, a
        // program that calls futex() itself, or a process whose calls we do not read).
        w.kind = format::kWaitFutex;
        w.address = t.futex;
        break;
      case Blocking::kMutex: {
        bool inserted = false;
        w.kind = format::kWaitMutex;
        w.index = locks.FindOrInsert(t.futex, format::kLockMutex, &inserted);
        w.address = t.futex;
        // Its owner, and whether it is process-shared (its owner may be a thread of another
        // process).
        int32_t owner = 0, kind = 0;
        if (!target.read(t.futex + nptl::kMutexOwner, &owner, sizeof(owner))) owner = 0;
        if (!target.read(t.futex + nptl::kMutexKind, &kind, sizeof(kind))) kind = 0;
        held_by(tid, owner, t.futex, w.index, stack, true, (kind & nptl::kMutexPshared) != 0);
        break;
      }
      case Blocking::kRwlockRead:
      case Blocking::kRwlockWrite: {
        // Readers and writers sleep on __wrphase_futex or __writers_futex; a writer that
        // holds it is __cur_writer. Readers that hold it are not named anywhere: such a lock
        // has no holder the dump knows.
        const uint64_t rwlock = nptl::ObjectOfWord(t.futex, nptl::kRwlockWrphaseFutex);
        bool inserted = false;
        w.kind =
            blocking == Blocking::kRwlockRead ? format::kWaitRwlockRead : format::kWaitRwlockWrite;
        w.index = locks.FindOrInsert(rwlock, format::kLockRwlock, &inserted);
        w.address = rwlock;
        int32_t writer = 0;
        if (!target.read(rwlock + nptl::kRwlockCurWriter, &writer, sizeof(writer))) writer = 0;
        uint32_t shared = 0;
        if (!target.read(rwlock + nptl::kRwlockShared, &shared, sizeof(shared))) shared = 0;
        held_by(tid, writer, rwlock, w.index, stack, false, shared != 0);
        break;
      }
      // (No record for either: it would claim counts of signals, takes and posts that
      // nobody counted.)
      case Blocking::kCondvar:
        // The futex is one of the condition's two __g_signals words.
        w.kind = format::kWaitCondvar;
        w.address = nptl::ObjectOfWord(t.futex, nptl::kCondSignals);
        break;
      case Blocking::kSemaphore:
        w.kind = format::kWaitSemaphore;
        w.address = t.futex;
        break;
      case Blocking::kJoin: {
        // pthread_join sleeps on the joined thread's own tid word (the kernel clears it when
        // that thread ends): the word names the thread, and stands for its handle here.
        int32_t joined = 0;
        if (!target.read(t.futex, &joined, sizeof(joined)) || joined <= 0) break;
        auto other = slot_of.find(joined);
        if (other == slot_of.end()) break;
        view.threads[other->second].pthread_handle = t.futex;
        w.kind = format::kWaitJoin;
        w.address = t.futex;
        break;
      }
    }
  }
  for (uint32_t i = 1; i < slot; ++i)
    if (view.threads[i].state == 0)
      __atomic_store_n(&view.threads[i].state, format::kThreadLive, __ATOMIC_RELEASE);
  h.state = format::kStateRunning;
  munmap(view.header, view.size);
  result.dump_path = path;
  return result;
}

}  // namespace

absl::StatusOr<SnapshotResult> SnapshotProcess(pid_t pid, const std::string& dir,
                                               double watch_seconds) {
  const std::string proc = absl::StrCat("/proc/", pid);
  struct stat st;
  if (pid <= 0 || stat(proc.c_str(), &st) != 0)
    return absl::NotFoundError(absl::StrCat("no process ", pid));
  if (pid == getpid()) return absl::InvalidArgumentError("lockscope cannot attach to itself");
  {
    // One tracer at a time (and a debugger's stopped threads say nothing of their waits).
    const std::string status = ReadFile(proc + "/status");
    const size_t at = status.find("TracerPid:");
    const int tracer = at == std::string::npos ? 0 : atoi(status.c_str() + at + 10);
    if (tracer > 0)
      return absl::FailedPreconditionError(absl::StrCat("process ", pid,
                                                        " is already traced by process ", tracer,
                                                        " (a debugger?): detach it first"));
  }
  // Reading its memory needs what tracing it needs: ask once, with a clear answer.
  const int mem = open((proc + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (mem < 0) return absl::PermissionDeniedError(NotTraceable(pid, errno));

  static const Dwfl_Callbacks callbacks = {
      .find_elf = dwfl_linux_proc_find_elf,
      .find_debuginfo = dwfl_standard_find_debuginfo,
      .section_address = nullptr,
      .debuginfo_path = nullptr,
  };
  Dwfl* dwfl = dwfl_begin(&callbacks);
  auto fail = [&](absl::Status s) {
    if (dwfl) dwfl_end(dwfl);
    close(mem);
    return s;
  };
  if (dwfl == nullptr) return fail(absl::InternalError("libdwfl: cannot start"));
  if (dwfl_linux_proc_report(dwfl, pid) != 0 || dwfl_report_end(dwfl, nullptr, nullptr) != 0)
    return fail(absl::NotFoundError(absl::StrCat("cannot read the modules of process ", pid)));

  // The futex each thread sleeps on, read before any thread is stopped (a stopped thread's
  // syscall file says nothing useful once its wait was interrupted), at both ends of the
  // watch.
  std::map<pid_t, SeenThread> threads;
  std::map<pid_t, std::string> switches;
  std::map<pid_t, pid_t> tid_of_inner;
  const pid_t ppid = ParentOf(pid);
  std::map<pid_t, std::string> parent_thread_names;
  if (DIR* d = ppid > 1 ? opendir(absl::StrCat("/proc/", ppid, "/task").c_str()) : nullptr) {
    while (dirent* e = readdir(d))
      if (const pid_t tid = atoi(e->d_name); tid > 0)
        parent_thread_names[tid] = ThreadName(ppid, tid);
    closedir(d);
  }
  const uint64_t watch_begin = MonotonicNowNs();
  if (DIR* d = opendir((proc + "/task").c_str())) {
    while (dirent* e = readdir(d)) {
      const pid_t tid = atoi(e->d_name);
      if (tid <= 0) continue;
      SeenThread& t = threads[tid];
      t.tid = tid;
      t.futex = FutexOf(pid, tid);
      switches[tid] = Switches(pid, tid);
      t.name = ThreadName(pid, tid);
      // NSpid: its tid in each PID namespace, ours first, its own last.
      const std::string status = ReadFile(absl::StrCat(proc, "/task/", tid, "/status"));
      if (const size_t at = status.find("NSpid:"); at != std::string::npos) {
        const std::string line = status.substr(at + 6, status.find('\n', at) - at - 6);
        const size_t last = line.find_last_not_of(" \t");
        const size_t begin = line.find_last_of(" \t", last);
        const pid_t inner = atoi(line.c_str() + (begin == std::string::npos ? 0 : begin + 1));
        if (inner > 0 && inner != tid) tid_of_inner[inner] = tid;
      }
    }
    closedir(d);
  }
  if (threads.empty()) return fail(absl::NotFoundError(absl::StrCat("no process ", pid)));
  if (watch_seconds > 0) {
    usleep(static_cast<useconds_t>(watch_seconds * 1e6));
    for (auto& [tid, t] : threads) {
      const uint64_t futex = FutexOf(pid, tid);
      if (t.futex != 0 && futex == t.futex && !switches[tid].empty() &&
          Switches(pid, tid) == switches[tid])
        t.since_ns = watch_begin;  // asleep there all along
      t.futex = futex;
    }
  }

  // A thread that waits in timed slices (CPython's take_gil waits for the GIL 5 ms at a time)
  // is out of its futex for a moment now and then: a thread seen running is looked at again,
  // a few times, a few milliseconds apart (a thread that really runs costs the wait once).
  for (int again = 0; again < 4; ++again) {
    if (std::all_of(threads.begin(), threads.end(), [](const auto& t) { return t.second.futex; }))
      break;
    usleep(2000);
    for (auto& [tid, t] : threads)
      if (t.futex == 0) t.futex = FutexOf(pid, tid);
  }

  if (int err = dwfl_linux_proc_attach(dwfl, pid, false); err != 0)
    return fail(absl::PermissionDeniedError(NotTraceable(pid, err)));
  const uint64_t stop_begin = MonotonicNowNs();
  Walk walk{&threads, true};
  dwfl_getthreads(dwfl, OnThread, &walk);
  const uint64_t stop_end = MonotonicNowNs();
  if (stat(proc.c_str(), &st) != 0)
    return fail(absl::NotFoundError(absl::StrCat("process ", pid, " ended")));
  NameFrames(dwfl, &threads);
  if (std::all_of(threads.begin(), threads.end(),
                  [](const auto& t) { return t.second.pcs.empty(); }))
    return fail(absl::PermissionDeniedError(
        absl::StrCat("cannot read the stacks of process ", pid, " (", dwfl_errmsg(-1), ")")));

  Target target;
  target.pid = pid;
  target.ppid = ppid;
  target.parent_thread_names = std::move(parent_thread_names);
  target.exe = Link(proc + "/exe");
  target.cmdline = ReadFile(proc + "/cmdline");
  // A fork child that did not exec runs its parent's program: a lock owned by a thread it
  // does not have was held by one of its parent's when it was forked (that thread may have
  // ended since). Otherwise such an owner ended holding it.
  target.forked = target.ppid > 1 && !target.exe.empty() &&
                  Link(absl::StrCat("/proc/", target.ppid, "/exe")) == target.exe;
  target.read = [mem](uint64_t address, void* out, size_t size) {
    return pread(mem, out, size, static_cast<off_t>(address)) == static_cast<ssize_t>(size);
  };
  target.dwfl = dwfl;
  target.threads = std::move(threads);
  target.tid_of_inner = std::move(tid_of_inner);
  absl::StatusOr<SnapshotResult> written = WriteDump(target, dir);
  dwfl_end(dwfl);
  close(mem);
  if (!written.ok()) return written.status();
  written->stopped_seconds = (stop_end - stop_begin) / 1e9;
  return written;
}

bool IsCoreFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  unsigned char ident[18] = {};
  const bool read_all = pread(fd, ident, sizeof(ident), 0) == sizeof(ident);
  close(fd);
  // ELF, 64-bit little-endian (what the shim knows), e_type ET_CORE.
  return read_all && memcmp(ident, ELFMAG, SELFMAG) == 0 && ident[EI_CLASS] == ELFCLASS64 &&
         ident[EI_DATA] == ELFDATA2LSB && (ident[16] | ident[17] << 8) == ET_CORE;
}

namespace {

// `report --sysroot DIR CORE`: where the files of the core's process are now (a copy of its
// machine's), for FindElfOfCore. (The analyzer reads one core at a time.)
std::string g_core_sysroot;

// A module of a core: under the sysroot when one is given (the path the core names, with the
// sysroot in front) and its build-id is the one in the core; otherwise by build-id or where
// the core says (elfutils).
int FindElfOfCore(Dwfl_Module* m, void** userdata, const char* name, Dwarf_Addr base,
                  char** file_name, Elf** elfp) {
  if (!g_core_sysroot.empty() && name != nullptr && name[0] == '/') {
    const std::string path = g_core_sysroot + name;
    const int fd = OpenRegularFile(path);
    Elf* elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, nullptr) : nullptr;
    if (elf != nullptr) {
      const unsigned char* want = nullptr;
      GElf_Addr vaddr = 0;
      const int n = dwfl_module_build_id(m, &want, &vaddr);
      const void* have = nullptr;
      const ssize_t k = dwelf_elf_gnu_build_id(elf, &have);
      if (n <= 0 || (k == n && memcmp(want, have, n) == 0)) {
        *file_name = strdup(path.c_str());
        *elfp = elf;
        return fd;
      }
      elf_end(elf);
    }
    if (fd >= 0) close(fd);
  }
  return dwfl_build_id_find_elf(m, userdata, name, base, file_name, elfp);
}

}  // namespace

absl::StatusOr<SnapshotResult> SnapshotCore(const std::string& core, const std::string& dir,
                                            const std::string& sysroot) {
  elf_version(EV_CURRENT);
  g_core_sysroot = sysroot == "/" ? "" : sysroot;
  const int fd = open(core.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot read ", core, ": ", strerror(errno)));
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  static const Dwfl_Callbacks callbacks = {
      .find_elf = FindElfOfCore,
      .find_debuginfo = dwfl_standard_find_debuginfo,
      .section_address = nullptr,
      .debuginfo_path = nullptr,
  };
  Dwfl* dwfl = elf ? dwfl_begin(&callbacks) : nullptr;
  auto done = [&]() {
    if (dwfl) dwfl_end(dwfl);
    if (elf) elf_end(elf);
    close(fd);
  };
  GElf_Ehdr ehdr;
  if (dwfl == nullptr || gelf_getehdr(elf, &ehdr) == nullptr || ehdr.e_type != ET_CORE ||
      ehdr.e_machine != EM_X86_64) {
    done();
    return absl::InvalidArgumentError(absl::StrCat(core, " is not an x86_64 core file"));
  }
  Target target;
  target.core = true;
  // Its memory: the PT_LOAD segments the core has contents for. Its threads: NT_PRSTATUS
  // (each thread's registers: a thread in futex() has orig_rax 202 and the address in rdi).
  struct Segment {
    uint64_t vaddr, filesz, offset;
  };
  std::vector<Segment> segments;
  size_t phnum = 0;
  elf_getphdrnum(elf, &phnum);
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr) continue;
    if (ph.p_type == PT_LOAD && ph.p_filesz > 0) {
      segments.push_back({ph.p_vaddr, ph.p_filesz, ph.p_offset});
    } else if (ph.p_type == PT_NOTE) {
      Elf_Data* data = elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz, ELF_T_NHDR);
      if (data == nullptr) continue;
      GElf_Nhdr nh;
      size_t offset = 0, name_at = 0, desc_at = 0;
      while ((offset = gelf_getnote(data, offset, &nh, &name_at, &desc_at)) > 0) {
        const char* desc = static_cast<const char*>(data->d_buf) + desc_at;
        if (nh.n_type == NT_PRSTATUS && nh.n_descsz >= sizeof(prstatus_t)) {
          prstatus_t st;
          memcpy(&st, desc, sizeof(st));
          SeenThread& t = target.threads[st.pr_pid];
          t.tid = st.pr_pid;
          t.pthread = st.pr_reg[FS_BASE];
          if (st.pr_reg[ORIG_RAX] == static_cast<uint64_t>(kSysFutex) &&
              FutexSleeps(st.pr_reg[RSI]))
            t.futex = st.pr_reg[RDI];
        } else if (nh.n_type == NT_PRPSINFO && nh.n_descsz >= sizeof(prpsinfo_t)) {
          prpsinfo_t ps;
          memcpy(&ps, desc, sizeof(ps));
          target.pid = ps.pr_pid;
          target.ppid = ps.pr_ppid;
          target.cmdline = std::string(ps.pr_psargs, strnlen(ps.pr_psargs, sizeof(ps.pr_psargs)));
          target.exe = std::string(ps.pr_fname, strnlen(ps.pr_fname, sizeof(ps.pr_fname)));
        }
      }
    }
  }
  if (target.threads.empty()) {
    done();
    return absl::InvalidArgumentError(absl::StrCat(core, ": a core file without threads"));
  }
  if (auto main_thread = target.threads.find(target.pid); main_thread != target.threads.end())
    main_thread->second.name = target.exe;  // (a core names the process, not its threads)
  target.read = [fd, &segments](uint64_t address, void* out, size_t size) {
    for (const Segment& sg : segments)
      if (address >= sg.vaddr && address + size <= sg.vaddr + sg.filesz)
        return pread(fd, out, size, static_cast<off_t>(sg.offset + (address - sg.vaddr))) ==
               static_cast<ssize_t>(size);
    return false;
  };
  if (dwfl_core_file_report(dwfl, elf, nullptr) < 0 ||
      dwfl_report_end(dwfl, nullptr, nullptr) != 0 || dwfl_core_file_attach(dwfl, elf) < 0) {
    done();
    return absl::InvalidArgumentError(
        absl::StrCat(core, ": cannot read its modules or threads (", dwfl_errmsg(-1), ")"));
  }
  for (auto& [tid, t] : target.threads) t.visited = true;  // (a core's threads all stay)
  Walk walk{&target.threads, false};
  dwfl_getthreads(dwfl, OnThread, &walk);
  NameFrames(dwfl, &target.threads);
  target.dwfl = dwfl;
  absl::StatusOr<SnapshotResult> written = WriteDump(target, dir);
  done();
  return written;
}

}  // namespace lockscope
