// Bindings for total-variation deconvolution, and the FFT floor its benchmark compares to.
#include <chrono>
#include <optional>
#include <utility>

#include "bindings/common.hpp"
#include "core/fft.hpp"
#include "core/tv_deconvolve.hpp"
#include "gpu/exec_host.hpp"
#include "gpu/tv_deconvolve.hpp"

namespace unblur::bindings {

namespace {

// The CPU engine's solver, or (on_host_gpu) the CUDA engine's single-source one run by
// the host executor (csrc/gpu/tv_deconvolve.hpp), for the tests.
py::tuple run_tv(const py::array& image, const py::array& psf, bool channel_first,
                            const std::string& boundary, double weight, int max_iterations, double tolerance,
                            bool positivity, std::optional<std::pair<double, double>> bounds,
                            std::tuple<double, double, double> rho, const py::object& callback, int threads, bool on_host_gpu) {
    return dispatch_real(image, "image", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      const T* g = cptr<T>(image, "image");
      const T* p = cptr<T>(psf, "psf");
      Shape shape = shape_of(image), psf_shape = shape_of(psf);
      std::ptrdiff_t channels = 1;
      if (channel_first) {
        if (shape.size() < 2) throw py::value_error("image needs a channel axis and spatial axes");
        channels = shape[0];
        shape.erase(shape.begin());
      }
      const DeconvBoundary b = parse_deconv_boundary(boundary);
      TVOptions o;
      o.weight = weight;
      o.max_iterations = max_iterations;
      o.tolerance = tolerance;
      o.positivity = positivity;
      if (bounds) {
        o.has_bounds = true;
        o.lower = bounds->first;
        o.upper = bounds->second;
      }
      o.rho_data = std::get<0>(rho);
      o.rho_tv = std::get<1>(rho);
      o.rho_constraint = std::get<2>(rho);
      o.threads = threads;
      py::array_t<T> out = new_array<T>(shape_of(image));
      T* op = out.mutable_data();
      IterationCallback cb = wrap_callback(callback);
      TVInfo info;
      {
        py::gil_scoped_release release;
        if (on_host_gpu) {
          static const gpu::HostExec<T> ex;
          info = gpu::tv_deconvolve(ex, g, shape, channels, p, psf_shape, b, o, op, cb);
        } else {
          info = tv_deconvolve<T>(g, shape, channels, p, psf_shape, b, o, op, cb);
        }
      }
      py::dict d;
      d["iterations"] = info.iterations;
      d["stopped_by"] = info.stopped_by;
      d["relative_change"] = info.relative_change;
      return py::make_tuple(out, d);
    });
}

}  // namespace

void register_tv(py::module_& m) {
  m.def("tv_deconvolve", [](const py::array& image, const py::array& psf, bool channel_first,
                            const std::string& boundary, double weight, int max_iterations, double tolerance,
                            bool positivity, std::optional<std::pair<double, double>> bounds,
                            std::tuple<double, double, double> rho, const py::object& callback, int threads) {
    return run_tv(image, psf, channel_first, boundary, weight, max_iterations, tolerance, positivity, bounds, rho,
                  callback, threads, false);
  }, py::arg("image"), py::arg("psf"), py::arg("channel_first"), py::arg("boundary"), py::arg("weight"),
     py::arg("max_iterations"), py::arg("tolerance"), py::arg("positivity"), py::arg("bounds"), py::arg("rho"),
     py::arg("callback"), py::arg("threads") = 0,
     "TV deconvolution (see core/tv_deconvolve.hpp); image is (channels, *spatial) when channel_first. "
     "Returns (restored, info).");

  m.attr("gpu_on_host").cast<py::module_>().def("tv_deconvolve", [](const py::array& image, const py::array& psf, bool channel_first,
                            const std::string& boundary, double weight, int max_iterations, double tolerance,
                            bool positivity, std::optional<std::pair<double, double>> bounds,
                            std::tuple<double, double, double> rho, const py::object& callback, int threads) {
    return run_tv(image, psf, channel_first, boundary, weight, max_iterations, tolerance, positivity, bounds, rho,
                  callback, threads, true);
  }, py::arg("image"), py::arg("psf"), py::arg("channel_first"), py::arg("boundary"), py::arg("weight"),
     py::arg("max_iterations"), py::arg("tolerance"), py::arg("positivity"), py::arg("bounds"), py::arg("rho"),
     py::arg("callback"), py::arg("threads") = 0, "The CUDA engine's TV deconvolution run on the host (tests only).");

  m.def("tv_fft_floor", [](const std::vector<py::ssize_t>& grid, const py::dtype& dtype, int iterations,
                           int channels, int threads) {
    return dispatch_dtype(dtype, "dtype", [&](auto tag) {
      using T = decltype(tag);
      const Shape shape = to_shape(grid);
      require_shape(shape, "grid");
      py::gil_scoped_release release;
      auto fft = RealFFT<T>::get(shape, threads);
      // Zeros: FFTW's running time does not depend on the values, and zeros stay finite.
      AlignedBuffer<T> x(static_cast<std::size_t>(fft->real_size())), y(x.size());
      AlignedBuffer<std::complex<T>> a(static_cast<std::size_t>(fft->spectrum_size())), b(a.size());
      std::fill(x.data(), x.data() + x.size(), T(0));
      std::fill(y.data(), y.data() + y.size(), T(0));
      const auto t0 = std::chrono::steady_clock::now();
      for (int k = 0; k < iterations; ++k)
        for (int c = 0; c < channels; ++c) {
          fft->forward(x.data(), a.data());
          fft->forward(y.data(), b.data());
          fft->inverse(a.data(), x.data());
          fft->inverse(b.data(), y.data());
        }
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
  }, py::arg("grid"), py::arg("dtype"), py::arg("iterations"), py::arg("channels") = 1, py::arg("threads") = 0,
     "Seconds for the real FFTs tv_deconvolve runs in `iterations` iterations (2 forward + 2 inverse per "
     "channel) on `grid`, with the same cached plans: the benchmark's floor.");
}

}  // namespace unblur::bindings
