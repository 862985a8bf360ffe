// Bindings for the psf area (filled in by its own change).
#include "bindings/common.hpp"

namespace unblur::bindings {

void register_psf(py::module_& /*m*/) {}

}  // namespace unblur::bindings
