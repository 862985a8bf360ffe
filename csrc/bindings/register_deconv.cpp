// Bindings for deconvolution: the blur operator (for the Python layer and tests) and
// noise estimation. The solvers register here as they land.
#include "bindings/common.hpp"
#include "core/blur_operator.hpp"

namespace unblur::bindings {

namespace {

template <typename T>
void bind_operator(py::module_& m, const char* name) {
  using Op = BlurOperator<T>;
  py::class_<Op>(m, name, "Blur forward model g = M (h * x) on a periodic FFT grid (see blur_operator.hpp).")
      .def_property_readonly("grid_shape", [](const Op& op) { return op.grid_shape(); })
      .def_property_readonly("observed_shape", [](const Op& op) { return op.observed_shape(); })
      .def_property_readonly("offset", [](const Op& op) { return op.offset(); })
      .def_property_readonly("periodic", &Op::is_periodic)
      .def("forward", [](Op& op, const py::array& x) {
        if (shape_of(x) != op.grid_shape()) throw py::value_error("x must have the grid's shape");
        const T* in = cptr<T>(x, "x");
        py::array_t<T> out = new_array<T>(op.observed_shape());
        T* o = out.mutable_data();
        py::gil_scoped_release release;
        op.forward(in, o);
        return out;
      }, py::arg("x"))
      .def("adjoint", [](Op& op, const py::array& y) {
        if (shape_of(y) != op.observed_shape()) throw py::value_error("y must have the observed shape");
        const T* in = cptr<T>(y, "y");
        py::array_t<T> out = new_array<T>(op.grid_shape());
        T* o = out.mutable_data();
        py::gil_scoped_release release;
        op.adjoint(in, o);
        return out;
      }, py::arg("y"))
      .def("crop", [](const Op& op, const py::array& x) {
        if (shape_of(x) != op.grid_shape()) throw py::value_error("x must have the grid's shape");
        py::array_t<T> out = new_array<T>(op.observed_shape());
        op.crop(cptr<T>(x, "x"), out.mutable_data());
        return out;
      }, py::arg("x"))
      .def("embed", [](const Op& op, const py::array& y, double fill) {
        if (shape_of(y) != op.observed_shape()) throw py::value_error("y must have the observed shape");
        py::array_t<T> out = new_array<T>(op.grid_shape());
        op.embed(cptr<T>(y, "y"), out.mutable_data(), static_cast<T>(fill));
        return out;
      }, py::arg("y"), py::arg("fill") = 0.0);
}

}  // namespace

void register_deconv(py::module_& m) {
  bind_operator<float>(m, "BlurOperator32");
  bind_operator<double>(m, "BlurOperator64");

  m.def("blur_operator", [](const py::array& psf, const std::vector<py::ssize_t>& shape, bool extended,
                            int threads) {
    return dispatch_real(psf, "psf", [&](auto tag) -> py::object {
      using T = decltype(tag);
      const T* p = cptr<T>(psf, "psf");
      Shape pshape = shape_of(psf), s = to_shape(shape);
      py::gil_scoped_release release;
      BlurOperator<T> op = extended ? BlurOperator<T>::extended(p, pshape, s, threads)
                                    : BlurOperator<T>::periodic(p, pshape, s, threads);
      py::gil_scoped_acquire acquire;
      return py::cast(std::move(op));
    });
  }, py::arg("psf"), py::arg("shape"), py::arg("extended"), py::arg("threads") = 0);

  m.def("deconv_model", [](const py::array& image, const py::array& psf, const std::string& boundary) {
    return dispatch_real(image, "image", [&](auto tag) -> py::tuple {
      using T = decltype(tag);
      const T* g = cptr<T>(image, "image");
      const T* p = cptr<T>(psf, "psf");
      const DeconvBoundary b = parse_deconv_boundary(boundary);
      DeconvModel<T> model = make_deconv_model<T>(g, shape_of(image), p, shape_of(psf), b);
      py::array_t<T> data = new_array<T>(model.op.observed_shape());
      std::copy(model.data.data(), model.data.data() + model.data.size(), data.mutable_data());
      return py::make_tuple(data, model.op.grid_shape(), model.result_offset, model.op.offset());
    });
  }, py::arg("image"), py::arg("psf"), py::arg("boundary"),
     "The data, grid shape, result offset and data offset of a deconvolution model (for tests).");

  m.def("estimate_noise", [](const py::array& image, int threads) {
    return dispatch_real(image, "image", [&](auto tag) {
      using T = decltype(tag);
      const T* p = cptr<T>(image, "image");
      Shape s = shape_of(image);
      py::gil_scoped_release release;
      return estimate_noise<T>(p, s, threads);
    });
  }, py::arg("image"), py::arg("threads") = 0);

  m.def("noise_profile", [](const py::array& image, int threads) {
    const NoiseGroups g = dispatch_real(image, "image", [&](auto tag) {
      using T = decltype(tag);
      const T* p = cptr<T>(image, "image");
      Shape s = shape_of(image);
      py::gil_scoped_release release;
      return noise_groups<T>(p, s, threads);
    });
    return py::make_tuple(g.levels, g.sigmas);
  }, py::arg("image"), py::arg("threads") = 0,
     "estimate_noise's brightness groups: (levels, sigmas), each group's mean 2x2-block level and MAD sigma.");
}

}  // namespace unblur::bindings
