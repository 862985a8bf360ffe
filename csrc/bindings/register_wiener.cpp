// Bindings for the quadratic deconvolutions: wiener and tikhonov.
#include "bindings/common.hpp"
#include "core/wiener.hpp"

namespace unblur::bindings {

namespace {

py::dict info_dict(const QuadraticInfo& info) {
  py::dict d;
  d["noise_sigma"] = info.noise_sigma >= 0 ? py::object(py::float_(info.noise_sigma)) : py::object(py::none());
  d["lam"] = info.lam;
  d["psd_amplitude"] = info.psd_amplitude;
  d["psd_alpha"] = info.psd_alpha;
  d["psd_f0"] = info.psd_f0;
  d["iterations"] = info.iterations;
  d["relative_residual"] = info.relative_residual;
  d["grid_shape"] = py::tuple(py::cast(info.grid_shape));
  return d;
}

SolverOptions solver_options(double tolerance, int max_iterations) {
  SolverOptions s;
  s.tolerance = tolerance;
  s.max_iterations = max_iterations;
  return s;
}

}  // namespace

void register_wiener(py::module_& m) {
  m.def("quadratic_grid_shape", [](const std::vector<py::ssize_t>& shape, const std::vector<py::ssize_t>& psf_shape,
                                   const std::string& boundary) {
    return quadratic_grid_shape(to_shape(shape), to_shape(psf_shape), parse_deconv_boundary(boundary));
  }, py::arg("shape"), py::arg("psf_shape"), py::arg("boundary"),
     "The FFT grid of a wiener/tikhonov model (nsr spectra live on its half spectrum).");

  m.def("wiener", [](const py::array& image, const py::array& psf, const std::string& boundary, const py::object& nsr,
                     const py::object& callback, double tolerance, int max_iterations, int threads) {
    return dispatch_real(image, "image", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      const T* g = cptr<T>(image, "image");
      const T* p = cptr<T>(psf, "psf");
      const Shape shape = shape_of(image), pshape = shape_of(psf);
      const DeconvBoundary b = parse_deconv_boundary(boundary);
      WienerOptions<T> options;
      options.solver = solver_options(tolerance, max_iterations);
      if (nsr.is_none()) {
        options.mode = NsrMode::Auto;
      } else if (py::isinstance<py::array>(nsr)) {
        const py::array a = nsr.cast<py::array>();
        const Shape want = spectrum_shape(quadratic_grid_shape(shape, pshape, b));
        if (shape_of(a) != want) throw py::value_error("nsr spectrum has the wrong shape");
        options.mode = NsrMode::Spectrum;
        options.nsr_spectrum = cptr<T>(a, "nsr");
      } else {
        options.mode = NsrMode::Scalar;
        options.nsr = nsr.cast<double>();
      }
      IterationCallback cb = wrap_callback(callback);
      py::array_t<T> out = new_array<T>(shape);
      T* o = out.mutable_data();
      QuadraticInfo info;
      {
        py::gil_scoped_release release;
        info = wiener<T>(g, shape, p, pshape, b, options, o, cb, threads);
      }
      return py::make_tuple(out, info_dict(info));
    });
  }, py::arg("image"), py::arg("psf"), py::arg("boundary"), py::arg("nsr"), py::arg("callback") = py::none(),
     py::arg("tolerance") = 0.0, py::arg("max_iterations") = 500, py::arg("threads") = 0,
     "Wiener deconvolution; nsr: a float, a spectrum on the grid's half spectrum, or None (auto).");

  m.def("tikhonov", [](const py::array& image, const py::array& psf, const std::string& boundary,
                       const std::string& regularizer, const std::string& lam_method, double lam,
                       const py::object& callback, double tolerance, int max_iterations, int threads) {
    static const std::map<std::string, Regularizer> regularizers = {
        {"identity", Regularizer::Identity}, {"gradient", Regularizer::Gradient}, {"laplacian", Regularizer::Laplacian}};
    static const std::map<std::string, LambdaMethod> methods = {
        {"fixed", LambdaMethod::Fixed}, {"gcv", LambdaMethod::GCV}, {"discrepancy", LambdaMethod::Discrepancy}};
    return dispatch_real(image, "image", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      const T* g = cptr<T>(image, "image");
      const T* p = cptr<T>(psf, "psf");
      const Shape shape = shape_of(image), pshape = shape_of(psf);
      TikhonovOptions options;
      options.regularizer = parse_choice(regularizers, regularizer, "regularizer");
      options.method = parse_choice(methods, lam_method, "lam_method");
      options.lam = lam;
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
      return py::make_tuple(out, info_dict(info));
    });
  }, py::arg("image"), py::arg("psf"), py::arg("boundary"), py::arg("regularizer"), py::arg("lam_method"),
     py::arg("lam") = 0.0, py::arg("callback") = py::none(), py::arg("tolerance") = 0.0,
     py::arg("max_iterations") = 500, py::arg("threads") = 0,
     "Tikhonov-regularised deconvolution; lam_method 'fixed' uses lam.");
}

}  // namespace unblur::bindings
