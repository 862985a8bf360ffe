// Bindings for convolution: convolve, its output shape, FFT grid and Auto's choice.
#include <map>
#include <string>

#include "bindings/common.hpp"
#include "core/convolve.hpp"

namespace unblur::bindings {
namespace {

ConvolveMode parse_mode(const std::string& s) {
  static const std::map<std::string, ConvolveMode> m{
      {"full", ConvolveMode::Full}, {"same", ConvolveMode::Same}, {"valid", ConvolveMode::Valid}};
  return parse_choice(m, s, "mode");
}

ConvolveMethod parse_method(const std::string& s) {
  static const std::map<std::string, ConvolveMethod> m{
      {"auto", ConvolveMethod::Auto}, {"fft", ConvolveMethod::Fft}, {"direct", ConvolveMethod::Direct}};
  return parse_choice(m, s, "method");
}

std::vector<py::ssize_t> to_list(const Shape& s) { return std::vector<py::ssize_t>(s.begin(), s.end()); }

}  // namespace

void register_convolve(py::module_& m) {
  m.def("convolve", [](const py::array& image, const py::array& kernel, const std::string& mode,
                       const std::string& boundary, double cval, const std::string& method, int threads) {
    return dispatch_real(image, "image", [&](auto tag) -> py::array {
      using T = decltype(tag);
      const ConvolveMode md = parse_mode(mode);
      const Boundary bd = parse_boundary(boundary, "boundary");
      const ConvolveMethod mt = parse_method(method);
      const T* img = cptr<T>(image, "image");
      const T* ker = cptr<T>(kernel, "kernel");
      const Shape shape = shape_of(image), kshape = shape_of(kernel);
      py::array_t<T> out = new_array<T>(convolve_output_shape(shape, kshape, md));
      T* o = out.mutable_data();
      py::gil_scoped_release release;
      convolve<T>(img, shape, ker, kshape, o, md, bd, static_cast<T>(cval), mt, threads);
      return out;
    });
  }, py::arg("image"), py::arg("kernel"), py::arg("mode") = "same", py::arg("boundary") = "constant",
     py::arg("cval") = 0.0, py::arg("method") = "auto", py::arg("threads") = 0);

  m.def("convolve_output_shape", [](const std::vector<py::ssize_t>& shape, const std::vector<py::ssize_t>& kshape,
                                    const std::string& mode) {
    return to_list(convolve_output_shape(to_shape(shape), to_shape(kshape), parse_mode(mode)));
  }, py::arg("shape"), py::arg("kernel_shape"), py::arg("mode") = "same");

  m.def("convolve_fft_plan", [](const std::vector<py::ssize_t>& shape, const std::vector<py::ssize_t>& kshape,
                                const std::string& mode, const std::string& boundary, double cval,
                                bool double_precision, int threads) {
    const Shape s = to_shape(shape), k = to_shape(kshape);
    const ConvolveMode md = parse_mode(mode);
    const Boundary bd = parse_boundary(boundary, "boundary");
    const ConvolveFftPlan p = double_precision ? convolve_fft_plan<double>(s, k, md, bd, cval, threads)
                                               : convolve_fft_plan<float>(s, k, md, bd, cval, threads);
    py::dict d;
    d["tiles"] = to_list(p.tiles);
    d["grid"] = to_list(p.grid);
    return d;
  }, py::arg("shape"), py::arg("kernel_shape"), py::arg("mode") = "same", py::arg("boundary") = "constant",
     py::arg("cval") = 0.0, py::arg("double_precision") = false, py::arg("threads") = 0);

  m.def("convolve_cost", [](const std::vector<py::ssize_t>& shape, const std::vector<py::ssize_t>& kshape,
                            const std::string& mode, const std::string& boundary, double cval,
                            bool double_precision, int threads) {
    const Shape s = to_shape(shape), k = to_shape(kshape);
    const ConvolveMode md = parse_mode(mode);
    const Boundary bd = parse_boundary(boundary, "boundary");
    const ConvolveCost c = double_precision ? convolve_cost<double>(s, k, md, bd, cval, threads)
                                            : convolve_cost<float>(s, k, md, bd, cval, threads);
    py::dict d;
    d["direct"] = c.direct_seconds;
    d["fft"] = c.fft_seconds;
    return d;
  }, py::arg("shape"), py::arg("kernel_shape"), py::arg("mode") = "same", py::arg("boundary") = "constant",
     py::arg("cval") = 0.0, py::arg("double_precision") = false, py::arg("threads") = 0);

  m.def("convolve_method", [](const std::vector<py::ssize_t>& shape, const std::vector<py::ssize_t>& kshape,
                              const std::string& mode, const std::string& boundary, double cval,
                              bool double_precision, int threads) {
    const Shape s = to_shape(shape), k = to_shape(kshape);
    const ConvolveMode md = parse_mode(mode);
    const Boundary bd = parse_boundary(boundary, "boundary");
    ConvolveMethod mt = double_precision ? choose_convolve_method<double>(s, k, md, bd, cval, threads)
                                         : choose_convolve_method<float>(s, k, md, bd, cval, threads);
    return std::string(mt == ConvolveMethod::Direct ? "direct" : "fft");
  }, py::arg("shape"), py::arg("kernel_shape"), py::arg("mode") = "same", py::arg("boundary") = "constant",
     py::arg("cval") = 0.0, py::arg("double_precision") = false, py::arg("threads") = 0);
}

}  // namespace unblur::bindings
