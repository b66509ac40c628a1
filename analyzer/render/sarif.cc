// SARIF 2.1.0: one result per finding, its stacks as code flows (one thread flow each). With
// a source root, files under it are named relative to it (uriBaseId SRCROOT), and a
// result's location is its first frame in the project's own files. Every object is one the
// standard defines, with the properties it allows: tests/sarif/ holds the schema the tests
// check this against.
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/finding_kinds.h"
#include "analyzer/render/json_writer.h"
#include "analyzer/render/render.h"

namespace lockscope {

namespace {

// `file` relative to `root` (a directory, no trailing slash) when it lies under it, else "".
std::string UnderRoot(const std::string& file, const std::string& root) {
  if (root.empty() || file.size() <= root.size() + 1 || file.compare(0, root.size(), root) != 0 ||
      file[root.size()] != '/')
    return "";
  return file.substr(root.size() + 1);
}

// A path as a URI reference (RFC 3986): an absolute path becomes a file: URI; every byte
// but the unreserved ones and '/' is percent-encoded (a space, '[' of "[vdso]", UTF-8).
std::string PathUri(const std::string& path) {
  std::string out = path.starts_with("/") ? "file://" : "";
  for (unsigned char c : path) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
      out += static_cast<char>(c);
    else
      absl::StrAppendFormat(&out, "%%%02X", c);
  }
  return out;
}

// The rules (reportingDescriptor) of the kinds `report` has, in order of first appearance:
// rule i is (*order)[i] (a result's ruleIndex).
std::string Rules(const Report& report, std::vector<std::string>* order) {
  std::string out;
  for (const Finding& f : report.findings) {
    bool seen = false;
    for (const std::string& k : *order) seen = seen || k == f.kind;
    if (seen) continue;
    order->push_back(f.kind);
    const FindingKind* kind = FindFindingKind(f.kind);
    absl::StrAppend(&out, order->size() > 1 ? ",\n" : "\n", "      { \"id\": ", JsonString(f.kind),
                    kind ? absl::StrCat(", \"shortDescription\": { \"text\": ",
                                        JsonString(kind->description), " }")
                         : "",
                    " }");
  }
  return out;
}

}  // namespace

std::string RenderSarif(const Report& report, SymbolCache& symbols, const std::string& root) {
  std::vector<std::string> rules;
  const std::string rule_list = Rules(report, &rules);
  std::string out = absl::StrCat(
      "{ \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\", \"version\": \"2.1.0\",\n"
      "  \"runs\": [ { \"tool\": { \"driver\": { \"name\": \"lockscope\", \"version\": ",
      JsonString(LOCKSCOPE_VERSION), ", \"rules\": [", rule_list, rules.empty() ? "" : "\n    ",
      "] } },\n",
      root.empty() ? ""
                   : absl::StrCat("    \"originalUriBaseIds\": { \"SRCROOT\": { \"uri\": ",
                                  JsonString(PathUri(root + "/")), " } },\n"),
      "    \"results\": [");
  for (size_t i = 0; i < report.findings.size(); ++i) {
    const Finding& f = report.findings[i];
    const char* level = f.severity == Severity::kError     ? "error"
                        : f.severity == Severity::kWarning ? "warning"
                                                           : "note";
    size_t rule = 0;
    while (rules[rule] != f.kind) ++rule;
    absl::StrAppend(
        &out, i ? ",\n" : "\n", "      { \"ruleId\": ", JsonString(f.kind),
        ", \"ruleIndex\": ", rule, ", \"level\": \"", level,
        "\", \"partialFingerprints\": { \"lockscope/v1\": ", JsonString(f.fingerprint), " }",
        f.baseline.empty() ? ""
                           : absl::StrCat(", \"baselineState\": \"",
                                          f.baseline == "known" ? "unchanged" : "new", "\""),
        ", \"message\": { \"text\": ", JsonString(f.summary), " }");
    // A thread flow has at least one location, a code flow at least one thread flow: a stack
    // with no frames is left out, and a finding with none has no code flow.
    std::string flows, first_location, first_own;
    for (const FindingStack& st : f.stacks) {
      std::vector<SymbolizedFrame> frames = symbols.Frames(st.dump, st.pcs, st.frame_offset);
      if (frames.empty()) continue;
      absl::StrAppend(&flows, flows.empty() ? "" : ", ",
                      "{ \"message\": { \"text\": ", JsonString(st.role), " }, \"locations\": [");
      bool first = true;
      for (const SymbolizedFrame& fr : frames) {
        const std::string relative = UnderRoot(fr.file, root);
        std::string loc = absl::StrCat(
            "{ \"physicalLocation\": { \"artifactLocation\": { \"uri\": ",
            relative.empty()
                ? JsonString(PathUri(fr.file.empty() ? fr.module : fr.file))
                : absl::StrCat(JsonString(PathUri(relative)), ", \"uriBaseId\": \"SRCROOT\""),
            " }",
            fr.line > 0 ? absl::StrFormat(", \"region\": { \"startLine\": %d }", fr.line) : "",
            " }",
            fr.function.empty()
                ? ""
                : absl::StrCat(", \"logicalLocations\": [ { \"fullyQualifiedName\": ",
                               JsonString(fr.function), " } ]"),
            fr.python ? ", \"properties\": { \"language\": \"python\" }" : "", " }");
        if (first_location.empty() && fr.line > 0) first_location = loc;
        if (first_own.empty() && fr.line > 0 && !relative.empty()) first_own = loc;
        absl::StrAppend(&flows, first ? "" : ", ", "{ \"location\": ", loc, " }");
        first = false;
      }
      absl::StrAppend(&flows, "] }");
    }
    if (!flows.empty())
      absl::StrAppend(&out, ",\n        \"codeFlows\": [ { \"threadFlows\": [", flows, "] } ]");
    if (!first_own.empty()) first_location = first_own;
    if (!first_location.empty())
      absl::StrAppend(&out, ",\n        \"locations\": [", first_location, "]");
    absl::StrAppend(&out, " }");
  }
  absl::StrAppend(&out, "] } ] }\n");
  return out;
}

}  // namespace lockscope
