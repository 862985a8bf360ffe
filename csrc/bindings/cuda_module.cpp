// unblur._cuda: the pybind11 module over the CUDA engine (optional; built when nvcc
// and cuFFT are found). Today it reports the devices and cuFFT; kernels arrive with the
// GPU issue.
//
// Array arguments are device addresses (CuPy's a.data.ptr) with their shapes and a
// dtype name, plus the caller's stream (CuPy's current stream .ptr): the Python layer
// (unblur._backend) checks device, contiguity and dtype and allocates the outputs from
// CuPy's pool; these functions only queue work on that stream.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <map>
#include <string>

#include "bindings/common.hpp"
#include "core/error.hpp"
#include "cuda/convolve.hpp"
#include "cuda/device.hpp"
#include "cuda/fft.hpp"

namespace py = pybind11;

namespace {

using unblur::Shape;

// Calls f(T{}) for the dtype's name: the module's one place that maps dtypes.
template <typename F>
decltype(auto) by_dtype(const std::string& dtype, F&& f) {
  if (dtype == "float32") return f(float{});
  if (dtype == "float64") return f(double{});
  throw py::type_error("dtype must be 'float32' or 'float64', got '" + dtype + "'");
}

template <typename T>
T* address(std::uintptr_t p, const char* name) {
  if (p == 0) throw py::value_error(std::string(name) + " is a null device pointer");
  return reinterpret_cast<T*>(p);
}

cudaStream_t stream_of(std::uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

unblur::ConvolveMode parse_mode(const std::string& mode) {
  static const std::map<std::string, unblur::ConvolveMode> modes{
      {"full", unblur::ConvolveMode::Full}, {"same", unblur::ConvolveMode::Same}, {"valid", unblur::ConvolveMode::Valid}};
  return unblur::bindings::parse_choice(modes, mode, "mode");
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "unblur's CUDA engine. Use the public API in `unblur`.";
  // A failed CUDA or cuFFT call (csrc/cuda/check.hpp) names the call: RuntimeError.
  py::register_exception<unblur::ValueError>(m, "CudaValueError", PyExc_ValueError);
  py::register_exception<unblur::Error>(m, "CudaError", PyExc_RuntimeError);
  m.def("cufft_version", &unblur::cuda::cufft_version, "cuFFT's version (e.g. 12500 for 12.5), as loaded.");
  m.def("clear_plan_cache", &unblur::cuda::clear_plan_cache, "Drops the cached cuFFT plans.");
  m.def("plan_cache_size", &unblur::cuda::plan_cache_size, "Number of cached cuFFT plans.");

  m.def("convolve_output_shape", [](const Shape& shape, const Shape& kernel_shape, const std::string& mode) {
    return unblur::cuda::convolve_output_shape(shape, kernel_shape, parse_mode(mode));
  }, py::arg("shape"), py::arg("kernel_shape"), py::arg("mode"));

  m.def("convolve", [](std::uintptr_t image, const Shape& shape, std::uintptr_t kernel, const Shape& kernel_shape,
                       std::uintptr_t out, const std::string& dtype, const std::string& mode,
                       const std::string& boundary, double cval, std::uintptr_t stream) {
    const unblur::ConvolveMode how = parse_mode(mode);
    const unblur::Boundary b = unblur::bindings::parse_boundary(boundary, "boundary");
    by_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* x = address<const T>(image, "image");
      const T* k = address<const T>(kernel, "kernel");
      T* o = address<T>(out, "out");
      py::gil_scoped_release release;
      unblur::cuda::convolve<T>(x, shape, k, kernel_shape, o, how, b, static_cast<T>(cval), stream_of(stream));
    });
  }, py::arg("image"), py::arg("shape"), py::arg("kernel"), py::arg("kernel_shape"), py::arg("out"),
     py::arg("dtype"), py::arg("mode"), py::arg("boundary"), py::arg("cval"), py::arg("stream"),
     "out = image (*) kernel on the GPU (device addresses; see unblur.convolve).");

  m.def("psf2otf", [](std::uintptr_t psf, const Shape& psf_shape, const Shape& shape, std::uintptr_t otf,
                      const std::string& dtype, std::uintptr_t stream) {
    by_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* h = address<const T>(psf, "psf");
      auto* o = address<unblur::cuda::Complex<T>>(otf, "otf");
      py::gil_scoped_release release;
      unblur::cuda::psf2otf<T>(h, psf_shape, shape, o, stream_of(stream));
    });
  }, py::arg("psf"), py::arg("psf_shape"), py::arg("shape"), py::arg("otf"), py::arg("dtype"), py::arg("stream"),
     "otf = the half spectrum of the centred PSF on the grid `shape` (device addresses).");
  m.def("device_info", [] {
    std::string reason;
    std::vector<unblur::cuda::DeviceInfo> devs;
    {
      py::gil_scoped_release release;
      devs = unblur::cuda::devices(&reason);
    }
    py::list list;
    for (const auto& d : devs) {
      py::dict e;
      e["index"] = d.index;
      e["name"] = d.name;
      e["compute_capability"] = py::make_tuple(d.compute_major, d.compute_minor);
      e["total_memory"] = d.total_memory;
      e["multiprocessors"] = d.multiprocessors;
      list.append(e);
    }
    py::dict out;
    out["runtime_version"] = unblur::cuda::runtime_version();
    out["devices"] = list;
    out["reason"] = devs.empty() ? py::object(py::str(reason)) : py::object(py::none());
    return out;
  }, "Devices visible to the CUDA runtime, and why there are none if so.");
}
