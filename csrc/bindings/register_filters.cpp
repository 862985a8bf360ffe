// Bindings for the filters area: gaussian_filter and its 1-D kernel.
#include <string>

#include "bindings/common.hpp"
#include "gpu/exec_host.hpp"
#include "gpu/gaussian_filter.hpp"
#include "core/gaussian_filter.hpp"

namespace unblur::bindings {

namespace {

GaussianMethod parse_method(const std::string& method) {
  if (method == "auto") return GaussianMethod::Auto;
  if (method == "direct") return GaussianMethod::Direct;
  if (method == "fft") return GaussianMethod::FFT;
  throw py::value_error("method must be 'auto', 'direct' or 'fft', got '" + method + "'");
}

}  // namespace

void register_filters(py::module_& m) {
  m.def("gaussian_filter",
        [](const py::array& image, const std::vector<double>& sigma, const std::string& mode, double cval,
           double truncate, int threads, const std::string& method) {
          return dispatch_real(image, "image", [&](auto tag) -> py::array {
            using T = decltype(tag);
            const T* in = cptr<T>(image, "image");
            Shape shape = shape_of(image);
            require_shape(shape, "image");
            if (sigma.size() != shape.size())
              throw py::value_error("sigma must have " + std::to_string(shape.size()) + " values (one per axis), got " +
                                    std::to_string(sigma.size()));
            const Boundary bm = parse_boundary(mode, "mode");
            const GaussianMethod gm = parse_method(method);
            py::array_t<T> out = new_array<T>(shape);
            T* o = out.mutable_data();
            py::gil_scoped_release release;
            gaussian_filter<T>(in, o, shape, sigma, bm, cval, truncate, threads, gm);
            return out;
          });
        },
        py::arg("image"), py::arg("sigma"), py::arg("mode") = "reflect", py::arg("cval") = 0.0,
        py::arg("truncate") = 4.0, py::arg("threads") = 0, py::arg("method") = "auto",
        "Gaussian filter of a C-contiguous float32/float64 array (1-3 axes); method 'auto', 'direct' or 'fft'.");

  // The CUDA engine's Gaussian (csrc/gpu/gaussian_filter.hpp) run by the host executor.
  py::module_ gpu_mod = m.attr("gpu_on_host").cast<py::module_>();
  gpu_mod.def("gaussian_filter",
        [](const py::array& image, const std::vector<double>& sigma, const std::string& mode, double cval,
           double truncate) {
          return dispatch_real(image, "image", [&](auto tag) -> py::array {
            using T = decltype(tag);
            const T* in = cptr<T>(image, "image");
            const Shape shape = shape_of(image);
            const Boundary bm = parse_boundary(mode, "mode");
            py::array_t<T> out = new_array<T>(shape);
            std::vector<T> work(static_cast<std::size_t>(shape_size(shape)));
            py::gil_scoped_release release;
            static const gpu::HostExec<T> ex;
            gpu::gaussian_filter(ex, in, out.mutable_data(), work.data(), shape, sigma, bm, cval, truncate);
            return out;
          });
        },
        py::arg("image"), py::arg("sigma"), py::arg("mode") = "reflect", py::arg("cval") = 0.0,
        py::arg("truncate") = 4.0, "The CUDA engine's Gaussian filter run on the host (tests only).");

  m.def("gaussian_kernel1d", &gaussian_kernel1d, py::arg("sigma"), py::arg("truncate") = 4.0,
        "The 2r + 1 normalised weights of the 1-D Gaussian kernel, r = int(truncate * sigma + 0.5).");

  m.def("choose_gaussian_method",
        [](std::ptrdiff_t n, std::ptrdiff_t r, int bytes) {
          return choose_gaussian_method(n, r, bytes) == GaussianMethod::FFT ? "fft" : "direct";
        },
        py::arg("n"), py::arg("radius"), py::arg("bytes"), "The route 'auto' takes for one axis.");
}

}  // namespace unblur::bindings
