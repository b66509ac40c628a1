// Defined dynamic symbols of the loaded modules, looked up without the loader's lock. dlsym
// and dladdr take it, and dlopen holds it while it runs the new library's constructors, which
// may wait for a lock a thread in the shim holds the program's way: the shim must not. Each
// module's PT_DYNAMIC gives its symbol and string tables and its GNU (or SysV) hash table.
// No allocation; dl_iterate_phdr's own short lock only.
#ifndef LOCKSCOPE_SHIM_ELF_SYMBOLS_H_
#define LOCKSCOPE_SHIM_ELF_SYMBOLS_H_

#include <cstddef>
#include <cstdint>

namespace lockscope {

struct FoundSymbol {
  uint64_t address = 0;  // 0: not found
  uint64_t size = 0;     // st_size
};

// For each of `names`, its definition in the first module that has one, in the loader's
// order (the program, the preloaded libraries, then the others), as a dlsym(RTLD_DEFAULT)
// lookup would find it. Symbol versions are not looked at.
void FindSymbols(const char* const* names, FoundSymbol* out, size_t n);

}  // namespace lockscope

#endif  // LOCKSCOPE_SHIM_ELF_SYMBOLS_H_
