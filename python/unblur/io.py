"""Reading and writing images: PNG, JPEG, TIFF (8/16-bit, float, multi-page stacks), .npy.

``read`` gives an :class:`Image`: the pixels as float32 in [0, 1] for integer files
(floats as stored), the alpha channel apart (carried through to ``write``), and what
``write`` needs to give back a file like the input: bit depth, colour encoding, ICC
profile, EXIF. Deblurring is linear: a blurred photograph is the blur of the scene's
*light*, not of its sRGB code values, so by default images stored in sRGB (8-bit files,
PNG and JPEG, colour TIFF of integers) are decoded to linear light on reading and
encoded back on writing; greyscale TIFF of 16 bits or more and float files are taken
as linear data already (microscopes and telescopes record counts). ``linear=False``
keeps the code values.

Pillow reads PNG and JPEG (EXIF orientation applied, the orientation tag then reset),
tifffile reads and writes TIFF. Limits: 16-bit colour PNG is read by Pillow at 8 bits
(a warning says so; TIFF keeps 16 bits), and written only as TIFF.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import warnings

import numpy as np

from . import _memory

__all__ = ["Image", "read", "write", "MAX_PIXELS", "srgb_to_linear", "linear_to_srgb", "jpeg_noise", "detect_jpeg"]

#: Largest image read, in pixels (per page, times pages; a TIFF of more than 4 samples
#: a pixel counts each 4 as a pixel): larger files are refused as probable decompression
#: bombs (a 16384 x 16384 RGB image is 2^28 pixels, about 7 GiB at the peak of reading).
MAX_PIXELS = 1 << 28

_TIFF = (".tif", ".tiff")
_PILLOW_WRITE = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


@dataclasses.dataclass
class Image:
    """An image as read from a file.

    Attributes
    ----------
    data : ndarray
        float32 (float64 if the file held float64): (H, W) grey, (H, W, C) colour,
        (Z, H, W) or (Z, H, W, C) for a stack. In [0, 1] for integer files; in linear
        light when ``linear`` is True.
    alpha : ndarray or None
        The alpha channel, (H, W) or (Z, H, W), in [0, 1]; never linearised.
    path : str
    format : str
        'PNG', 'JPEG', 'TIFF', 'NPY', or what Pillow calls it.
    bits : int
        Bits per sample of the file (8, 16, 32 or 64; 1 for bilevel).
    float_data : bool
        The file held floating-point samples.
    srgb : bool
        The file's values are sRGB code values (see the module's notes).
    linear : bool
        ``data`` was decoded from sRGB to linear light.
    icc_profile, exif : bytes or None
        Kept for writing a file like this one.
    resolution, description
        A TIFF's resolution (((x, y) per unit, unit)) and ImageDescription, kept too.
    jpeg : dict or None
        A JPEG file's quantisation tables (natural order), chroma subsampling (0: 4:4:4,
        1: 4:2:2, 2: 4:2:0), EXIF orientation and colour mode, for :func:`jpeg_noise`.
    """

    data: np.ndarray
    alpha: np.ndarray | None = None
    path: str = ""
    format: str = ""
    bits: int = 8
    float_data: bool = False
    srgb: bool = False
    linear: bool = False
    icc_profile: bytes | None = None
    exif: bytes | None = None
    resolution: tuple | None = None  # TIFF: ((x, y) pixels per unit, unit name)
    description: str | None = None   # TIFF: ImageDescription
    jpeg: dict | None = None          # JPEG: tables, subsampling, orientation, mode (jpeg_noise)

    @property
    def channel_axis(self):
        """-1 for colour data, None for grey."""
        return -1 if self.colour else None

    @property
    def colour(self):
        return self.data.ndim == (4 if self.volume else 3)

    @property
    def volume(self):
        """A stack of 2-D pages (a multi-page TIFF or a 3-D .npy)."""
        return self._volume

    _volume: bool = False

    def __repr__(self):
        kind = "colour" if self.colour else "grey"
        shape = "x".join(str(n) for n in self.data.shape)
        enc = "float" if self.float_data else f"{self.bits}-bit"
        light = ", sRGB decoded to linear light" if self.linear else (", sRGB" if self.srgb else "")
        extra = (", alpha" if self.alpha is not None else "") + (", ICC" if self.icc_profile else "")
        stack = " stack" if self.volume else ""
        return f"Image({self.path!r}: {self.format} {shape} {kind}{stack}, {enc}{light}{extra})"

    def with_data(self, data):
        """A copy that holds `data` (same metadata and alpha)."""
        return dataclasses.replace(self, data=data)


#: Elements per block of the elementwise conversions: their temporaries stay this small
#: (a whole-array np.where took 5 image-sized temporaries, 60 bytes a colour pixel).
_BLOCK = 1 << 18


def _blockwise(v, f, *, in_place=False):
    """f applied to a float copy of `v` (or to `v` itself, a C-contiguous float array,
    when in_place) block by block; returns the result."""
    v = np.asarray(v)
    out = v if in_place else np.array(v, dtype=v.dtype if v.dtype.kind == "f" else np.float64, order="C", copy=True)
    flat = out.reshape(-1)
    for start in range(0, flat.size, _BLOCK):
        block = flat[start:start + _BLOCK]
        block[...] = f(np.clip(block, 0.0, 1.0))
    return out


def _srgb_decode(b):
    return np.where(b <= 0.04045, b / 12.92, ((b + 0.055) / 1.055) ** 2.4)


def _srgb_slope(code):
    """d(linear light) / d(code value) of the sRGB curve at each code value in [0, 1]:
    how much noise on the code values a pixel carries into linear light (the command
    line's --noise-sigma and JPEG levels)."""
    code = np.clip(np.asarray(code, dtype=np.float64), 0.0, 1.0)
    return np.where(code <= 0.04045, 1 / 12.92, 2.4 / 1.055 * ((code + 0.055) / 1.055) ** 1.4)


def srgb_to_linear(v):
    """The sRGB transfer function's inverse (IEC 61966-2-1), elementwise, on [0, 1]
    (values clipped to it). Returns a new array of v's float dtype.

    Examples
    --------
    >>> import numpy as np, unblur.io
    >>> unblur.io.srgb_to_linear(np.array([0.0, 0.5, 1.0])).round(4)
    array([0.    , 0.214 , 1.    ])
    """
    return _blockwise(v, _srgb_decode)


def linear_to_srgb(v):
    """The sRGB transfer function (IEC 61966-2-1), elementwise; values clipped to [0, 1].
    Returns a new array of v's float dtype."""
    return _blockwise(v, lambda b: np.where(b <= 0.0031308, 12.92 * b, 1.055 * b ** (1 / 2.4) - 0.055))


def _check_readable(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a folder, not an image")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"{path}: not readable (permission denied)")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path}: empty file")


class _TooLarge(ValueError):
    """More than MAX_PIXELS, inside a decoder's try block (see _check_size): its
    handlers let it through as a plain ValueError."""


class _NoMemory(MemoryError):
    """unblur's own memory refusal inside a decoder's try block: let through as a
    MemoryError (a MemoryError of the decoder's is a corrupt size: a ValueError)."""


def _check_size(path, pixels, *, in_decoder=False, nbytes=None):
    """ValueError past MAX_PIXELS; MemoryError (before decoding) when reading would need
    more than unblur's memory limit or the memory available, `nbytes` being the
    read's peak memory (pixels times _read_bytes)."""
    if pixels > MAX_PIXELS:
        raise (_TooLarge if in_decoder else ValueError)(
            f"{path}: {pixels} pixels is more than unblur reads ({MAX_PIXELS}); "
            "a decompression bomb or an image to split first")
    if nbytes is not None:
        try:
            _memory.require(f"reading {path}", nbytes)
        except MemoryError as exc:
            raise _NoMemory(str(exc)) from None


def _computed_bytes(dtype):
    """Bytes a sample of `dtype` adds as floats: 0 for native float32 / float64, which are
    kept as they are (no copy), 8 for byte-swapped float64, else 4 (float32)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize in (4, 8):
        return 0 if dtype.isnative else dtype.itemsize
    return 4


def _read_bytes(samples, stored, computed, *, pillow=False):
    """Upper bound of the peak bytes per pixel of a read, `samples` samples a pixel of
    `stored` bytes decoded, `computed` bytes each as floats. tifffile and .npy: the
    decoded array (twice for tifffile's decoding buffers) and the floats. Pillow keeps
    its decoded image (RGB as 4 bands), copies it into bytes for NumPy (through chunks:
    twice at the peak), may copy it for the EXIF rotation, and its freed blocks stay
    in the process: 4 copies, the floats, and 4 bytes for the decoder's own buffers.
    tests/test_memory.py measures the peaks (8-bit RGB PNG: 26 bytes a pixel; it was
    74 before the reads were made in float32 and in place)."""
    if pillow:
        return samples * (4 * stored + computed) + 4
    return samples * (2 * stored + computed)


def _unreadable(path, what, exc):
    """The ValueError for a file that a decoder gave up on. The decoders of untrusted
    bytes (tifffile, Pillow, zlib, imagecodecs) raise far more than ValueError and
    OSError on corrupt files (struct.error, TypeError, KeyError, ZeroDivisionError,
    EOFError, MemoryError for a bogus size...): each is the file's fault, so each
    becomes this one error, which names the file and keeps the decoder's words."""
    return ValueError(f"{path}: {what} ({type(exc).__name__}: {exc})")


def _scale(a, path):
    """Samples to float: integers to [0, 1] by their type's range, floats kept."""
    if a.size == 0:
        raise ValueError(f"{path}: the image is empty (shape {a.shape})")
    if a.dtype == np.bool_:
        return a.astype(np.float32), 1, False
    if a.dtype.kind in "iu":  # by kind: NumPy counts timedelta64 as an integer type
        info = np.iinfo(a.dtype)
        if a.dtype.itemsize <= 2:
            # In float32, straight into the output (4 bytes a sample, no float64
            # intermediates): exact for these ranges, and equal bit for bit to the float64
            # quotient rounded to float32 (checked over every 8- and 16-bit value).
            out = np.subtract(a, np.float32(info.min), dtype=np.float32) if info.min < 0 else a.astype(np.float32)
            np.divide(out, np.float32(info.max - info.min), out=out)
            return out, a.dtype.itemsize * 8, False
        if info.min < 0:
            out = (a.astype(np.float64) - info.min) / (info.max - info.min)
        else:
            out = a.astype(np.float64) / info.max
        return out.astype(np.float32), a.dtype.itemsize * 8, False
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError(f"{path}: the image holds NaN or infinite values")
        # By size, not dtype equality: big-endian float64 ('>f8', from a .npy written on
        # such a machine) is not equal to np.float64 but is float64 data all the same.
        wide = a.dtype.itemsize >= 8
        return a.astype(np.float64 if wide else np.float32, copy=False), 64 if wide else a.dtype.itemsize * 8, True
    raise ValueError(f"{path}: unsupported sample type {a.dtype}")


def _split_alpha(a, has_alpha):
    """(colour or grey samples, alpha or None), as views of the decoded samples."""
    if has_alpha:
        return (a[..., :-1] if a.shape[-1] > 2 else a[..., 0]), a[..., -1]
    return a, None


def _samples(a, has_alpha, path):
    """(data, alpha, bits, is_float): the decoded samples split, then scaled to float
    (the split first, so that no float copy of the whole RGBA array is made)."""
    colour, alpha = _split_alpha(a, has_alpha)
    data, bits, is_float = _scale(colour, path)
    if alpha is not None:
        alpha = np.ascontiguousarray(_scale(alpha, path)[0])
    return np.ascontiguousarray(data), alpha, bits, is_float


def _tiff_resolution(page):
    """((x, y) pixels per unit, unit name) of a TIFF page, or None when absent or not
    usable (a zero denominator, not a number, not finite and positive): metadata is
    kept when it is sound, never a reason to refuse the pixels."""
    def ratio(v):
        if isinstance(v, tuple) and len(v) == 2 and all(isinstance(t, numbers.Real) for t in v):
            return v[0] / v[1] if v[1] else None
        return float(v) if isinstance(v, numbers.Real) and not isinstance(v, bool) else None

    if "XResolution" not in page.tags or "YResolution" not in page.tags:
        return None
    x, y = ratio(page.tags["XResolution"].value), ratio(page.tags["YResolution"].value)
    if x is None or y is None or not (np.isfinite(x) and np.isfinite(y) and x > 0 and y > 0):
        return None
    unit = page.tags.get("ResolutionUnit")
    return (x, y), getattr(getattr(unit, "value", None), "name", None)


def _read_tiff(path):
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            # Index the pages first: that walks the IFD chain with tifffile's loop
            # detection. Without it, tifffile's generic series iterates the pages of a
            # chain that loops back (IFD 8 -> 12 -> 8) forever.
            len(tif.pages)
            series = tif.series[0]
            shape, axes = tuple(series.shape), series.axes
            samples = shape[axes.index("S")] if "S" in axes else 1
            pixels = math.prod(shape) // samples  # exact: no int64 wrap
            dtype = np.dtype(series.dtype)
            nbytes = pixels * _read_bytes(samples, dtype.itemsize, _computed_bytes(dtype))
            # Multispectral (more than 4 samples a pixel): each 4 samples count as a pixel.
            _check_size(path, pixels * samples // 4 if samples > 4 else pixels, in_decoder=True, nbytes=nbytes)
            a = series.asarray()
            page = tif.pages[0]
            icc = page.tags.get(34675)
            icc = bytes(icc.value) if icc is not None else None
            resolution = _tiff_resolution(page)
            desc = page.tags.get("ImageDescription")
            description = desc.value if desc is not None and not str(desc.value).startswith("{") else None
            extras = page.extrasamples if hasattr(page, "extrasamples") else ()
            photometric = page.photometric
            colormap = page.colormap if photometric == tifffile.PHOTOMETRIC.PALETTE else None
    except _TooLarge as exc:
        raise ValueError(str(exc)) from None
    except _NoMemory as exc:
        raise MemoryError(str(exc)) from None
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as exc:
        raise ValueError(f"{path}: not a readable TIFF ({exc})") from None
    except Exception as exc:  # anything else tifffile or its codecs raise on a corrupt file
        raise _unreadable(path, "not a readable TIFF", exc) from exc
    if "S" in axes and not axes.endswith("S"):  # planar configuration ('SYX'): samples last
        a = np.moveaxis(a, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    if photometric == tifffile.PHOTOMETRIC.PALETTE and colormap is not None and not axes.endswith("S"):
        # The colours, not the indices. 16-bit colour maps of 8-bit colours (v * 257) give 8 bits.
        colormap = np.asarray(colormap)
        if a.dtype.kind not in "bu" or a.size and int(a.max()) >= colormap.shape[-1]:
            raise ValueError(f"{path}: not a readable TIFF (palette indices beyond its colour map)")
        lut = (colormap // 257).astype(np.uint8) if not (colormap % 257).any() else colormap.astype(np.uint16)
        a = lut.T[a]
        axes += "S"
    elif photometric == tifffile.PHOTOMETRIC.MINISWHITE and a.dtype.kind in "biu":
        a = np.invert(a)  # min-is-white to min-is-black (max - v): written back as min-is-black
    # Leading axes other than the image's own (pages, planes, time) form the stack.
    if axes.endswith("S"):
        samples = a.shape[-1]
        spatial = a.shape[:-1]
    else:
        samples = 0
        spatial = a.shape
    if len(spatial) < 2:
        raise ValueError(f"{path}: a TIFF image needs two spatial axes, got shape {a.shape}")
    if len(spatial) > 3:
        a = a.reshape((-1,) + a.shape[len(spatial) - 2:])  # all leading axes as one stack
        spatial = a.shape[:-1] if samples else a.shape
    cmyk = photometric == tifffile.PHOTOMETRIC.SEPARATED and samples >= 4
    if cmyk:  # CMYK (and an alpha) to RGB as Pillow converts CMYK JPEG: (1 - C)(1 - K)
        has_alpha = samples >= 5 and len(extras) >= 1
        a = a[..., :5] if has_alpha else a[..., :4]
        samples = 3
        icc = None  # a CMYK profile does not describe the RGB values
    else:
        has_alpha = samples in (2, 4) and len(extras) >= 1
    if samples == 1:
        a = a[..., 0]
        samples = 0
    data, alpha, bits, is_float = _samples(a, has_alpha, path)
    if cmyk:
        data = np.ascontiguousarray((1 - data[..., :3]) * (1 - data[..., 3:]), dtype=data.dtype)
    colour = samples >= 3
    srgb = not is_float and (bits == 8 or colour)
    img = Image(data=data, alpha=alpha, path=path, format="TIFF", bits=bits, float_data=is_float, srgb=srgb,
                icc_profile=icc, resolution=resolution, description=description)
    img._volume = len(spatial) == 3
    return img


def _read_pillow(path):
    from PIL import Image as PILImage
    from PIL import ImageOps, UnidentifiedImageError

    old = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(path) as im:
                bands = max(len(im.getbands()), 4 if im.mode in ("P", "PA", "CMYK", "YCbCr", "RGB") else 1)
                stored = 2 if im.mode.startswith("I;16") else 4 if im.mode in ("I", "F") else 1
                _check_size(path, im.width * im.height, in_decoder=True,
                            nbytes=im.width * im.height * _read_bytes(bands, stored, 4, pillow=True))
                fmt = im.format or ""
                bits16_rgb = fmt == "PNG" and im.mode in ("RGB", "RGBA") and _png_bit_depth(path) == 16
                icc = im.info.get("icc_profile")
                im.load()
                jpeg = _jpeg_info(im) if fmt == "JPEG" else None
                im = ImageOps.exif_transpose(im)
                exif = im.getexif()
                if 0x0112 in exif:
                    exif[0x0112] = 1  # the orientation is applied to the pixels now
                exif_bytes = exif.tobytes() if len(exif) else None
                mode = im.mode
                if mode == "P":
                    im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                elif mode == "PA":
                    im = im.convert("RGBA")
                elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                    im = im.convert("RGB")
                    if mode != "YCbCr":  # a CMYK or Lab profile does not describe the RGB values
                        icc = None
                elif mode == "1":
                    im = im.convert("L")
                mode = im.mode
                a = np.asarray(im)
                im = None  # the decoded copy goes now (the opened file's at the with's exit), not after scaling
    except (PILImage.DecompressionBombWarning, PILImage.DecompressionBombError) as exc:
        raise ValueError(f"{path}: refused as a probable decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image format unblur reads (PNG, JPEG, TIFF, .npy, ...)") from None
    except _TooLarge as exc:
        raise ValueError(str(exc)) from None
    except _NoMemory as exc:
        raise MemoryError(str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the image ({exc})") from None
    except Exception as exc:  # anything else Pillow's plugins raise on a corrupt file
        raise _unreadable(path, "cannot read the image", exc) from exc
    finally:
        PILImage.MAX_IMAGE_PIXELS = old
    if bits16_rgb:
        warnings.warn(f"{path}: 16-bit colour PNG read at 8 bits (Pillow's limit); a 16-bit TIFF keeps them",
                      UserWarning, stacklevel=3)
    if mode in ("I;16", "I;16B", "I;16L"):
        a = a.astype(np.uint16)
    elif mode == "I":
        a = a.astype(np.int32)
        a = a.astype(np.uint16) if a.min() >= 0 and a.max() <= 65535 else a
    has_alpha = mode in ("LA", "RGBA")
    data, alpha, bits, is_float = _samples(a, has_alpha, path)
    srgb = not is_float
    return Image(data=data, alpha=alpha, path=path, format=fmt, bits=bits, float_data=is_float, srgb=srgb,
                 icc_profile=icc, exif=exif_bytes, jpeg=jpeg)


def _jpeg_info(im):
    """What jpeg_noise needs from an opened JPEG (before its EXIF orientation is applied)."""
    from PIL import JpegImagePlugin

    tables = getattr(im, "quantization", None)
    if not tables or im.mode not in ("L", "RGB"):
        return None
    try:
        sampling = JpegImagePlugin.get_sampling(im)
    except Exception:  # noqa: BLE001 - a plugin detail; without it no estimate
        return None
    return {"tables": {int(k): [int(v) for v in t] for k, t in tables.items()}, "sampling": int(sampling),
            "orientation": int(im.getexif().get(0x0112, 1) or 1), "mode": im.mode}


# ---- JPEG's compression error --------------------------------------------------------------

#: The inverse of each EXIF orientation's transform (Pillow's exif_transpose), on the
#: first two axes: back to the grid the file's 8 x 8 blocks were coded on.
_UNORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
             5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.rot90(a, 1), 7: lambda a: np.swapaxes(a[::-1, ::-1], 0, 1),
             8: lambda a: np.rot90(a, -1)}


#: The orthonormal 8-point DCT-II matrix (JPEG's transform, row k the k-th basis vector).
_DCT8 = np.array([[math.sqrt((1 if k == 0 else 2) / 8) * math.cos(math.pi * (2 * n + 1) * k / 16) for n in range(8)]
                  for k in range(8)])


def _block_dct(plane):
    """The orthonormal 8 x 8 DCT of each whole block of a 2-D plane (JPEG's transform):
    (blocks, 64), frequencies in natural (row-major) order. (NumPy only: scipy is not a
    runtime dependency.)"""
    h, w = plane.shape[0] // 8 * 8, plane.shape[1] // 8 * 8
    b = plane[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    d = _DCT8.astype(plane.dtype)
    return (d @ b @ d.T).reshape(-1, 64)


def _plane_error(plane, table, floor):
    """The RMS error a JPEG plane (code values x 255) carries against what was coded,
    noise before compression included, from its quantisation table Q.

    Per frequency k: where the coefficients spread over many steps, the decoded value is
    off by a uniform rounding error (variance Q_k^2 / 12) plus the noise s^2 that the
    step did not remove; where they sit mostly at 0, the error is at most the
    coefficients' own mean square. The noise s: for each frequency whose zero bin holds
    30-95 % of the blocks, the Gaussian sigma with that mass in [-Q_k/2, Q_k/2], and the
    lower quartile of those (the signal only adds to it); at least `floor`."""
    from statistics import NormalDist

    c = np.ascontiguousarray(_block_dct(plane).T)  # (64, blocks): one frequency a row
    if c.shape[1] < 16:
        return None
    q = np.asarray(table, dtype=np.float64)
    found = []
    for k in range(1, 64):
        if q[k] >= 2:
            p0 = float(np.count_nonzero(np.abs(c[k]) < q[k] / 2)) / c.shape[1]
            if 0.3 < p0 < 0.95:
                found.append(q[k] / 2 / NormalDist().inv_cdf((1 + p0) / 2))  # P(|z| < x) = p0
    s = max(float(np.percentile(found, 25)), floor) if len(found) >= 3 else floor
    mean_sq = np.array([float(np.dot(row, row)) for row in c.astype(np.float64, copy=False)]) / c.shape[1]
    return float(np.sqrt(np.mean(np.minimum(q * q / 12 + s * s, mean_sq))))


#: The example quantisation tables of the JPEG standard (ITU-T T.81, Annex K), luminance
#: and chrominance, in natural (row-major) order. libjpeg and the encoders built on it
#: (Pillow, OpenCV, ImageMagick, most software) scale them by a quality 1..100
#: (_ijg_table); detect_jpeg finds that quality from decoded pixels.
_IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
             14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
             49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_IJG_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
               47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32
#: detect_jpeg's evidence for a table (_lattice): over the sampled blocks' AC
#: coefficients outside the zero bin (steps of 2 or more), the sum of cos(2 pi c / Q)
#: relative to its expectation on the lattice (the pixels' rounding blurs it) and its
#: z-score against no lattice. Session 22's trials (bench images and others, blurred,
#: noise 0 to 0.03, 64 x 64 to 300 x 300): Pillow's files of qualities 30-95, grey and
#: colour, 0.82-1.00 and z 14-250; the same never compressed, at most 0.26 and z 3.4.
_LATTICE_COHERENCE = 0.55
_LATTICE_Z = 10.0
_DETECT_BLOCKS = 2048  # blocks sampled per candidate grid (evenly over the image)
_DETECT_SIDE = 1024  # detect_jpeg looks at a centred window of at most this size
#: A JPEG's block means sit on its DC step's lattice at the grid's offset (z 9-45 in
#: session 22's trials, qualities 30-95, 64 x 64 to 256 x 256; at most 5 on images never
#: compressed): below this, detect_jpeg stops before the AC search (a quarter of its time).
_DC_Z = 6.0
#: The variance of a decoded block's DCT coefficients about the lattice, in code values
#: squared: the decoder's rounding of each sample (1/12); for luma and chroma recomputed
#: from RGB, that of the plane plus that of R, G and B weighted by the JFIF matrix.
_ROUNDING_GREY = 1 / 12
_ROUNDING_LUMA = (1 + 0.299**2 + 0.587**2 + 0.114**2) / 12
_ROUNDING_CHROMA = (1 + 0.168736**2 + 0.331264**2 + 0.5**2) / 12


def _ijg_table(base, quality):
    """The table libjpeg uses at `quality` (1..100): base x scale / 100, rounded, in 1..255."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((np.asarray(base, dtype=np.int64) * scale + 50) // 100, 1, 255)


def _code_values(pixels):
    """8-bit code values (float64, 0..255) of an array of 8-bit samples: uint8, integers
    in 0..255, or floats that are multiples of 1/255 in [0, 1] (as read with
    ``linear=False``) or whole numbers in 0..255; None for anything else."""
    a = np.asarray(pixels)
    if a.dtype == np.uint8:
        return a.astype(np.float64)
    if a.size == 0 or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        return None
    v = a.astype(np.float64)
    if not np.all(np.isfinite(v)):
        return None
    lo, hi = float(v.min()), float(v.max())
    if lo < 0 or hi > 255:
        return None
    if np.issubdtype(a.dtype, np.floating) and hi <= 1.0:
        v = v * 255.0
    r = np.round(v)
    # float32 holds k / 255 to about 3e-8, times 255 about 1e-5
    return r if float(np.max(np.abs(v - r))) <= 1e-3 else None


def _block_sample(n_blocks, limit):
    """Indices of at most `limit` of n_blocks blocks, evenly spread."""
    if n_blocks <= limit:
        return np.arange(n_blocks)
    return np.unique(np.linspace(0, n_blocks - 1, limit).round().astype(np.int64))


def _lattice(c, tables, rounding):
    """For each table (rows of 64 steps): the coherence and z-score of the coefficients c
    (64, blocks) on its lattice (see _LATTICE_COHERENCE), the coefficients' rounding
    error of variance `rounding`. A frequency counts only where
    its coefficients outside the zero bin span at least 3 steps (indices n..n+2 or
    wider) and only if 3 frequencies do: blocks that repeat one pattern (a synthetic
    ramp) put one value on some lattice by chance, a JPEG puts many. The DC coefficient
    never counts (its values cluster wherever the image is dark or flat)."""
    q = tables.astype(np.float64)[:, :, None]
    informative = (q >= 2) & (np.abs(c[None]) >= q / 2)
    informative[:, 0] = False  # DC: a dark or flat region's block means crowd near one value by chance
    index = np.round(c[None] / q)
    spread = (np.where(informative, index, -np.inf).max(axis=2) - np.where(informative, index, np.inf).min(axis=2)) >= 2
    informative &= spread[:, :, None]
    cosines = np.where(informative, np.cos(2 * np.pi * c[None] / q), 0.0)
    m, n = cosines.sum(axis=(1, 2)), informative.sum(axis=(1, 2))
    m = np.where(spread.sum(axis=1) >= 3, m, 0.0)
    # on the lattice, a coefficient's rounding error e (variance `rounding`) gives
    # E cos(2 pi e / Q) = exp(-2 pi^2 rounding / Q^2): the coherence is relative to that
    expected = np.where(informative, np.exp(-2 * np.pi**2 * rounding / (q * q)), 0.0).sum(axis=(1, 2))
    return m / np.maximum(expected, 1e-300), m / np.sqrt(np.maximum(n, 1) / 2)


def _grid_candidates(p):
    """Candidate 8 x 8 grid offsets (row, column) of a level-shifted plane: the two whose
    block means (the DC coefficients) best sit on a lattice of one of libjpeg's DC steps,
    and the one with the largest jumps across block edges; and the best of those DC
    z-scores (_DC_Z)."""
    h, w = p.shape
    s = np.zeros((2, h + 1, w + 1))
    s[0, 1:, 1:] = p.cumsum(axis=0).cumsum(axis=1)
    s[1, 1:, 1:] = (p * p).cumsum(axis=0).cumsum(axis=1)
    # the DC steps libjpeg's tables have (2..255; 1 carries no evidence)
    steps = np.unique([float(_ijg_table(_IJG_LUMA[:1], q)[0]) for q in range(1, 101)])
    steps = steps[steps >= 2][:, None]
    score = np.zeros((8, 8))
    for oy in range(8):
        ys = oy + 8 * np.arange((h - oy) // 8)
        for ox in range(8):
            xs = ox + 8 * np.arange((w - ox) // 8)
            if not len(ys) or not len(xs):
                continue
            total, squares = (s[:, ys[:, None] + 8, xs[None, :] + 8] - s[:, ys[:, None], xs[None, :] + 8]
                              - s[:, ys[:, None] + 8, xs[None, :]] + s[:, ys[:, None], xs[None, :]]).reshape(2, -1)
            # constant blocks (a flat sky, a black border) sit on every lattice of step 2, 4, 8: no evidence
            dc = total[squares / 64 - (total / 64) ** 2 > 1e-6] / 8.0
            dc = dc[_block_sample(dc.size, _DETECT_BLOCKS // 4)]
            informative = np.abs(dc[None]) >= steps / 2
            m = np.where(informative, np.cos(2 * np.pi * dc[None] / steps), 0.0).sum(axis=1)
            score[oy, ox] = float(np.max(m / np.sqrt(np.maximum(informative.sum(axis=1), 1) / 2)))
    best = [divmod(int(i), 8) for i in np.argsort(-score.ravel(), kind="stable")[:2]]

    def edges(axis):  # mean jump across the block edges of each offset
        d = np.abs(np.diff(p, axis=axis)).mean(axis=1 - axis)
        return [float(d[(o - 1) % 8::8].mean()) if d[(o - 1) % 8::8].size else 0.0 for o in range(8)]

    best.append((int(np.argmax(edges(0))), int(np.argmax(edges(1)))))
    return list(dict.fromkeys(best)), float(score.max())


def _clipped(code):
    """Per whole 8 x 8 block of code values (grey, or RGB whose channels count alike; as
    _block_dct orders the blocks): any sample at 0 or 255."""
    lo, hi = (code, code) if code.ndim == 2 else (code.min(axis=-1), code.max(axis=-1))
    h, w = code.shape[0] // 8 * 8, code.shape[1] // 8 * 8
    lo, hi = lo[:h, :w].reshape(h // 8, 8, w // 8, 8), hi[:h, :w].reshape(h // 8, 8, w // 8, 8)
    return ((lo.min(axis=(1, 3)) <= 0.5) | (hi.max(axis=(1, 3)) >= 254.5)).reshape(-1)


def _detect_table(plane, base, rounding, code):
    """(quality, offset, coherence, z) of the IJG table scaled from `base` that the plane
    (code values, whose DCT coefficients carry a rounding error of variance `rounding`;
    computed from `code`, the samples) was quantised with, or None. z is the largest
    z-score of any table (the evidence of a JPEG), coherence that of the table chosen."""
    p = plane - 128.0  # JPEG's level shift
    tables = np.stack([_ijg_table(base, q) for q in range(1, 101)])
    best = None
    candidates, dc_z = _grid_candidates(p)
    if dc_z < _DC_Z:
        return None
    for oy, ox in candidates:
        blocks = _block_dct(p[oy:, ox:])
        # not constant (see _grid_candidates) and not clipped at 0 or 255: the decoder's
        # clipping moves a block off its lattice, and a dark region's noise, clipped at
        # black, puts the few non-zero samples of its blocks on lattices of chance
        keep = (np.abs(blocks[:, 1:]).max(axis=1) > 1e-6) & ~_clipped(code[oy:, ox:])
        blocks = blocks[keep]
        if blocks.shape[0] < 16:
            continue
        # every quality on a few blocks, then the likeliest 8 on the sample
        first = _lattice(blocks[_block_sample(blocks.shape[0], _DETECT_BLOCKS // 8)].T, tables, rounding)[1]
        likely = np.argsort(-first, kind="stable")[:8]
        coherence, z = _lattice(blocks[_block_sample(blocks.shape[0], _DETECT_BLOCKS)].T, tables[likely], rounding)
        # of the tables with at least half the best evidence, the one that fits best: a
        # table of about half the true steps (quality 57 for 30) holds every true lattice
        # point and more coefficients outside its zero bin, so its z can be the larger
        top = float(z.max())
        i = int(np.argmax(np.where(z >= 0.5 * top, coherence, -np.inf)))
        if best is None or top > best[3]:
            best = (int(likely[i]) + 1, (oy, ox), float(coherence[i]), top)
    if best is None or best[2] < _LATTICE_COHERENCE or best[3] < _LATTICE_Z:
        return None
    return best


def detect_jpeg(pixels):
    """Whether pixels were decoded from a JPEG, and with which quantisation tables.

    For arrays that come without their file (decoded by another library, or a PNG
    saved from a JPEG), where :func:`jpeg_noise` has no tables to read. A JPEG's
    decoded 8 x 8 blocks have DCT coefficients on a lattice: multiples of each
    frequency's quantisation step, blurred only by the pixels' rounding. This finds
    the 8 x 8 grid (where the block means sit on a lattice, or where the block edges
    jump most) and the quality whose libjpeg table (the JPEG standard's example tables,
    scaled as libjpeg, Pillow, OpenCV and most software scale them) puts the most
    coefficients on its lattice, and accepts it only where that evidence is strong:
    over the AC coefficients outside the zero bin, the sum of cos(2 pi c / Q) at least
    0.55 of what the pixels' rounding leaves of it on a lattice, and a z-score of at
    least 10 (Pillow's files of qualities 30-95, grey and colour: 0.82-1.00 and 14-250;
    8-bit images never compressed: at most 0.26 and 3.4). Of 540 trial files (twelve
    images, noise 0-0.03, qualities 30-95, 4:4:4 and 4:2:0, whole and cropped) it found
    517, the quality to within 1, and none wrongly; of 72 never compressed, none (bench/
    RESULTS.md, session 22). Flat, clipped and repeated blocks are no evidence. Files of other tables
    (many cameras'), qualities above about 95 (steps of 1 and 2, which the rounding
    hides), and resized or filtered JPEGs are not found: None. It looks at a centred
    window of at most 1024 x 1024 (0.7-0.9 s on a 12-megapixel RGB array here).

    Parameters
    ----------
    pixels : array or Image
        8-bit samples, grey (H, W) or RGB (H, W, 3): uint8, integers 0..255, or floats
        that are multiples of 1/255 in [0, 1] (``unblur.io.read(path, linear=False)``)
        or whole numbers 0..255. Anything else (linear light, processed values) is not
        a decoded JPEG: None. An Image read in linear light is encoded back to its code
        values first.

    Returns
    -------
    dict or None
        quality (1..100), offset (the grid's first whole block, row and column, 0..7),
        tables ({0: luma, 1: chroma}, 64 steps each in natural order), sampling (colour:
        0 for full-resolution chroma where its lattice is found too, else 2, 4:2:0, the
        common default; None for grey), coherence and z (the evidence).

    Examples
    --------
    >>> import io, numpy as np, unblur.io
    >>> from PIL import Image
    >>> y, x = np.mgrid[:96, :96]
    >>> scene = (128 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0)).astype(np.uint8)
    >>> f = io.BytesIO(); Image.fromarray(scene).save(f, format="JPEG", quality=80)
    >>> decoded = np.asarray(Image.open(f))
    >>> unblur.io.detect_jpeg(decoded)["quality"]
    80
    >>> unblur.io.detect_jpeg(scene) is None
    True
    """
    if isinstance(pixels, Image):
        if pixels.volume:
            return None
        a = np.asarray(pixels.data)
        pixels = linear_to_srgb(a) if pixels.linear else a
    elif not hasattr(pixels, "__array__") and not isinstance(pixels, (list, tuple)):
        raise TypeError(f"pixels must be an array or an unblur.io.Image, got {type(pixels).__name__}")
    if hasattr(pixels, "get") and not isinstance(pixels, np.ndarray):  # CuPy: file analysis runs on the host
        pixels = pixels.get()
    shape = np.shape(pixels)
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] == 3)):
        raise ValueError(f"pixels must be grey (H, W) or RGB (H, W, 3), got shape {shape}")
    # a window of at most _DETECT_SIDE^2 at the centre, starting on a multiple of 8 (the
    # grid's offset is the whole image's): the evidence is a sample of blocks anyway
    window = tuple(slice(max(0, (n - _DETECT_SIDE) // 16 * 8), max(0, (n - _DETECT_SIDE) // 16 * 8) + _DETECT_SIDE)
                   for n in shape[:2])
    code = _code_values(np.asarray(pixels)[window])
    if code is None or min(shape[:2]) < 16:
        return None
    if code.ndim == 2:
        found = _detect_table(code, _IJG_LUMA, _ROUNDING_GREY, code)
        if found is None:
            return None
        sampling = None
    else:
        y, cb, _ = _ycbcr(code)
        found = _detect_table(y, _IJG_LUMA, _ROUNDING_LUMA, code)
        if found is None:
            return None
        oy, ox = found[1]
        blocks = _block_dct(cb[oy:, ox:])
        blocks = blocks[np.abs(blocks[:, 1:]).max(axis=1) > 1e-6]
        c = blocks[_block_sample(blocks.shape[0], _DETECT_BLOCKS)].T
        coherence, z = _lattice(c, _ijg_table(_IJG_CHROMA, found[0])[None], _ROUNDING_CHROMA)
        sampling = 0 if coherence[0] >= _LATTICE_COHERENCE and z[0] >= _LATTICE_Z else 2
    quality, offset, coherence, z = found
    return {"quality": quality, "offset": offset,
            "tables": {0: [int(v) for v in _ijg_table(_IJG_LUMA, quality)],
                       1: [int(v) for v in _ijg_table(_IJG_CHROMA, quality)]},
            "sampling": sampling, "coherence": coherence, "z": z}


def _ycbcr(code):
    """JFIF's Y, Cb, Cr (without Cb and Cr's offset of 128) of RGB code values."""
    r, g, b = code[..., 0], code[..., 1], code[..., 2]
    return (0.299 * r + 0.587 * g + 0.114 * b, -0.168736 * r - 0.331264 * g + 0.5 * b,
            0.5 * r - 0.418688 * g - 0.081312 * b)


def _tables_noise(code, tables, sampling):
    """jpeg_noise of code values (0..255) on the grid they were coded on."""
    from ._deconv_common import estimate_noise

    if code.ndim == 2:
        e = _plane_error(code, tables[0], estimate_noise(code))
        return None if e is None else np.array([e / 255.0])
    y, cb, cr = _ycbcr(code)

    def coded(p):  # the chroma plane at the resolution it was coded at
        if sampling == 2:
            h, w = p.shape[0] // 2 * 2, p.shape[1] // 2 * 2
            p = p[:h, :w]
            return (p[0::2, 0::2] + p[0::2, 1::2] + p[1::2, 0::2] + p[1::2, 1::2]) / 4
        if sampling == 1:
            w = p.shape[1] // 2 * 2
            return (p[:, 0:w:2] + p[:, 1:w:2]) / 2
        return p

    chroma = tables.get(1, tables[0])
    ey = _plane_error(y, tables[0], estimate_noise(y))
    ecb = _plane_error(coded(cb), chroma, 0.0)
    ecr = _plane_error(coded(cr), chroma, 0.0)
    if ey is None or ecb is None or ecr is None:
        return None
    var = [ey**2 + 1.402**2 * ecr**2, ey**2 + 0.344136**2 * ecb**2 + 0.714136**2 * ecr**2, ey**2 + 1.772**2 * ecb**2]
    return np.sqrt(np.array(var)) / 255.0


def jpeg_noise(img):
    """The noise a JPEG's pixels carry, compression error included, per channel.

    JPEG quantises each 8 x 8 block's DCT coefficients and so removes the finest
    details, where :func:`unblur.estimate_noise` measures the noise: on JPEG files it
    read 0.1-0.6 of the error, and every automatic method then regularised far too
    weakly. This estimate works from the file's quantisation tables instead (see
    ``_plane_error``): the luma plane with the luma table, the chroma planes (at their
    subsampling) with the chroma table, combined into R, G and B by the JFIF matrix.

    Parameters
    ----------
    img : Image or array
        As :func:`read` returns it (``img.jpeg`` set: a JPEG file, grey or colour), or
        pixels without their file (grey or RGB 8-bit samples, as :func:`detect_jpeg`
        takes them), whose tables :func:`detect_jpeg` finds; an Image of another
        format (a PNG saved from a JPEG) is looked at that way too.

    Returns
    -------
    ndarray or None
        The standard deviation per channel in the file's code values scaled to [0, 1]
        (one value for grey), or None where the image is not a JPEG of grey or RGB
        pixels (or, without a file, none is detected). Measured on synthetic
        photographs (defocused, noise 0.01-0.03 before compression, quality 75-95):
        0.98-1.2 of the true error in grey and 0.98-1.6 in colour (1.3-1.7 at noise
        0.002), where estimate_noise read 0.0-1.0.
    """
    if isinstance(img, Image):
        if img.volume:
            return None
        info = img.jpeg
        a = np.asarray(img.data)
        if info:  # the file's own tables
            if info["mode"] not in ("L", "RGB"):
                return None
            code = linear_to_srgb(a) if img.linear else np.clip(a, 0.0, 1.0)  # a new float array
            code *= 255.0
            code = _UNORIENT.get(info["orientation"], lambda v: v)(code)
            if info["mode"] == "L" and code.ndim == 3:
                code = code.mean(axis=-1)
            return _tables_noise(code, info["tables"], info["sampling"])
        img = linear_to_srgb(a) if img.linear else a  # another format: its code values, as pixels
    elif not hasattr(img, "__array__") and not isinstance(img, (list, tuple)):
        raise TypeError(f"img must be an unblur.io.Image (as unblur.io.read returns) or an array of 8-bit "
                        f"samples, got {type(img).__name__}")
    if hasattr(img, "get") and not isinstance(img, np.ndarray):  # CuPy: file analysis runs on the host
        img = img.get()
    found = detect_jpeg(img)
    if found is None:
        return None
    oy, ox = found["offset"]
    return _tables_noise(_code_values(img)[oy:, ox:], found["tables"], found["sampling"])


def _png_bit_depth(path):
    with open(path, "rb") as f:
        head = f.read(26)
    return head[24] if len(head) >= 26 and head[:8] == b"\x89PNG\r\n\x1a\n" else 8


def read(path, *, linear=True):
    """Reads an image file.

    Parameters
    ----------
    path : str or os.PathLike
        PNG, JPEG, TIFF (8/16-bit, float, multi-page), anything else Pillow reads, or a
        ``.npy`` array (2-D grey, (H, W, 3|4) colour, 3-D stack).
    linear : bool
        Decode sRGB-encoded files to linear light (default; see the module's notes).

    Returns
    -------
    Image

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError, ValueError
        Missing, not a file, unreadable, or not an image unblur can read (corrupt,
        truncated, unsupported, more than MAX_PIXELS pixels); the message names the file.
    MemoryError
        Before decoding, when reading would need more than :func:`unblur.set_memory_limit`
        or the memory available (8-bit RGB needs about 26 bytes a pixel at the peak, 8-bit
        grey 8).

    Examples
    --------
    >>> import numpy as np, tempfile, os, unblur.io
    >>> path = os.path.join(tempfile.mkdtemp(), "grey.tif")
    >>> unblur.io.write(path, np.full((4, 5), 0.5, np.float32))
    >>> img = unblur.io.read(path)
    >>> img.data.shape, img.bits, img.float_data
    ((4, 5), 32, True)
    """
    path = os.fspath(path)
    _check_readable(path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        try:
            a = np.load(path, allow_pickle=False, mmap_mode="r")
        except Exception as exc:
            raise ValueError(f"{path}: not a readable .npy file ({exc})") from None
        _check_size(path, math.prod(a.shape),
                    nbytes=math.prod(a.shape) * _read_bytes(1, a.dtype.itemsize, _computed_bytes(a.dtype)))
        a = np.asarray(a)
        if a.ndim not in (2, 3, 4):
            raise ValueError(f"{path}: an image array must be 2-D to 4-D, got shape {a.shape}")
        colour = a.ndim == 4 or (a.ndim == 3 and a.shape[-1] in (3, 4))
        has_alpha = colour and a.shape[-1] == 4
        data, alpha, bits, is_float = _samples(a, has_alpha, path)
        img = Image(data=data, alpha=alpha, path=path, format="NPY", bits=bits, float_data=is_float,
                    srgb=False)
        img._volume = a.ndim == 4 or (a.ndim == 3 and not colour)
    elif ext in _TIFF:
        img = _read_tiff(path)
    else:
        img = _read_pillow(path)
    if linear and img.srgb:
        # In place: the samples are this read's own float array (integer files only).
        img.data = _blockwise(img.data, _srgb_decode, in_place=True)
        img.linear = True
    return img


def _encode(values, bits, is_float):
    """Float samples to the file's sample type."""
    if is_float:
        return values.astype(np.float64 if bits == 64 else np.float32)
    v = np.clip(values, 0.0, 1.0)
    if bits == 16:
        return np.round(v * 65535).astype(np.uint16)
    if bits == 8:
        return np.round(v * 255).astype(np.uint8)
    raise ValueError(f"bits must be 8, 16 or 32 (float), got {bits}")


def write(path, image, *, like=None, bits=None, overwrite=False):
    """Writes an image file; the format follows the extension (.png, .jpg, .tif, .npy).

    Parameters
    ----------
    path : str or os.PathLike
    image : Image or ndarray
        An :class:`Image` (its data, alpha and metadata are written), or an array
        (grey (H, W), colour (H, W, 3), stack (Z, H, W) for TIFF/.npy) of values in
        [0, 1] (floats outside are clipped for integer formats).
    like : Image, optional
        Take the encoding from this image (bits, sRGB, ICC, EXIF, alpha) when `image`
        is an array: the restored pixels of an input written like the input.
    bits : {8, 16, 32}, optional
        Bits per sample (32: float, TIFF and .npy only). Default: the source's (16 and
        float stay so where the format allows); for an array without `like`, float32
        in TIFF and .npy when the array is float, else 8.
    overwrite : bool
        Replace an existing file (default: FileExistsError).

    Raises
    ------
    FileExistsError, FileNotFoundError (no such folder), PermissionError, ValueError
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in _PILLOW_WRITE and ext not in _TIFF and ext != ".npy":
        raise ValueError(f"{path}: unblur writes .png, .jpg, .tif and .npy files, not {ext or 'no extension'!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{path}: the folder {folder} is not writable")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    if isinstance(image, Image):
        meta, data = image, image.data
    else:
        meta, data = like, np.asarray(image)
    if data.dtype.kind not in "biuf":
        raise ValueError(f"{path}: image must be real numbers, got dtype {data.dtype}")
    alpha = meta.alpha if meta is not None else None
    if alpha is not None and alpha.shape != data.shape[:alpha.ndim]:
        alpha = None  # the data no longer matches the source's frame
    linear = meta.linear if meta is not None else False
    src_bits = meta.bits if meta is not None else 8
    src_float = meta.float_data if meta is not None else False
    if bits is None:
        if ext in _TIFF or ext == ".npy":
            # The source's encoding; an array without one: float samples for float data.
            wants_float = src_float if meta is not None else data.dtype.kind == "f"
            bits = (64 if src_bits == 64 else 32) if wants_float else (16 if src_bits == 16 else 8)
            is_float = wants_float
        else:
            bits, is_float = (16 if src_bits == 16 and ext == ".png" else 8), False
    else:
        if bits not in (8, 16, 32):
            raise ValueError(f"bits must be 8, 16 or 32, got {bits}")
        is_float = bits == 32
    if is_float and ext in _PILLOW_WRITE:
        raise ValueError(f"{path}: float samples need .tif or .npy")
    values = data.astype(np.float64 if data.dtype == np.float64 else np.float32, copy=False)
    if linear and not is_float:
        values = linear_to_srgb(values)
    samples = _encode(values, bits, is_float)
    volume = meta.volume if meta is not None else (ext in _TIFF + (".npy",) and data.ndim == 3 and
                                                    data.shape[-1] not in (3, 4))
    colour = data.ndim == (4 if volume else 3)
    if alpha is not None:
        a = _encode(np.asarray(alpha, dtype=np.float32), bits, is_float)
        samples = np.concatenate([samples if colour else samples[..., None], a[..., None]], axis=-1)
    if ext == ".npy":
        np.save(path, samples)
        return
    icc = meta.icc_profile if meta is not None else None
    if ext in _TIFF:
        import tifffile

        extratags = [(34675, "B", len(icc), icc, True)] if icc else []
        photometric = "rgb" if (colour and samples.shape[-1] >= 3) else "minisblack"
        extrasamples = ("unassalpha",) if alpha is not None else None
        kwargs = {}
        res = meta.resolution if meta is not None else None
        if res is not None:
            kwargs["resolution"] = res[0]
            if res[1] in ("INCH", "CENTIMETER", "NONE", "MILLIMETER", "MICROMETER"):
                kwargs["resolutionunit"] = res[1]
        if meta is not None and meta.description:
            kwargs["description"] = meta.description
        tifffile.imwrite(path, samples, photometric=photometric, extrasamples=extrasamples,
                         extratags=extratags, metadata=None, **kwargs)
        return
    if volume:
        raise ValueError(f"{path}: a stack of {data.shape[0]} pages needs .tif or .npy")
    from PIL import Image as PILImage

    fmt = _PILLOW_WRITE[ext]
    if bits == 16:
        if fmt != "PNG" or samples.ndim != 2:
            raise ValueError(f"{path}: 16-bit output is grey PNG or TIFF only (use .tif for 16-bit colour)")
        im = PILImage.fromarray(samples.astype(np.uint16))
    else:
        if fmt == "JPEG" and alpha is not None:
            samples = samples[..., :-1] if samples.shape[-1] in (2, 4) else samples
            if samples.ndim == 3 and samples.shape[-1] == 1:
                samples = samples[..., 0]
            warnings.warn(f"{path}: JPEG has no alpha channel; it is dropped (use .png to keep it)",
                          UserWarning, stacklevel=2)
        im = PILImage.fromarray(samples)
    kwargs = {}
    if icc:
        kwargs["icc_profile"] = icc
    exif = meta.exif if meta is not None else None
    if exif:
        kwargs["exif"] = exif
    if fmt == "JPEG":
        kwargs["quality"] = 95
    im.save(path, format=fmt, **kwargs)
