"""Fuzzing the file readers (unblur.io.read, unblur.psf.from_image) and the CLI.

The property, for every input: either a valid result comes back (an Image with finite
float data of a documented shape; a PSF with odd sizes summing to 1), or
FileNotFoundError / IsADirectoryError / PermissionError / ValueError with a message that
names the file: never another exception, never a hang (a per-input time limit, and
faulthandler's watchdog for hangs inside C), never a memory blow-up (images of more
than unblur.io.MAX_PIXELS pixels are refused before they are decoded). For the CLI:
exit status 0, 1 or 2 and no traceback on stderr.

Inputs: the valid files of tests/fuzz_corpus.py (written by unblur itself) mutated by
generic and format-aware edits, random bytes behind real magic numbers, and hand-made
reproducers of every bug the fuzzing found (the "regressions" section).

The default run is a fast subset. ``HYPOTHESIS_PROFILE=thorough`` (see
tests/conftest.py) runs the thorough one: more hypothesis examples and a seeded
mutation loop of UNBLUR_FUZZ_INPUTS inputs (default 100,000 in that profile); the counts
and times go to the file named by UNBLUR_FUZZ_REPORT, if set.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib

import numpy as np
import pytest
import unblur
import unblur.io as uio

sys.path.insert(0, os.path.dirname(__file__))
import fuzz_corpus as fc  # noqa: E402

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE", "") == "thorough"


def _tiff(entries, tail=b""):
    """A little-endian classic TIFF: one IFD of (tag, type, count, value) entries at
    offset 8, followed by `tail` (at offset 8 + 2 + 12 n + 4)."""
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in sorted(entries))
    return b"II*\x00\x08\x00\x00\x00" + ifd + b"\x00\x00\x00\x00" + tail


def _tiff_data_offset(n_entries):
    return 8 + 2 + 12 * n_entries + 4


def _png_header(width, height, depth=8, colour=0):
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# ---- regressions: the bugs this fuzzing found, one reproducer each ------------------------
def test_tiff_resolution_with_a_zero_denominator_is_dropped_not_a_crash(tmp_path):
    # XResolution = YResolution = 72/0: io.read raised ZeroDivisionError.
    n = 7
    data = _tiff_data_offset(n)
    entries = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (273, 4, 1, data), (279, 4, 1, 1),
               (282, 5, 1, data + 1), (283, 5, 1, data + 1)]
    path = _write(tmp_path, "res0.tif", _tiff(entries, b"\x80" + struct.pack("<II", 72, 0)))
    img = uio.read(path)
    assert img.data.shape == (1, 1) and img.resolution is None
    assert fc.read_one(path) == ("ok", "ok")
    uio.write(tmp_path / "back.tif", img)  # and it writes back without a resolution


def _one_pixel_tiff(**override):
    """A 1x1 8-bit grey TIFF (pixel 0x80); `override` maps a tag to (type, count, value)."""
    n = 5
    off = _tiff_data_offset(n)
    entries = {256: (3, 1, 1), 257: (3, 1, 1), 258: (3, 1, 8), 273: (4, 1, off), 279: (4, 1, 1)}
    tail = b"\x80"
    for tag, (typ, count, value) in override.items():
        if typ == 5:  # RATIONAL: the value is an offset to (1, 1) after the pixel
            value, tail = off + 1, b"\x80" + struct.pack("<II", 1, 1)
        entries[int(tag.lstrip("t"))] = (typ, count, value)
    return _tiff([(t,) + v for t, v in entries.items()], tail)


@pytest.mark.parametrize("name, data, decoder_error", [
    # tifffile: a header cut after the IFD offset's first byte (struct.error)
    pytest.param("cut.tif", b"II*\x00\x08", "error", id="tifffile-struct.error"),
    # tifffile + zlib: a deflate-compressed strip that is not zlib data (zlib.error)
    pytest.param("deflate.tif", _tiff([(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (259, 3, 1, 8),
                                       (273, 4, 1, _tiff_data_offset(6)), (279, 4, 1, 4)], b"\x00\x01\x02\x03"),
                 "error", id="tifffile-zlib.error"),
    # Pillow (a TIFF under another name goes to Pillow): StripOffsets as a RATIONAL (TypeError)
    pytest.param("rational.png", _one_pixel_tiff(t273=(5, 1, 0)), "TypeError", id="pillow-TypeError"),
])
def test_decoder_exceptions_become_one_value_error_naming_the_file(tmp_path, name, data, decoder_error):
    # io.read let struct.error, zlib.error and TypeError from tifffile / Pillow escape
    # (and with them tracebacks from the CLI); they are the file's fault.
    path = _write(tmp_path, name, data)
    with pytest.raises(ValueError, match=decoder_error) as exc:
        uio.read(path)
    assert str(exc.value).startswith(path)


@pytest.mark.parametrize("name, make", [
    pytest.param("zero-width.tif", lambda p: p.write_bytes(_one_pixel_tiff(t256=(3, 1, 0))), id="tiff-width-0"),
    pytest.param("zero-rows.npy", lambda p: np.save(p, np.zeros((0, 4), np.float32)), id="npy-0x4"),
    pytest.param("zero-pages.npy", lambda p: np.save(p, np.zeros((0, 5, 6), np.uint8)), id="npy-0x5x6"),
])
def test_an_empty_image_is_refused(tmp_path, name, make):
    # io.read returned an Image of shape (1, 0) / (0, 4): every later step then failed
    # with a message about the array instead of the file.
    path = tmp_path / name
    make(path)
    with pytest.raises(ValueError, match="empty") as exc:
        uio.read(path)
    assert str(exc.value).startswith(str(path))


def test_a_timedelta_npy_is_an_unsupported_sample_type_naming_the_file(tmp_path):
    # np.issubdtype(timedelta64, np.integer) is True: io.read went on to np.iinfo and
    # raised "ValueError: Invalid integer data type 'm'." without the file's name.
    path = tmp_path / "durations.npy"
    np.save(path, np.zeros((3, 4), "m8[s]"))
    with pytest.raises(ValueError, match="unsupported sample type") as exc:
        uio.read(path)
    assert str(exc.value).startswith(str(path))


@pytest.mark.parametrize("dtype", [">f8", "<f8", ">f4", ">f2"])
def test_a_float_npy_of_either_byte_order_keeps_its_precision(tmp_path, dtype):
    # '>f8' != np.float64, so a big-endian float64 .npy was read as float32 (bits 64
    # reported, 29 bits of mantissa silently lost).
    a = (np.arange(12.0).reshape(3, 4) / 7 + 1e-12).astype(dtype)
    np.save(tmp_path / "x.npy", a)
    img = uio.read(tmp_path / "x.npy")
    wide = np.dtype(dtype).itemsize == 8
    assert img.data.dtype == (np.float64 if wide else np.float32) and img.data.dtype.isnative
    assert img.bits == np.dtype(dtype).itemsize * 8 and img.float_data
    np.testing.assert_array_equal(img.data, a.astype(img.data.dtype))


def _bomb_png(width, height):
    """A grey 8-bit PNG header claiming width x height (the CRC right), then one empty
    IDAT: a few dozen bytes that ask for width * height bytes."""
    return _png_header(width, height) + _png_chunk(b"IDAT", zlib.compress(b"")) + _png_chunk(b"IEND", b"")


@pytest.mark.parametrize("name, data", [
    pytest.param("bomb.png", _bomb_png(20000, 20000), id="png-20000x20000"),
    pytest.param("bomb.tif", _one_pixel_tiff(t256=(4, 1, 100000), t257=(4, 1, 100000)), id="tiff-100000x100000"),
    pytest.param("wide.tif", _one_pixel_tiff(t256=(4, 1, 1 << 20), t257=(4, 1, 300)), id="tiff-2^20x300"),
])
def test_from_image_refuses_decompression_bombs_by_max_pixels(tmp_path, name, data):
    # unblur.psf.from_image let Pillow's DecompressionBombError escape (over 2 x 89M
    # pixels), and below that decoded whatever the header claimed (a mutated 650-byte
    # TIFF of 17 x 4194317 pixels took 8 s and GBs); unblur.io.MAX_PIXELS applies now.
    path = _write(tmp_path, name, data)
    for reader in (uio.read, unblur.psf.from_image):
        with pytest.raises(ValueError, match="pixels|bomb") as exc:
            reader(path)
        assert path in str(exc.value)


def test_from_image_applies_max_pixels_to_all_pages_and_to_npy(tmp_path, monkeypatch):
    import tifffile

    monkeypatch.setattr(uio, "MAX_PIXELS", 1000)
    tifffile.imwrite(tmp_path / "stack.tif", np.ones((3, 20, 20), np.uint8), photometric="minisblack")  # 3 pages
    np.save(tmp_path / "big.npy", np.ones((40, 30)))
    for path in (tmp_path / "stack.tif", tmp_path / "big.npy"):
        with pytest.raises(ValueError, match="more than unblur reads"):
            unblur.psf.from_image(path)
    monkeypatch.setattr(uio, "MAX_PIXELS", 1200)
    assert unblur.psf.from_image(tmp_path / "stack.tif").shape == (3, 21, 21)


def _two_page_tiff(second_page_entries):
    """A 2-page 1x1 8-bit TIFF; the second IFD has `second_page_entries` (both pages
    share the one pixel)."""
    first = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (273, 4, 1, 0), (279, 4, 1, 1)]
    second_at = 8 + 2 + 12 * len(first) + 4
    pixel_at = second_at + 2 + 12 * len(second_page_entries) + 4

    def ifd(entries, next_ifd):
        entries = [(t, ty, c, pixel_at if t == 273 else v) for t, ty, c, v in sorted(entries)]
        return struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + \
            struct.pack("<I", next_ifd)

    return b"II*\x00\x08\x00\x00\x00" + ifd(first, second_at) + ifd(second_page_entries, 0) + b"\x80"


@pytest.mark.parametrize("name, data, decoder_error", [
    # Pillow: the second page has no ImageWidth (TypeError: Missing dimensions, from n_frames)
    pytest.param("pages.tif", _two_page_tiff([(257, 3, 1, 1), (258, 3, 1, 8), (273, 4, 1, 0), (279, 4, 1, 1)]),
                 "TypeError", id="pillow-TypeError"),
    # Pillow: the second page's Compression is unknown (KeyError: 10825)
    pytest.param("comp.tif", _two_page_tiff([(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (259, 3, 1, 10825),
                                             (273, 4, 1, 0), (279, 4, 1, 1)]), "KeyError", id="pillow-KeyError"),
])
def test_from_image_decoder_exceptions_become_one_value_error_naming_the_file(tmp_path, name, data, decoder_error):
    path = _write(tmp_path, name, data)
    with pytest.raises(ValueError, match=decoder_error) as exc:
        unblur.psf.from_image(path)
    assert path in str(exc.value)


@pytest.mark.parametrize("values", [np.full((3, 3), 1e308), np.array([[0, 0, 0], [0, 1e308, 1e308], [0, 0, 0]]),
                                    np.full((1, 2), np.finfo(np.float64).max)])
def test_from_image_normalises_a_psf_of_huge_finite_values(tmp_path, values):
    # The sum overflowed to inf, the centroid to NaN, and from_image raised "ValueError:
    # cannot convert float NaN to integer" (no file named), after a RuntimeWarning.
    np.save(tmp_path / "huge.npy", values)
    psf = unblur.psf.from_image(tmp_path / "huge.npy")
    fc.check_psf(psf)
    expected = unblur.psf.from_image(_save(tmp_path / "unit.npy", values / values.max()))
    np.testing.assert_allclose(psf, expected, rtol=1e-15, atol=0)


def _save(path, array):
    np.save(path, array)
    return path


