"""Seed files and mutators for tests/test_fuzz.py (the file readers and the CLI under
malformed, truncated and adversarial bytes).

The seeds are small valid files that unblur itself wrote (``unblur.io.write``: PNG 8 and
16-bit, RGB(A), JPEG, TIFF 8/16-bit, float32, float64, colour, alpha, multi-page, .npy),
plus a few written by Pillow / tifffile directly (palette PNG, EXIF-rotated JPEG,
compressed and tiled TIFF). The mutators are generic (bit flips, truncation, chunk
duplication / deletion / insertion, magic integers) and format-aware: the dimension
fields of PNG's IHDR (with the CRC fixed, so the decoder believes them), JPEG's SOF,
TIFF's IFD entries (width, length, bits, samples, strips, compression...) and the .npy
header's shape and dtype.

A mutation is a list of ``(op, a, b, c)`` tuples of small integers, applied in order:
``apply(data, ops)``. Hypothesis draws such lists (so failures shrink to a short list
of edits), and ``random_ops(rng)`` draws them for the seeded mutation loop.
"""

from __future__ import annotations

import os
import re
import struct
import time
import warnings
import zlib

import numpy as np

# The integers that break parsers: zero, one, sign bits, all ones, sizes near the
# decompression-bomb limit (2^28 pixels) and the 16/32-bit limits.
MAGIC = (0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 16385, 16384, 46341, 65535,
         1 << 20, (1 << 28) + 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)

N_OPS = 11


def make_seeds(folder):
    """Writes the seed files into `folder`; returns {name: bytes}."""
    import tifffile
    import unblur.io as uio
    from PIL import Image as PILImage

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(20261201)
    grey = rng.random((13, 17)).astype(np.float32)
    rgb = rng.random((11, 14, 3)).astype(np.float32)
    alpha = rng.random((11, 14)).astype(np.float32)
    seeds = {}

    def keep(name):
        with open(os.path.join(folder, name), "rb") as f:
            seeds[name] = f.read()

    def w(name, data, **kw):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            os.remove(path)
        uio.write(path, data, **kw)
        keep(name)

    rgba = uio.Image(data=uio.srgb_to_linear(rgb), alpha=alpha, format="PNG", bits=8, srgb=True, linear=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JPEG drops the alpha channel, with a warning
        w("grey8.png", grey)
        w("grey16.png", grey, bits=16)
        w("rgb8.png", rgb)
        w("rgba8.png", rgba)
        w("grey.jpg", grey)
        w("rgb.jpg", rgb)
        w("grey8.tif", grey, bits=8)
        w("grey16.tif", grey, bits=16)
        w("float32.tif", grey)
        w("rgb16.tif", rgb, bits=16)
        w("rgba8.tif", rgba)
        w("stack16.tif", np.stack([grey, grey[::-1], grey[:, ::-1]]), bits=16)
        w("stackf.tif", np.stack([grey, grey[::-1]]))
        w("grey.npy", grey)
        w("rgb.npy", rgb)
        w("stack.npy", np.stack([grey, grey]))
    f64 = os.path.join(folder, "float64.tif")
    tifffile.imwrite(f64, grey.astype(np.float64))
    keep("float64.tif")
    tifffile.imwrite(os.path.join(folder, "deflate.tif"), (grey * 65535).astype(np.uint16), compression="zlib")
    keep("deflate.tif")
    tifffile.imwrite(os.path.join(folder, "tiled.tif"), (rng.random((32, 32)) * 255).astype(np.uint8),
                     tile=(16, 16))
    keep("tiled.tif")
    tifffile.imwrite(os.path.join(folder, "bigendian.tif"), grey.astype(">f4"), byteorder=">")
    keep("bigendian.tif")
    np.save(os.path.join(folder, "u16.npy"), (grey * 65535).astype(np.uint16))
    keep("u16.npy")
    PILImage.fromarray((grey * 255).astype(np.uint8)).convert("P").save(os.path.join(folder, "palette.png"))
    keep("palette.png")
    exif = PILImage.Exif()
    exif[0x0112] = 6
    PILImage.fromarray((rgb * 255).astype(np.uint8)).save(os.path.join(folder, "exif.jpg"), exif=exif, quality=90)
    keep("exif.jpg")
    PILImage.fromarray((rgb * 255).astype(np.uint8)).save(os.path.join(folder, "progressive.jpg"),
                                                          progressive=True)
    keep("progressive.jpg")
    return seeds


# ---- format-aware edits -------------------------------------------------------------------
def _png_set_ihdr(b, field, value):
    """Sets IHDR's width (0), height (1), bit depth (2) or colour type (3), CRC fixed."""
    if len(b) < 33 or b[12:16] != b"IHDR":
        return
    if field < 2:
        b[16 + 4 * field:20 + 4 * field] = struct.pack(">I", value & 0xFFFFFFFF)
    else:
        b[24 + (field - 2)] = value & 0xFF
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])) & 0xFFFFFFFF)


def _jpeg_set_sof(b, field, value):
    """Sets the first SOF segment's height (0), width (1), precision (2) or component count (3)."""
    for m in re.finditer(rb"\xff[\xc0-\xc3\xc5-\xc7\xc9-\xcb\xcd-\xcf]", bytes(b)):
        i = m.start() + 4  # marker, length
        if i + 6 > len(b):
            return
        if field == 0:
            b[i + 1:i + 3] = struct.pack(">H", value & 0xFFFF)
        elif field == 1:
            b[i + 3:i + 5] = struct.pack(">H", value & 0xFFFF)
        elif field == 2:
            b[i] = value & 0xFF
        else:
            b[i + 5] = value & 0xFF
        return


_TIFF_TAGS = (256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 322, 323, 324, 325, 338, 339)


def _tiff_set_tag(b, which, value):
    """Sets the value of IFD entry `which` (an index into _TIFF_TAGS, or the n-th entry)
    of the first IFD to `value`, as a LONG; classic TIFF of either byte order."""
    if len(b) < 8 or b[:2] not in (b"II", b"MM"):
        return
    e = "<" if b[:2] == b"II" else ">"
    try:
        if struct.unpack(e + "H", b[2:4])[0] != 42:
            return
        ifd = struct.unpack(e + "I", b[4:8])[0]
        n = struct.unpack(e + "H", b[ifd:ifd + 2])[0]
    except struct.error:
        return
    entries = [ifd + 2 + 12 * k for k in range(n) if ifd + 14 + 12 * k <= len(b)]
    if not entries:
        return
    tag = _TIFF_TAGS[which % len(_TIFF_TAGS)]
    pos = next((p for p in entries if struct.unpack(e + "H", b[p:p + 2])[0] == tag), None)
    if pos is None:
        pos = entries[which % len(entries)]
    mode = value % 3
    if mode == 0:  # one LONG
        b[pos + 2:pos + 12] = struct.pack(e + "HII", 4, 1, MAGIC[value % len(MAGIC)])
    elif mode == 1:  # the count field (an array that runs off the file)
        b[pos + 4:pos + 8] = struct.pack(e + "I", MAGIC[value % len(MAGIC)])
    else:  # the type field
        b[pos + 2:pos + 4] = struct.pack(e + "H", value % 20)


_NPY_SHAPES = ("()", "(0,)", "(0, 5)", "(5, 0)", "(1, 1)", "(2147483648, 2147483648)", "(16385, 16385)",
               "(-1, 5)", "(3, 4, 5, 6, 7)", "(100000, 100000, 3)", "(9223372036854775807,)", "(13, 17, 2)",
               "(1, 13, 17, 4)", "(17, 13)", "(1, 221)", "(221, 1)")
_NPY_DESCRS = ("'|O'", "'<c16'", "'>f8'", "'<f2'", "'|b1'", "'<U4'", "'|V8'", "'<m8[s]'", "'<M8[D]'", "'>i4'",
               "'<u8'", "'<i8'", "'|S3'", "[('a', '<f4')]", "'<f16'", "'xyz'", "'<f4'", "'>u2'")


def _npy_set_header(b, field, value):
    """Replaces the .npy header's shape (0), descr (1) or fortran_order (2)."""
    if not bytes(b[:6]) == b"\x93NUMPY" or len(b) < 10:
        return
    text = bytes(b[:256]).decode("latin-1")
    if field == 0:
        new = re.sub(r"'shape': \([^)]*\)", "'shape': " + _NPY_SHAPES[value % len(_NPY_SHAPES)], text, count=1)
    elif field == 1:
        new = re.sub(r"'descr': [^,]*,", "'descr': " + _NPY_DESCRS[value % len(_NPY_DESCRS)] + ",", text, count=1)
    else:
        new = text.replace("'fortran_order': False", "'fortran_order': True", 1)
    if new != text:
        # Keep the header length field consistent with the new text (up to the newline).
        end = new.find("\n")
        if end > 10 and b[6] == 1:
            new = new[:8] + struct.pack("<H", end + 1 - 10).decode("latin-1") + new[10:]
        b[:256] = new.encode("latin-1")


def apply(data, ops):
    """`data` with the edits `ops` applied in order (each op: (kind, a, b, c) ints)."""
    b = bytearray(data)
    for kind, a, x, c in ops:
        kind %= N_OPS
        n = len(b)
        if kind == 0 and n:  # flip bit c of byte a
            b[a % n] ^= 1 << (c % 8)
        elif kind == 1 and n:  # truncate
            del b[a % (n + 1):]
        elif kind == 2 and n:  # duplicate a chunk at another place
            i = a % n
            chunk = bytes(b[i:i + 1 + x % 256])
            k = c % (n + 1)
            b[k:k] = chunk * (1 + x // 256 % 4)
        elif kind == 3 and n:  # delete a chunk
            i = a % n
            del b[i:i + 1 + x % 256]
        elif kind == 4:  # insert bytes
            k = a % (n + 1)
            b[k:k] = bytes([(x + 37 * j) & 0xFF for j in range(1 + c % 32)])
        elif kind == 5 and n >= 4:  # a magic 32-bit integer, either byte order
            i = a % (n - 3)
            b[i:i + 4] = struct.pack("<I" if c % 2 else ">I", MAGIC[x % len(MAGIC)])
        elif kind == 6 and n >= 2:  # a magic 16-bit integer
            i = a % (n - 1)
            b[i:i + 2] = struct.pack("<H" if c % 2 else ">H", MAGIC[x % len(MAGIC)] & 0xFFFF)
        elif kind == 7:
            _png_set_ihdr(b, a % 4, MAGIC[x % len(MAGIC)] if a % 4 < 2 else x)
        elif kind == 8:
            _jpeg_set_sof(b, a % 4, MAGIC[x % len(MAGIC)] if a % 4 < 2 else x)
        elif kind == 9:
            _tiff_set_tag(b, a, x)
        elif kind == 10:
            _npy_set_header(b, a % 3, x)
    return bytes(b)


def random_ops(rng, max_ops=4):
    """A random list of edits (rng: random.Random)."""
    ops = []
    for _ in range(rng.randint(1, max_ops)):
        kind = rng.randrange(N_OPS)
        ops.append((kind, rng.randrange(1 << 20), rng.randrange(1 << 12), rng.randrange(1 << 8)))
    return ops


MAGIC_HEADERS = (b"", b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\xff\xd8\xff\xe0",
                 b"\xff\xd8\xff\xdb", b"II*\x00\x08\x00\x00\x00", b"MM\x00*\x00\x00\x00\x08", b"II+\x00\x08\x00\x00\x00",
                 b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"\x93NUMPY\x03\x00", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
                 b"P5\n", b"8BPS", b"\x00\x00\x01\x00", b"qoif")

EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy", ".bmp", ".gif", ".webp", ".pgm", "")


# ---- the property checked on every input --------------------------------------------------
ALLOWED = (FileNotFoundError, IsADirectoryError, PermissionError, ValueError)


class InputTimeout(BaseException):
    """An input took longer than the per-input time limit (a BaseException, so that no
    `except Exception` of the code under test can take it for the file's fault)."""


class time_limit:
    """Raises InputTimeout in the main thread after `seconds` (SIGALRM: it interrupts
    Python code, and C code when it returns to Python). A hang inside C that never
    returns is caught by faulthandler's watchdog, armed at 4 x `seconds`: it prints
    every thread's stack and ends the process, so CI fails instead of hanging."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        import faulthandler
        import signal

        self._old = signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        faulthandler.dump_traceback_later(4 * self.seconds, exit=True)
        self.t0 = time.perf_counter()
        return self

    def _fire(self, signum, frame):
        raise InputTimeout(f"more than {self.seconds} s on one input")

    def __exit__(self, *exc):
        import faulthandler
        import signal

        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._old)
        faulthandler.cancel_dump_traceback_later()
        self.seconds_taken = time.perf_counter() - self.t0
        return False


def _status_mib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


class peak_memory:
    """The peak resident memory above the start, in MiB, of the block (Linux: the
    high-water mark VmHWM is reset through /proc/self/clear_refs; None elsewhere)."""

    def __enter__(self):
        self.start = _status_mib("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.available = self.start is not None
        except OSError:
            self.available = False
        self.mib = None
        return self

    def __exit__(self, *exc):
        if self.available:
            peak = _status_mib("VmHWM")
            self.mib = None if peak is None else max(0.0, peak - self.start)
        return False


def check_image(img, path):
    """The invariants of an Image that unblur.io.read returned."""
    import unblur.io as uio

    assert isinstance(img, uio.Image), type(img)
    a = img.data
    assert isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float64), a.dtype
    assert a.size > 0 and 2 <= a.ndim <= 4, a.shape
    assert np.isfinite(a).all()
    assert img.path == path
    if not img.float_data:
        assert a.min() >= 0 and a.max() <= 1, (a.min(), a.max())
    if img.alpha is not None:
        assert img.alpha.shape == a.shape[:img.alpha.ndim], (img.alpha.shape, a.shape)
        assert np.isfinite(img.alpha).all()
    assert a.ndim == (4 if img.volume else 3) or a.ndim == (3 if img.volume else 2), (a.shape, img.volume)
    repr(img)


def check_psf(psf):
    """The invariants of a PSF that unblur.psf.from_image returned."""
    assert isinstance(psf, np.ndarray) and psf.dtype == np.float64
    assert psf.ndim in (2, 3) and all(n % 2 == 1 for n in psf.shape), psf.shape
    assert np.isfinite(psf).all() and psf.min() >= 0
    assert abs(float(psf.sum()) - 1.0) < 1e-9


#: Per-input limits of read_one: seconds (then InputTimeout), and MiB of peak memory
#: above the start (with unblur.io.MAX_PIXELS lowered to 2**22 by the tests: a refused
#: bomb costs nothing, an accepted 4-megapixel image ~60 bytes a pixel at worst).
SECONDS = 30.0
MEMORY_MIB = 1024.0


def read_one(path, seconds=SECONDS, memory_mib=MEMORY_MIB):
    """Runs unblur.io.read and unblur.psf.from_image on `path`; asserts the fuzzing
    property: a valid result, or an allowed exception whose message names the file,
    within the time and memory limits. Returns (read's outcome, from_image's outcome):
    'ok' or the exception's name."""
    import unblur.io as uio
    import unblur.psf as upsf

    outcomes = []
    for reader, check in ((uio.read, check_image), (upsf.from_image, check_psf)):
        name = f"{reader.__module__}.{reader.__name__}"
        with warnings.catch_warnings():
            # Warnings (Pillow's "possibly corrupt EXIF", unblur's 16-bit PNG note) are
            # not errors; a decompression bomb must be refused by unblur, not warned about.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", _bomb_warning())
            try:
                with peak_memory() as memory, time_limit(seconds):
                    result = reader(path)
            except ALLOWED as exc:
                assert path in str(exc), f"{name}: the message does not name the file: {exc!r}"
                outcomes.append(type(exc).__name__)
                continue
            except MemoryError as exc:
                # Only unblur's own refusal before decoding (io._check_size), which names
                # the file and the memory it would need; any other MemoryError fails.
                assert path in str(exc) and "of working memory" in str(exc), f"{name}: {exc!r}"
                outcomes.append(type(exc).__name__)
                continue
            finally:
                if memory.mib is not None:
                    assert memory.mib <= memory_mib, f"{name}: {memory.mib:.0f} MiB for one {os.path.getsize(path)}-byte file"
        if reader is uio.read:
            check(result, path)
        else:
            check(result)
        outcomes.append("ok")
    return tuple(outcomes)


def _bomb_warning():
    from PIL import Image as PILImage

    return PILImage.DecompressionBombWarning


def write_input(folder, data, ext, name="input"):
    path = os.path.join(folder, name + ext)
    with open(path, "wb") as f:
        f.write(data)
    return path


def peak_rss_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


__all__ = ["make_seeds", "apply", "random_ops", "read_one", "write_input", "check_image", "check_psf", "ALLOWED",
           "MAGIC_HEADERS", "EXTENSIONS", "InputTimeout", "time_limit", "peak_memory", "peak_rss_mib", "N_OPS",
           "SECONDS", "MEMORY_MIB"]
