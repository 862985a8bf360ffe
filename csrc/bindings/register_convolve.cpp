// Bindings for the convolve area (filled in by its own change).
#include "bindings/common.hpp"

namespace unblur::bindings {

void register_convolve(py::module_& /*m*/) {}

}  // namespace unblur::bindings
