// Deterministic parallel sums.
//
// OpenMP's reduction(+ : ...) clause adds the threads' partial sums in an order it does
// not specify (libgomp: the order in which the threads finish), so with three or more
// threads the last bits of a sum, and of every iterate that depends on it, varied from
// run to run. Here the rows are cut into a fixed number of blocks that does not depend
// on the thread count, each block is summed in row order, and the blocks are added in
// block order: the same bits for the same input whatever the thread count or schedule.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>

namespace unblur {

/// Blocks per sum: enough to balance up to a few dozen threads, few enough that the
/// partials stay on the stack.
constexpr std::ptrdiff_t kSumBlocks = 256;

/// K sums over rows [0, rows): body(r, acc) adds row r's contributions to acc[0..K).
template <std::size_t K, class Body>
std::array<double, K> ordered_row_sums(std::ptrdiff_t rows, int threads, Body&& body) {
  std::array<double, K> total{};
  if (rows <= 0) return total;
  const std::ptrdiff_t blocks = std::min(rows, kSumBlocks);
  std::array<std::array<double, K>, kSumBlocks> partial;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t b = 0; b < blocks; ++b) {
    std::array<double, K> acc{};
    const std::ptrdiff_t r0 = rows * b / blocks, r1 = rows * (b + 1) / blocks;
    for (std::ptrdiff_t r = r0; r < r1; ++r) body(r, acc);
    partial[static_cast<std::size_t>(b)] = acc;
  }
  for (std::ptrdiff_t b = 0; b < blocks; ++b)
    for (std::size_t k = 0; k < K; ++k) total[k] += partial[static_cast<std::size_t>(b)][k];
  return total;
}

/// The same over elements [0, n), in rows of kSumRow elements.
template <std::size_t K, class Body>
std::array<double, K> ordered_sums(std::ptrdiff_t n, int threads, Body&& body) {
  constexpr std::ptrdiff_t kSumRow = 4096;
  return ordered_row_sums<K>((n + kSumRow - 1) / kSumRow, threads, [&](std::ptrdiff_t r, std::array<double, K>& acc) {
    const std::ptrdiff_t end = std::min(n, (r + 1) * kSumRow);
    for (std::ptrdiff_t i = r * kSumRow; i < end; ++i) body(i, acc);
  });
}

}  // namespace unblur
