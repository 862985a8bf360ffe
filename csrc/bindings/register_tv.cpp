// Bindings for tv (filled in by its own change).
#include "bindings/common.hpp"

namespace unblur::bindings {

void register_tv(py::module_& /*m*/) {}

}  // namespace unblur::bindings
