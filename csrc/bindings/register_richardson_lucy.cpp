// Bindings for richardson_lucy (filled in by its own change).
#include "bindings/common.hpp"

namespace unblur::bindings {

void register_richardson_lucy(py::module_& /*m*/) {}

}  // namespace unblur::bindings
