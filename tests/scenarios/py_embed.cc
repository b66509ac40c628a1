// py_embed.cc — Python's own main, linked to libpython3.11.so instead of being the python3.11
// executable (where libpython is linked in): `py_embed SCRIPT ARGS...` runs SCRIPT as
// python3.11 would. Embedding programs find CPython in a shared library, and a library
// preloaded before it can stand in for its functions (fake_python_version.cc).
#include <Python.h>

int main(int argc, char** argv) { return Py_BytesMain(argc, argv); }
