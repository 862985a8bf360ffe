// Progress reporting and early stopping for iterative solvers.
#pragma once

#include <functional>

namespace unblur {

/// What an iterative solver reports after each iteration.
struct IterationState {
  int iteration = 0;             ///< 1-based count of finished iterations
  int max_iterations = 0;        ///< the limit the solver runs to
  double relative_change = 0;    ///< ||x_k - x_{k-1}|| / ||x_{k-1}|| (0 when not computed)
  double objective = 0;          ///< solver-specific (e.g. data misfit); 0 when not computed
};

/// Called after each iteration; returning false stops the solver early. An empty
/// function is never called. Bindings wrap Python callables (taking the GIL).
using IterationCallback = std::function<bool(const IterationState&)>;

}  // namespace unblur
