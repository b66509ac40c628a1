#include "analyzer/python_snapshot.h"

#include <gelf.h>
#include <string.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace lockscope {

namespace {

// The symbols of the CPython module (the executable, libpython, or a program that links it
// in) the snapshot needs.
struct PythonModule {
  std::string file;  // its file name, without directories
  uint64_t runtime = 0, code_type = 0, eval = 0, eval_size = 0, version = 0;
};

std::string BaseName(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

int OnModule(Dwfl_Module* m, void**, const char* name, Dwarf_Addr, void* arg) {
  auto* found = static_cast<PythonModule*>(arg);
  const char* mainfile = nullptr;
  dwfl_module_info(m, nullptr, nullptr, nullptr, nullptr, nullptr, &mainfile, nullptr);
  // (Every module is looked at: an embedding program may link CPython in statically.)
  const std::string file = BaseName(name != nullptr && name[0] == '/' ? name
                                    : mainfile                        ? mainfile
                                                                      : "");
  PythonModule here;
  here.file = file;
  const int count = dwfl_module_getsymtab(m);
  for (int i = 1; i < count; ++i) {
    GElf_Sym sym;
    GElf_Addr address = 0;
    const char* s = dwfl_module_getsym_info(m, i, &sym, &address, nullptr, nullptr, nullptr);
    if (s == nullptr || sym.st_shndx == SHN_UNDEF || s[0] == '\0') continue;
    if (strcmp(s, "_PyRuntime") == 0) {
      here.runtime = address;
    } else if (strcmp(s, "PyCode_Type") == 0) {
      here.code_type = address;
    } else if (strcmp(s, "_PyEval_EvalFrameDefault") == 0) {
      here.eval = address;
      here.eval_size = sym.st_size;
    } else if (strcmp(s, "Py_Version") == 0) {
      here.version = address;
    }
  }
  if (here.runtime == 0) return DWARF_CB_OK;  // (a python module without the runtime)
  *found = here;
  return DWARF_CB_ABORT;
}

// "3.11" of "libpython3.11.so.1.0" or "python3.11"; `free_threaded` for "python3.13t".
bool VersionFromFile(const std::string& file, int* minor, bool* free_threaded) {
  const size_t at = file.find("python3.");
  if (at == std::string::npos) return false;
  const char* p = file.c_str() + at + 8;
  char* end = nullptr;
  const long v = strtol(p, &end, 10);
  if (end == p) return false;
  *minor = static_cast<int>(v);
  *free_threaded = *end == 't';
  return true;
}

}  // namespace

int64_t PythonSnapshot::InterpreterOf(uint64_t tstate) const {
  for (const auto& [thread, list] : states)
    for (const State& s : list)
      if (s.tstate == tstate) return s.interp;
  return -1;
}

PythonSnapshot ReadPython(Dwfl* dwfl, const ReadMemory& read) {
  PythonSnapshot py;
  PythonModule m;
  dwfl_getmodules(dwfl, OnModule, &m, 0);
  if (m.runtime == 0) return py;  // no CPython
  int major = 3, minor = -1;
  bool free_threaded = false;
  uint32_t hex = 0;
  if (m.version != 0 && read(m.version, &hex, sizeof(hex)) && hex >> 24 == 3) {
    minor = static_cast<int>((hex >> 16) & 0xff);
    int named = 0;
    VersionFromFile(m.file, &named, &free_threaded);  // (only its "t" matters here)
  } else if (!VersionFromFile(m.file, &minor, &free_threaded)) {
    py.note = absl::StrCat("a CPython (", m.file,
                           ") whose version could not be read: the GIL "
                           "and Python stacks are not read");
    return py;
  }
  py.version = absl::StrCat(major, ".", minor);
  const python::Layout* layout = python::LayoutFor(major, minor);
  if (layout == nullptr || free_threaded) {
    char note[200];
    python::WhyNotRead(py.version.c_str(), free_threaded, note, sizeof(note));
    py.note = note;
    return py;
  }
  py.layout = layout;
  py.gil = m.runtime + layout->main_gil;
  py.gil_mutex = py.gil + layout->gil_mutex;
  py.gil_cond = py.gil + layout->gil_cond;
  py.gil_switch_mutex = py.gil + layout->gil_switch_mutex;
  py.gil_switch_cond = py.gil + layout->gil_switch_cond;
  py.eval_begin = m.eval;
  py.eval_end = m.eval + (m.eval_size ? m.eval_size : 1);
  py.code_type = m.code_type;

  // Every interpreter's thread states (bounded: memory that changes under us cannot loop).
  auto get = [&](uint64_t address, auto* value) {
    return address >= 4096 && read(address, value, sizeof(*value));
  };
  uint64_t interp = 0;
  get(m.runtime + layout->runtime_interp_head, &interp);
  for (int i = 0; interp != 0 && i < 256; ++i) {
    int64_t id = -1;
    get(interp + layout->interp_id, &id);
    uint64_t tstate = 0;
    get(interp + layout->interp_tstate_head, &tstate);
    for (int k = 0; tstate != 0 && k < 100000; ++k) {
      uint64_t thread = 0;
      if (get(tstate + layout->tstate_thread_id, &thread) && thread != 0)
        py.states[thread].push_back({tstate, id});
      if (!get(tstate + layout->tstate_next, &tstate)) break;
    }
    if (!get(interp + layout->interp_next, &interp)) break;
  }
  // The GIL: locked, and by which thread state (its last holder).
  int32_t locked = 0;
  uint64_t holder = 0;
  if (get(py.gil + layout->gil_locked, &locked) && locked == 1 &&
      get(py.gil + layout->gil_last_holder, &holder) && holder != 0 &&
      get(holder + layout->tstate_thread_id, &py.holder_thread))
    py.holder_tstate = holder;
  else
    py.holder_thread = 0;
  return py;
}

namespace {

// The dump's records of the code objects read, in the snapshot's table.
struct SnapshotRecorder final : python::CodeRecorder {
  explicit SnapshotRecorder(PyCodeTable& codes) : codes(codes) {}
  uint32_t Record(const python::Memory& mem, const python::Layout& l, uint64_t,
                  const python::Code& code) override {
    char name[sizeof(format::PyCodeRecord::name)];
    char filename[sizeof(format::PyCodeRecord::filename)];
    python::NameCode(mem, l, code, name, filename);
    return codes.FindOrInsert(name, filename, code.first_line);
  }
  PyCodeTable& codes;
};

bool ReadThrough(void* context, uint64_t address, void* out, size_t size) {
  return (*static_cast<const ReadMemory*>(context))(address, out, size);
}

}  // namespace

void ReadPythonStack(const PythonSnapshot& py, const ReadMemory& read, uint64_t thread,
                     PyCodeTable& codes, python::PythonFrames* out) {
  out->count = 0;
  const auto states = py.states.find(thread);
  if (py.layout == nullptr || thread == 0 || states == py.states.end()) return;
  const python::Memory mem(ReadThrough, const_cast<ReadMemory*>(&read));
  SnapshotRecorder recorder(codes);
  if (py.holder_thread == thread)
    python::AppendFrames(mem, *py.layout, py.code_type, py.holder_tstate, recorder, out);
  for (const PythonSnapshot::State& s : states->second)
    if (s.tstate != py.holder_tstate || py.holder_thread != thread)
      python::AppendFrames(mem, *py.layout, py.code_type, s.tstate, recorder, out);
}

}  // namespace lockscope
