// Bindings for blind blur identification (csrc/core/blind.hpp). The images are 2-D
// float64 (the Python layer converts and reduces colour to luminance).
#include <cmath>

#include "bindings/common.hpp"
#include "core/blind.hpp"
#include "core/blind_kernel.hpp"
#include "core/blind_richardson_lucy.hpp"
#include "gpu/blind_richardson_lucy.hpp"
#include "gpu/exec_host.hpp"

namespace unblur::bindings {

namespace {

const std::map<std::string, BlurFamily> kFamilies{
    {"gaussian", BlurFamily::Gaussian}, {"defocus", BlurFamily::Defocus}, {"motion", BlurFamily::Motion}};

const double* image_2d(const py::array& image) {
  const double* g = cptr<double>(image, "image");
  if (image.ndim() != 2) throw py::value_error("image must be 2-D");
  return g;
}

// A square, odd-sized float64 kernel: its side.
std::ptrdiff_t kernel_side(const py::array& kernel) {
  if (kernel.ndim() != 2 || kernel.shape(0) != kernel.shape(1) || kernel.shape(0) % 2 == 0)
    throw py::value_error("kernel must be a square 2-D array of odd side");
  return kernel.shape(0);
}

py::array_t<double> copy_kernel(const double* k, std::ptrdiff_t side) {
  auto out = new_array<double>(Shape{side, side});
  std::copy(k, k + side * side, out.mutable_data());
  return out;
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

  m.def("estimate_kernel", [](const py::array& image, int size, int iterations, int levels,
                              const py::object& callback, int threads) {
    const double* g = image_2d(image);
    const Shape shape = shape_of(image);
    KernelEstimateOptions options;
    options.iterations = iterations;
    options.levels = levels;
    options.threads = threads;
    KernelEstimateCallback cb;
    if (!callback.is_none()) {
      cb = [callback](const KernelEstimateState& s) {
        py::gil_scoped_acquire acquire;
        py::dict d;
        d["level"] = s.level;
        d["levels"] = s.levels;
        d["iteration"] = s.iteration;
        d["kernel_size"] = s.kernel_size;
        d["kernel"] = copy_kernel(s.kernel, s.kernel_size);
        d["lambda"] = s.lambda;
        return keep_going(callback(d));
      };
    }
    KernelEstimate est;
    {
      py::gil_scoped_release release;
      est = estimate_kernel(g, shape[0], shape[1], size, options, cb);
    }
    py::dict info;
    info["levels"] = est.kernel_sizes.size();
    info["kernel_sizes"] = py::cast(est.kernel_sizes);
    info["iterations"] = est.iterations;
    info["lambda"] = est.lambda;
    info["residual"] = std::isnan(est.residual) ? py::object(py::none()) : py::object(py::float_(est.residual));
    info["blur_found"] = est.blur_found;
    info["stopped_by"] = est.stopped_by_callback ? "callback" : "iterations";
    return py::make_tuple(copy_kernel(est.kernel.data(), size), info);
  }, py::arg("image"), py::arg("size"), py::arg("iterations") = 5, py::arg("levels") = 0,
     py::arg("callback") = py::none(), py::arg("threads") = 0,
     "Free-form blur kernel of a 2-D float64 image: (kernel, info); see unblur._xp.blind_kernel.");

  m.def("kernel_level_sizes", &kernel_level_sizes, py::arg("size"), py::arg("levels") = 0);

  m.def("resize_image", [](const py::array& image, std::ptrdiff_t out_rows, std::ptrdiff_t out_cols) {
    const double* g = image_2d(image);
    auto out = new_array<double>(Shape{out_rows, out_cols});
    double* o = out.mutable_data();
    py::gil_scoped_release release;
    resize_image(g, image.shape(0), image.shape(1), o, out_rows, out_cols);
    return out;
  }, py::arg("image"), py::arg("rows"), py::arg("cols"), "Anti-aliased linear resampling of a 2-D float64 image.");

  m.def("latent_l0", [](const py::array& data, const py::array& kernel, double lam, int threads) {
    const double* g = image_2d(data);
    const double* k = cptr<double>(kernel, "kernel");
    const std::ptrdiff_t side = kernel_side(kernel);
    auto out = new_array<double>(shape_of(data));
    double* o = out.mutable_data();
    py::gil_scoped_release release;
    latent_l0(g, data.shape(0), data.shape(1), k, side, lam, o, threads);
    return out;
  }, py::arg("data"), py::arg("kernel"), py::arg("lam"), py::arg("threads") = 0,
     "The L0-gradient latent image of `data` (used as the periodic grid) for `kernel`.");

  m.def("fit_kernel", [](const py::array& data, const py::array& latent, const py::array& kernel, double threshold,
                         int threads) -> py::object {
    const double* g = image_2d(data);
    const double* x = cptr<double>(latent, "latent");
    if (latent.ndim() != 2 || latent.shape(0) != data.shape(0) || latent.shape(1) != data.shape(1))
      throw py::value_error("latent must have the shape of data");
    const double* k0 = cptr<double>(kernel, "kernel");
    const std::ptrdiff_t side = kernel_side(kernel);
    auto k = copy_kernel(k0, side);
    double* kp = k.mutable_data();
    bool ok = false;
    {
      py::gil_scoped_release release;
      ok = fit_kernel(g, x, data.shape(0), data.shape(1), kp, side, threshold, threads);
    }
    return ok ? py::object(k) : py::object(py::none());
  }, py::arg("data"), py::arg("latent"), py::arg("kernel"), py::arg("threshold"), py::arg("threads") = 0,
     "Non-negative kernel fitted to the latent's gradients, projected; None if nothing to fit.");

  m.def("edge_threshold", [](const py::array& latent, std::ptrdiff_t kernel_size, std::ptrdiff_t count) {
    const double* x = cptr<double>(latent, "latent");
    if (latent.ndim() != 2) throw py::value_error("latent must be 2-D");
    py::gil_scoped_release release;
    return edge_threshold(x, latent.shape(0), latent.shape(1), kernel_size, count);
  }, py::arg("latent"), py::arg("kernel_size"), py::arg("count"));

  m.def("project_kernel", [](const py::array& kernel) -> py::object {
    const double* k0 = cptr<double>(kernel, "kernel");
    const std::ptrdiff_t side = kernel_side(kernel);
    auto k = copy_kernel(k0, side);
    return project_kernel(k.mutable_data(), side) ? py::object(k) : py::object(py::none());
  }, py::arg("kernel"), "Kernel projected on compact, centred PSFs; None if nothing is positive.");

  m.def("subpixel_centre", [](const py::array& kernel) {
    const double* k0 = cptr<double>(kernel, "kernel");
    const std::ptrdiff_t side = kernel_side(kernel);
    auto k = copy_kernel(k0, side);
    subpixel_centre(k.mutable_data(), side);
    return k;
  }, py::arg("kernel"));

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

  // The CUDA engine's blind RL (csrc/gpu/blind_richardson_lucy.hpp) run on the host (tests only).
  m.attr("gpu_on_host").cast<py::module_>().def("blind_richardson_lucy",
      [](const py::array& image, const py::array& psf, int iterations, int psf_iterations,
         const py::object& callback) {
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
      const IterationCallback cb = wrap_callback(callback);
      T* hp = h.mutable_data();
      T* o = out.mutable_data();
      int done = 0;
      {
        py::gil_scoped_release release;
        static const gpu::HostExec<T> ex;
        done = gpu::blind_richardson_lucy(ex, g, shape, hp, pshape, o, options, cb);
      }
      return py::make_tuple(out, h, done);
    });
  }, py::arg("image"), py::arg("psf"), py::arg("iterations"), py::arg("psf_iterations"),
     py::arg("callback") = py::none());
}

}  // namespace unblur::bindings
