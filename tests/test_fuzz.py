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

import json
import os
import random
import struct
import time
import warnings
import zlib

import fuzz_corpus as fc
import numpy as np
import pytest
import unblur
import unblur.io as uio
from conftest import CASE_COUNTS, examples, thorough
from hypothesis import given
from hypothesis import strategies as st


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


def _cyclic_tiff():
    """A 1x1 8-bit TIFF whose IFD chain loops: IFD 0 (at 8) -> IFD 1 -> IFD 0."""
    first = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (273, 4, 1, 0), (279, 4, 1, 1)]
    second_at = 8 + 2 + 12 * len(first) + 4
    second = [(256, 3, 1, 1), (257, 3, 1, 1)]
    pixel_at = second_at + 2 + 12 * len(second) + 4

    def ifd(entries, next_ifd):
        entries = [(t, ty, c, pixel_at if t == 273 else v) for t, ty, c, v in entries]
        return struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + \
            struct.pack("<I", next_ifd)

    return b"II*\x00\x08\x00\x00\x00" + ifd(first, second_at) + ifd(second, 8) + b"\x80"


def test_a_tiff_whose_ifd_chain_loops_does_not_hang(tmp_path):
    # io.read never returned (tifffile's generic series iterates the pages of a looping
    # chain forever when they were not indexed first); found by the thorough fuzzing
    # as a 470-byte mutated deflate TIFF (IFD 8 -> 12 -> 8).
    path = _write(tmp_path, "loop.tif", _cyclic_tiff())
    with fc.time_limit(20):
        img = uio.read(path)
    assert img.data.shape == (1, 1)
    assert fc.read_one(path, seconds=20)[0] == "ok"


# ---- the fuzzing ------------------------------------------------------------------------------
SEEDS = {}


@pytest.fixture(scope="module", autouse=True)
def fuzz_setup(tmp_path_factory):
    """Seed files once per module; MAX_PIXELS lowered to 2**22 (4 megapixels) so that
    every decode the fuzzing provokes is cheap and the memory bound per input is tight
    (the limit is what is tested, not its value); tifffile's logged warnings quieted."""
    import logging

    folder = tmp_path_factory.mktemp("fuzz-seeds")
    SEEDS.update(fc.make_seeds(str(folder)))
    _photos(str(folder))
    old_limit, uio.MAX_PIXELS = uio.MAX_PIXELS, 1 << 22
    logger = logging.getLogger("tifffile")
    old_level = logger.level
    logger.setLevel(logging.CRITICAL)  # its errors about corrupt tags, thousands per run
    yield folder
    uio.MAX_PIXELS = old_limit
    logger.setLevel(old_level)


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-inputs")


def _count_input(name):
    CASE_COUNTS[name] += 1


def test_every_seed_file_reads_back(fuzz_setup):
    for name in sorted(SEEDS):
        path = str(fuzz_setup / name)
        assert fc.read_one(path)[0] == "ok", name


edits = st.lists(st.tuples(st.integers(0, fc.N_OPS - 1), st.integers(0, 1 << 20), st.integers(0, 4095),
                           st.integers(0, 255)), min_size=1, max_size=6)
extensions = st.one_of(st.none(), st.sampled_from(fc.EXTENSIONS))


@examples(150, 15000)
@given(st.data(), edits, extensions)
def test_mutated_seed_files(work_dir, data, ops, ext):
    """Valid files written by unblur, mutated: bit flips, truncation, duplicated and
    deleted chunks, inserted bytes, magic integers, and the PNG / JPEG / TIFF / .npy
    size and type fields. Extensions are kept or changed (Pillow reads by content)."""
    _count_input("fuzz_mutated")
    name = data.draw(st.sampled_from(sorted(SEEDS)), label="seed")
    body = fc.apply(SEEDS[name], ops)
    path = fc.write_input(str(work_dir), body, os.path.splitext(name)[1] if ext is None else ext, "mutated")
    fc.read_one(path)


@examples(100, 10000)
@given(st.sampled_from(fc.MAGIC_HEADERS), st.binary(max_size=4096), st.sampled_from(fc.EXTENSIONS))
def test_random_bytes_behind_magic_numbers(work_dir, header, body, ext):
    _count_input("fuzz_random_bytes")
    path = fc.write_input(str(work_dir), header + body, ext, "random")
    fc.read_one(path)


def _field_edits():
    """Every format-aware edit (PNG IHDR, JPEG SOF, TIFF IFD entries, .npy header) with
    every magic value, on the seeds of its format: a deterministic grid."""
    for name in ("grey8.png", "grey16.png", "rgba8.png", "palette.png", "grey.jpg", "progressive.jpg", "grey8.tif",
                 "rgb16.tif", "stack16.tif", "deflate.tif", "tiled.tif", "bigendian.tif", "grey.npy", "stack.npy"):
        ext = os.path.splitext(name)[1]
        kind = {".png": 7, ".jpg": 8, ".tif": 9, ".npy": 10}[ext]
        fields = {7: 4, 8: 4, 9: 16, 10: 3}[kind]
        for field in range(fields):
            for value in range(len(fc.MAGIC) * (3 if kind == 9 else 1)):
                yield name, ext, [(kind, field, value, 0)]


FIELD_EDITS = list(_field_edits())


@pytest.mark.parametrize("chunk", range(8))
def test_every_size_and_type_field_with_every_magic_value(work_dir, chunk):
    """The grid of _field_edits (about 2,000 inputs), split in 8 chunks; the default
    run takes every 4th input of each chunk, the thorough profile all of them."""
    step = 1 if thorough() else 4
    for i, (name, ext, ops) in enumerate(FIELD_EDITS[chunk::8]):
        if i % step:
            continue
        _count_input("fuzz_fields")
        path = fc.write_input(str(work_dir), fc.apply(SEEDS[name], ops), ext, f"field{chunk}")
        fc.read_one(path)


def test_seeded_mutation_loop(work_dir):
    """A plain seeded loop (no hypothesis overhead) for volume: UNBLUR_FUZZ_INPUTS inputs
    (default 1,500; 100,000 in the thorough profile). The outcome counts, time and peak
    memory go to UNBLUR_FUZZ_REPORT (JSON), if set."""
    import collections

    n = int(os.environ.get("UNBLUR_FUZZ_INPUTS", 100_000 if thorough() else 1_500))
    rng = random.Random(int(os.environ.get("UNBLUR_FUZZ_SEED", "20261201")))
    names = sorted(SEEDS)
    outcomes = collections.Counter()
    slowest = (0.0, None)
    t0 = time.perf_counter()
    for i in range(n):
        name = rng.choice(names)
        ops = fc.random_ops(rng)
        ext = os.path.splitext(name)[1] if rng.random() < 0.7 else rng.choice(fc.EXTENSIONS)
        path = fc.write_input(str(work_dir), fc.apply(SEEDS[name], ops), ext, "loop")
        t = time.perf_counter()
        try:
            outcomes[fc.read_one(path)] += 1
        except BaseException:
            print(f"\ninput {i}: seed {name}, extension {ext!r}, edits {ops} (fuzz_corpus.apply)")
            raise
        slowest = max(slowest, (time.perf_counter() - t, (name, ext, ops)))
        _count_input("fuzz_loop")
    seconds = time.perf_counter() - t0
    report = os.environ.get("UNBLUR_FUZZ_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump({"inputs": n, "seconds": round(seconds, 1), "slowest_input_seconds": round(slowest[0], 3),
                       "slowest_input": repr(slowest[1]), "peak_rss_mib": round(fc.peak_rss_mib()),
                       "outcomes (read, from_image)": {" / ".join(k): v for k, v in outcomes.most_common()}},
                      f, indent=1)
    assert sum(outcomes.values()) == n


def test_what_is_not_a_file(tmp_path, monkeypatch):
    for reader in (uio.read, unblur.psf.from_image):
        with pytest.raises(FileNotFoundError):
            reader(tmp_path / "missing.png")
        with pytest.raises((IsADirectoryError, ValueError)) as exc:
            reader(tmp_path)
        assert str(tmp_path) in str(exc.value)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        uio.read(tmp_path / "empty.png")
    with pytest.raises(ValueError):
        unblur.psf.from_image(tmp_path / "empty.png")
    (tmp_path / "locked.png").write_bytes(SEEDS["grey8.png"])
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p).endswith("locked.png")
                        else real_access(p, mode, **kw))
    with pytest.raises(PermissionError, match="locked.png"):
        uio.read(tmp_path / "locked.png")


# ---- the command line ---------------------------------------------------------------------
_CLI_FILES = ("grey8.png", "rgb8.png", "rgba8.png", "grey16.tif", "rgb.jpg", "exif.jpg", "stack16.tif", "grey.npy",
              "float32.tif", "rgb16.tif", "photo.png", "photo.jpg", "photo16.tif")


def _photos(folder):
    """Blurred 40 x 40 crops of the sample photograph (big enough for the blind
    estimation of `restore` and `estimate-psf`), added to the seeds."""
    import tifffile
    from PIL import Image as PILImage

    crop = unblur.data.astronaut()[60:100, 150:190]
    light = uio.srgb_to_linear(crop.astype(np.float32) / 255)
    blurred = unblur.convolve(light, unblur.psf.gaussian(1.2).astype(np.float32), boundary="reflect", channel_axis=-1)
    code = np.round(uio.linear_to_srgb(blurred) * 255).astype(np.uint8)
    PILImage.fromarray(code).save(os.path.join(folder, "photo.png"))
    PILImage.fromarray(code).save(os.path.join(folder, "photo.jpg"), quality=90)
    tifffile.imwrite(os.path.join(folder, "photo16.tif"), np.round(blurred.mean(axis=-1) * 65535).astype(np.uint16))
    for name in ("photo.png", "photo.jpg", "photo16.tif"):
        with open(os.path.join(folder, name), "rb") as f:
            SEEDS[name] = f.read()
_SPECS = ["gaussian:sigma=1", "gaussian:sigma=0.7,theta=20", "motion:length=5,angle=30", "disk:radius=2",
          "shake:extent=5,seed=3", "airy:radius=1", "moffat:fwhm=2", "turbulence:d_over_r0=1", "defocus:radius=1.5",
          "gaussian:sigma=1,size=3"]
_BAD_SPECS = ["gaussian", "gaussian:sigma=-1", "gaussian:sigma=x", "gaussian:bogus=1", "motion:length=1e9",
              "shake:extent=1e9", "disk:radius=nan", "turbulence:d_over_r0=1e6", "moffat:fwhm=2,beta=1",
              "nothing:a=1", "gaussian:sigma=1,size=4", "gaussian:sigma=1,size=99999", ":", ""]


def _option(draw, flag, good, bad):
    """[flag, value]: a valid value five times in six, else an invalid one."""
    # (Hypothesis draws small integers most often: 0 is the common, valid case.)
    return [flag, draw(st.sampled_from(bad if draw(st.integers(0, 5)) == 5 else good))]


@st.composite
def cli_argv(draw, folder):
    """An argv of `unblur ...` of random commands, options and values (mostly valid),
    over copies of the valid test files and mutated ones, in `folder`."""
    command = draw(st.sampled_from(["restore", "deconvolve", "deconvolve", "simulate", "simulate", "estimate-psf",
                                    "evaluate", "evaluate", "info", "demo", "bogus", "--help"]))
    # The inputs: mostly valid files, some mutated, missing ones, the folder, globs.
    mutated = []
    for k in range(draw(st.integers(0, 2))):
        seed = draw(st.sampled_from(sorted(SEEDS)))
        ext = draw(st.one_of(st.just(os.path.splitext(seed)[1]), st.sampled_from(fc.EXTENSIONS)))
        body = fc.apply(SEEDS[seed], draw(edits))
        mutated.append(os.path.basename(fc.write_input(folder, body, ext, f"fuzzed{k}")))
    valid = list(_CLI_FILES) + ["*.png"]
    odd = mutated + ["missing.png", ".", "*.nomatch", "sub"]
    names = draw(st.lists(st.sampled_from(valid + odd if draw(st.integers(0, 2)) == 2 else valid), min_size=1,
                          max_size=3))
    inputs = [os.path.join(folder, f) for f in names]
    argv = [command]
    if command == "demo":  # only the refusals: the demo itself takes seconds
        argv += draw(st.sampled_from([["--noise", "-1"], ["--strength", "0"], ["--strength", "nan"], ["--noise", "inf"],
                                      ["--psf", "bogus"], ["-o", os.path.join(folder, "grey8.png")]]))
        return argv
    if command in ("info", "bogus", "--help"):
        return argv + draw(st.sampled_from([[], [], ["--help"], ["extra"]]))
    argv += inputs
    options = []
    pick = st.integers(0, 3)
    if command != "evaluate":
        if draw(pick) == 0 and len(inputs) == 1:
            options += _option(draw, "-o", [os.path.join(folder, f) for f in ("out.png", "out.tif", "out.npy", "out.jpg")],
                               [os.path.join(folder, f) for f in ("out.bmp", "nodir/out.png", "grey8.png")])
        elif draw(pick) == 0:
            options += _option(draw, "--output-dir", [os.path.join(folder, "out")],
                               [os.path.join(folder, "missing-dir"), folder])
        if draw(pick) == 0:
            options += _option(draw, "--format", ["png", "jpg", "tif", "npy"], ["gif", ""])
        if draw(pick) == 0:
            options += _option(draw, "--bits", ["8", "16", "32"], ["7", "x"])
        if draw(st.integers(0, 2)):
            options += ["--overwrite"]
    if command != "evaluate":  # (evaluate scores code values and takes neither)
        if draw(pick) == 0:
            options += ["--no-linear"]
        if draw(pick) == 0:
            options += _option(draw, "--threads", ["1", "2"], ["0", "-1", "x", "100000", "1.5"])
    if draw(st.booleans()):
        options += ["--json"]
    if draw(st.booleans()):
        options += ["-q"]
    if command in ("restore", "estimate-psf"):
        if draw(pick) == 0:
            options += _option(draw, "--model", ["auto", "gaussian", "defocus", "motion", "shake"], ["x"])
        if draw(pick) == 0:
            options += _option(draw, "--size", ["3", "7", "9"], ["8", "0", "-5"])
    if command == "restore" and draw(pick) == 0:
        options += ["--compare"]
    if command == "estimate-psf" and draw(pick) == 0:
        options += ["--picture"]
    if command in ("deconvolve", "simulate") and draw(st.integers(0, 19)) < 19:
        files = [os.path.join(folder, f) for f in mutated + ["grey.npy", "grey8.png"]]
        options += _option(draw, "--psf", _SPECS + files, _BAD_SPECS + [os.path.join(folder, "missing.npy")])
    if command == "deconvolve":
        if draw(pick) == 0:
            options += _option(draw, "--method", ["auto", "wiener", "tikhonov", "rl", "tv"], ["x"])
        if draw(pick) == 0:
            options += _option(draw, "--boundary", ["auto", "periodic", "reflect"], ["zero"])
        if draw(pick) == 0:
            options += _option(draw, "--iterations", ["1", "5"], ["0", "-1", "x"])
        if draw(pick) == 0:
            options += _option(draw, "--device", ["cpu"], ["gpu", "tpu"])
        if draw(pick) == 0:
            options += ["--compare"]
    if command == "simulate":
        if draw(pick) == 0:
            options += _option(draw, "--noise", ["0", "0.01"], ["-1", "nan", "inf", "1e300", "x"])
        if draw(pick) == 0:
            options += _option(draw, "--seed", ["0", "7"], ["-1", str(2**70), "x"])
    if command == "evaluate" and draw(st.integers(0, 19)) < 19:
        ref = draw(st.sampled_from(list(_CLI_FILES) * 3 + mutated + ["missing.png"]))
        options += ["--reference", os.path.join(folder, ref)]
    if draw(st.integers(0, 19)) == 19:
        options += ["--bogus-option"]
    # Options in a random order (argparse takes them anywhere), pairs kept together.
    pairs, k = [], 0
    while k < len(options):
        takes_value = options[k] not in ("--overwrite", "--no-linear", "--json", "-q", "--compare", "--picture",
                                         "--bogus-option")
        pairs.append(options[k:k + 1 + takes_value])
        k += 1 + takes_value
    order = draw(st.permutations(range(len(pairs)))) if pairs else []
    return argv + [t for i in order for t in pairs[i]]


def _cli(argv):
    """(status, stdout, stderr) of `unblur argv` in-process (capsys is per test, and
    hypothesis runs many examples in one: redirect instead)."""
    import contextlib
    import io as pyio

    from unblur import cli

    out, err = pyio.StringIO(), pyio.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exc:
            status = exc.code
    if isinstance(status, str):  # what the interpreter does with SystemExit("message")
        return 1, out.getvalue(), err.getvalue() + status + "\n"
    return 0 if status is None else status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def cli_folder(fuzz_setup, tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-cli")


@examples(25, 1500)
@given(st.data())
def test_cli_with_random_options_and_fuzzed_files(cli_folder, data):
    """`unblur` with random commands, options (valid and not) and inputs (valid,
    mutated, missing, folders, globs): exit status 0, 1 or 2, no traceback, and with
    --json (status 0 or 1) one JSON document on stdout."""
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(dir=str(cli_folder))
    for name in _CLI_FILES:
        with open(os.path.join(folder, name), "wb") as f:
            f.write(SEEDS[name])
    os.makedirs(os.path.join(folder, "out"))
    os.makedirs(os.path.join(folder, "sub"))
    argv = data.draw(cli_argv(folder), label="argv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the CLI reports warnings itself
        with fc.time_limit(120):
            status, out, err = _cli(argv)
    _count_input(f"fuzz_cli_exit_{status}")
    assert status in (0, 1, 2), (status, err[-2000:])
    assert "Traceback" not in err and "Traceback" not in out, err[-4000:]
    if "--json" in argv and status in (0, 1) and argv[0] in ("restore", "deconvolve", "simulate", "estimate-psf",
                                                             "evaluate"):
        doc = json.loads(out)
        assert set(doc) >= {"command", "results", "failed"}
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("args", [["--noise", "-1"], ["--noise", "inf"], ["--noise", "nan"], ["--strength", "0"],
                                  ["--strength", "nan"], ["--strength", "inf"]])
def test_demo_bad_values_are_a_bad_command_line(args, tmp_path, monkeypatch):
    # unblur demo --noise -1 exited with status 1 (SystemExit of a message), not 2 as every
    # other bad command line; --strength inf went on to a PSF error.
    monkeypatch.chdir(tmp_path)
    status, out, err = _cli(["demo", *args])
    assert status == 2 and "unblur demo: error: --" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_the_size_check_does_not_wrap_around(tmp_path):
    # 4294967295 x 4294967295 pixels: np.prod wrapped to -8589934591 in int64, so the
    # MAX_PIXELS check passed and only numpy's allocation refused the file.
    path = _write(tmp_path, "wrap.tif", _one_pixel_tiff(t256=(4, 1, 0xFFFFFFFF), t257=(4, 1, 0xFFFFFFFF)))
    with pytest.raises(ValueError, match="18446744065119617025 pixels is more than unblur reads"):
        uio.read(path)
