// Helpers shared by the register_*.cpp files: array checks, dtype dispatch, allocation.
//
// The Python layer validates and converts every argument before it gets here; these
// checks are the second line, so a native caller of the module still gets a TypeError
// naming the argument instead of undefined behaviour.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <complex>
#include <map>
#include <string>
#include <utility>

#include "core/array.hpp"
#include "core/blur_operator.hpp"
#include "core/boundary.hpp"
#include "core/iteration.hpp"
#include "core/wiener.hpp"

namespace unblur::bindings {

namespace py = pybind11;

/// Shape of an array as the core's Shape.
inline Shape shape_of(const py::array& a) {
  Shape s(static_cast<std::size_t>(a.ndim()));
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s[static_cast<std::size_t>(i)] = a.shape(i);
  return s;
}

inline std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

/// Whether `dt` is T in native byte order. Equivalence, not identity: an equal dtype
/// can be another object (an unpickled array's, for one).
template <typename T>
bool is_dtype(const py::dtype& dt) {
  return py::detail::npy_api::get().PyArray_EquivTypes_(dt.ptr(), py::dtype::of<T>().ptr());
}

/// Checks that `a` holds T, is C-contiguous and aligned; `writable` also requires that.
template <typename T>
void require_array(const py::array& a, const char* name, bool writable = false) {
  if (!py::isinstance<py::array_t<T>>(a) || !is_dtype<T>(a.dtype()))
    throw py::type_error(std::string(name) + " must have dtype " +
                         py::str(py::dtype::of<T>()).cast<std::string>() + ", got " + dtype_name(a));
  const int flags = a.flags();
  if (!(flags & py::array::c_style))
    throw py::type_error(std::string(name) + " must be C-contiguous");
  if (!(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    throw py::type_error(std::string(name) + " must be aligned");
  if (writable && !a.writeable()) throw py::value_error(std::string(name) + " is read-only");
}

template <typename T>
const T* cptr(const py::array& a, const char* name) {
  require_array<T>(a, name);
  return static_cast<const T*>(a.data());
}

template <typename T>
T* mptr(py::array& a, const char* name) {
  require_array<T>(a, name, true);
  return static_cast<T*>(a.mutable_data());
}

/// A new C-contiguous array of `shape`.
template <typename T>
py::array_t<T> new_array(const Shape& shape) {
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  return py::array_t<T>(s);
}

/// Calls f(T{}) with T = float or double according to `dt`: the one place that maps
/// NumPy dtypes to the core's two precisions.
template <typename F>
decltype(auto) dispatch_dtype(const py::dtype& dt, const char* name, F&& f) {
  if (is_dtype<float>(dt)) return f(float{});
  if (is_dtype<double>(dt)) return f(double{});
  throw py::type_error(std::string(name) + " must be float32 or float64, got " +
                       py::str(dt).cast<std::string>());
}

/// dispatch_dtype on an array's dtype.
template <typename F>
decltype(auto) dispatch_real(const py::array& a, const char* name, F&& f) {
  return dispatch_dtype(a.dtype(), name, std::forward<F>(f));
}

/// As dispatch_real for complex64 / complex128 arrays (T is the real type).
template <typename F>
decltype(auto) dispatch_complex(const py::array& a, const char* name, F&& f) {
  if (is_dtype<std::complex<float>>(a.dtype())) return f(float{});
  if (is_dtype<std::complex<double>>(a.dtype())) return f(double{});
  throw py::type_error(std::string(name) + " must be complex64 or complex128, got " + dtype_name(a));
}

/// Maps a string option to its enum value; ValueError naming `name` and listing the options.
template <typename E>
E parse_choice(const std::map<std::string, E>& options, const std::string& value, const char* name) {
  auto it = options.find(value);
  if (it != options.end()) return it->second;
  std::string all;
  for (const auto& kv : options) all += (all.empty() ? "'" : ", '") + kv.first + "'";
  throw py::value_error(std::string(name) + " must be one of " + all + "; got '" + value + "'");
}

/// A boundary rule by its Python name ('wrap' is an alias of 'periodic').
inline Boundary parse_boundary(const std::string& value, const char* name) {
  static const std::map<std::string, Boundary> options = {
      {"constant", Boundary::Constant}, {"reflect", Boundary::Reflect},
      {"mirror", Boundary::Mirror},     {"nearest", Boundary::Nearest},
      {"periodic", Boundary::Periodic}, {"wrap", Boundary::Periodic}};
  return parse_choice(options, value, name);
}

/// A deconvolution boundary by its Python name: 'auto', 'periodic' or 'reflect'.
inline DeconvBoundary parse_deconv_boundary(const std::string& value, const char* name = "boundary") {
  static const std::map<std::string, DeconvBoundary> options = {
      {"auto", DeconvBoundary::Auto}, {"periodic", DeconvBoundary::Periodic}, {"reflect", DeconvBoundary::Reflect}};
  return parse_choice(options, value, name);
}

/// A progress callback's answer: anything but False (None included) means go on.
inline bool keep_going(const py::object& answer) {
  return !(py::isinstance<py::bool_>(answer) && !answer.cast<bool>());
}

/// Wraps a Python callable (or None) as an IterationCallback. The solver runs without
/// the GIL; the wrapper takes it for the call. The callable receives a dict with
/// iteration, max_iterations, relative_change and objective; a return value of False
/// (not None) stops the solver.
inline IterationCallback wrap_callback(const py::object& callback) {
  if (callback.is_none()) return {};
  return [callback](const IterationState& s) {
    py::gil_scoped_acquire acquire;
    py::dict d;
    d["iteration"] = s.iteration;
    d["max_iterations"] = s.max_iterations;
    d["relative_change"] = s.relative_change;
    d["objective"] = s.objective;
    return keep_going(callback(d));
  };
}

/// The info dict of a quadratic deconvolution (both engines).
inline py::dict quadratic_info_dict(const QuadraticInfo& info) {
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

inline Regularizer parse_regularizer(const std::string& value) {
  static const std::map<std::string, Regularizer> names = {
      {"identity", Regularizer::Identity}, {"gradient", Regularizer::Gradient}, {"laplacian", Regularizer::Laplacian}};
  return parse_choice(names, value, "regularizer");
}

inline LambdaMethod parse_lam_method(const std::string& value) {
  static const std::map<std::string, LambdaMethod> names = {
      {"fixed", LambdaMethod::Fixed}, {"gcv", LambdaMethod::GCV}, {"discrepancy", LambdaMethod::Discrepancy}};
  return parse_choice(names, value, "lam_method");
}

/// true for 'wiener', false for 'tikhonov'.
inline bool parse_quadratic_kind(const std::string& value) {
  static const std::map<std::string, bool> names = {{"wiener", true}, {"tikhonov", false}};
  return parse_choice(names, value, "kind");
}

/// Parses a Python-side shape argument.
inline Shape to_shape(const std::vector<py::ssize_t>& v) { return Shape(v.begin(), v.end()); }

}  // namespace unblur::bindings

// Registration functions, one per area; module.cpp calls each.
namespace unblur::bindings {
void register_fft(pybind11::module_& m);
void register_convolve(pybind11::module_& m);
void register_filters(pybind11::module_& m);
void register_psf(pybind11::module_& m);
void register_metrics(pybind11::module_& m);
void register_deconv(pybind11::module_& m);
void register_richardson_lucy(pybind11::module_& m);
void register_wiener(pybind11::module_& m);
void register_tv(pybind11::module_& m);
void register_blind(pybind11::module_& m);
}  // namespace unblur::bindings
