// Bindings for wiener (filled in by its own change).
#include "bindings/common.hpp"

namespace unblur::bindings {

void register_wiener(py::module_& /*m*/) {}

}  // namespace unblur::bindings
