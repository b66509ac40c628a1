/* layout_probe.c — prints, from one CPython's own headers (compiled with Py_BUILD_CORE), the
 * offsets that shim/python_layout.h pins for that minor version, one "field value" per line,
 * named as the fields of python::Layout. python_layouts.py compiles it against every CPython
 * whose headers it finds and compares with the shim's table. */
#define Py_BUILD_CORE 1
#include "Python.h"
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#if PY_VERSION_HEX < 0x030B0000
#include "frameobject.h"
#else
#include "internal/pycore_code.h"
#include "internal/pycore_frame.h"
#endif
#include <stddef.h>
#include <stdio.h>

#define O(name, expr) printf("%s %ld\n", name, (long)(expr))

int main(void) {
  printf("minor %d\n", PY_MINOR_VERSION);
#if PY_VERSION_HEX >= 0x030C0000
  O("main_gil", offsetof(_PyRuntimeState, _main_interpreter) + offsetof(PyInterpreterState, _gil));
  O("autotss", offsetof(_PyRuntimeState, autoTSSkey));
  O("tstate_current", -1);
#else
  O("main_gil", offsetof(_PyRuntimeState, ceval.gil));
  O("autotss", offsetof(_PyRuntimeState, gilstate.autoTSSkey));
  O("tstate_current", offsetof(_PyRuntimeState, gilstate.tstate_current));
#endif
  O("finalizing", offsetof(_PyRuntimeState, _finalizing));
  O("tss_key", offsetof(Py_tss_t, _key));
  O("gil_last_holder", offsetof(struct _gil_runtime_state, last_holder));
  O("gil_locked", offsetof(struct _gil_runtime_state, locked));
  O("gil_cond", offsetof(struct _gil_runtime_state, cond));
  O("gil_mutex", offsetof(struct _gil_runtime_state, mutex));
  O("gil_switch_cond", offsetof(struct _gil_runtime_state, switch_cond));
  O("gil_switch_mutex", offsetof(struct _gil_runtime_state, switch_mutex));
  O("interp_id", offsetof(PyInterpreterState, id));
  O("tstate_interp", offsetof(PyThreadState, interp));
  O("tstate_thread_id", offsetof(PyThreadState, thread_id));
#if PY_VERSION_HEX >= 0x030D0000
  O("tstate_frame", offsetof(PyThreadState, current_frame));
  O("cframe_frame", -1);
#elif PY_VERSION_HEX >= 0x030B0000
  O("tstate_frame", offsetof(PyThreadState, cframe));
  O("cframe_frame", offsetof(_PyCFrame, current_frame));
#else
  O("tstate_frame", offsetof(PyThreadState, frame));
  O("cframe_frame", -1);
#endif
#if PY_VERSION_HEX >= 0x030B0000
#if PY_VERSION_HEX >= 0x030D0000
  O("frame_code", offsetof(_PyInterpreterFrame, f_executable));
  O("frame_instr", offsetof(_PyInterpreterFrame, instr_ptr));
#else
  O("frame_code", offsetof(_PyInterpreterFrame, f_code));
  O("frame_instr", offsetof(_PyInterpreterFrame, prev_instr));
#endif
  O("frame_previous", offsetof(_PyInterpreterFrame, previous));
#if PY_VERSION_HEX >= 0x030C0000
  O("frame_entry", offsetof(_PyInterpreterFrame, owner));
  O("frame_owned_by_cstack", FRAME_OWNED_BY_CSTACK);
#else
  O("frame_entry", offsetof(_PyInterpreterFrame, is_entry));
#endif
  O("code_name", offsetof(PyCodeObject, co_qualname));
  O("code_instructions", offsetof(PyCodeObject, co_code_adaptive));
#else
  O("frame_code", offsetof(PyFrameObject, f_code));
  O("frame_previous", offsetof(PyFrameObject, f_back));
  O("frame_instr", offsetof(PyFrameObject, f_lasti));
  O("frame_entry", 0);
  O("code_name", offsetof(PyCodeObject, co_name));
  O("code_instructions", -1);
#endif
  O("code_filename", offsetof(PyCodeObject, co_filename));
  O("code_firstlineno", offsetof(PyCodeObject, co_firstlineno));
  O("code_linetable", offsetof(PyCodeObject, co_linetable));
  O("ascii_header", sizeof(PyASCIIObject));
  O("ascii_length", offsetof(PyASCIIObject, length));
  O("ascii_state", offsetof(PyASCIIObject, state));
  O("bytes_size", offsetof(PyVarObject, ob_size));
  O("bytes_data", offsetof(PyBytesObject, ob_sval));
  O("runtime_interp_head", offsetof(_PyRuntimeState, interpreters.head));
  O("interp_next", offsetof(PyInterpreterState, next));
#if PY_VERSION_HEX >= 0x030B0000
  O("interp_tstate_head", offsetof(PyInterpreterState, threads.head));
#else
  O("interp_tstate_head", offsetof(PyInterpreterState, tstate_head));
#endif
  O("tstate_next", offsetof(PyThreadState, next));
  return 0;
}
