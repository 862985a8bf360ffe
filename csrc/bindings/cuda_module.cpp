// unblur._cuda: the pybind11 module over the CUDA engine (optional; built when nvcc
// and cuFFT are found). Today it reports the devices and cuFFT; kernels arrive with the
// GPU issue.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/error.hpp"
#include "cuda/device.hpp"
#include "cuda/fft.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "unblur's CUDA engine. Use the public API in `unblur`.";
  // A failed CUDA or cuFFT call (csrc/cuda/check.hpp) names the call: RuntimeError.
  py::register_exception<unblur::ValueError>(m, "CudaValueError", PyExc_ValueError);
  py::register_exception<unblur::Error>(m, "CudaError", PyExc_RuntimeError);
  m.def("cufft_version", &unblur::cuda::cufft_version, "cuFFT's version (e.g. 12500 for 12.5), as loaded.");
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
