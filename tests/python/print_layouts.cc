// print_layouts — the shim's table of CPython layouts (shim/python_layout.h), one
// "field value" line per field after a "minor N" line per version: what python_layouts.py
// compares with each CPython's own headers (layout_probe.c).
#include <cstdio>

#include "shim/python_layout.h"

int main() {
  using lockscope::python::kLayouts;
  for (const auto& l : kLayouts) {
#define F(field) std::printf("%s %ld\n", #field, static_cast<long>(l.field))
    std::printf("minor %d\n", l.minor);
    F(main_gil), F(autotss), F(tstate_current), F(finalizing), F(gil_last_holder), F(gil_locked), F(gil_cond), F(gil_mutex);
    F(gil_switch_cond), F(gil_switch_mutex), F(interp_id), F(tstate_interp);
    F(tstate_thread_id), F(tstate_frame), F(cframe_frame), F(frame_code), F(frame_previous);
    F(frame_instr), F(frame_entry), F(code_filename), F(code_name), F(code_firstlineno);
    F(code_linetable), F(code_instructions), F(ascii_header), F(ascii_length), F(ascii_state);
    F(bytes_size), F(bytes_data), F(runtime_interp_head), F(interp_next), F(interp_tstate_head);
    F(tstate_next);
#undef F
    // What the shim assumes besides the table: Py_tss_t's key after an int, and 3.12+'s
    // "frame owned by the C stack" marker.
    std::printf("tss_key %zu\n", sizeof(int));
    if (l.frames == lockscope::python::Frames::kCStackOwnedShim)
      std::printf("frame_owned_by_cstack %d\n", lockscope::python::kFrameOwnedByCStack);
  }
  return 0;
}
