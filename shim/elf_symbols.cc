#include "shim/elf_symbols.h"

#include <elf.h>
#include <link.h>
#include <string.h>

namespace lockscope {
namespace {

struct Tables {
  const ElfW(Sym)* symtab = nullptr;
  const char* strtab = nullptr;
  const uint32_t* gnu_hash = nullptr;
  const uint32_t* sysv_hash = nullptr;
};

// glibc relocates the dynamic section's pointers in place on x86_64; a read-only one (the
// vDSO's) keeps them as offsets from the load base.
uint64_t Pointer(uint64_t value, uint64_t base) { return value < base ? value + base : value; }

bool ReadTables(const dl_phdr_info* info, Tables* t) {
  const ElfW(Dyn)* dyn = nullptr;
  for (int i = 0; i < info->dlpi_phnum; ++i)
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
      dyn = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
  if (dyn == nullptr) return false;
  const uint64_t base = info->dlpi_addr;
  for (; dyn->d_tag != DT_NULL; ++dyn) {
    switch (dyn->d_tag) {
      case DT_SYMTAB:
        t->symtab = reinterpret_cast<const ElfW(Sym)*>(Pointer(dyn->d_un.d_ptr, base));
        break;
      case DT_STRTAB: t->strtab = reinterpret_cast<const char*>(Pointer(dyn->d_un.d_ptr, base)); break;
      case DT_GNU_HASH:
        t->gnu_hash = reinterpret_cast<const uint32_t*>(Pointer(dyn->d_un.d_ptr, base));
        break;
      case DT_HASH:
        t->sysv_hash = reinterpret_cast<const uint32_t*>(Pointer(dyn->d_un.d_ptr, base));
        break;
    }
  }
  return t->symtab != nullptr && t->strtab != nullptr &&
         (t->gnu_hash != nullptr || t->sysv_hash != nullptr);
}

bool Defined(const ElfW(Sym)& s) {
  return s.st_shndx != SHN_UNDEF && s.st_value != 0 && ELF64_ST_TYPE(s.st_info) != STT_TLS;
}

const ElfW(Sym)* LookupGnu(const Tables& t, const char* name) {
  uint32_t h = 5381;
  for (const char* p = name; *p; ++p) h = h * 33 + static_cast<uint8_t>(*p);
  const uint32_t nbuckets = t.gnu_hash[0], symoffset = t.gnu_hash[1], bloom_size = t.gnu_hash[2];
  if (nbuckets == 0) return nullptr;
  const auto* bloom = reinterpret_cast<const uint64_t*>(t.gnu_hash + 4);
  const uint32_t* buckets = reinterpret_cast<const uint32_t*>(bloom + bloom_size);
  const uint32_t* chain = buckets + nbuckets;
  uint32_t i = buckets[h % nbuckets];
  if (i < symoffset) return nullptr;
  for (;; ++i) {
    const uint32_t h2 = chain[i - symoffset];
    const ElfW(Sym)& s = t.symtab[i];
    if ((h | 1) == (h2 | 1) && strcmp(name, t.strtab + s.st_name) == 0 && Defined(s)) return &s;
    if (h2 & 1) return nullptr;
  }
}

const ElfW(Sym)* LookupSysv(const Tables& t, const char* name) {
  uint32_t h = 0;
  for (const char* p = name; *p; ++p) {
    h = (h << 4) + static_cast<uint8_t>(*p);
    const uint32_t g = h & 0xf0000000u;
    if (g) h ^= g >> 24;
    h &= ~g;
  }
  const uint32_t nbucket = t.sysv_hash[0];
  if (nbucket == 0) return nullptr;
  const uint32_t* bucket = t.sysv_hash + 2;
  const uint32_t* chain = bucket + nbucket;
  for (uint32_t i = bucket[h % nbucket]; i != STN_UNDEF; i = chain[i]) {
    const ElfW(Sym)& s = t.symtab[i];
    if (strcmp(name, t.strtab + s.st_name) == 0 && Defined(s)) return &s;
  }
  return nullptr;
}

struct Query {
  const char* const* names;
  FoundSymbol* out;
  size_t n;
};

int Visit(dl_phdr_info* info, size_t, void* arg) {
  auto* q = static_cast<Query*>(arg);
  Tables t;
  if (!ReadTables(info, &t)) return 0;
  bool all = true;
  for (size_t i = 0; i < q->n; ++i) {
    if (q->out[i].address != 0) continue;
    const ElfW(Sym)* s = t.gnu_hash ? LookupGnu(t, q->names[i]) : LookupSysv(t, q->names[i]);
    if (s != nullptr)
      q->out[i] = {info->dlpi_addr + s->st_value, s->st_size};
    else
      all = false;
  }
  return all ? 1 : 0;  // every name found: stop
}

}  // namespace

void FindSymbols(const char* const* names, FoundSymbol* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = {};
  Query q{names, out, n};
  dl_iterate_phdr(Visit, &q);
}

}  // namespace lockscope
