// libfake_glibc_version.so — preloaded before the shim, it makes the program's glibc say it
// is version 2.99, one the shim does not know: the shim must record nothing and say why.
extern "C" __attribute__((visibility("default"))) const char* gnu_get_libc_version() {
  return "2.99";
}
