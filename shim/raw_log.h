// Async-signal-safe messages from the shim to stderr: no malloc, no stdio, no locks.
#ifndef LOCKSCOPE_SHIM_RAW_LOG_H_
#define LOCKSCOPE_SHIM_RAW_LOG_H_

namespace lockscope {

// Writes "lockscope: " + the parts (NULL-terminated list) + "\n" with one write(2).
void RawLog(const char* a, const char* b = nullptr, const char* c = nullptr,
            const char* d = nullptr, const char* e = nullptr, const char* f = nullptr);

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_RAW_LOG_H_
