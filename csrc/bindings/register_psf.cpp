// Bindings for the PSF generators (core/psf.hpp). The Python layer (unblur.psf)
// validates and documents the arguments; these functions convert and release the GIL.
#include <cstdint>
#include <optional>

#include "bindings/common.hpp"
#include "core/psf.hpp"

namespace unblur::bindings {

namespace {

using SizeArg = std::optional<std::vector<py::ssize_t>>;

/// The requested shape, or the generator's default when size is None.
/// The requested size, else the parameters' default shape (computed only then: a
/// default for absurd parameters is itself an error).
template <typename F>
Shape shape_or(const SizeArg& size, F&& fallback) {
  return size ? to_shape(*size) : fallback();
}

/// Allocates a float32 or float64 array of `shape` (by `dtype`) and calls fill(T*)
/// on it with the GIL released.
template <typename F>
py::array make_psf(const Shape& shape, const py::object& dtype, F&& fill) {
  return dispatch_dtype(py::dtype::from_args(dtype), "dtype", [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> out = new_array<T>(shape);
    T* o = out.mutable_data();
    {
      py::gil_scoped_release release;
      fill(o);
    }
    return out;
  });
}

}  // namespace

void register_psf(py::module_& m) {
  m.def("gaussian_psf", [](const std::vector<double>& sigma, double theta, const SizeArg& size,
                           const py::object& dtype) {
    const Shape shape = shape_or(size, [&] { return gaussian_psf_shape(sigma, theta); });
    require_psf_shape(shape, sigma.size(), "size");
    return make_psf(shape, dtype, [&](auto* o) { gaussian_psf(sigma, theta, shape, o); });
  }, py::arg("sigma"), py::arg("theta"), py::arg("size"), py::arg("dtype"));

  m.def("disk_psf", [](double radius, const SizeArg& size, const py::object& dtype) {
    const Shape shape = shape_or(size, [&] { return disk_psf_shape(radius); });
    require_psf_shape(shape, 2, "size");
    return make_psf(shape, dtype, [&](auto* o) { disk_psf(radius, shape, o); });
  }, py::arg("radius"), py::arg("size"), py::arg("dtype"));

  m.def("motion_psf", [](double length, double angle, const SizeArg& size, const py::object& dtype) {
    const Shape shape = shape_or(size, [&] { return motion_psf_shape(length, angle); });
    require_psf_shape(shape, 2, "size");
    return make_psf(shape, dtype, [&](auto* o) { motion_psf(length, angle, shape, o); });
  }, py::arg("length"), py::arg("angle"), py::arg("size"), py::arg("dtype"));

  m.def("shake_trajectory", [](double extent, std::uint64_t seed, int steps, double smoothness) {
    ShakeTrajectory tr;
    {
      py::gil_scoped_release release;
      tr = shake_trajectory(extent, seed, steps, smoothness);
    }
    py::dict d;
    d["dy"] = py::array(py::cast(tr.dy));
    d["dx"] = py::array(py::cast(tr.dx));
    d["weight"] = py::array(py::cast(tr.weight));
    d["vertex_y"] = py::array(py::cast(tr.vertex_y));
    d["vertex_x"] = py::array(py::cast(tr.vertex_x));
    return d;
  }, py::arg("extent"), py::arg("seed"), py::arg("steps"), py::arg("smoothness"));

  m.def("shake_psf", [](double extent, std::uint64_t seed, int steps, double smoothness,
                        const SizeArg& size, const py::object& dtype) {
    ShakeTrajectory tr;
    {
      py::gil_scoped_release release;
      tr = shake_trajectory(extent, seed, steps, smoothness);
    }
    const Shape shape = shape_or(size, [&] { return shake_psf_shape(tr); });
    require_psf_shape(shape, 2, "size");
    return make_psf(shape, dtype, [&](auto* o) { shake_psf(tr, shape, o); });
  }, py::arg("extent"), py::arg("seed"), py::arg("steps"), py::arg("smoothness"), py::arg("size"),
     py::arg("dtype"));

  m.def("turbulence_psf", [](double d_over_r0, double oversampling, bool short_exposure,
                             std::uint64_t seed, const SizeArg& size, const py::object& dtype,
                             int threads) {
    const Shape shape = shape_or(size, [&] { return turbulence_psf_shape(d_over_r0, oversampling); });
    require_psf_shape(shape, 2, "size");
    return make_psf(shape, dtype, [&](auto* o) {
      turbulence_psf(d_over_r0, oversampling, short_exposure, seed, shape, o, threads);
    });
  }, py::arg("d_over_r0"), py::arg("oversampling"), py::arg("short_exposure"), py::arg("seed"),
     py::arg("size"), py::arg("dtype"), py::arg("threads") = 0);

  m.def("turbulence_grid_size", [](const std::vector<py::ssize_t>& shape) {
    return turbulence_grid_size(to_shape(shape));
  }, py::arg("shape"));

  m.def("airy_psf", [](double radius, const SizeArg& size, const py::object& dtype) {
    const Shape shape = shape_or(size, [&] { return airy_psf_shape(radius); });
    require_psf_shape(shape, 2, "size");
    return make_psf(shape, dtype, [&](auto* o) { airy_psf(radius, shape, o); });
  }, py::arg("radius"), py::arg("size"), py::arg("dtype"));

  m.def("moffat_psf", [](double fwhm, double beta, const SizeArg& size, const py::object& dtype) {
    const Shape shape = shape_or(size, [&] { return moffat_psf_shape(fwhm, beta); });
    require_psf_shape(shape, 2, "size");
    return make_psf(shape, dtype, [&](auto* o) { moffat_psf(fwhm, beta, shape, o); });
  }, py::arg("fwhm"), py::arg("beta"), py::arg("size"), py::arg("dtype"));
}

}  // namespace unblur::bindings
