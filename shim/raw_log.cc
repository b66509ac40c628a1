#include "shim/raw_log.h"

#include <unistd.h>

#include <cstring>

namespace lockscope {

void RawLog(const char* a, const char* b, const char* c, const char* d, const char* e,
            const char* f) {
  char buf[512];
  size_t n = 0;
  auto add = [&](const char* s) {
    if (s == nullptr) return;
    size_t len = strlen(s);
    if (len > sizeof(buf) - 1 - n) len = sizeof(buf) - 1 - n;
    memcpy(buf + n, s, len);
    n += len;
  };
  add("lockscope: ");
  add(a);
  add(b);
  add(c);
  add(d);
  add(e);
  add(f);
  buf[n++] = '\n';
  ssize_t ignored = write(2, buf, n);
  (void)ignored;
}

}  // namespace lockscope
