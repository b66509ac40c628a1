// libfake_python_version.so — preloaded before libpython3.11.so, it makes CPython say it is
// version 3.99, one the shim does not know: the shim must track no GIL and read no Python
// frame, and say so in a note.
extern "C" __attribute__((visibility("default"))) const char* Py_GetVersion() {
  return "3.99.0 (fake, for lockscope's tests)";
}
