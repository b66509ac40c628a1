// Minimal JSON string escaping shared by the JSON and SARIF renderers.
#ifndef LOCKSCOPE_ANALYZER_RENDER_JSON_WRITER_H_
#define LOCKSCOPE_ANALYZER_RENDER_JSON_WRITER_H_

#include <string>
#include <string_view>

namespace lockscope {

// `s` as a JSON string literal, quotes included. Invalid UTF-8 bytes become U+FFFD.
std::string JsonString(std::string_view s);

}  // namespace lockscope

#endif  // LOCKSCOPE_ANALYZER_RENDER_JSON_WRITER_H_
