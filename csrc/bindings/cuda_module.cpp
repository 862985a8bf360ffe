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
#include <optional>
#include <tuple>
#include <string>

#include "bindings/common.hpp"
#include "core/error.hpp"
#include "cuda/blind_richardson_lucy.hpp"
#include "cuda/convolve.hpp"
#include "cuda/device.hpp"
#include "cuda/fft.hpp"
#include "cuda/filters.hpp"
#include "cuda/memory.hpp"
#include "cuda/metrics.hpp"
#include "cuda/richardson_lucy.hpp"
#include "cuda/transfer.hpp"
#include "cuda/tv_deconvolve.hpp"
#include "cuda/wiener.hpp"

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

unblur::DeconvBoundary parse_model_boundary(const std::string& boundary, bool* zero) {
  *zero = boundary == "zero";
  if (*zero) return unblur::DeconvBoundary::Auto;
  return unblur::bindings::parse_deconv_boundary(boundary);
}

template <typename T>
T* optional_address(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "unblur's CUDA engine. Use the public API in `unblur`.";
  // A failed CUDA or cuFFT call (csrc/cuda/check.hpp) names the call: RuntimeError.
  py::register_local_exception<unblur::ValueError>(m, "CudaValueError", PyExc_ValueError);
  py::register_local_exception<unblur::Error>(m, "CudaError", PyExc_RuntimeError);
  m.def("cufft_version", &unblur::cuda::cufft_version, "cuFFT's version (e.g. 12500 for 12.5), as loaded.");
  m.def("memory_stats", [] {
    const unblur::cuda::PoolStats s = unblur::cuda::pool_stats();
    py::dict d;
    d["reserved"] = s.reserved;
    d["used"] = s.used;
    d["fallback_devices"] = s.fallback_devices;
    return d;
  }, "Bytes reserved and in use by unblur's pools of temporaries (summed over devices).");
  m.def("release_memory", [] { unblur::cuda::trim_pools(); },
        "Gives the unused memory of unblur's pools of temporaries back to the driver.");
  m.def("transfer_stats", [] {
    const unblur::cuda::TransferStats& s = unblur::cuda::transfer_stats();
    py::dict d;
    d["host_to_device"] = s.host_to_device.load();
    d["host_to_device_bytes"] = s.host_to_device_bytes.load();
    d["device_to_host"] = s.device_to_host.load();
    d["device_to_host_bytes"] = s.device_to_host_bytes.load();
    d["device_to_device"] = s.device_to_device.load();
    d["largest_device_to_host"] = s.largest_device_to_host.load();
    return d;
  }, "Copies the CUDA engine has made since import (or reset_transfer_stats), by direction.");
  m.def("reset_transfer_stats", [] {
    unblur::cuda::TransferStats& s = unblur::cuda::transfer_stats();
    s.host_to_device = 0;
    s.host_to_device_bytes = 0;
    s.device_to_host = 0;
    s.device_to_host_bytes = 0;
    s.device_to_device = 0;
    s.largest_device_to_host = 0;
  }, "Zeroes the copy counters.");
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
  m.def("gaussian_filter", [](std::uintptr_t image, std::uintptr_t out, const Shape& shape,
                              const std::vector<double>& sigma, const std::string& mode, double cval, double truncate,
                              const std::string& dtype, std::uintptr_t stream) {
    const unblur::Boundary b = unblur::bindings::parse_boundary(mode, "mode");
    if (sigma.size() != shape.size())
      throw py::value_error("sigma must have " + std::to_string(shape.size()) + " values (one per axis), got " +
                            std::to_string(sigma.size()));
    by_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* x = address<const T>(image, "image");
      T* o = address<T>(out, "out");
      py::gil_scoped_release release;
      unblur::cuda::gaussian_filter<T>(x, o, shape, sigma, b, cval, truncate, stream_of(stream));
    });
  }, py::arg("image"), py::arg("out"), py::arg("shape"), py::arg("sigma"), py::arg("mode"), py::arg("cval"),
     py::arg("truncate"), py::arg("dtype"), py::arg("stream"),
     "Separable Gaussian filter on the GPU (device addresses; see unblur.gaussian_filter).");

  m.def("mean_squared_error", [](std::uintptr_t reference, std::uintptr_t image, std::ptrdiff_t n,
                                 const std::string& dtype, std::uintptr_t stream) {
    return by_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* r = address<const T>(reference, "reference");
      const T* i = address<const T>(image, "image");
      py::gil_scoped_release release;
      return unblur::cuda::mean_squared_error<T>(r, i, n, stream_of(stream));
    });
  }, py::arg("reference"), py::arg("image"), py::arg("n"), py::arg("dtype"), py::arg("stream"));
  m.def("psnr", [](std::uintptr_t reference, std::uintptr_t image, std::ptrdiff_t n, double data_range,
                   const std::string& dtype, std::uintptr_t stream) {
    return by_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* r = address<const T>(reference, "reference");
      const T* i = address<const T>(image, "image");
      py::gil_scoped_release release;
      return unblur::cuda::psnr<T>(r, i, n, data_range, stream_of(stream));
    });
  }, py::arg("reference"), py::arg("image"), py::arg("n"), py::arg("data_range"), py::arg("dtype"),
     py::arg("stream"));
  m.def("ssim", [](std::uintptr_t reference, std::uintptr_t image, const Shape& shape, double data_range,
                   double sigma, double truncate, double k1, double k2, std::uintptr_t ssim_map,
                   const std::string& dtype, std::uintptr_t stream) {
    unblur::SsimOptions o;
    o.data_range = data_range;
    o.sigma = sigma;
    o.truncate = truncate;
    o.k1 = k1;
    o.k2 = k2;
    return by_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* r = address<const T>(reference, "reference");
      const T* i = address<const T>(image, "image");
      T* map = optional_address<T>(ssim_map);
      py::gil_scoped_release release;
      return unblur::cuda::ssim<T>(r, i, shape, o, map, stream_of(stream));
    });
  }, py::arg("reference"), py::arg("image"), py::arg("shape"), py::arg("data_range"), py::arg("sigma"),
     py::arg("truncate"), py::arg("K1"), py::arg("K2"), py::arg("ssim_map"), py::arg("dtype"), py::arg("stream"),
     "Mean SSIM on the GPU (device addresses; ssim_map 0: no map).");

  m.def("deconv_grid_shape", [](const Shape& shape, const Shape& psf_shape, const std::string& boundary) {
    bool zero = false;
    return unblur::cuda::deconv_grid_shape(shape, psf_shape, parse_model_boundary(boundary, &zero));
  }, py::arg("shape"), py::arg("psf_shape"), py::arg("boundary"),
     "The estimate's grid of a deconvolution ('auto', 'periodic', 'reflect' or 'zero'): the CPU engine's.");

  // Richardson–Lucy: the CPU binding's options and state, with device addresses. The
  // state buffers (estimate, and with acceleration previous, previous_step, correction)
  // hold deconv_grid_shape values each and are read (start 'state') and written in place.
  m.def("richardson_lucy",
        [](std::uintptr_t image, const Shape& shape, std::uintptr_t psf, const Shape& psf_shape,
           std::uintptr_t weights, std::uintptr_t initial, std::uintptr_t out, const std::string& dtype,
           const std::string& boundary, int iterations, int max_iterations, bool accelerate, double damping,
           double tv_weight, double background, double tolerance, double noise_sigma, const std::string& start,
           std::uintptr_t estimate, std::uintptr_t previous, std::uintptr_t previous_step, std::uintptr_t correction,
           int history, int iterations_done, double correction_dot, double correction_norm2,
           const py::object& callback, std::uintptr_t stream) {
          unblur::RichardsonLucyOptions o;
          o.boundary = parse_model_boundary(boundary, &o.zero_boundary);
          o.iterations = iterations;
          o.max_iterations = max_iterations;
          o.accelerate = accelerate;
          o.damping = damping;
          o.tv_weight = tv_weight;
          o.background = background;
          o.tolerance = tolerance;
          o.noise_sigma = noise_sigma;
          static const std::map<std::string, unblur::RichardsonLucyStart> starts{
              {"default", unblur::RichardsonLucyStart::Default},
              {"image", unblur::RichardsonLucyStart::Image},
              {"state", unblur::RichardsonLucyStart::State}};
          const auto how = unblur::bindings::parse_choice(starts, start, "start");
          const unblur::IterationCallback cb = unblur::bindings::wrap_callback(callback);
          return by_dtype(dtype, [&](auto tag) {
            using T = decltype(tag);
            const T* g = address<const T>(image, "image");
            const T* h = address<const T>(psf, "psf");
            T* o_ptr = address<T>(out, "out");
            const T* w = optional_address<const T>(weights);
            const T* x0 = how == unblur::RichardsonLucyStart::Image ? address<const T>(initial, "initial") : nullptr;
            unblur::RichardsonLucyState<T> st;
            st.estimate = address<T>(estimate, "estimate");
            if (accelerate) {
              st.previous = address<T>(previous, "previous");
              st.previous_step = address<T>(previous_step, "previous_step");
              st.correction = address<T>(correction, "correction");
            }
            st.history = history;
            st.iterations = iterations_done;
            st.correction_dot = correction_dot;
            st.correction_norm2 = correction_norm2;
            unblur::RichardsonLucyResult r;
            {
              py::gil_scoped_release release;
              r = unblur::cuda::richardson_lucy<T>(g, shape, h, psf_shape, w, o, st, how, x0, o_ptr, cb,
                                                   stream_of(stream));
            }
            py::dict info;
            info["iterations"] = r.iterations;
            info["stopped_by"] = unblur::stop_reason_name(r.stopped_by);
            info["noise_sigma"] = r.noise_sigma;
            info["residual"] = r.residual;
            info["relative_change"] = r.relative_change;
            info["history"] = st.history;
            info["iterations_done"] = st.iterations;
            info["correction_dot"] = st.correction_dot;
            info["correction_norm2"] = st.correction_norm2;
            return info;
          });
        },
        py::arg("image"), py::arg("shape"), py::arg("psf"), py::arg("psf_shape"), py::arg("weights"),
        py::arg("initial"), py::arg("out"), py::arg("dtype"), py::arg("boundary"), py::arg("iterations"),
        py::arg("max_iterations"), py::arg("accelerate"), py::arg("damping"), py::arg("tv_weight"),
        py::arg("background"), py::arg("tolerance"), py::arg("noise_sigma"), py::arg("start"), py::arg("estimate"),
        py::arg("previous"), py::arg("previous_step"), py::arg("correction"), py::arg("history"),
        py::arg("iterations_done"), py::arg("correction_dot"), py::arg("correction_norm2"), py::arg("callback"),
        py::arg("stream"),
        "Richardson–Lucy on the GPU (device addresses; weights 0 = none); returns the run's info and the "
        "state's counters.");

  // Wiener / Tikhonov: nsr_mode 'auto', 'scalar' (nsr) or 'spectrum' (nsr_spectrum, a
  // device address of the grid's half spectrum); sigma the noise estimate automatic
  // parameters need.
  m.def("quadratic",
        [](std::uintptr_t image, const Shape& shape, std::uintptr_t psf, const Shape& psf_shape, std::uintptr_t out,
           const std::string& dtype, const std::string& boundary, const std::string& kind,
           const std::string& nsr_mode, double nsr, std::uintptr_t nsr_spectrum, const std::string& regularizer,
           const std::string& lam_method, double lam, double sigma, const py::object& callback, double tolerance,
           int max_iterations, std::uintptr_t stream) {
          const bool wiener = unblur::bindings::parse_quadratic_kind(kind);
          const unblur::DeconvBoundary b = unblur::bindings::parse_deconv_boundary(boundary);
          static const std::map<std::string, unblur::NsrMode> modes{{"auto", unblur::NsrMode::Auto},
                                                                   {"scalar", unblur::NsrMode::Scalar},
                                                                   {"spectrum", unblur::NsrMode::Spectrum}};
          const unblur::NsrMode mode = unblur::bindings::parse_choice(modes, nsr_mode, "nsr_mode");
          unblur::TikhonovOptions t;
          t.regularizer = unblur::bindings::parse_regularizer(regularizer);
          t.method = unblur::bindings::parse_lam_method(lam_method);
          t.lam = lam;
          t.solver.tolerance = tolerance;
          t.solver.max_iterations = max_iterations;
          const unblur::IterationCallback cb = unblur::bindings::wrap_callback(callback);
          return by_dtype(dtype, [&](auto tag) {
            using T = decltype(tag);
            unblur::WienerOptions<T> w;
            w.mode = mode;
            w.nsr = nsr;
            w.solver = t.solver;
            if (wiener && mode == unblur::NsrMode::Spectrum) w.nsr_spectrum = address<const T>(nsr_spectrum, "nsr");
            const T* g = address<const T>(image, "image");
            const T* h = address<const T>(psf, "psf");
            T* o = address<T>(out, "out");
            unblur::QuadraticInfo info;
            {
              py::gil_scoped_release release;
              info = unblur::cuda::quadratic<T>(g, shape, h, psf_shape, b, wiener, w, t, sigma, o, cb,
                                                stream_of(stream));
            }
            return unblur::bindings::quadratic_info_dict(info);
          });
        },
        py::arg("image"), py::arg("shape"), py::arg("psf"), py::arg("psf_shape"), py::arg("out"), py::arg("dtype"),
        py::arg("boundary"), py::arg("kind"), py::arg("nsr_mode"), py::arg("nsr"), py::arg("nsr_spectrum"),
        py::arg("regularizer"), py::arg("lam_method"), py::arg("lam"), py::arg("sigma"), py::arg("callback"),
        py::arg("tolerance"), py::arg("max_iterations"), py::arg("stream"),
        "Wiener ('wiener') or Tikhonov ('tikhonov') deconvolution on the GPU (device addresses); returns the info.");

  m.def(
      "data_prox",
      [](std::uintptr_t image, const Shape& shape, std::uintptr_t psf, const Shape& psf_shape, std::uintptr_t z,
         std::uintptr_t x, const std::string& dtype, const std::string& boundary, double alpha, double tolerance,
         int max_iterations, std::uintptr_t stream) {
        const unblur::DeconvBoundary b = unblur::bindings::parse_deconv_boundary(boundary);
        unblur::SolverOptions so;
        so.tolerance = tolerance;
        so.max_iterations = max_iterations;
        return by_dtype(dtype, [&](auto tag) {
          using T = decltype(tag);
          const T* g = address<const T>(image, "image");
          const T* h = address<const T>(psf, "psf");
          const T* zp = address<const T>(z, "z");
          T* xp = address<T>(x, "x");
          unblur::QuadraticInfo info;
          {
            py::gil_scoped_release release;
            info = unblur::cuda::data_prox<T>(g, shape, h, psf_shape, b, alpha, zp, xp, so, stream_of(stream));
          }
          return unblur::bindings::quadratic_info_dict(info);
        });
      },
      py::arg("image"), py::arg("shape"), py::arg("psf"), py::arg("psf_shape"), py::arg("z"), py::arg("x"),
      py::arg("dtype"), py::arg("boundary"), py::arg("alpha"), py::arg("tolerance"), py::arg("max_iterations"),
      py::arg("stream"),
      "The plug-and-play data step on the GPU: z and x (in: the PCG's start for 'auto'; out: the solution) hold "
      "the model's grid (device addresses); returns the info.");

  // TV deconvolution: image and out are (channels, *shape), channel-major.
  m.def("tv_deconvolve",
        [](std::uintptr_t image, const Shape& shape, std::ptrdiff_t channels, std::uintptr_t psf,
           const Shape& psf_shape, std::uintptr_t out, const std::string& dtype, const std::string& boundary,
           double weight, int max_iterations, double tolerance, bool positivity,
           std::optional<std::pair<double, double>> bounds, std::tuple<double, double, double> rho,
           const py::object& callback, std::uintptr_t stream) {
          const unblur::DeconvBoundary b = unblur::bindings::parse_deconv_boundary(boundary);
          unblur::TVOptions o;
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
          const unblur::IterationCallback cb = unblur::bindings::wrap_callback(callback);
          return by_dtype(dtype, [&](auto tag) {
            using T = decltype(tag);
            const T* g = address<const T>(image, "image");
            const T* h = address<const T>(psf, "psf");
            T* o_ptr = address<T>(out, "out");
            unblur::TVInfo info;
            {
              py::gil_scoped_release release;
              info = unblur::cuda::tv_deconvolve<T>(g, shape, channels, h, psf_shape, b, o, o_ptr, cb,
                                                    stream_of(stream));
            }
            py::dict d;
            d["iterations"] = info.iterations;
            d["stopped_by"] = info.stopped_by;
            d["relative_change"] = info.relative_change;
            return d;
          });
        },
        py::arg("image"), py::arg("shape"), py::arg("channels"), py::arg("psf"), py::arg("psf_shape"), py::arg("out"),
        py::arg("dtype"), py::arg("boundary"), py::arg("weight"), py::arg("max_iterations"), py::arg("tolerance"),
        py::arg("positivity"), py::arg("bounds"), py::arg("rho"), py::arg("callback"), py::arg("stream"),
        "TV deconvolution on the GPU (device addresses); returns the run's info.");

  m.def("blind_richardson_lucy",
        [](std::uintptr_t image, const Shape& shape, std::uintptr_t psf, const Shape& psf_shape, std::uintptr_t out,
           const std::string& dtype, int iterations, int psf_iterations, const py::object& callback,
           std::uintptr_t stream) {
          unblur::BlindRLOptions o;
          o.iterations = iterations;
          o.psf_iterations = psf_iterations;
          const unblur::IterationCallback cb = unblur::bindings::wrap_callback(callback);
          return by_dtype(dtype, [&](auto tag) {
            using T = decltype(tag);
            const T* g = address<const T>(image, "image");
            T* h = address<T>(psf, "psf");
            T* o_ptr = address<T>(out, "out");
            py::gil_scoped_release release;
            return unblur::cuda::blind_richardson_lucy<T>(g, shape, h, psf_shape, o_ptr, o, cb, stream_of(stream));
          });
        },
        py::arg("image"), py::arg("shape"), py::arg("psf"), py::arg("psf_shape"), py::arg("out"), py::arg("dtype"),
        py::arg("iterations"), py::arg("psf_iterations"), py::arg("callback"), py::arg("stream"),
        "Blind Richardson-Lucy on the GPU; psf (device) is updated in place; returns the alternations run.");

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
