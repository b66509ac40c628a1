// `report`, and the analysis that `run` shares with it: load the dumps, run the checks, name
// the locks, apply the suppressions, render.
#include "analyzer/report_command.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "analyzer/baseline.h"
#include "analyzer/checks/class_order.h"
#include "analyzer/lock_classes.h"
#include "analyzer/lock_names.h"
#include "analyzer/process_snapshot.h"
#include "analyzer/render/render.h"

namespace lockscope {

std::vector<Suppression> SuppressionsOrFail(const std::string& path) {
  auto rules = ReadSuppressions(path);
  if (!rules.ok()) Fail(std::string(rules.status().message()));
  return *std::move(rules);
}

namespace {

bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string NewTempDir(const std::string& prefix) {
  const char* tmp = getenv("TMPDIR");
  const std::string parent = tmp && *tmp ? tmp : "/tmp";
  std::string dir = absl::StrCat(parent, "/", prefix, ".XXXXXX");
  if (mkdtemp(dir.data()) == nullptr)
    Fail(absl::StrCat("cannot create a directory under ", parent, ": ", strerror(errno)));
  return dir;
}

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

namespace {

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

// A core file's snapshot (process_snapshot.h), as a dump: written to a directory of its
// own, opened (the mapping outlives the file), then removed.
std::unique_ptr<Dump> OpenCore(const std::string& core, const std::string& sysroot,
                               std::vector<std::string>* notes) {
  const std::string dir = NewTempDir("lockscope-core");
  absl::StatusOr<SnapshotResult> snap = SnapshotCore(core, dir, sysroot);
  absl::StatusOr<std::unique_ptr<Dump>> d =
      snap.ok() ? Dump::Open(snap->dump_path)
                : absl::StatusOr<std::unique_ptr<Dump>>(snap.status());
  if (snap.ok()) unlink(snap->dump_path.c_str());
  if (snap.ok())
    for (const std::string& note : snap->notes) notes->push_back(absl::StrCat(core, ": ", note));
  rmdir(dir.c_str());
  if (!d.ok()) Fail(std::string(d.status().message()));
  return std::move(*d);
}

// `dot -Tsvg` (graphviz) on a DOT text: the SVG, or a one-line failure.
std::string DotToSvg(const std::string& dot) {
  // A dot that exits before reading all of the graph must not kill us with SIGPIPE: the
  // write fails (EPIPE), and its exit status says what went wrong.
  signal(SIGPIPE, SIG_IGN);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
    Fail(absl::StrCat("--format svg: cannot make a pipe: ", strerror(errno)));
  const pid_t pid = fork();
  if (pid < 0) Fail(absl::StrCat("--format svg: cannot fork: ", strerror(errno)));
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    execlp("dot", "dot", "-Tsvg", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  // A graph bigger than the pipe: write from a thread of our own while reading here.
  std::thread writer([&] {
    size_t done = 0;
    while (done < dot.size()) {
      const ssize_t n = write(in[1], dot.data() + done, dot.size() - done);
      if (n <= 0 && errno != EINTR) break;
      if (n > 0) done += static_cast<size_t>(n);
    }
    close(in[1]);
  });
  std::string svg;
  char buf[65536];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    svg.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  writer.join();
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    Fail("--format svg needs graphviz's dot on PATH (Debian: apt install graphviz)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || svg.empty())
    Fail("--format svg: graphviz's dot failed on the graph");
  return svg;
}

}  // namespace

// One bad file in a directory must not hide every other process's report.
std::unique_ptr<Analysis> AnalyzeInputs(const std::vector<std::string>& inputs,
                                        const std::string& dump_dir, const AnalyzeOptions& options,
                                        const std::string& sysroot) {
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
  std::vector<std::string> skipped, core_notes;
  for (const auto& [f, explicit_file] : files) {
    if (explicit_file && IsCoreFile(f)) {
      a.dumps.push_back(OpenCore(f, sysroot, &core_notes));
      core_notes.push_back(absl::StrCat(f, ": ", kAttachCaveat));
      continue;
    }
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
  a.report.notes.insert(a.report.notes.end(), core_notes.begin(), core_notes.end());
  if (a.dumps.empty())
    a.report.notes.push_back(absl::StrCat(
        "no dumps found", dump_dir.empty() ? "" : " in ", dump_dir,
        ": no process took a lock under lockscope (a process makes its dump at its first lock "
        "operation; a statically linked program cannot load the shim)"));
  a.symbols = std::make_unique<SymbolCache>(a.dumps);
  return analysis;
}

void NameAndSuppress(Analysis& a, const Options& o) {
  a.classes = std::make_unique<LockClasses>(a.dumps, *a.symbols, o.wrappers);
  LockClasses& classes = *a.classes;
  for (Finding& f : CheckClassOrder(a.dumps, classes)) a.report.findings.push_back(std::move(f));
  NameLocks(a.report, *a.symbols);
  Fingerprint(a.report, a.dumps, classes, *a.symbols);
  std::vector<Suppression> rules = SuppressionsOrFail(o.suppressions);
  ApplySuppressions(a.report, *a.symbols, rules);
  if (o.verbose)
    for (const Suppression& r : rules)
      if (r.used == 0)
        a.report.notes.push_back(absl::StrCat("unused suppression ", o.suppressions, ":", r.line,
                                              ": ", r.kind, ":", r.pattern));
  if (!o.baseline.empty()) {
    absl::StatusOr<std::set<ClassEdge>> baseline = ReadBaseline(o.baseline);
    if (!baseline.ok()) Fail(std::string(baseline.status().message()));
    ApplyBaseline(a.report, *baseline, o.baseline);
  }
  if (!o.write_baseline.empty()) {
    const std::set<ClassEdge> edges = ClassEdges(a.dumps, classes);
    absl::Status written = WriteBaseline(o.write_baseline, edges);
    if (!written.ok()) Fail(std::string(written.message()));
    a.report.notes.push_back(absl::StrCat("baseline written to ", o.write_baseline, ": ",
                                          edges.size(), " lock-order edge(s) between classes"));
    // Written means accepted: this report's inversions are the baseline's known ones.
    if (o.baseline.empty()) ApplyBaseline(a.report, edges, o.write_baseline);
  }
}

int Emit(Analysis& a, const Options& o, int clean_status) {
  std::string text;
  if (o.format == "json")
    text = RenderJson(a.report, *a.symbols);
  else if (o.format == "sarif")
    text = RenderSarif(a.report, *a.symbols, o.source_root);
  else if (o.format == "junit")
    text = RenderJunit(a.report, *a.symbols);
  else if (o.format == "dot")
    text = RenderDot(a.report, a.dumps, *a.symbols, *a.classes);
  else if (o.format == "svg")
    text = DotToSvg(RenderDot(a.report, a.dumps, *a.symbols, *a.classes));
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
  std::unique_ptr<Analysis> a = AnalyzeInputs(inputs, dump_dir, options, o.sysroot);
  NameAndSuppress(*a, o);
  return Emit(*a, o, clean_status);
}

int ReportCommand(const Options& o) {
  if (o.positional.empty()) Fail(absl::StrCat("report needs a dump file or directory\n", kUsage));
  if (o.timeline) return TimelineOn(o.positional, o);
  return ReportOn(o.positional, o, "", 0, DefaultAnalyzeOptions());
}

int TimelineOn(const std::vector<std::string>& inputs, const Options& o) {
  std::unique_ptr<Analysis> a = AnalyzeInputs(inputs, "", DefaultAnalyzeOptions(), o.sysroot);
  absl::StatusOr<std::string> text =
      RenderTimeline(a->dumps, *a->symbols, o.threads, o.format == "json");
  if (!text.ok()) Fail(std::string(text.status().message()));
  if (!o.output.empty()) {
    std::ofstream out(o.output, std::ios::trunc);
    if (!out) Fail(absl::StrCat("cannot write ", o.output, ": ", strerror(errno)));
    out << *text;
  } else {
    std::cout << *text;
  }
  return 0;
}

}  // namespace lockscope
