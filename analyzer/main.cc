// lockscope: `run [OPTIONS] -- PROGRAM [ARGS...]` and `report [OPTIONS] DUMP_OR_DIR...`.
// The user-facing surface (options, exit codes, formats) is fixed by CONTRACT.md.
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
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "analyzer/checks/waits.h"
#include "analyzer/dump_reader.h"
#include "analyzer/lock_names.h"
#include "analyzer/render/render.h"
#include "analyzer/report.h"
#include "analyzer/suppressions.h"
#include "shim/format/dump_format.h"

extern char** environ;

namespace lockscope {
namespace {

constexpr int kUsageError = 2;

const char kUsage[] =
    "usage: lockscope run [OPTIONS] -- PROGRAM [ARGS...]\n"
    "       lockscope report [OPTIONS] DUMP_OR_DIR...\n"
    "options: --format text|json|sarif|dot  --output FILE  --suppressions FILE\n"
    "         --error-exitcode N  (run only:) --dump-dir DIR  --hang-timeout SECONDS\n";

// A usage or input problem: one line on stderr, exit 2.
[[noreturn]] void Fail(const std::string& message) {
  std::cerr << "lockscope: " << message << "\n";
  std::exit(kUsageError);
}

struct Options {
  std::string format = "text";
  std::string output;
  std::string suppressions;
  int error_exitcode = 66;
  std::string dump_dir;
  std::optional<double> hang_timeout;
  std::vector<std::string> positional;  // report: inputs; run: PROGRAM ARGS
};

Options ParseOptions(const std::vector<std::string>& args, bool is_run) {
  Options o;
  size_t i = 0;
  auto value = [&](const std::string& flag) -> std::string {
    if (i + 1 >= args.size()) Fail(absl::StrCat("option ", flag, " needs a value"));
    return args[++i];
  };
  for (; i < args.size(); ++i) {
    std::string a = args[i];
    std::string inline_value;
    bool has_inline = false;
    if (absl::StartsWith(a, "--") && a.find('=') != std::string::npos) {
      inline_value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      has_inline = true;
    }
    auto get = [&]() { return has_inline ? inline_value : value(a); };
    if (a == "--") {
      ++i;
      break;
    } else if (a == "--format") {
      o.format = get();
      if (o.format != "text" && o.format != "json" && o.format != "sarif" && o.format != "dot")
        Fail(absl::StrCat("unknown --format '", o.format, "' (text, json, sarif or dot)"));
    } else if (a == "--output") {
      o.output = get();
    } else if (a == "--suppressions") {
      o.suppressions = get();
    } else if (a == "--error-exitcode") {
      std::string v = get();
      if (!absl::SimpleAtoi(v, &o.error_exitcode) || o.error_exitcode < 0 || o.error_exitcode > 255)
        Fail(absl::StrCat("--error-exitcode needs a number from 0 to 255, not '", v, "'"));
    } else if (is_run && a == "--dump-dir") {
      o.dump_dir = get();
    } else if (is_run && a == "--hang-timeout") {
      std::string v = get();
      double s = 0;
      if (!absl::SimpleAtod(v, &s) || s <= 0)
        Fail(absl::StrCat("--hang-timeout needs a positive number of seconds, not '", v, "'"));
      o.hang_timeout = s;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (absl::StartsWith(a, "-") && a.size() > 1) {
      Fail(absl::StrCat("unknown option '", a, "'\n", kUsage));
    } else if (is_run) {
      break;  // PROGRAM without "--"
    } else {
      o.positional.push_back(a);
    }
  }
  for (; i < args.size(); ++i) o.positional.push_back(args[i]);
  return o;
}

// The suppression rules of --suppressions, or a one-line failure.
std::vector<Suppression> SuppressionsOrFail(const std::string& path) {
  auto rules = ReadSuppressions(path);
  if (!rules.ok()) Fail(std::string(rules.status().message()));
  return *std::move(rules);
}

bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Dumps in a directory: lockscope.<pid>[.<n>].dump, in name order.
std::vector<std::string> DumpsIn(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) Fail(absl::StrCat("cannot read directory ", dir, ": ", strerror(errno)));
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (absl::StartsWith(name, "lockscope.") && absl::EndsWith(name, ".dump"))
      out.push_back(absl::StrCat(dir, "/", name));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Waits at least this long are stalls in `report` and in `run` without --hang-timeout.
constexpr double kDefaultStallSeconds = 10;

AnalyzeOptions DefaultAnalyzeOptions() {
  AnalyzeOptions a;
  a.waits.now_ns = MonotonicNowNs();
  a.waits.stall_seconds = kDefaultStallSeconds;
  return a;
}

// How many threads the kernel lists for the process that is writing `dump`, when it still
// runs (its pid alive, running the dump's executable); 0 otherwise. Threads that never took
// a lock have no slot in the dump: they may be running while every slot is blocked.
size_t LiveTaskCount(const Dump& dump) {
  const format::FileHeader& h = dump.header();
  if (h.state != format::kStateRunning || h.pid <= 0) return 0;
  char exe[PATH_MAX];
  ssize_t n = readlink(absl::StrCat("/proc/", h.pid, "/exe").c_str(), exe, sizeof(exe) - 1);
  if (n <= 0) return 0;
  exe[n] = '\0';
  if (strncmp(exe, h.exe_path, sizeof(h.exe_path)) != 0) return 0;  // the pid was reused
  size_t tasks = 0;
  if (DIR* d = opendir(absl::StrCat("/proc/", h.pid, "/task").c_str())) {
    while (dirent* e = readdir(d)) tasks += e->d_name[0] != '.';
    closedir(d);
  }
  return tasks;
}

// Everything a report prints, computed: the dumps, the findings with their locks named and
// the suppressions applied, and the symbols they were named with (which refer to `dumps`:
// an Analysis stays where it was made).
struct Analysis {
  Analysis() = default;
  Analysis(const Analysis&) = delete;
  Analysis& operator=(const Analysis&) = delete;
  std::vector<std::unique_ptr<Dump>> dumps;
  Report report;
  std::unique_ptr<SymbolCache> symbols;
};

// Loads the inputs and runs every check. A file named on the command line must be a valid
// dump (exit 2 otherwise). In a directory, a file that is not one (a process killed while
// creating its dump) is skipped with a note, so that one bad file does not hide every other
// process's report.
std::unique_ptr<Analysis> AnalyzeInputs(const std::vector<std::string>& inputs,
                                        const std::string& dump_dir,
                                        const AnalyzeOptions& options) {
  std::vector<std::pair<std::string, bool>> files;  // (path, named explicitly)
  for (const std::string& in : inputs) {
    if (IsDir(in)) {
      for (const std::string& f : DumpsIn(in)) files.push_back({f, false});
    } else {
      files.push_back({in, true});
    }
  }
  auto analysis = std::make_unique<Analysis>();
  Analysis& a = *analysis;
  std::vector<std::string> skipped;
  for (const auto& [f, explicit_file] : files) {
    auto d = Dump::Open(f);
    if (!d.ok()) {
      if (explicit_file) Fail(std::string(d.status().message()));
      skipped.push_back(absl::StrCat("skipped ", d.status().message()));
      continue;
    }
    a.dumps.push_back(std::move(*d));
  }
  AnalyzeOptions with_tasks = options;
  for (const auto& d : a.dumps)
    if (size_t n = LiveTaskCount(*d)) with_tasks.waits.tasks[d->path()] = n;
  a.report = Analyze(a.dumps, with_tasks);
  a.report.dump_dir = dump_dir;
  a.report.notes.insert(a.report.notes.end(), skipped.begin(), skipped.end());
  if (a.dumps.empty())
    a.report.notes.push_back(absl::StrCat("no dumps found", dump_dir.empty() ? "" : " in ",
                                          dump_dir, " (did the program start?)"));
  a.symbols = std::make_unique<SymbolCache>(a.dumps);
  return analysis;
}

// Names the findings' locks and drops the suppressed ones (symbolizes what they name).
void NameAndSuppress(Analysis& a, const Options& o) {
  NameLocks(a.report, *a.symbols);
  ApplySuppressions(a.report, *a.symbols, SuppressionsOrFail(o.suppressions));
}

// Prints the report; returns the exit status: N when it has an error finding, else
// `clean_status`.
int Emit(Analysis& a, const Options& o, int clean_status) {
  std::string text;
  if (o.format == "json")
    text = RenderJson(a.report, *a.symbols);
  else if (o.format == "sarif")
    text = RenderSarif(a.report, *a.symbols);
  else if (o.format == "dot")
    text = RenderDot(a.report, a.dumps, *a.symbols);
  else
    text = RenderText(a.report, *a.symbols);
  if (!o.output.empty()) {
    std::ofstream out(o.output, std::ios::trunc);
    if (!out) Fail(absl::StrCat("cannot write ", o.output, ": ", strerror(errno)));
    out << text;
  } else if (o.format == "text") {
    std::cerr << text;
  } else {
    std::cout << text;
  }
  return a.report.CountSeverity(Severity::kError) > 0 ? o.error_exitcode : clean_status;
}

int ReportOn(const std::vector<std::string>& inputs, const Options& o, const std::string& dump_dir,
             int clean_status, const AnalyzeOptions& options) {
  std::unique_ptr<Analysis> a = AnalyzeInputs(inputs, dump_dir, options);
  NameAndSuppress(*a, o);
  return Emit(*a, o, clean_status);
}

std::string SelfDir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  std::string p(buf);
  return p.substr(0, p.rfind('/'));
}

std::string ShimPath() {
  if (const char* s = getenv("LOCKSCOPE_SHIM"); s && *s) return s;
  for (const std::string& candidate :
       {SelfDir() + "/../shim/liblockscope.so", SelfDir() + "/../lib/liblockscope.so"}) {
    char real[PATH_MAX];
    if (realpath(candidate.c_str(), real) != nullptr) return real;
  }
  Fail("cannot find liblockscope.so next to the analyzer (set LOCKSCOPE_SHIM)");
}

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
    if (!IsDir(requested) && mkdir(requested.c_str(), 0700) != 0)
      Fail(absl::StrCat("cannot create --dump-dir ", requested, ": ", strerror(errno)));
    char real[PATH_MAX];
    if (realpath(requested.c_str(), real) == nullptr)
      Fail(absl::StrCat("cannot resolve --dump-dir ", requested, ": ", strerror(errno)));
    return real;
  }
  const char* tmp = getenv("TMPDIR");
  std::string templ = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/lockscope.XXXXXX");
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr)
    Fail(absl::StrCat("cannot create a dump directory under ", tmp && *tmp ? tmp : "/tmp", ": ",
                      strerror(errno)));
  return buf.data();
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
// when the program exited (`*status` set). Analyses are spaced so that they take at most a
// twentieth of the time (a program with a million locks is not analysed every 100 ms).
bool WatchForHang(pid_t child, const std::string& dir, const Options& o, int* status,
                  std::unique_ptr<Analysis>* hung) {
  const double timeout = *o.hang_timeout;
  WaitOptions seen;  // first_seen, as of the last poll
  uint64_t last_analysis = 0, analysis_cost = 0;
  for (;;) {
    pid_t r = waitpid(child, status, WNOHANG);
    if (r == child) return false;
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

int Run(const Options& o) {
  if (o.positional.empty()) Fail(absl::StrCat("run needs a program\n", kUsage));
  const std::string program = ResolveProgram(o.positional[0]);
  const std::string shim = ShimPath();
  const std::string dir = MakeDumpDir(o.dump_dir);
  // Validate --suppressions and --output before the program runs, not after.
  SuppressionsOrFail(o.suppressions);
  if (!o.output.empty()) {
    std::ofstream probe(o.output, std::ios::app);
    if (!probe) Fail(absl::StrCat("cannot write ", o.output, ": ", strerror(errno)));
  }

  std::string preload = shim;
  if (const char* old = getenv("LD_PRELOAD"); old && *old) preload = absl::StrCat(shim, ":", old);
  setenv("LD_PRELOAD", preload.c_str(), 1);
  setenv("LOCKSCOPE_DIR", dir.c_str(), 1);

  std::vector<char*> argv;
  for (const std::string& a : o.positional) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const bool watch = o.hang_timeout.has_value();
  // Without --hang-timeout, like system(): the terminal's ^C / ^\ reach the program (same
  // process group) and we stay to report. With it, the program gets a process group of its
  // own so that its whole tree can be killed; we forward the signals a user sends us.
  struct sigaction ignore {
  }, old_int{}, old_quit{}, old_term{}, forward{};
  ignore.sa_handler = SIG_IGN;
  forward.sa_handler = RememberSignal;
  sigaction(SIGINT, watch ? &forward : &ignore, &old_int);
  sigaction(SIGQUIT, watch ? &forward : &ignore, &old_quit);
  if (watch) sigaction(SIGTERM, &forward, &old_term);
  // Orphans of the program (its children whose parent died) become ours rather than
  // init's, so that a killed tree is reaped here and leaves no zombie behind.
  if (watch) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) Fail(absl::StrCat("pipe: ", strerror(errno)));
  pid_t pid = fork();
  if (pid < 0) Fail(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
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
  pid_t old_foreground = -1;
  if (watch) {
    setpgid(pid, pid);
    if (isatty(STDIN_FILENO)) {
      signal(SIGTTOU, SIG_IGN);
      old_foreground = tcgetpgrp(STDIN_FILENO);
      tcsetpgrp(STDIN_FILENO, pid);
    }
  }
  close(err_pipe[1]);
  int exec_errno = 0;
  ssize_t got = read(err_pipe[0], &exec_errno, sizeof(exec_errno));
  close(err_pipe[0]);
  unsetenv("LD_PRELOAD");
  int status = 0;
  if (got == sizeof(exec_errno)) {
    waitpid(pid, &status, 0);
    Fail(absl::StrCat("cannot run '", program, "': ", strerror(exec_errno)));
  }
  if (watch) {
    std::unique_ptr<Analysis> hung;
    if (WatchForHang(pid, dir, o, &status, &hung)) {
      // Kill the tree, then print the report the verdict came from (a report that fails
      // must not leave the program hung).
      KillTree(pid);
      if (old_foreground > 0) tcsetpgrp(STDIN_FILENO, old_foreground);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      // Reap the rest of the tree (re-parented to us as the subreaper).
      for (int tries = 0; tries < 50; ++tries) {
        int ignored;
        pid_t r = waitpid(-1, &ignored, WNOHANG);
        if (r < 0 && errno == ECHILD) break;
        if (r <= 0) usleep(10 * 1000);
      }
      int killed = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return Emit(*hung, o, killed);  // an error finding justified the kill: N
    }
  } else {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (old_foreground > 0) tcsetpgrp(STDIN_FILENO, old_foreground);
  int program_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return ReportOn({dir}, o, dir, program_status, DefaultAnalyzeOptions());
}

}  // namespace
}  // namespace lockscope

int main(int argc, char** argv) {
  using namespace lockscope;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) Fail(absl::StrCat("missing command\n", kUsage));
  const std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "run") return Run(ParseOptions(args, true));
  if (cmd == "report") {
    Options o = ParseOptions(args, false);
    if (o.positional.empty()) Fail(absl::StrCat("report needs a dump file or directory\n", kUsage));
    return ReportOn(o.positional, o, "", 0, DefaultAnalyzeOptions());
  }
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  Fail(absl::StrCat("unknown command '", cmd, "'\n", kUsage));
}
