// JSON report, the shape docs/usage.md gives ("version": 1).
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "analyzer/render/json_writer.h"
#include "analyzer/render/render.h"

namespace lockscope {

std::string RenderJson(const Report& report, SymbolCache& symbols) {
  std::string out = "{ \"version\": 1,\n  \"dumps\": [";
  for (size_t i = 0; i < report.dump_paths.size(); ++i)
    absl::StrAppend(&out, i ? ", " : "", JsonString(report.dump_paths[i]));
  absl::StrAppend(&out, "],\n  \"findings\": [");
  for (size_t i = 0; i < report.findings.size(); ++i) {
    const Finding& f = report.findings[i];
    absl::StrAppend(
        &out, i ? ",\n" : "\n", "    { \"kind\": ", JsonString(f.kind),
        ", \"severity\": ", JsonString(SeverityName(f.severity)),
        ", \"level\": ", JsonString(f.level), ", \"fingerprint\": ", JsonString(f.fingerprint),
        f.baseline.empty() ? "" : absl::StrCat(", \"baseline\": ", JsonString(f.baseline)),
        ",\n      \"summary\": ", JsonString(f.summary), ",\n      \"details\": [");
    for (size_t d = 0; d < f.details.size(); ++d)
      absl::StrAppend(&out, d ? ", " : "", JsonString(f.details[d]));
    absl::StrAppend(&out, "],\n      \"threads\": [");
    for (size_t t = 0; t < f.threads.size(); ++t)
      absl::StrAppendFormat(&out, "%s{ \"tid\": %d, \"name\": %s, \"pid\": %d }", t ? ", " : "",
                            f.threads[t].tid, JsonString(f.threads[t].name), f.threads[t].pid);
    absl::StrAppend(&out, "],\n      \"locks\": [");
    for (size_t l = 0; l < f.locks.size(); ++l) {
      const FindingLock& lk = f.locks[l];
      absl::StrAppendFormat(
          &out, "%s{ \"id\": %s, \"address\": \"0x%x\", \"kind\": %s, \"name\": %s%s }",
          l ? ", " : "", JsonString(lk.id), lk.address, JsonString(lk.kind),
          lk.name.empty() ? "null" : JsonString(lk.name),
          lk.lock_class.empty() ? "" : absl::StrCat(", \"class\": ", JsonString(lk.lock_class)));
    }
    absl::StrAppend(&out, "],\n      \"stacks\": [");
    for (size_t s = 0; s < f.stacks.size(); ++s) {
      const FindingStack& st = f.stacks[s];
      absl::StrAppendFormat(&out, "%s\n        { \"role\": %s, \"tid\": %d, \"frames\": [",
                            s ? "," : "", JsonString(st.role), st.tid);
      std::vector<SymbolizedFrame> frames = symbols.Frames(st.dump, st.pcs, st.frame_offset);
      for (size_t k = 0; k < frames.size(); ++k) {
        const SymbolizedFrame& fr = frames[k];
        absl::StrAppendFormat(&out,
                              "%s\n          { \"pc\": \"0x%x\", \"module\": %s, \"function\": %s, "
                              "\"file\": %s, \"line\": %d, \"language\": %s%s }",
                              k ? "," : "", fr.pc, JsonString(fr.module), JsonString(fr.function),
                              JsonString(fr.file), fr.line, fr.python ? "\"python\"" : "\"native\"",
                              fr.inlined ? ", \"inlined\": true" : "");
      }
      absl::StrAppend(&out, "] }");
    }
    absl::StrAppend(&out, "] }");
  }
  absl::StrAppend(&out, "],\n  \"notes\": [");
  for (size_t i = 0; i < report.notes.size(); ++i)
    absl::StrAppend(&out, i ? ", " : "", JsonString(report.notes[i]));
  absl::StrAppend(&out, "] }\n");
  return out;
}

}  // namespace lockscope
