// SARIF 2.1.0: one result per finding, its stacks as code flows (one thread flow each). With
// a source root, files under it are named relative to it (uriBaseId SRCROOT), and a
// result's location is its first frame in the project's own files.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

}  // namespace

std::string RenderSarif(const Report& report, SymbolCache& symbols, const std::string& root) {
  std::string out = absl::StrCat(
      "{ \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\", \"version\": \"2.1.0\",\n"
      "  \"runs\": [ { \"tool\": { \"driver\": { \"name\": \"lockscope\", \"rules\": [] } },\n",
      root.empty() ? ""
                   : absl::StrCat("    \"originalUriBaseIds\": { \"SRCROOT\": { \"uri\": ",
                                  JsonString(absl::StrCat("file://", root, "/")), " } },\n"),
      "    \"results\": [");
  for (size_t i = 0; i < report.findings.size(); ++i) {
    const Finding& f = report.findings[i];
    const char* level = f.severity == Severity::kError     ? "error"
                        : f.severity == Severity::kWarning ? "warning"
                                                           : "note";
    absl::StrAppend(
        &out, i ? ",\n" : "\n", "      { \"ruleId\": ", JsonString(f.kind), ", \"level\": \"",
        level, "\", \"partialFingerprints\": { \"lockscope/v1\": ", JsonString(f.fingerprint), " }",
        f.baseline.empty() ? ""
                           : absl::StrCat(", \"baselineState\": \"",
                                          f.baseline == "known" ? "unchanged" : "new", "\""),
        ", \"message\": { \"text\": ", JsonString(f.summary),
        " },\n        \"codeFlows\": [ { \"threadFlows\": [");
    std::string first_location, first_own;
    for (size_t s = 0; s < f.stacks.size(); ++s) {
      const FindingStack& st = f.stacks[s];
      absl::StrAppend(&out, s ? ", " : "", "{ \"message\": { \"text\": ", JsonString(st.role),
                      " }, \"locations\": [");
      std::vector<SymbolizedFrame> frames = symbols.Frames(st.dump, st.pcs, st.frame_offset);
      bool first = true;
      for (const SymbolizedFrame& fr : frames) {
        const std::string relative = UnderRoot(fr.file, root);
        std::string loc = absl::StrCat(
            "{ \"physicalLocation\": { \"artifactLocation\": { \"uri\": ",
            relative.empty() ? JsonString(fr.file.empty() ? fr.module : fr.file)
                             : absl::StrCat(JsonString(relative), ", \"uriBaseId\": \"SRCROOT\""),
            " }",
            fr.line > 0 ? absl::StrFormat(", \"region\": { \"startLine\": %d }", fr.line) : "",
            " }, \"logicalLocations\": [ { \"fullyQualifiedName\": ", JsonString(fr.function),
            " } ]", fr.python ? ", \"properties\": { \"language\": \"python\" }" : "", " }");
        if (first_location.empty() && fr.line > 0) first_location = loc;
        if (first_own.empty() && fr.line > 0 && !relative.empty()) first_own = loc;
        absl::StrAppend(&out, first ? "" : ", ", "{ \"location\": ", loc, " }");
        first = false;
      }
      absl::StrAppend(&out, "] }");
    }
    absl::StrAppend(&out, "] } ]");
    if (!first_own.empty()) first_location = first_own;
    if (!first_location.empty())
      absl::StrAppend(&out, ",\n        \"locations\": [", first_location, "]");
    absl::StrAppend(&out, " }");
  }
  absl::StrAppend(&out, "] } ] }\n");
  return out;
}

}  // namespace lockscope
