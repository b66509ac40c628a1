// `run`: start the program under the shim, watch it for hangs (--hang-timeout), kill its
// whole tree on one, and print the report.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "analyzer/checks/waits.h"
#include "analyzer/cli.h"
#include "analyzer/report_command.h"

namespace lockscope {
namespace {

std::string SelfDir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  std::string p(buf);
  return p.substr(0, p.rfind('/'));
}

}  // namespace

std::string ShimPath() {
  if (const char* s = getenv("LOCKSCOPE_SHIM"); s && *s) return s;
  // The build tree's shim/, or an installation's libdir (relative to the prefix, as meson's
  // libdir option usually is, bindir being bin/; or absolute).
  const std::string libdir = LOCKSCOPE_LIBDIR;
  const std::string installed =
      (libdir.empty() || libdir[0] != '/' ? SelfDir() + "/../" : std::string()) + libdir;
  for (const std::string& candidate :
       {SelfDir() + "/../shim/liblockscope.so", installed + "/liblockscope.so",
        SelfDir() + "/../lib/liblockscope.so"}) {
    char real[PATH_MAX];
    if (realpath(candidate.c_str(), real) != nullptr) return real;
  }
  Fail("cannot find liblockscope.so next to the analyzer (set LOCKSCOPE_SHIM)");
}

namespace {

// PROGRAM as execvp would find it, or a one-line failure.
std::string ResolveProgram(const std::string& prog) {
  auto runnable = [](const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
  };
  if (prog.find('/') != std::string::npos) {
    if (!runnable(prog))
      Fail(absl::StrCat("cannot run '", prog, "': ",
                        access(prog.c_str(), F_OK) ? "no such file" : "not an executable file"));
    return prog;
  }
  const char* path = getenv("PATH");
  std::string paths = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= paths.size()) {
    size_t end = paths.find(':', start);
    if (end == std::string::npos) end = paths.size();
    std::string dir = paths.substr(start, end - start);
    std::string cand = (dir.empty() ? "." : dir) + "/" + prog;
    if (runnable(cand)) return cand;
    start = end + 1;
  }
  Fail(absl::StrCat("cannot run '", prog, "': not found in PATH"));
}

std::string MakeDumpDir(const std::string& requested) {
  if (!requested.empty()) {
    struct stat st;
    const bool is_dir = stat(requested.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (!is_dir && mkdir(requested.c_str(), 0700) != 0)
      Fail(absl::StrCat("cannot create --dump-dir ", requested, ": ", strerror(errno)));
    char real[PATH_MAX];
    if (realpath(requested.c_str(), real) == nullptr)
      Fail(absl::StrCat("cannot resolve --dump-dir ", requested, ": ", strerror(errno)));
    return real;
  }
  return NewTempDir("lockscope");
}

// Every process whose parent chain leads to `root` (from /proc), root excluded.
std::vector<pid_t> Descendants(pid_t root) {
  std::map<pid_t, pid_t> parent;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      pid_t pid = 0;
      if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
      std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
      std::string line;
      if (!std::getline(stat, line)) continue;
      size_t close = line.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      char state;
      pid_t ppid = 0;
      rest >> state >> ppid;
      parent[pid] = ppid;
    }
    closedir(d);
  }
  std::vector<pid_t> out;
  for (auto [pid, ppid] : parent) {
    for (pid_t p = ppid, guard = 0; p > 1 && guard < 64;
         p = parent.count(p) ? parent[p] : 0, ++guard)
      if (p == root) {
        out.push_back(pid);
        break;
      }
  }
  return out;
}

// Kills the program's whole tree: its process group, and every descendant of ours (as the
// subreaper, orphans of the program, daemonised grandchildren included, are re-parented to
// us, so they descend from us rather than from the program).
void KillTree(pid_t child) {
  for (int round = 0; round < 3; ++round) {
    std::vector<pid_t> tree = Descendants(getpid());
    kill(-child, SIGKILL);
    kill(child, SIGKILL);
    for (pid_t p : tree) kill(p, SIGKILL);
    if (tree.empty()) break;
  }
}

volatile sig_atomic_t g_forward_signal = 0;
void RememberSignal(int sig) { g_forward_signal = sig; }

bool AnyHang(const Report& r, double timeout) {
  return std::any_of(r.findings.begin(), r.findings.end(),
                     [&](const Finding& f) { return IsHang(f, timeout); });
}

// The hang monitor. Polls the program's dumps every 100 ms (their thread tables only: what
// each thread waits for, since when). When a wait has lasted `timeout` seconds, it runs the
// report's own analysis on the dumps, with what it saw (when it first saw waits that carry
// no start time), and the program hangs when that report
// has a finding IsHang accepts, its suppressions applied. That report is the one printed:
// the verdict and the report cannot disagree. Returns true with `*hung` filled, or false
// when the program exited (not reaped yet). Analyses are spaced so that they take at most a
// twentieth of the time (a program with a million locks is not analysed every 100 ms).
bool WatchForHang(pid_t child, const std::string& dir, const Options& o,
                  std::unique_ptr<Analysis>* hung) {
  const double timeout = *o.hang_timeout;
  WaitOptions seen;  // first_seen, as of the last poll
  uint64_t last_analysis = 0, analysis_cost = 0;
  for (;;) {
    siginfo_t info{};
    if (waitid(P_PID, child, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == child)
      return false;  // exited: WaitFor reaps it
    if (g_forward_signal != 0) {
      kill(-child, g_forward_signal);
      g_forward_signal = 0;
    }
    const uint64_t now = MonotonicNowNs();
    std::map<std::tuple<std::string, int32_t, uint64_t>, uint64_t> first_seen;
    bool long_wait = false;
    for (const std::string& path : DumpsIn(dir)) {
      auto threads = ReadWaits(path);
      if (!threads.ok() || threads->exited) continue;  // being created, not ours, or done
      for (const WaitSnapshot& w : threads->waits) {
        auto key = std::make_tuple(path, w.tid, w.wait.address);
        auto it = seen.first_seen.find(key);
        const uint64_t first = it != seen.first_seen.end() ? it->second : now;
        first_seen[key] = first;
        std::optional<double> seconds = WaitSeconds(w.wait, first, now);
        long_wait |= seconds && *seconds >= timeout;
      }
    }
    seen.first_seen = std::move(first_seen);
    const uint64_t spacing = std::max<uint64_t>(100 * 1000 * 1000, 20 * analysis_cost);
    if (long_wait && now - last_analysis >= spacing) {
      AnalyzeOptions options;
      options.waits = seen;
      options.waits.now_ns = now;
      options.waits.stall_seconds = timeout;
      std::unique_ptr<Analysis> a = AnalyzeInputs({dir}, dir, options);
      bool hang = AnyHang(a->report, timeout);
      if (hang) {
        NameAndSuppress(*a, o);
        hang = AnyHang(a->report, timeout);
      }
      last_analysis = MonotonicNowNs();
      analysis_cost = last_analysis - now;
      if (hang) {
        *hung = std::move(a);
        return true;
      }
    }
    usleep(100 * 1000);
  }
}

// The program, started: its pid, and the terminal's foreground group to give back.
struct Child {
  pid_t pid = -1;
  pid_t old_foreground = -1;
};

// Starts PROGRAM with the shim preloaded. Without --hang-timeout, like system(): the
// terminal's ^C / ^\ reach the program (same process group) and we stay to report. With it,
// the program gets a process group of its own so that its whole tree can be killed, we
// forward the signals a user sends us, and orphans of the program become ours (the
// subreaper) so that a killed tree is reaped here and leaves no zombie behind.
Child Launch(const Options& o, const std::string& program, const std::string& dir) {
  const std::string shim = ShimPath();
  std::string preload = shim;
  if (const char* old = getenv("LD_PRELOAD"); old && *old) preload = absl::StrCat(shim, ":", old);
  setenv("LD_PRELOAD", preload.c_str(), 1);
  setenv("LOCKSCOPE_DIR", dir.c_str(), 1);
  std::vector<char*> argv;
  for (const std::string& a : o.positional) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const bool watch = o.hang_timeout.has_value();
  struct sigaction ignore {
  }, old_int{}, old_quit{}, old_term{}, forward{};
  ignore.sa_handler = SIG_IGN;
  forward.sa_handler = RememberSignal;
  sigaction(SIGINT, watch ? &forward : &ignore, &old_int);
  sigaction(SIGQUIT, watch ? &forward : &ignore, &old_quit);
  if (watch) sigaction(SIGTERM, &forward, &old_term);
  if (watch) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) Fail(absl::StrCat("pipe: ", strerror(errno)));
  Child c;
  c.pid = fork();
  if (c.pid < 0) Fail(absl::StrCat("fork: ", strerror(errno)));
  if (c.pid == 0) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    if (watch) {
      sigaction(SIGTERM, &old_term, nullptr);
      setpgid(0, 0);
    }
    close(err_pipe[0]);
    execv(program.c_str(), argv.data());
    int e = errno;
    ssize_t ignored = write(err_pipe[1], &e, sizeof(e));
    (void)ignored;
    _exit(127);
  }
  // Also from here: no race with our first killpg. A program in a group of its own that
  // reads the terminal would be stopped (SIGTTIN) unless its group is the foreground one.
  if (watch) {
    setpgid(c.pid, c.pid);
    if (isatty(STDIN_FILENO)) {
      signal(SIGTTOU, SIG_IGN);
      c.old_foreground = tcgetpgrp(STDIN_FILENO);
      tcsetpgrp(STDIN_FILENO, c.pid);
    }
  }
  close(err_pipe[1]);
  int exec_errno = 0;
  ssize_t got = read(err_pipe[0], &exec_errno, sizeof(exec_errno));
  close(err_pipe[0]);
  unsetenv("LD_PRELOAD");
  if (got == sizeof(exec_errno)) {
    int status;
    waitpid(c.pid, &status, 0);
    Fail(absl::StrCat("cannot run '", program, "': ", strerror(exec_errno)));
  }
  return c;
}

// The program's status, 128 + signal when a signal ended it.
int WaitFor(const Child& c) {
  int status = 0;
  while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (c.old_foreground > 0) tcsetpgrp(STDIN_FILENO, c.old_foreground);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Kills the whole tree and reaps it (the rest of it was re-parented to us, the subreaper).
// Returns the program's status.
int KillAndReap(const Child& c) {
  KillTree(c.pid);
  const int status = WaitFor(c);
  for (int tries = 0; tries < 50; ++tries) {
    int ignored;
    pid_t r = waitpid(-1, &ignored, WNOHANG);
    if (r < 0 && errno == ECHILD) break;
    if (r <= 0) usleep(10 * 1000);
  }
  return status;
}

}  // namespace

int RunCommand(const Options& o) {
  if (o.positional.empty()) Fail(absl::StrCat("run needs a program\n", kUsage));
  const std::string program = ResolveProgram(o.positional[0]);
  const std::string dir = MakeDumpDir(o.dump_dir);
  // Validate --suppressions and --output before the program runs, not after.
  SuppressionsOrFail(o.suppressions);
  if (!o.output.empty()) {
    std::ofstream probe(o.output, std::ios::app);
    if (!probe) Fail(absl::StrCat("cannot write ", o.output, ": ", strerror(errno)));
  }
  const Child child = Launch(o, program, dir);
  if (o.hang_timeout.has_value()) {
    std::unique_ptr<Analysis> hung;
    if (WatchForHang(child.pid, dir, o, &hung)) {
      // Kill the tree, then print the report the verdict came from (a report that fails
      // must not leave the program hung); an error finding justified the kill: N.
      const int killed = KillAndReap(child);
      return Emit(*hung, o, killed);
    }
  }
  return ReportOn({dir}, o, dir, WaitFor(child), DefaultAnalyzeOptions());
}

}  // namespace lockscope
