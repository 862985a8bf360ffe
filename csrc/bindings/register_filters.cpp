// Bindings for the filters area (filled in by its own change).
#include "bindings/common.hpp"

namespace unblur::bindings {

void register_filters(py::module_& /*m*/) {}

}  // namespace unblur::bindings
