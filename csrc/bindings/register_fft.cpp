// Bindings for the FFT engine: transforms, psf2otf/otf2psf, sizes, plan cache.
#include <cstring>

#include "bindings/common.hpp"
#include "core/fft.hpp"

namespace unblur::bindings {

void register_fft(py::module_& m) {
  m.def("fftw_version", [] { return std::string(fftw_version_string()); }, "FFTW's version string, as loaded.");
  m.def("rfftn", [](const py::array& x, int threads) {
    return dispatch_real(x, "x", [&](auto tag) -> py::array {
      using T = decltype(tag);
      const T* in = cptr<T>(x, "x");
      Shape shape = shape_of(x);
      py::array_t<std::complex<T>> out = new_array<std::complex<T>>(spectrum_shape(shape));
      std::complex<T>* o = out.mutable_data();
      py::gil_scoped_release release;
      RealFFT<T>::get(shape, threads)->forward(in, o);
      return out;
    });
  }, py::arg("x"), py::arg("threads") = 0);

  m.def("irfftn", [](const py::array& spectrum, const std::vector<py::ssize_t>& shape_arg, int threads) {
    return dispatch_complex(spectrum, "spectrum", [&](auto tag) -> py::array {
      using T = decltype(tag);
      using C = std::complex<T>;
      Shape shape = to_shape(shape_arg);
      require_shape(shape, "shape");
      if (shape_of(spectrum) != spectrum_shape(shape))
        throw py::value_error("spectrum's shape does not match the half spectrum of shape");
      const C* in = cptr<C>(spectrum, "spectrum");
      py::array_t<T> out = new_array<T>(shape);
      T* o = out.mutable_data();
      py::gil_scoped_release release;
      auto fft = RealFFT<T>::get(shape, threads);
      AlignedBuffer<C> work(static_cast<std::size_t>(fft->spectrum_size()));
      std::memcpy(static_cast<void*>(work.data()), in, sizeof(C) * work.size());
      fft->inverse(work.data(), o);
      const T scale = T(1) / static_cast<T>(fft->real_size());
      for (std::ptrdiff_t i = 0; i < fft->real_size(); ++i) o[i] *= scale;
      return out;
    });
  }, py::arg("spectrum"), py::arg("shape"), py::arg("threads") = 0);

  m.def("fftn", [](const py::array& x, bool inverse, int threads) {
    return dispatch_complex(x, "x", [&](auto tag) -> py::array {
      using T = decltype(tag);
      using C = std::complex<T>;
      Shape shape = shape_of(x);
      const C* in = cptr<C>(x, "x");
      py::array_t<C> out = new_array<C>(shape);
      C* o = out.mutable_data();
      py::gil_scoped_release release;
      auto fft = ComplexFFT<T>::get(shape, threads);
      if (inverse) {
        fft->backward(in, o);
        const T scale = T(1) / static_cast<T>(fft->size());
        for (std::ptrdiff_t i = 0; i < fft->size(); ++i) o[i] *= scale;
      } else {
        fft->forward(in, o);
      }
      return out;
    });
  }, py::arg("x"), py::arg("inverse") = false, py::arg("threads") = 0);

  m.def("psf2otf", [](const py::array& psf, const std::vector<py::ssize_t>& shape_arg, int threads) {
    return dispatch_real(psf, "psf", [&](auto tag) -> py::array {
      using T = decltype(tag);
      Shape shape = to_shape(shape_arg);
      Shape pshape = shape_of(psf);
      const T* p = cptr<T>(psf, "psf");
      require_shape(shape, "shape");
      py::array_t<std::complex<T>> out = new_array<std::complex<T>>(spectrum_shape(shape));
      std::complex<T>* o = out.mutable_data();
      py::gil_scoped_release release;
      psf2otf<T>(p, pshape, shape, o, threads);
      return out;
    });
  }, py::arg("psf"), py::arg("shape"), py::arg("threads") = 0);

  m.def("otf2psf", [](const py::array& otf, const std::vector<py::ssize_t>& shape_arg,
                      const std::vector<py::ssize_t>& psf_shape_arg, int threads) {
    return dispatch_complex(otf, "otf", [&](auto tag) -> py::array {
      using T = decltype(tag);
      Shape shape = to_shape(shape_arg), pshape = to_shape(psf_shape_arg);
      require_shape(shape, "shape");
      if (shape_of(otf) != spectrum_shape(shape))
        throw py::value_error("otf's shape does not match the half spectrum of shape");
      const std::complex<T>* in = cptr<std::complex<T>>(otf, "otf");
      require_shape(pshape, "psf_shape");
      py::array_t<T> out = new_array<T>(pshape);
      T* o = out.mutable_data();
      py::gil_scoped_release release;
      otf2psf<T>(in, shape, pshape, o, threads);
      return out;
    });
  }, py::arg("otf"), py::arg("shape"), py::arg("psf_shape"), py::arg("threads") = 0);

  m.def("fast_fft_size", &fast_fft_size, py::arg("n"), py::arg("even") = false);
  m.def("fast_fft_shape", [](const std::vector<py::ssize_t>& s) {
    Shape shape = to_shape(s);
    require_shape(shape, "shape");
    Shape f = fast_fft_shape(shape);
    return std::vector<py::ssize_t>(f.begin(), f.end());
  }, py::arg("shape"));

  m.def("set_planner_effort", [](int e) {
    if (e < 0 || e > 2) throw py::value_error("planner effort must be 0, 1 or 2");
    set_planner_effort(static_cast<PlannerEffort>(e));
  }, py::arg("effort"));
  m.def("get_planner_effort", [] { return static_cast<int>(get_planner_effort()); });
  m.def("plan_cache_stats", [] {
    PlanCacheStats s = plan_cache_stats();
    py::dict d;
    d["plans"] = s.plans;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    d["planning_seconds"] = s.planning_seconds;
    return d;
  });
  m.def("clear_plan_cache", [] {
    py::gil_scoped_release release;
    clear_plan_cache();
  });
}

}  // namespace unblur::bindings
