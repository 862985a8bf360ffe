// Bindings for blind blur identification (csrc/core/blind.hpp). The images are 2-D
// float64 (the Python layer converts and reduces colour to luminance).
#include "bindings/common.hpp"
#include "core/blind.hpp"
#include "core/blind_richardson_lucy.hpp"

namespace unblur::bindings {

namespace {

const std::map<std::string, BlurFamily> kFamilies{
    {"gaussian", BlurFamily::Gaussian}, {"defocus", BlurFamily::Defocus}, {"motion", BlurFamily::Motion}};

const double* image_2d(const py::array& image) {
  const double* g = cptr<double>(image, "image");
  if (image.ndim() != 2) throw py::value_error("image must be 2-D");
  return g;
}

double noise_sigma(const py::array& image, const py::object& sigma, int threads) {
  if (!sigma.is_none()) return sigma.cast<double>();
  return estimate_noise<double>(image_2d(image), shape_of(image), threads);
}

}  // namespace

void register_blind(py::module_& m) {
  m.def("periodic_component", [](const py::array& image, int threads) {
    const double* g = image_2d(image);
    const Shape shape = shape_of(image);
    auto out = new_array<double>(shape);
    double* o = out.mutable_data();
    py::gil_scoped_release release;
    periodic_component(g, shape[0], shape[1], o, threads);
    return out;
  }, py::arg("image"), py::arg("threads") = 0, "Moisan's periodic component of a 2-D float64 image.");

  m.def("spectral_grid_size", &spectral_grid_size, py::arg("max_size"));

  m.def("blur_likelihood", [](const py::array& image, const py::array& psf, std::ptrdiff_t grid,
                              const py::object& sigma, int threads) {
    const double* g = image_2d(image);
    const double* h = cptr<double>(psf, "psf");
    const Shape shape = shape_of(image), pshape = shape_of(psf);
    const double s = noise_sigma(image, sigma, threads);
    py::gil_scoped_release release;
    SpectralModel model(g, shape[0], shape[1], grid, s, threads);
    std::vector<double> power(model.size());
    model.otf_power(h, pshape, power.data());
    const SpectralModel::Fit fit = model.fit(power.data());
    py::gil_scoped_acquire acquire;
    return py::make_tuple(fit.nll, fit.log_scale, fit.beta, model.bins());
  }, py::arg("image"), py::arg("psf"), py::arg("grid"), py::arg("sigma") = py::none(), py::arg("threads") = 0,
     "Whittle likelihood of a blur: (nll, log a, beta, bins).");

  m.def("fit_blur_families", [](const py::array& image, const std::vector<std::string>& families,
                                std::ptrdiff_t max_size, std::ptrdiff_t grid, const py::object& sigma, int threads) {
    const double* g = image_2d(image);
    const Shape shape = shape_of(image);
    std::vector<BlurFamily> which;
    for (const auto& f : families) which.push_back(parse_choice(kFamilies, f, "model"));
    const double s = noise_sigma(image, sigma, threads);
    std::vector<FamilyFit> fits;
    double none = 0, bins = 0;
    {
      py::gil_scoped_release release;
      SpectralModel model(g, shape[0], shape[1], grid, s, threads);
      std::vector<double> flat(model.size(), 1.0);
      none = model.fit(flat.data()).nll;
      bins = model.bins();
      for (BlurFamily f : which) fits.push_back(fit_family(model, f, max_size, threads));
    }
    py::dict out;
    for (std::size_t i = 0; i < which.size(); ++i)
      out[py::str(families[i])] = py::make_tuple(py::tuple(py::cast(fits[i].params)), fits[i].nll, fits[i].evaluated);
    return py::make_tuple(out, none, bins, s);
  }, py::arg("image"), py::arg("families"), py::arg("max_size"), py::arg("grid"), py::arg("sigma") = py::none(),
     py::arg("threads") = 0,
     "Best parameters of each family: ({family: (params, nll, evaluated)}, nll of no blur, bins, sigma).");

  m.def("blind_richardson_lucy", [](const py::array& image, const py::array& psf, int iterations, int psf_iterations,
                                    const py::object& callback, int threads) {
    return dispatch_real(image, "image", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      const T* g = cptr<T>(image, "image");
      const T* p = cptr<T>(psf, "psf");
      const Shape shape = shape_of(image), pshape = shape_of(psf);
      auto h = new_array<T>(pshape);
      std::copy(p, p + psf.size(), h.mutable_data());
      auto out = new_array<T>(shape);
      BlindRLOptions options;
      options.iterations = iterations;
      options.psf_iterations = psf_iterations;
      options.threads = threads;
      const IterationCallback cb = wrap_callback(callback);
      T* hp = h.mutable_data();
      T* o = out.mutable_data();
      int done = 0;
      {
        py::gil_scoped_release release;
        done = blind_richardson_lucy<T>(g, shape, hp, pshape, o, options, cb);
      }
      return py::make_tuple(out, h, done);
    });
  }, py::arg("image"), py::arg("psf"), py::arg("iterations"), py::arg("psf_iterations"),
     py::arg("callback") = py::none(), py::arg("threads") = 0,
     "Blind Richardson-Lucy: (restored, psf, iterations run); psf must have the image's dtype.");
}

}  // namespace unblur::bindings
