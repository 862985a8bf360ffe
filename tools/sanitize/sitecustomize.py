"""Imported by every Python process that tools/sanitize.sh starts (this folder is on
PYTHONPATH). Two things for LeakSanitizer, and one for UBSan (at the end).

1. Its check runs when the program is done (atexit, after the program's own exit
   handlers) but before CPython finalises itself. At that point every live object is
   still reachable from the interpreter's state, so what LeakSanitizer reports is memory
   that the program lost while it ran: a C++ allocation of unblur's that was never
   freed, or a Python object whose reference count was leaked (it stays allocated with
   nothing pointing to it). The check that LeakSanitizer would otherwise run at exit()
   comes after Py_FinalizeEx, which by design leaves some of CPython's and the extension
   modules' objects allocated but unreferenced: reports without a bug behind them.
   (tools/sanitize.sh sets leak_check_at_exit=0, so the processes it starts that are not
   Python, git for instance, are not leak-checked either.)

2. The initialisation of the third-party extension modules in IGNORED_INITS runs with
   LeakSanitizer disabled (__lsan_disable: what is allocated meanwhile never counts as a
   leak). This is the suppression list. It is here rather than in a suppressions file
   because a suppression matches a function in the allocation's stack, and these stacks
   stop at the first frame in libpython: CPython (this one, and Debian's) is built
   without frame pointers, which ASan's fast unwinder needs, so a leak inside CPython's
   string code shows as `realloc <- resize_compact` whoever called it, and the only
   matching pattern would hide every leaked string. (fast_unwind_on_malloc=0 gives the
   whole stack, at 10-20x the run time: that is how the entries below were found.)
"""

import atexit
import ctypes
import os

# module name -> why its initialisation is not leak-checked (with the evidence)
IGNORED_INITS = {
    # NumPy's f2py runtime (numpy/f2py/src/fortranobject.c, compiled into SciPy's f2py
    # modules), PyFortranObject_NewAsAttr:
    #     PyDict_SetItemString(fp->dict, "__name__", PyUnicode_FromFormat("function %s", ...));
    # PyDict_SetItemString does not steal the reference, so each routine object's name
    # string keeps one reference too many and outlives its object. Reported as
    #     Direct leak of 128 byte(s) in 2 object(s): realloc <- resize_compact <-
    #     _PyUnicodeWriter_Finish <- PyUnicode_FromFormatV <- PyUnicode_FromFormat <-
    #     PyFortranObject_NewAsAttr (_dfitpack.cpython-311-x86_64-linux-gnu.so) <- PyInit__dfitpack
    # (SciPy 1.17.1, NumPy 2.4.6) by every test file that imports scipy.interpolate
    # (scikit-image imports it).
    "scipy.interpolate._dfitpack": "NumPy f2py fortranobject.c: PyFortranObject_NewAsAttr leaks its __name__ string",
    # ONNX Runtime 1.32.0's pybind11 module (unblur.models, the `models` extra): its exec slot
    # creates two 24-byte Python objects that nothing references at exit. Reported, with
    # UNBLUR_ASAN_EXTRA=fast_unwind_on_malloc=0, as
    #     Direct leak of 24 byte(s) in 1 object(s): malloc <- _PyObject_New <-
    #     onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so (+0x46f82f <- ... ) <-
    #     PyModule_ExecDef <- exec_builtin_or_dynamic
    # (twice) by a test that does nothing but `import onnxruntime` (2026-12-01).
    "onnxruntime.capi.onnxruntime_pybind11_state": "ONNX Runtime's module init leaves two 24-byte objects",
}


def _lsan():
    try:
        lib = ctypes.CDLL(None)  # the preloaded libasan's symbols are global
        functions = lib.__lsan_do_leak_check, lib.__lsan_disable, lib.__lsan_enable
    except AttributeError:  # not under ASan
        return None
    for f in functions:
        f.restype, f.argtypes = None, []
    return functions


def _install(leak_check, disable, enable):
    import importlib.machinery

    loader = importlib.machinery.ExtensionFileLoader
    create_module, exec_module = loader.create_module, loader.exec_module

    def unchecked(method):
        def wrapper(self, arg):
            name = getattr(arg, "__name__", None) or getattr(arg, "name", None)  # module or spec
            if name not in IGNORED_INITS:
                return method(self, arg)
            disable()
            try:
                return method(self, arg)
            finally:
                enable()

        return wrapper

    loader.create_module = unchecked(create_module)  # single-phase init: PyInit_* runs here
    loader.exec_module = unchecked(exec_module)  # multi-phase init: the module's exec slots
    atexit.register(leak_check)  # first registered, so it runs last of the exit handlers


def _ubsan_log_path():
    """GCC's libubsan, beside ASan, never applies UBSAN_OPTIONS' log_path (its reports go
    to stderr, where pytest's capture loses them when the process halts): give it the
    path by hand, through the preloaded libubsan's own copy of the function (a lookup
    from the global scope would find libasan's)."""
    options = dict(o.split("=", 1) for o in os.environ.get("UBSAN_OPTIONS", "").split(":") if "=" in o)
    path = options.get("log_path")
    libraries = [p for p in os.environ.get("LD_PRELOAD", "").split() if "libubsan" in os.path.basename(p)]
    if not path or not libraries:
        return
    ubsan = ctypes.CDLL(libraries[0], mode=os.RTLD_NOLOAD)
    ubsan.__sanitizer_set_report_path.restype = None
    ubsan.__sanitizer_set_report_path.argtypes = [ctypes.c_char_p]
    ubsan.__sanitizer_set_report_path(os.fsencode(path))


_functions = _lsan()
if _functions is not None:
    _install(*_functions)
    _ubsan_log_path()
