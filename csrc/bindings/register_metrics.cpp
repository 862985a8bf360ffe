// Bindings for the metrics area: mean squared error, PSNR, SSIM.
#include "bindings/common.hpp"
#include "gpu/exec_host.hpp"
#include "gpu/metrics.hpp"
#include "core/metrics.hpp"

namespace unblur::bindings {

namespace {

// reference and image: same dtype and shape (the Python layer casts both to the wider).
template <typename T>
std::pair<const T*, const T*> pair_of(const py::array& reference, const py::array& image) {
  const T* r = cptr<T>(reference, "reference");
  const T* i = cptr<T>(image, "image");
  if (shape_of(reference) != shape_of(image))
    throw py::value_error("reference and image must have the same shape");
  return {r, i};
}

}  // namespace

void register_metrics(py::module_& m) {
  m.def("mean_squared_error", [](const py::array& reference, const py::array& image, int threads) {
    return dispatch_real(reference, "reference", [&](auto tag) -> double {
      using T = decltype(tag);
      auto [r, i] = pair_of<T>(reference, image);
      const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(reference.size());
      py::gil_scoped_release release;
      return mean_squared_error<T>(r, i, n, threads);
    });
  }, py::arg("reference"), py::arg("image"), py::arg("threads") = 0);

  m.def("psnr", [](const py::array& reference, const py::array& image, double data_range, int threads) {
    return dispatch_real(reference, "reference", [&](auto tag) -> double {
      using T = decltype(tag);
      auto [r, i] = pair_of<T>(reference, image);
      const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(reference.size());
      py::gil_scoped_release release;
      return psnr<T>(r, i, n, data_range, threads);
    });
  }, py::arg("reference"), py::arg("image"), py::arg("data_range"), py::arg("threads") = 0);

  m.def("ssim", [](const py::array& reference, const py::array& image, double data_range, double sigma,
                   double truncate, double k1, double k2, bool full, int threads) {
    return dispatch_real(reference, "reference", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      auto [r, i] = pair_of<T>(reference, image);
      const Shape shape = shape_of(reference);
      require_shape(shape, "reference");
      SsimOptions o;
      o.data_range = data_range;
      o.sigma = sigma;
      o.truncate = truncate;
      o.k1 = k1;
      o.k2 = k2;
      py::object map = py::none();
      T* map_ptr = nullptr;
      if (full) {
        py::array_t<T> a = new_array<T>(shape);
        map_ptr = a.mutable_data();
        map = a;
      }
      double mssim;
      {
        py::gil_scoped_release release;
        mssim = ssim<T>(r, i, shape, o, map_ptr, threads);
      }
      return py::make_tuple(mssim, map);
    });
  }, py::arg("reference"), py::arg("image"), py::arg("data_range"), py::arg("sigma") = 1.5,
     py::arg("truncate") = 3.5, py::arg("K1") = 0.01, py::arg("K2") = 0.03, py::arg("full") = false,
     py::arg("threads") = 0,
     "(mean SSIM, SSIM map or None) of two arrays of the same float dtype and shape.");

  // The CUDA engine's metrics (csrc/gpu/metrics.hpp) run by the host executor (tests only).
  py::module_ gpu_mod = m.attr("gpu_on_host").cast<py::module_>();
  gpu_mod.def("psnr", [](const py::array& reference, const py::array& image, double data_range) {
    return dispatch_real(reference, "reference", [&](auto tag) -> double {
      using T = decltype(tag);
      auto [r, i] = pair_of<T>(reference, image);
      static const gpu::HostExec<double> ex;
      return gpu::psnr(ex, r, i, static_cast<gpu::Index>(reference.size()), data_range);
    });
  }, py::arg("reference"), py::arg("image"), py::arg("data_range"));
  gpu_mod.def("ssim", [](const py::array& reference, const py::array& image, double data_range, double sigma,
                         double truncate, double k1, double k2, bool full) {
    return dispatch_real(reference, "reference", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      auto [r, i] = pair_of<T>(reference, image);
      const Shape shape = shape_of(reference);
      SsimOptions o;
      o.data_range = data_range;
      o.sigma = sigma;
      o.truncate = truncate;
      o.k1 = k1;
      o.k2 = k2;
      py::object map = py::none();
      T* map_ptr = nullptr;
      if (full) {
        py::array_t<T> a = new_array<T>(shape);
        map_ptr = a.mutable_data();
        map = a;
      }
      static const gpu::HostExec<double> ex;
      const double mssim = gpu::ssim(ex, r, i, shape, o, map_ptr);
      return py::make_tuple(mssim, map);
    });
  }, py::arg("reference"), py::arg("image"), py::arg("data_range"), py::arg("sigma") = 1.5,
     py::arg("truncate") = 3.5, py::arg("K1") = 0.01, py::arg("K2") = 0.03, py::arg("full") = false);
}

}  // namespace unblur::bindings
