"""Reference blind Richardson-Lucy (array API): alternating multiplicative updates of
the image and the PSF, as MATLAB's deconvblind (Fish, Brinicombe, Pike and Walker 1995;
Biggs and Andrews 1997), on unblur's boundary model: the observation is the *valid*
part of the blur of a larger scene, so the image lives on the extended domain
(observation + PSF halo) and every step is Bertero-Boccacci normalised.

With g the observation (H x W), h the PSF (kh x kw, odd) and f the scene on the
extended grid (H + kh - 1) x (W + kw - 1), A_h f = valid(h * f) and A_f h the same
product seen as a function of h:

    f <- f A_h^T(g / A_h f) / A_h^T 1        (image step)
    h <- h A_f^T(g / A_h f) / A_f^T 1,  h <- h / sum(h)     (PSF step)

Both adjoints are correlations, computed with FFTs on one grid. Halo pixels the data
barely sees (A_h^T 1 below 1e-4 of its maximum) keep their value, as in the
non-blind RL engine.
"""

from __future__ import annotations

from . import namespace
from .fft import fast_fft_shape

EPSILON = 1e-12  # added to the model before dividing (as non-blind RL)


class ValidModel:
    """FFT products for g = valid(h * f) on a grid large enough to avoid wrap-around."""

    def __init__(self, observed_shape, psf_shape, xp):
        self.xp = xp
        self.obs = tuple(observed_shape)
        self.k = tuple(psf_shape)
        self.ext = tuple(n + k - 1 for n, k in zip(self.obs, self.k))
        self.grid = fast_fft_shape(self.ext)

    def _pad(self, a, offset=(0, 0)):
        out = self.xp.zeros(self.grid)
        out[offset[0]:offset[0] + a.shape[0], offset[1]:offset[1] + a.shape[1]] = a
        return self.xp.fft.rfft2(out)

    def _back(self, spectrum):
        return self.xp.fft.irfft2(spectrum, s=self.grid)

    def forward(self, f_hat, h_hat):
        """valid(h * f), from the spectra of f and h."""
        c = self._back(f_hat * h_hat)
        return c[self.k[0] - 1:self.ext[0], self.k[1] - 1:self.ext[1]]

    def residual_spectrum(self, r):
        """Spectrum of an observation-sized array placed where A's output sits."""
        return self._pad(r, (self.k[0] - 1, self.k[1] - 1))

    def image_adjoint(self, r_hat, h_hat):
        """A_h^T r: the full correlation of r with h, on the extended grid."""
        return self._back(r_hat * self.xp.conj(h_hat))[:self.ext[0], :self.ext[1]]

    def psf_adjoint(self, r_hat, f_hat):
        """A_f^T r: the correlation of r with f on the PSF's support."""
        return self._back(r_hat * self.xp.conj(f_hat))[:self.k[0], :self.k[1]]


def blind_richardson_lucy(image, psf, iterations, image_steps=1, psf_steps=1, callback=None):
    """image: 2-D float array (non-negative); psf: the initial PSF (odd sizes, >= 0).
    Returns (restored, psf, iterations run); restored has the image's shape."""
    xp = namespace(image)
    g = xp.maximum(xp.asarray(image, dtype=xp.float64), 0.0)
    if not bool(xp.any(g > 0)):
        raise ValueError("image has no positive value: blind Richardson-Lucy needs some light to fit the PSF to")
    h = xp.asarray(psf, dtype=xp.float64)
    h = h / xp.sum(h)
    kh, kw = h.shape
    model = ValidModel(g.shape, h.shape, xp)
    # Start from the observation, reflected into the halo.
    f = xp.pad(g, ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2)), mode="reflect")
    f = xp.maximum(f, EPSILON)
    ones_hat = model.residual_spectrum(xp.ones_like(g))
    done = 0
    for it in range(1, iterations + 1):
        h_hat = model._pad(h)
        norm_f = model.image_adjoint(ones_hat, h_hat)
        held = norm_f <= 1e-4 * xp.max(norm_f)  # compared on the device: no scalar read
        for _ in range(image_steps):
            f_hat = model._pad(f)
            ratio = g / (model.forward(f_hat, h_hat) + EPSILON)
            update = model.image_adjoint(model.residual_spectrum(ratio), h_hat)
            f = xp.where(held, f, f * update / xp.where(held, 1.0, norm_f))
        f_hat = model._pad(f)
        norm_h = model.psf_adjoint(ones_hat, f_hat)
        for _ in range(psf_steps):
            h_hat = model._pad(h)
            ratio = g / (model.forward(f_hat, h_hat) + EPSILON)
            update = model.psf_adjoint(model.residual_spectrum(ratio), f_hat)
            h = xp.maximum(h * update / xp.maximum(norm_h, EPSILON), 0.0)
            h = h / xp.sum(h)
        done = it
        if callback is not None and callback({"iteration": it, "max_iterations": iterations}) is False:
            break
    restored = f[kh // 2:kh // 2 + g.shape[0], kw // 2:kw // 2 + g.shape[1]]
    return restored, h, done
