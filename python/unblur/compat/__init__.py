"""Drop-in replacements for other libraries' functions, running on unblur's engines.

``unblur.compat.skimage``: scikit-image's ``restoration.wiener``,
``unsupervised_wiener``, ``richardson_lucy`` and ``denoise_tv_chambolle`` with
scikit-image's signatures, defaults and results (see that module's docstring)::

    from unblur.compat import skimage as restoration   # was: from skimage import restoration
"""

from . import skimage

__all__ = ["skimage"]
