// Bindings for the quadratic deconvolutions: wiener and tikhonov.
#include <cstring>

#include "bindings/common.hpp"
#include "core/wiener.hpp"
#include "gpu/exec_host.hpp"
#include "gpu/wiener.hpp"

namespace unblur::bindings {

namespace {

SolverOptions solver_options(double tolerance, int max_iterations) {
  SolverOptions s;
  s.tolerance = tolerance;
  s.max_iterations = max_iterations;
  return s;
}

}  // namespace

/// nsr as the engines take it: None (auto), a real number, or a spectrum array on the
/// half spectrum of the model's grid (shape checked: the engines read it by the grid);
/// anything else is a TypeError naming nsr (pybind11's own cast would be a RuntimeError).
template <typename T>
void parse_nsr(const py::object& nsr, const Shape& shape, const Shape& pshape, DeconvBoundary b, NsrMode& mode,
               double& value, const T*& spectrum) {
  if (nsr.is_none()) {
    mode = NsrMode::Auto;
  } else if (py::isinstance<py::array>(nsr)) {
    const py::array a = nsr.cast<py::array>();
    const Shape want = spectrum_shape(quadratic_grid_shape(shape, pshape, b));
    if (shape_of(a) != want) throw py::value_error("nsr spectrum has the wrong shape");
    mode = NsrMode::Spectrum;
    spectrum = cptr<T>(a, "nsr");
  } else if ((py::isinstance<py::float_>(nsr) || py::isinstance<py::int_>(nsr)) && !py::isinstance<py::bool_>(nsr)) {
    mode = NsrMode::Scalar;
    value = nsr.cast<double>();
  } else {
    throw py::type_error("nsr must be None, a real number or a spectrum array, got " +
                         std::string(py::str(py::type::of(nsr).attr("__name__"))));
  }
}

/// The data step's checks and output shared by the CPU engine and the host executor:
/// z and x0 on the model's grid (ValueError otherwise), the result a new grid array
/// started from x0; solve(image, shape, psf, psf_shape, boundary, z, x) runs without the GIL.
template <typename T, typename Solve>
py::tuple run_data_prox(const py::array& image, const py::array& psf, const std::string& boundary,
                        const py::array& z, const py::array& x0, Solve&& solve) {
  const T* g = cptr<T>(image, "image");
  const T* p = cptr<T>(psf, "psf");
  const T* zp = cptr<T>(z, "z");
  const T* xp = cptr<T>(x0, "x0");
  const Shape shape = shape_of(image), pshape = shape_of(psf);
  const DeconvBoundary b = parse_deconv_boundary(boundary);
  const Shape grid = quadratic_grid_shape(shape, pshape, b);
  if (shape_of(z) != grid) throw py::value_error("z must have the model's grid shape");
  if (shape_of(x0) != grid) throw py::value_error("x0 must have the model's grid shape");
  py::array_t<T> out = new_array<T>(grid);
  T* o = out.mutable_data();
  std::memcpy(o, xp, sizeof(T) * static_cast<std::size_t>(shape_size(grid)));
  QuadraticInfo info;
  {
    py::gil_scoped_release release;
    info = solve(g, shape, p, pshape, b, zp, o);
  }
  return py::make_tuple(out, quadratic_info_dict(info));
}

void register_wiener(py::module_& m) {
  m.def("quadratic_grid_shape", [](const std::vector<py::ssize_t>& shape, const std::vector<py::ssize_t>& psf_shape,
                                   const std::string& boundary) {
    return quadratic_grid_shape(to_shape(shape), to_shape(psf_shape), parse_deconv_boundary(boundary));
  }, py::arg("shape"), py::arg("psf_shape"), py::arg("boundary"),
     "The FFT grid of a wiener/tikhonov model (nsr spectra live on its half spectrum).");

  m.def("wiener", [](const py::array& image, const py::array& psf, const std::string& boundary, const py::object& nsr,
                     const py::object& callback, double tolerance, int max_iterations, int threads,
                     double noise_sigma) {
    return dispatch_real(image, "image", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      const T* g = cptr<T>(image, "image");
      const T* p = cptr<T>(psf, "psf");
      const Shape shape = shape_of(image), pshape = shape_of(psf);
      const DeconvBoundary b = parse_deconv_boundary(boundary);
      WienerOptions<T> options;
      options.solver = solver_options(tolerance, max_iterations);
      parse_nsr<T>(nsr, shape, pshape, b, options.mode, options.nsr, options.nsr_spectrum);
      options.noise_sigma = noise_sigma;
      IterationCallback cb = wrap_callback(callback);
      py::array_t<T> out = new_array<T>(shape);
      T* o = out.mutable_data();
      QuadraticInfo info;
      {
        py::gil_scoped_release release;
        info = wiener<T>(g, shape, p, pshape, b, options, o, cb, threads);
      }
      return py::make_tuple(out, quadratic_info_dict(info));
    });
  }, py::arg("image"), py::arg("psf"), py::arg("boundary"), py::arg("nsr"), py::arg("callback") = py::none(),
     py::arg("tolerance") = 0.0, py::arg("max_iterations") = 500, py::arg("threads") = 0,
     py::arg("noise_sigma") = -1.0,
     "Wiener deconvolution; nsr: a float, a spectrum on the grid's half spectrum, or None (auto: "
     "noise_sigma^2 / S(f), noise_sigma estimated where < 0).");

  m.def("tikhonov", [](const py::array& image, const py::array& psf, const std::string& boundary,
                       const std::string& regularizer, const std::string& lam_method, double lam,
                       const py::object& callback, double tolerance, int max_iterations, int threads,
                       double noise_sigma) {
    return dispatch_real(image, "image", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      const T* g = cptr<T>(image, "image");
      const T* p = cptr<T>(psf, "psf");
      const Shape shape = shape_of(image), pshape = shape_of(psf);
      TikhonovOptions options;
      options.regularizer = parse_regularizer(regularizer);
      options.method = parse_lam_method(lam_method);
      options.lam = lam;
      options.noise_sigma = noise_sigma;
      options.solver = solver_options(tolerance, max_iterations);
      const DeconvBoundary b = parse_deconv_boundary(boundary);
      IterationCallback cb = wrap_callback(callback);
      py::array_t<T> out = new_array<T>(shape);
      T* o = out.mutable_data();
      QuadraticInfo info;
      {
        py::gil_scoped_release release;
        info = tikhonov<T>(g, shape, p, pshape, b, options, o, cb, threads);
      }
      return py::make_tuple(out, quadratic_info_dict(info));
    });
  }, py::arg("image"), py::arg("psf"), py::arg("boundary"), py::arg("regularizer"), py::arg("lam_method"),
     py::arg("lam") = 0.0, py::arg("callback") = py::none(), py::arg("tolerance") = 0.0,
     py::arg("max_iterations") = 500, py::arg("threads") = 0, py::arg("noise_sigma") = -1.0,
     "Tikhonov-regularised deconvolution; lam_method 'fixed' uses lam ('discrepancy': noise_sigma, "
     "estimated where < 0).");

  m.def("data_prox", [](const py::array& image, const py::array& psf, const std::string& boundary, double alpha,
                        const py::array& z, const py::array& x0, double tolerance, int max_iterations, int threads) {
    return dispatch_real(image, "image", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      return run_data_prox<T>(image, psf, boundary, z, x0, [&](const T* g, const Shape& shape, const T* p,
                                                                const Shape& pshape, DeconvBoundary b, const T* zp,
                                                                T* x) {
        return data_prox<T>(g, shape, p, pshape, b, alpha, zp, x, solver_options(tolerance, max_iterations), threads);
      });
    });
  }, py::arg("image"), py::arg("psf"), py::arg("boundary"), py::arg("alpha"), py::arg("z"), py::arg("x0"),
     py::arg("tolerance") = 0.0, py::arg("max_iterations") = 500, py::arg("threads") = 0,
     "The plug-and-play data step on the model's grid: argmin 1/2 ||M(h*x) - g||^2 + alpha/2 ||x - z||^2 "
     "('auto': PCG from x0; otherwise the closed form, x0 unused).");

  // The CUDA engine's quadratic solver (csrc/gpu/wiener.hpp) run by the host executor
  // (tests only): kind 'wiener' (nsr None = auto, a float, or a spectrum) or 'tikhonov';
  // sigma is the noise estimate the automatic parameters need.
  py::module_ gpu_mod = m.attr("gpu_on_host").cast<py::module_>();
  gpu_mod.def("quadratic", [](const py::array& image, const py::array& psf, const std::string& boundary,
                              const std::string& kind, const py::object& nsr, const std::string& regularizer,
                              const std::string& lam_method, double lam, double sigma, const py::object& callback,
                              double tolerance, int max_iterations) {
    return dispatch_real(image, "image", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      const T* g = cptr<T>(image, "image");
      const T* p = cptr<T>(psf, "psf");
      const Shape shape = shape_of(image), pshape = shape_of(psf);
      gpu::QuadraticChoice<T> choice;
      choice.wiener = parse_quadratic_kind(kind);
      choice.wiener_options.solver = choice.tikhonov_options.solver = solver_options(tolerance, max_iterations);
      parse_nsr<T>(nsr, shape, pshape, parse_deconv_boundary(boundary), choice.wiener_options.mode,
                   choice.wiener_options.nsr, choice.wiener_options.nsr_spectrum);
      choice.tikhonov_options.regularizer = parse_regularizer(regularizer);
      choice.tikhonov_options.method = parse_lam_method(lam_method);
      choice.tikhonov_options.lam = lam;
      const IterationCallback cb = wrap_callback(callback);
      py::array_t<T> out = new_array<T>(shape);
      static const gpu::HostExec<T> ex;
      QuadraticInfo info;
      {
        py::gil_scoped_release release;
        info = gpu::quadratic_solve(ex, g, shape, p, pshape, parse_deconv_boundary(boundary), choice, sigma,
                                    out.mutable_data(), cb);
      }
      return py::make_tuple(out, quadratic_info_dict(info));
    });
  }, py::arg("image"), py::arg("psf"), py::arg("boundary"), py::arg("kind"), py::arg("nsr") = py::none(),
     py::arg("regularizer") = "laplacian", py::arg("lam_method") = "fixed", py::arg("lam") = 0.0,
     py::arg("sigma") = -1.0, py::arg("callback") = py::none(), py::arg("tolerance") = 0.0,
     py::arg("max_iterations") = 500);

  gpu_mod.def("data_prox", [](const py::array& image, const py::array& psf, const std::string& boundary, double alpha,
                              const py::array& z, const py::array& x0, double tolerance, int max_iterations) {
    return dispatch_real(image, "image", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      static const gpu::HostExec<T> ex;
      return run_data_prox<T>(image, psf, boundary, z, x0, [&](const T* g, const Shape& shape, const T* p,
                                                                const Shape& pshape, DeconvBoundary b, const T* zp,
                                                                T* x) {
        return gpu::data_prox(ex, g, shape, p, pshape, b, alpha, zp, x, solver_options(tolerance, max_iterations));
      });
    });
  }, py::arg("image"), py::arg("psf"), py::arg("boundary"), py::arg("alpha"), py::arg("z"), py::arg("x0"),
     py::arg("tolerance") = 0.0, py::arg("max_iterations") = 500);
}

}  // namespace unblur::bindings
