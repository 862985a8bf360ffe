// Bindings for the metrics area (filled in by its own change).
#include "bindings/common.hpp"

namespace unblur::bindings {

void register_metrics(py::module_& /*m*/) {}

}  // namespace unblur::bindings
