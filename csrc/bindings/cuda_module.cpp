// unblur._cuda: the pybind11 module over the CUDA engine (optional; built when nvcc is
// found). Today it reports the devices; kernels arrive with the GPU issue.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "cuda/device.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "unblur's CUDA engine. Use the public API in `unblur`.";
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
