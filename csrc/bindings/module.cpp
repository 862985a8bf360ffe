// unblur._core: the pybind11 module over the C++ core. Each area registers itself
// from its own register_*.cpp; this file only declares the module and the exceptions.
#include "bindings/common.hpp"
#include "core/error.hpp"
#include "core/simd.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "unblur's C++ engine (FFTW + OpenMP). Use the public API in `unblur`.";
  py::register_exception<unblur::ValueError>(m, "CoreValueError", PyExc_ValueError);
  py::register_exception<unblur::Error>(m, "CoreError", PyExc_RuntimeError);

  m.def("get_threads", &unblur::get_threads, "Default number of threads of the CPU engine.");
  m.def("set_threads", &unblur::set_threads, py::arg("threads"),
        "Sets the default number of threads of the CPU engine.");
  m.def("simd_level", &unblur::simd_level,
        "Which variant of the per-pixel kernels runs: 'avx2', 'baseline' or 'native'.");
  m.def(
      "set_simd", [](const std::string& level) { unblur::set_simd(level.c_str()); }, py::arg("level"),
      "Picks the per-pixel kernel variants: 'auto' (the best the CPU runs) or 'baseline'.");

  // The CUDA engine's single-source algorithms (csrc/gpu) run by the host executor:
  // how their logic is tested where there is no GPU (tests/test_gpu_algorithms.py).
  m.def_submodule("gpu_on_host", "The CUDA engine's algorithms run on the host (tests only).");
  unblur::bindings::register_fft(m);
  unblur::bindings::register_convolve(m);
  unblur::bindings::register_filters(m);
  unblur::bindings::register_psf(m);
  unblur::bindings::register_metrics(m);
  unblur::bindings::register_deconv(m);
  unblur::bindings::register_richardson_lucy(m);
  unblur::bindings::register_wiener(m);
  unblur::bindings::register_tv(m);
  unblur::bindings::register_blind(m);
}
