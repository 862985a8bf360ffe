"""Sample images shipped with unblur.

``astronaut.png`` is a 384x384 crop of the NASA portrait of astronaut Eileen Collins
(public domain, NASA Great Images database), as distributed with scikit-image.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["astronaut"]


def astronaut() -> np.ndarray:
    """The sample colour photograph: uint8 array of shape (384, 384, 3).

    Examples
    --------
    >>> import unblur.data
    >>> unblur.data.astronaut().shape
    (384, 384, 3)
    """
    from PIL import Image

    with resources.files(__name__).joinpath("astronaut.png").open("rb") as f:
        with Image.open(f) as im:
            return np.asarray(im.convert("RGB"))
