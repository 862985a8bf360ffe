// Point-spread function generators.
//
// Every generator fills a caller-allocated, row-major array of an odd `shape` whose
// centre pixel (index shape[i] / 2 on each axis) is the PSF's centre, computes in
// double and writes T = float or double, normalised to sum 1. Each has a companion
// `*_psf_shape` that returns the default shape (the smallest odd shape, at least 3 per
// axis, that holds the PSF by the rule documented there); any other odd shape may be
// passed, and the PSF is then cropped (or zero-padded) before normalisation.
//
// Conventions: 2-D shapes are (rows, columns); x is the column index (to the right), y
// the row index (downwards on screen). Angles are in degrees, counter-clockwise on
// screen from the +x axis: a direction at angle a moves +cos(a) columns and -sin(a)
// rows. Bad arguments throw unblur::ValueError (core/error.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/array.hpp"

namespace unblur {

/// Throws ValueError unless `shape` has `ndim` axes, each odd and >= 1.
void require_psf_shape(const Shape& shape, std::size_t ndim, const char* name = "shape");

// ---- Gaussian -----------------------------------------------------------------------
/// Default shape of gaussian_psf: 2 * ceil(4 * sd_i) + 1 per axis (at least 3), sd_i
/// the standard deviation of the (rotated) Gaussian along axis i.
Shape gaussian_psf_shape(const std::vector<double>& sigma, double theta_deg = 0.0);

/// Gaussian with standard deviation sigma[i] along axis i (1 to 3 axes, sigma > 0),
/// integrated exactly over each pixel (products of erf differences). In 2-D, theta
/// rotates the Gaussian: the axis of sigma[1] (columns) goes to the direction theta.
/// A rotated Gaussian is integrated exactly across columns and over 64 sub-rows, each
/// weighted by its exact marginal mass, down each pixel (conditional decomposition).
template <typename T>
void gaussian_psf(const std::vector<double>& sigma, double theta_deg, const Shape& shape, T* out);

// ---- disk (defocus) -------------------------------------------------------------------
/// Default shape of disk_psf: 2 * max(1, ceil(radius - 0.5)) + 1 on both axes.
Shape disk_psf_shape(double radius);

/// Uniform disk (pillbox) of `radius` pixels (>= 0): each pixel holds the fraction of
/// its area inside the circle, exact for pixels wholly inside or outside, counted on a
/// 32 x 32 sub-grid for pixels the edge crosses. radius <= 0.5 gives a delta.
template <typename T>
void disk_psf(double radius, const Shape& shape, T* out);

/// Adds the area fraction of a disk (centre cy, cx in pixel indices, radius r) to acc,
/// a rows x cols grid (used for the disk PSF and the telescope pupil).
void add_disk_area(double cy, double cx, double radius, std::ptrdiff_t rows, std::ptrdiff_t cols,
                   double* acc);

// ---- linear motion ---------------------------------------------------------------------
/// Default shape of motion_psf: 2 * max(1, ceil(length / 2 * |sin a|)) + 1 rows and
/// 2 * max(1, ceil(length / 2 * |cos a|)) + 1 columns.
Shape motion_psf_shape(double length, double angle_deg);

/// Linear motion: a segment of `length` pixels (>= 0) through the centre at angle_deg,
/// sampled at ceil(16 * length) (at least 1) equally weighted midpoints and splatted
/// bilinearly (which keeps the centroid exactly at the centre pixel). length 0 is a delta.
template <typename T>
void motion_psf(double length, double angle_deg, const Shape& shape, T* out);

/// Adds point masses w[k] at (row[k], col[k]) (pixel indices, fractional) to acc with
/// bilinear weights; mass falling outside the rows x cols grid is dropped.
void splat_bilinear(const std::vector<double>& row, const std::vector<double>& col,
                    const std::vector<double>& w, std::ptrdiff_t rows, std::ptrdiff_t cols,
                    double* acc);

// ---- camera shake ----------------------------------------------------------------------
/// A sampled camera-shake trajectory: points (dy = rows, dx = columns) relative to its
/// time-weighted centroid, with weights summing to 1.
struct ShakeTrajectory {
  std::vector<double> dy, dx, weight;
  std::vector<double> vertex_y, vertex_x;  ///< the scaled random-walk vertices (not centred)
};

/// Random smooth trajectory: `steps` (>= 2) vertices of a walk whose velocity is an
/// AR(1) process, v_t = s v_{t-1} + sqrt(1 - s^2) g_t (s = smoothness in [0, 1), g_t
/// standard normal 2-vectors from Rng(seed)), x_t = x_{t-1} + v_t; scaled so that the
/// larger side of its bounding box is `extent` pixels (>= 0). Each of the steps - 1
/// segments gets equal exposure time 1 / (steps - 1), spread over ceil(16 * length)
/// midpoints; the points are then shifted so their weighted centroid is 0.
ShakeTrajectory shake_trajectory(double extent, std::uint64_t seed, int steps, double smoothness);

/// Default shape: 2 * max(1, ceil(max |d|)) + 1 per axis over the trajectory's points.
Shape shake_psf_shape(const ShakeTrajectory& trajectory);

/// The trajectory splatted bilinearly around the centre pixel (centroid at the centre).
template <typename T>
void shake_psf(const ShakeTrajectory& trajectory, const Shape& shape, T* out);

// ---- atmospheric turbulence -----------------------------------------------------------
/// Default shape: 2 * ceil(2 * oversampling * (4 + 2 * d_over_r0)) + 1 on both axes
/// (4 lambda/D plus two seeing FWHMs, in pixels of lambda / (2 oversampling D)).
Shape turbulence_psf_shape(double d_over_r0, double oversampling);

/// Side of the square FFT grid used for a turbulence PSF of `shape`:
/// fast_fft_size(max(2 * max(shape), 64), even).
std::ptrdiff_t turbulence_grid_size(const Shape& shape);

/// Turbulence-degraded PSF of a circular aperture D with Fried parameter r0
/// (d_over_r0 >= 0), pixels of lambda / (2 oversampling D) (oversampling >= 1).
/// Long exposure: inverse FFT of the diffraction OTF times exp(-3.44 (u D/r0)^(5/3)).
/// Short exposure: |FFT(pupil exp(i phi))|^2 with phi a Kolmogorov phase screen drawn
/// from Rng(seed) (FFT method plus six levels of subharmonics).
template <typename T>
void turbulence_psf(double d_over_r0, double oversampling, bool short_exposure, std::uint64_t seed,
                    const Shape& shape, T* out, int threads = 0);

// ---- Airy and Moffat --------------------------------------------------------------------
/// Number of sub-samples per pixel axis for airy/moffat: min(9, 2 * ceil(4 / scale) + 1).
int psf_supersampling(double scale);

/// Default shape of airy_psf: 2 * max(1, ceil(4 * radius)) + 1 (four dark rings).
Shape airy_psf_shape(double radius);

/// Airy pattern [2 J1(v) / v]^2, v = 3.8317 r / radius (radius = first dark ring, > 0),
/// averaged over psf_supersampling(radius)^2 points per pixel.
template <typename T>
void airy_psf(double radius, const Shape& shape, T* out);

/// Default shape of moffat_psf: 2 * max(1, ceil(min(r99, 10 fwhm))) + 1, r99 the
/// radius holding 99 % of the (continuous) Moffat's flux.
Shape moffat_psf_shape(double fwhm, double beta);

/// Moffat profile (1 + (r / alpha)^2)^(-beta), alpha = fwhm / (2 sqrt(2^(1/beta) - 1)),
/// fwhm > 0, beta > 1, averaged over psf_supersampling(fwhm)^2 points per pixel.
template <typename T>
void moffat_psf(double fwhm, double beta, const Shape& shape, T* out);

}  // namespace unblur
