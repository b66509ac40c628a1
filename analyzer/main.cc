// lockscope: `run [OPTIONS] -- PROGRAM [ARGS...]` and `report [OPTIONS] DUMP_OR_DIR...`: the
// command line (cli.h has the commands). The options, exit statuses and formats are the
// README's "Usage".
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

namespace lockscope {

const char kUsage[] =
    "usage: lockscope run [OPTIONS] -- PROGRAM [ARGS...]\n"
    "       lockscope report [OPTIONS] DUMP_OR_DIR...\n"
    "       lockscope report --timeline [--threads T1,T2] [--format text|json] DUMP_OR_DIR...\n"
    "       lockscope attach [OPTIONS] [--watch SECONDS] PID   (a process without the shim)\n"
    "       lockscope libpath   (the shim, for LD_PRELOAD)\n"
    "options: --format text|json|sarif|dot|svg  --output FILE  --suppressions FILE\n"
    "         --wrapper REGEX  (a lock wrapper function: lock classes skip its frames)\n"
    "         --baseline FILE  --write-baseline FILE  (accepted lock-order edges by class)\n"
    "         --error-exitcode N  (run, attach:) --dump-dir DIR  (run:) --hang-timeout SECONDS\n"
    "         (report, for a core file:) --sysroot DIR\n";

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
          o.format != "svg")
        Fail(absl::StrCat("unknown --format '", o.format, "' (text, json, sarif, dot or svg)"));
    } else if (a == "--output") {
      o.output = get();
    } else if (a == "--suppressions") {
      o.suppressions = get();
    } else if (a == "--baseline") {
      o.baseline = get();
      // Read now: a bad baseline is a usage error before any program runs.
      absl::StatusOr<std::set<ClassEdge>> b = ReadBaseline(o.baseline);
      if (!b.ok()) Fail(std::string(b.status().message()));
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
  Fail(absl::StrCat("unknown command '", cmd, "'\n", kUsage));
}
