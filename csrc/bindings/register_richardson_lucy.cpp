// Bindings for Richardson–Lucy: the solver (with a resumable state) and the FFT-floor
// timer the benchmark compares it with.
#include <cstring>

#include "bindings/common.hpp"
#include "core/richardson_lucy.hpp"
#include "gpu/exec_host.hpp"
#include "gpu/richardson_lucy.hpp"

namespace unblur::bindings {

namespace {

const char* const kStateArrays[] = {"estimate", "previous", "previous_step", "correction"};

// The CPU engine's solver, or the CUDA engine's single-source one run by the host
// executor (csrc/gpu): the same interface.
template <typename T>
struct CpuSolver {
  static std::unique_ptr<RichardsonLucy<T>> make(const T* g, const Shape& shape, const T* p, const Shape& psf_shape,
                                                 const T* w, const RichardsonLucyOptions& o) {
    return std::make_unique<RichardsonLucy<T>>(g, shape, p, psf_shape, w, o);
  }
};

template <typename T>
struct GpuOnHostSolver {
  static std::unique_ptr<gpu::RichardsonLucyGpu<gpu::HostExec<T>>> make(const T* g, const Shape& shape, const T* p,
                                                                       const Shape& psf_shape, const T* w,
                                                                       const RichardsonLucyOptions& o) {
    static const gpu::HostExec<T> ex;
    return std::make_unique<gpu::RichardsonLucyGpu<gpu::HostExec<T>>>(ex, g, shape, p, psf_shape, w, o);
  }
};

template <typename T, template <typename> class Solver = CpuSolver>
py::tuple run_richardson_lucy(const py::array& image, const py::array& psf, const py::object& weights,
                              const std::string& boundary, RichardsonLucyOptions options,
                              const py::object& initial, const py::object& state_in, const py::object& callback) {
  const T* g = cptr<T>(image, "image");
  const T* p = cptr<T>(psf, "psf");
  const Shape shape = shape_of(image), psf_shape = shape_of(psf);
  const T* w = nullptr;
  if (!weights.is_none()) {
    py::array wa = weights.cast<py::array>();
    if (shape_of(wa) != shape) throw py::value_error("weights must have the image's shape");
    w = cptr<T>(wa, "weights");
  }
  const T* init = nullptr;
  if (!initial.is_none()) {
    py::array ia = initial.cast<py::array>();
    if (shape_of(ia) != shape) throw py::value_error("initial must have the image's shape");
    init = cptr<T>(ia, "initial");
  }
  if (boundary == "zero") {
    options.zero_boundary = true;
  } else {
    options.boundary = parse_deconv_boundary(boundary);
  }
  IterationCallback cb = wrap_callback(callback);

  decltype(Solver<T>::make(g, shape, p, psf_shape, w, options)) solver;
  {
    py::gil_scoped_release release;
    solver = Solver<T>::make(g, shape, p, psf_shape, w, options);
  }
  const Shape grid = solver->grid_shape();
  const int n_arrays = options.accelerate ? 4 : 1;
  py::dict state_out;
  RichardsonLucyState<T> state;
  T* ptrs[4] = {nullptr, nullptr, nullptr, nullptr};
  for (int k = 0; k < n_arrays; ++k) {
    py::array_t<T> a = new_array<T>(grid);
    ptrs[k] = a.mutable_data();
    state_out[kStateArrays[k]] = a;
  }
  state.estimate = ptrs[0];
  state.previous = ptrs[1];
  state.previous_step = ptrs[2];
  state.correction = ptrs[3];

  RichardsonLucyStart start = init ? RichardsonLucyStart::Image : RichardsonLucyStart::Default;
  if (!state_in.is_none()) {
    py::dict s = state_in.cast<py::dict>();
    if (!s.contains("boundary") || s["boundary"].cast<std::string>() != boundary)
      throw py::value_error("initial is a state of another boundary than '" + boundary + "'");
    auto copy_in = [&](const char* key, T* dst) {
      py::array a = s[key].cast<py::array>();
      if (shape_of(a) != grid) throw py::value_error(std::string("initial['") + key + "'] does not match the grid");
      std::memcpy(dst, cptr<T>(a, "initial state"), sizeof(T) * static_cast<std::size_t>(shape_size(grid)));
    };
    if (!s.contains("estimate")) throw py::value_error("initial state has no 'estimate'");
    copy_in("estimate", state.estimate);
    state.iterations = s["iterations"].cast<int>();
    const bool has_history = s.contains("previous") && s.contains("previous_step") && s.contains("correction");
    if (options.accelerate && has_history) {
      copy_in("previous", state.previous);
      copy_in("previous_step", state.previous_step);
      copy_in("correction", state.correction);
      state.history = s["history"].cast<int>();
      state.correction_dot = s["correction_dot"].cast<double>();
      state.correction_norm2 = s["correction_norm2"].cast<double>();
    }
    start = RichardsonLucyStart::State;
  }

  T* out_ptr = nullptr;
  py::array_t<T> out = new_array<T>(shape);
  out_ptr = out.mutable_data();
  RichardsonLucyResult r;
  {
    py::gil_scoped_release release;
    r = solver->run(state, start, init, out_ptr, cb);
  }
  state_out["boundary"] = boundary;
  state_out["iterations"] = state.iterations;
  state_out["history"] = state.history;
  state_out["correction_dot"] = state.correction_dot;
  state_out["correction_norm2"] = state.correction_norm2;
  py::dict info;
  info["iterations"] = r.iterations;
  info["stopped_by"] = stop_reason_name(r.stopped_by);
  info["noise_sigma"] = r.noise_sigma;
  info["residual"] = r.residual;
  info["relative_change"] = r.relative_change;
  info["state"] = state_out;
  return py::make_tuple(out, info);
}

}  // namespace

void register_richardson_lucy(py::module_& m) {
  m.def("richardson_lucy",
        [](const py::array& image, const py::array& psf, const py::object& weights, const std::string& boundary,
           int iterations, int max_iterations, bool accelerate, double damping, double tv_weight,
           double background, double tolerance, double noise_sigma, const py::object& initial,
           const py::object& state, const py::object& callback, int threads) {
          RichardsonLucyOptions o;
          o.iterations = iterations;
          o.max_iterations = max_iterations;
          o.accelerate = accelerate;
          o.damping = damping;
          o.tv_weight = tv_weight;
          o.background = background;
          o.tolerance = tolerance;
          o.noise_sigma = noise_sigma;
          o.threads = threads;
          return dispatch_real(image, "image", [&](auto tag) {
            using T = decltype(tag);
            return run_richardson_lucy<T>(image, psf, weights, boundary, o, initial, state, callback);
          });
        },
        py::arg("image"), py::arg("psf"), py::arg("weights") = py::none(), py::arg("boundary") = "auto",
        py::arg("iterations") = 0, py::arg("max_iterations") = 0, py::arg("accelerate") = true,
        py::arg("damping") = 0.0, py::arg("tv_weight") = 0.0, py::arg("background") = 0.0,
        py::arg("tolerance") = 1e-3, py::arg("noise_sigma") = -1.0, py::arg("initial") = py::none(),
        py::arg("state") = py::none(), py::arg("callback") = py::none(), py::arg("threads") = 0,
        "Richardson–Lucy deconvolution (see core/richardson_lucy.hpp); returns (image, info).");

  py::module_ gpu = m.attr("gpu_on_host").cast<py::module_>();  // made in module.cpp
  gpu.def("richardson_lucy",
        [](const py::array& image, const py::array& psf, const py::object& weights, const std::string& boundary,
           int iterations, int max_iterations, bool accelerate, double damping, double tv_weight,
           double background, double tolerance, double noise_sigma, const py::object& initial,
           const py::object& state, const py::object& callback, int threads) {
          RichardsonLucyOptions o;
          o.iterations = iterations;
          o.max_iterations = max_iterations;
          o.accelerate = accelerate;
          o.damping = damping;
          o.tv_weight = tv_weight;
          o.background = background;
          o.tolerance = tolerance;
          o.noise_sigma = noise_sigma;
          o.threads = threads;
          return dispatch_real(image, "image", [&](auto tag) {
            using T = decltype(tag);
            return run_richardson_lucy<T, GpuOnHostSolver>(image, psf, weights, boundary, o, initial, state, callback);
          });
        },
        py::arg("image"), py::arg("psf"), py::arg("weights") = py::none(), py::arg("boundary") = "auto",
        py::arg("iterations") = 0, py::arg("max_iterations") = 0, py::arg("accelerate") = true,
        py::arg("damping") = 0.0, py::arg("tv_weight") = 0.0, py::arg("background") = 0.0,
        py::arg("tolerance") = 1e-3, py::arg("noise_sigma") = -1.0, py::arg("initial") = py::none(),
        py::arg("state") = py::none(), py::arg("callback") = py::none(), py::arg("threads") = 0,
        "The CUDA engine's Richardson–Lucy (csrc/gpu/richardson_lucy.hpp) run on the host, for tests; "
        "noise_sigma >= 0 is required with iterations=0.");

  m.def("rl_fft_floor", [](const std::vector<py::ssize_t>& shape, const py::dtype& dtype, int repeats, int threads) {
    return dispatch_dtype(dtype, "dtype", [&](auto tag) {
      using T = decltype(tag);
      const Shape s = to_shape(shape);
      py::gil_scoped_release release;
      return richardson_lucy_fft_floor<T>(s, repeats, threads);
    });
  }, py::arg("shape"), py::arg("dtype"), py::arg("repeats") = 5, py::arg("threads") = 0,
     "Best seconds of the FFTs one plain RL iteration needs on `shape` (2 r2c + 2 c2r).");
}

}  // namespace unblur::bindings
