// Bindings for the filters area: gaussian_filter and its 1-D kernel; the collaborative
// Wiener filter (a pilot-guided BM3D second stage, plug-and-play's refinement).
#include <string>

#include "bindings/common.hpp"
#include "gpu/exec_host.hpp"
#include "gpu/gaussian_filter.hpp"
#include "core/collaborative.hpp"
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
  m.def("collaborative_wiener",
        [](const py::array& noisy, const py::array& pilot, const py::object& sigma, std::ptrdiff_t block,
           std::ptrdiff_t step, std::ptrdiff_t radius, std::ptrdiff_t group, double tau, int threads) {
          return dispatch_real(noisy, "noisy", [&](auto tag) -> py::array {
            using T = decltype(tag);
            const T* y = cptr<T>(noisy, "noisy");
            const T* p = cptr<T>(pilot, "pilot");
            const Shape shape = shape_of(noisy);
            if (shape.size() != 2 || shape_of(pilot) != shape)
              throw py::value_error("noisy and pilot must be 2-D arrays of the same shape");
            double s = 0.0;
            const double* map = nullptr;
            py::array map_arr;
            if (py::isinstance<py::array>(sigma)) {
              map_arr = sigma.cast<py::array>();
              map = cptr<double>(map_arr, "sigma");
              if (shape_of(map_arr) != shape) throw py::value_error("sigma as an array must have the image's shape");
            } else {
              s = sigma.cast<double>();
            }
            CollaborativeParams params;
            params.block = block;
            params.step = step;
            params.radius = radius;
            params.group = group;
            params.tau = tau;
            py::array_t<T> out = new_array<T>(shape);
            T* o = out.mutable_data();
            py::gil_scoped_release release;
            collaborative_wiener<T>(y, p, map, s, o, shape[0], shape[1], params, threads);
            return out;
          });
        },
        py::arg("noisy"), py::arg("pilot"), py::arg("sigma"), py::arg("block") = 8, py::arg("step") = 3,
        py::arg("radius") = 12, py::arg("group") = 16, py::arg("tau") = 400.0 / (255.0 * 255.0),
        py::arg("threads") = 0,
        "Collaborative Wiener estimate of a 2-D float32/float64 image guided by a pilot of the same shape and dtype; "
        "sigma a number or a float64 map of the image's shape.");
}

}  // namespace unblur::bindings
