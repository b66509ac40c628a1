// SARIF 2.1.0: one result per finding, its stacks as code flows (one thread flow each).
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analyzer/render/json_writer.h"
#include "analyzer/render/render.h"

namespace lockscope {

std::string RenderSarif(const Report& report, SymbolCache& symbols) {
  std::string out =
      "{ \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\", \"version\": \"2.1.0\",\n"
      "  \"runs\": [ { \"tool\": { \"driver\": { \"name\": \"lockscope\", \"rules\": [] } },\n"
      "    \"results\": [";
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
    std::string first_location;
    for (size_t s = 0; s < f.stacks.size(); ++s) {
      const FindingStack& st = f.stacks[s];
      absl::StrAppend(&out, s ? ", " : "", "{ \"message\": { \"text\": ", JsonString(st.role),
                      " }, \"locations\": [");
      std::vector<SymbolizedFrame> frames = symbols.Frames(st.dump, st.pcs, st.frame_offset);
      bool first = true;
      for (const SymbolizedFrame& fr : frames) {
        std::string loc = absl::StrCat(
            "{ \"physicalLocation\": { \"artifactLocation\": { \"uri\": ",
            JsonString(fr.file.empty() ? fr.module : fr.file), " }",
            fr.line > 0 ? absl::StrFormat(", \"region\": { \"startLine\": %d }", fr.line) : "",
            " }, \"logicalLocations\": [ { \"fullyQualifiedName\": ", JsonString(fr.function),
            " } ]", fr.python ? ", \"properties\": { \"language\": \"python\" }" : "", " }");
        if (first_location.empty() && fr.line > 0) first_location = loc;
        absl::StrAppend(&out, first ? "" : ", ", "{ \"location\": ", loc, " }");
        first = false;
      }
      absl::StrAppend(&out, "] }");
    }
    absl::StrAppend(&out, "] } ]");
    if (!first_location.empty())
      absl::StrAppend(&out, ",\n        \"locations\": [", first_location, "]");
    absl::StrAppend(&out, " }");
  }
  absl::StrAppend(&out, "] } ] }\n");
  return out;
}

}  // namespace lockscope
