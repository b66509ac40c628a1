// lockscope: `run [OPTIONS] -- PROGRAM [ARGS...]` and `report [OPTIONS] DUMP_OR_DIR...`: the
// command line (cli.h has the commands). The options, exit statuses and formats are the
// docs/usage.md.
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "analyzer/baseline.h"
#include "analyzer/cli.h"
#include "analyzer/lock_classes.h"
#include "shim/format/dump_format.h"

namespace lockscope {

const char kUsage[] =
    "usage: lockscope run [OPTIONS] -- PROGRAM [ARGS...]\n"
    "       lockscope report [OPTIONS] DUMP_OR_DIR...\n"
    "       lockscope report --timeline [--threads T1,T2] [--format text|json] DUMP_OR_DIR...\n"
    "       lockscope attach [OPTIONS] [--watch SECONDS] PID   (a process without the shim)\n"
    "       lockscope libpath   (the shim, for LD_PRELOAD)\n"
    "       lockscope --version\n"
    "options: --format text|json|sarif|junit|dot|svg  --output FILE  --suppressions FILE\n"
    "         --verbose  --wrapper REGEX  --baseline FILE  --write-baseline FILE\n"
    "         --source-root DIR\n"
    "         --error-exitcode N  (run, attach:) --dump-dir DIR  (run:) --hang-timeout SECONDS\n"
    "         (report, for a core file:) --sysroot DIR\n"
    "lockscope COMMAND --help: every option of COMMAND, its exit statuses and environment\n";

namespace {

// The options every analysis command shares (`run`, `report`, `attach`).
const char kReportOptions[] =
    "  --format FORMAT       text (default, on stderr), json, sarif (SARIF 2.1.0), junit\n"
    "                        (JUnit XML), dot (the lock-order graph between lock classes),\n"
    "                        svg (that graph drawn by graphviz's dot)\n"
    "  --output FILE         write the report there (default: stderr for text, else stdout)\n"
    "  --suppressions FILE   lines KIND:PATTERN (a shell glob on the frames' functions, files\n"
    "                        and modules, and the lock names; KIND may be *), or\n"
    "                        fingerprint:HEX; # starts a comment\n"
    "  --verbose             also list the suppressions that matched nothing\n"
    "  --wrapper REGEX       a lock wrapper function (ECMAScript regex on its name): lock\n"
    "                        classes skip its frames (repeatable)\n"
    "  --baseline FILE       accepted lock-order edges between lock classes (CLASS<TAB>CLASS\n"
    "                        per line): an inversion whose every edge is there is known (a\n"
    "                        warning), one with another edge is new (an error)\n"
    "  --write-baseline FILE write this report's order edges, by class, there (and accept\n"
    "                        its inversions)\n"
    "  --error-exitcode N    the exit status when there is an error finding (default 66)\n"
    "  --source-root DIR     SARIF: files under DIR named relative to it (uriBaseId SRCROOT),\n"
    "                        a result located at its first frame in them\n";

const char kEnvironment[] =
    "environment (read by the shim in each process it is loaded into):\n"
    "  LOCKSCOPE_DIR         where dumps are written (run sets it to its dump directory)\n"
    "  LOCKSCOPE_DISABLE=1   load but record nothing\n"
    "  LOCKSCOPE_LOCKS, _EDGES, _CHAINS, _STACKS, _FRAMES, _STACK_DEPTH, _THREADS, _RINGS,\n"
    "  _RING_EVENTS, _MODULES, _SYNCS, _MISUSE, _FORK_HELD, _PY_CODE, _LOCK_REUSE,\n"
    "  _LOCK_ORIGINS\n"
    "                        table sizes; a bad value is named on stderr, the default used\n"
    "and by the analyzer:\n"
    "  LOCKSCOPE_SHIM        the liblockscope.so run preloads (default: next to lockscope)\n"
    "  TMPDIR                where run makes its dump directory (default /tmp)\n";

const char kRunHelp[] =
    "usage: lockscope run [OPTIONS] -- PROGRAM [ARGS...]\n"
    "Runs PROGRAM with the shim preloaded (its children and fork()ed processes too), then\n"
    "reports on every dump they left.\n"
    "options:\n"
    "  --dump-dir DIR        where the dumps go (default: a new $TMPDIR/lockscope.XXXXXX)\n"
    "  --hang-timeout SECONDS  watch the dumps; once a thread has waited SECONDS and the\n"
    "                        report has an error finding whose waits lasted that long, kill\n"
    "                        the program's process tree and print that report\n";
const char kRunExit[] =
    "exit status: the program's own (128+signal if it was killed), or N (--error-exitcode)\n"
    "when the report has an error finding; 2 for a usage error or a missing program\n";

const char kReportHelp[] =
    "usage: lockscope report [OPTIONS] DUMP_OR_DIR...\n"
    "       lockscope report --timeline [--threads T1,T2] [--format text|json] DUMP_OR_DIR...\n"
    "Reports on dump files (a directory: every lockscope.*.dump in it), all merged into one\n"
    "report (cycles between lock classes across processes included); an ELF core file is\n"
    "read like attach reads a live process.\n"
    "options:\n"
    "  --sysroot DIR         for a core file: where a copy of its machine's files is\n"
    "  --timeline            the rings' events in time order instead of findings (exit 0)\n"
    "  --threads T1,T2       with --timeline: only these threads (tids or names)\n";
const char kReportExit[] =
    "exit status: 0, or N (--error-exitcode) when the report has an error finding; 2 for a\n"
    "usage error or a dump named on the command line that cannot be read\n";

const char kAttachHelp[] =
    "usage: lockscope attach [OPTIONS] PID\n"
    "Explains a process that runs without the shim, as it is now (ptrace: each thread stopped\n"
    "only while its registers and stack are read); it goes on, or stays hung, as before.\n"
    "options:\n"
    "  --watch SECONDS       watch the waits this long before reading the stacks (default 1,\n"
    "                        0 to 3600)\n"
    "  --dump-dir DIR        keep the dump made of the process there\n";
const char kAttachExit[] =
    "exit status: 0, or N (--error-exitcode) when the report has an error finding; 2 for a\n"
    "usage error or a process that cannot be traced\n";

}  // namespace

void Fail(const std::string& message) {
  std::cerr << "lockscope: " << message << "\n";
  std::exit(kUsageError);
}

namespace {

enum class Command { kRun, kReport, kAttach };

Options ParseOptions(const std::vector<std::string>& args, Command command) {
  const bool is_run = command == Command::kRun;
  const bool is_report = command == Command::kReport;
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
      if (o.format != "text" && o.format != "json" && o.format != "sarif" && o.format != "dot" &&
          o.format != "svg" && o.format != "junit")
        Fail(absl::StrCat("unknown --format '", o.format,
                          "' (text, json, sarif, junit, dot or svg)"));
    } else if (a == "--output") {
      o.output = get();
    } else if (a == "--suppressions") {
      o.suppressions = get();
    } else if (a == "--baseline") {
      o.baseline = get();
      // Read now: a bad baseline is a usage error before any program runs.
      absl::StatusOr<std::set<ClassEdge>> b = ReadBaseline(o.baseline);
      if (!b.ok()) Fail(std::string(b.status().message()));
    } else if (a == "--source-root") {
      const std::string dir = get();
      char real[PATH_MAX];
      struct stat st;
      if (realpath(dir.c_str(), real) == nullptr || stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
        Fail(absl::StrCat("--source-root needs a directory, not '", dir, "'"));
      o.source_root = real;
      if (o.source_root == "/") o.source_root.clear();
    } else if (a == "--verbose") {
      if (has_inline) Fail("--verbose takes no value");
      o.verbose = true;
    } else if (a == "--write-baseline") {
      o.write_baseline = get();
    } else if (a == "--wrapper") {
      std::string pattern = get(), why;
      if (!ValidWrapperPattern(pattern, &why))
        Fail(absl::StrCat("--wrapper needs a regular expression: '", pattern, "': ", why));
      o.wrappers.push_back(pattern);
    } else if (a == "--error-exitcode") {
      std::string v = get();
      if (!absl::SimpleAtoi(v, &o.error_exitcode) || o.error_exitcode < 0 || o.error_exitcode > 255)
        Fail(absl::StrCat("--error-exitcode needs a number from 0 to 255, not '", v, "'"));
    } else if (!is_report && a == "--dump-dir") {
      o.dump_dir = get();
    } else if (is_run && a == "--hang-timeout") {
      std::string v = get();
      double s = 0;
      if (!absl::SimpleAtod(v, &s) || s <= 0)
        Fail(absl::StrCat("--hang-timeout needs a positive number of seconds, not '", v, "'"));
      o.hang_timeout = s;
    } else if (command == Command::kAttach && a == "--watch") {
      std::string v = get();
      double s = 0;
      if (!absl::SimpleAtod(v, &s) || s < 0 || s > 3600)
        Fail(absl::StrCat("--watch needs a number of seconds from 0 to 3600, not '", v, "'"));
      o.watch = s;
    } else if (is_report && a == "--sysroot") {
      o.sysroot = get();
      struct stat st;
      if (o.sysroot.empty() || stat(o.sysroot.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        Fail(absl::StrCat("--sysroot needs a directory, not '", o.sysroot, "'"));
      while (o.sysroot.size() > 1 && o.sysroot.back() == '/') o.sysroot.pop_back();
    } else if (is_report && a == "--timeline") {
      if (has_inline) Fail("--timeline takes no value");
      o.timeline = true;
    } else if (is_report && a == "--threads") {
      for (absl::string_view t : absl::StrSplit(get(), ',', absl::SkipEmpty()))
        o.threads.emplace_back(t);
      if (o.threads.empty()) Fail("--threads needs thread ids or names, comma-separated");
    } else if (a == "-h" || a == "--help") {
      std::cout << (is_run      ? kRunHelp
                    : is_report ? kReportHelp
                                : kAttachHelp)
                << kReportOptions
                << (is_run      ? kRunExit
                    : is_report ? kReportExit
                                : kAttachExit)
                << kEnvironment;
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
  if (!o.threads.empty() && !o.timeline) Fail("--threads goes with --timeline");
  if (o.timeline && o.format != "text" && o.format != "json")
    Fail("--timeline prints text or json");
  return o;
}

}  // namespace
}  // namespace lockscope

int main(int argc, char** argv) {
  using namespace lockscope;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) Fail(absl::StrCat("missing command\n", kUsage));
  const std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "libpath") {
    std::cout << ShimPath() << "\n";
    return 0;
  }
  if (cmd == "run") return RunCommand(ParseOptions(args, Command::kRun));
  if (cmd == "report") return ReportCommand(ParseOptions(args, Command::kReport));
  if (cmd == "attach") return AttachCommand(ParseOptions(args, Command::kAttach));
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "--version" || cmd == "version") {
    std::cout << "lockscope " << LOCKSCOPE_VERSION << " (dump format " << format::kMajorVersion
              << "." << format::kMinorVersion << ")\n";
    return 0;
  }
  Fail(absl::StrCat("unknown command '", cmd, "'\n", kUsage));
}
