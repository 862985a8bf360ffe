"""unblur.io on real files in a temporary folder: formats, bit depths, alpha, EXIF
orientation, ICC profiles, stacks, linear light, and every kind of bad file."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from PIL import ImageCms
from unblur import io


def _pil(path):
    """(pixels, info, mode) of an image file, the file closed again."""
    with PILImage.open(path) as im:
        im.load()
        return np.asarray(im), dict(im.info), im.mode


def _srgb_profile():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_16bit_grey_tiff_is_linear_data_and_round_trips_exactly(tmp_path, rng):
    a = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", a)
    img = io.read(tmp_path / "in.tif")
    assert img.bits == 16 and not img.srgb and not img.linear and img.data.dtype == np.float32
    np.testing.assert_allclose(img.data, a / 65535.0, rtol=0, atol=1e-7)
    io.write(tmp_path / "out.tif", img)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), a)


def test_8bit_rgb_png_is_decoded_to_linear_light_and_back(tmp_path, rng):
    a = rng.integers(0, 256, (16, 17, 3), dtype=np.uint8)
    PILImage.fromarray(a).save(tmp_path / "in.png")
    img = io.read(tmp_path / "in.png")
    assert img.srgb and img.linear and img.colour and img.channel_axis == -1
    np.testing.assert_allclose(img.data, io.srgb_to_linear(a / 255.0), rtol=0, atol=1e-6)
    assert float(io.srgb_to_linear(np.float32(128 / 255))) == pytest.approx(0.2158605, abs=1e-6)  # 21.6% of the light
    io.write(tmp_path / "out.png", img)
    np.testing.assert_array_equal(_pil(tmp_path / "out.png")[0], a)
    raw = io.read(tmp_path / "in.png", linear=False)
    np.testing.assert_allclose(raw.data, a / 255.0, atol=1e-7)


def test_rgba_png_carries_its_alpha_through(tmp_path, rng):
    a = rng.integers(0, 256, (10, 12, 4), dtype=np.uint8)
    PILImage.fromarray(a, "RGBA").save(tmp_path / "in.png")
    img = io.read(tmp_path / "in.png")
    assert img.data.shape == (10, 12, 3) and img.alpha.shape == (10, 12)
    assert repr(img).endswith("PNG 10x12x3 colour, 8-bit, sRGB decoded to linear light, alpha)")
    np.testing.assert_allclose(img.alpha, a[..., 3] / 255.0, atol=1e-7)
    io.write(tmp_path / "out.png", img.data, like=img)
    back = _pil(tmp_path / "out.png")[0]
    assert back.shape == (10, 12, 4)
    np.testing.assert_array_equal(back, a)


def test_jpeg_exif_orientation_is_applied_and_reset(tmp_path, rng):
    a = rng.integers(0, 256, (8, 14, 3), dtype=np.uint8)
    exif = PILImage.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    PILImage.fromarray(a).save(tmp_path / "in.jpg", exif=exif, quality=100)
    img = io.read(tmp_path / "in.jpg")
    assert img.data.shape == (14, 8, 3)  # rotated on reading
    io.write(tmp_path / "out.jpg", img)
    with PILImage.open(tmp_path / "out.jpg") as out:
        assert out.size == (8, 14) and out.getexif().get(0x0112, 1) == 1  # not rotated twice


def test_icc_profile_is_kept(tmp_path, rng):
    icc = _srgb_profile()
    a = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    PILImage.fromarray(a).save(tmp_path / "in.png", icc_profile=icc)
    img = io.read(tmp_path / "in.png")
    assert img.icc_profile == icc
    io.write(tmp_path / "out.png", img)
    io.write(tmp_path / "out.tif", img)
    assert _pil(tmp_path / "out.png")[1].get("icc_profile") == icc
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert bytes(tif.pages[0].tags[34675].value) == icc


def test_tiff_resolution_and_description_are_kept(tmp_path, rng):
    a = rng.integers(0, 65536, (6, 7), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", a, resolution=(300, 150), resolutionunit="INCH",
                     description="scan 42", metadata=None)
    img = io.read(tmp_path / "in.tif")
    assert img.resolution == ((300.0, 150.0), "INCH") and img.description == "scan 42"
    io.write(tmp_path / "out.tif", img)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        page = tif.pages[0]
        assert page.tags["XResolution"].value == (300, 1) and page.tags["YResolution"].value == (150, 1)
        assert page.tags["ImageDescription"].value == "scan 42"


def test_multipage_tiff_is_a_stack_and_float_tiff_stays_float(tmp_path, rng):
    stack = rng.integers(0, 65536, (5, 12, 13), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    img = io.read(tmp_path / "stack.tif")
    assert img.volume and img.data.shape == (5, 12, 13) and img.channel_axis is None
    io.write(tmp_path / "stack-out.tif", img)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "stack-out.tif"), stack)
    f = rng.random((9, 10)).astype(np.float32) * 3.0  # floats are kept as they are, not clipped
    tifffile.imwrite(tmp_path / "f.tif", f)
    img = io.read(tmp_path / "f.tif")
    assert img.float_data and not img.srgb
    np.testing.assert_array_equal(img.data, f)
    io.write(tmp_path / "f-out.tif", img)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "f-out.tif"), f)


def test_16bit_colour_png_warns_and_16bit_colour_output_needs_tiff(tmp_path, rng):
    a = rng.random((6, 8, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="16-bit output is grey PNG or TIFF only"):
        io.write(tmp_path / "c.png", a, bits=16)
    io.write(tmp_path / "c.tif", a, bits=16)
    assert tifffile.imread(tmp_path / "c.tif").dtype == np.uint16
    io.write(tmp_path / "g.png", a[..., 0], bits=16)
    assert _pil(tmp_path / "g.png")[2].startswith("I")


@pytest.mark.parametrize("content,match", [
    (b"", "empty file"),
    (b"this is not an image at all", "not an image format unblur reads"),
    (None, "cannot read the image"),  # a truncated PNG
])
def test_bad_files_are_one_clear_error(tmp_path, rng, content, match):
    path = tmp_path / "bad.png"
    if content is None:
        PILImage.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        io.read(path)


def test_missing_folder_and_bomb(tmp_path, monkeypatch, rng):
    with pytest.raises(FileNotFoundError, match="no such file"):
        io.read(tmp_path / "nope.png")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        io.read(tmp_path)
    PILImage.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(tmp_path / "big.png")
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((3, 40, 40), np.uint8), photometric="minisblack")
    monkeypatch.setattr(io, "MAX_PIXELS", 1000)
    for name in ("big.png", "big.tif"):
        with pytest.raises(ValueError, match="decompression bomb"):
            io.read(tmp_path / name)


def test_write_refuses_to_overwrite_and_bad_destinations(tmp_path):
    a = np.zeros((4, 4), np.float32)
    io.write(tmp_path / "a.png", a)
    with pytest.raises(FileExistsError, match="overwrite"):
        io.write(tmp_path / "a.png", a)
    io.write(tmp_path / "a.png", a + 1.0, overwrite=True)
    assert _pil(tmp_path / "a.png")[0].max() == 255
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.write(tmp_path / "no" / "a.png", a)
    with pytest.raises(ValueError, match="writes .png, .jpg, .tif and .npy"):
        io.write(tmp_path / "a.bmp", a)
    with pytest.raises(ValueError, match="float samples need .tif or .npy"):
        io.write(tmp_path / "b.png", a, bits=32)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(PermissionError, match="not writable"):
            io.write(ro / "a.png", a)


def test_jpeg_drops_alpha_with_a_warning_and_npy_round_trips(tmp_path, rng):
    a = rng.integers(0, 256, (6, 6, 4), dtype=np.uint8)
    PILImage.fromarray(a, "RGBA").save(tmp_path / "in.png")
    img = io.read(tmp_path / "in.png")
    with pytest.warns(UserWarning, match="no alpha channel"):
        io.write(tmp_path / "out.jpg", img)
    assert _pil(tmp_path / "out.jpg")[0].shape == (6, 6, 3)
    x = rng.random((3, 8, 9)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    img = io.read(tmp_path / "x.npy")
    assert img.volume and img.float_data
    io.write(tmp_path / "y.npy", img)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), x)


def test_tiff_photometric_interpretations(tmp_path, rng):
    """Planar RGB is colour (not a 3-page stack); a palette TIFF gives its colours (not
    the indices); min-is-white is inverted to min-is-black (written back so, it looks
    the same); CMYK becomes RGB (as Pillow does for CMYK JPEG) without its CMYK profile."""
    rgb = rng.integers(0, 256, (12, 13, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    img = io.read(tmp_path / "planar.tif", linear=False)
    assert img.colour and not img.volume
    np.testing.assert_allclose(img.data, rgb / 255.0, atol=1e-7)

    index = rng.integers(0, 256, (12, 13), dtype=np.uint8)
    colormap = rng.integers(0, 256, (3, 256), dtype=np.uint16) * 257
    tifffile.imwrite(tmp_path / "palette.tif", index, photometric="palette", colormap=colormap)
    img = io.read(tmp_path / "palette.tif", linear=False)
    assert img.colour and img.bits == 8
    np.testing.assert_allclose(img.data, colormap.T[index] / 65535.0, atol=1e-7)

    grey = rng.integers(0, 65536, (12, 13), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "white.tif", grey, photometric="miniswhite")
    img = io.read(tmp_path / "white.tif")
    np.testing.assert_allclose(img.data, (65535 - grey) / 65535.0, atol=1e-7)
    io.write(tmp_path / "white-out.tif", img)
    with tifffile.TiffFile(tmp_path / "white-out.tif") as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK
        np.testing.assert_array_equal(tif.asarray(), 65535 - grey)

    cmyk = rng.integers(0, 256, (12, 13, 4), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "cmyk.tif", cmyk, photometric="separated", extratags=[(34675, "B", 4, b"CMYK", True)])
    img = io.read(tmp_path / "cmyk.tif", linear=False)
    assert img.data.shape == (12, 13, 3) and img.alpha is None and img.icc_profile is None
    c = cmyk / 255.0
    np.testing.assert_allclose(img.data, (1 - c[..., :3]) * (1 - c[..., 3:]), atol=1e-6)


def test_cmyk_jpeg_becomes_rgb_without_its_cmyk_profile(tmp_path, rng):
    """The pixels are converted to RGB: the CMYK profile no longer describes them and
    would make the RGB output's colours wrong where a viewer applies it."""
    profile = bytearray(_srgb_profile())
    profile[16:20] = b"CMYK"  # the profile's colour space field
    cmyk = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    PILImage.fromarray(cmyk, "CMYK").save(tmp_path / "in.jpg", icc_profile=bytes(profile), quality=95)
    img = io.read(tmp_path / "in.jpg")
    assert img.data.shape == (16, 16, 3) and img.icc_profile is None
    io.write(tmp_path / "out.jpg", img)
    assert "icc_profile" not in _pil(tmp_path / "out.jpg")[1]


# ---- JPEG's compression error ----------------------------------------------------------------

def _jpeg_case(tmp_path, colour, sigma, quality, seed=0, orientation=None):
    """A defocused photograph with white noise `sigma` on its code values, saved as a
    JPEG; returns (path, the blurred code values before noise)."""
    import unblur

    sharp = unblur.data.astronaut()[:256, :256].astype(np.float64) / 255
    if not colour:
        sharp = sharp.mean(axis=-1)
    blurred = unblur.convolve(sharp, unblur.psf.disk(4.0), channel_axis=-1 if colour else None, boundary="reflect")
    noisy = np.clip(blurred + np.random.default_rng(seed).normal(0, sigma, blurred.shape), 0, 1)
    path = tmp_path / f"case-{int(colour)}-{quality}-{orientation}.jpg"
    kwargs = {}
    if orientation is not None:
        exif = PILImage.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif
    PILImage.fromarray(np.round(noisy * 255).astype(np.uint8)).save(path, quality=quality, **kwargs)
    return path, blurred


@pytest.mark.parametrize(("colour", "sigma", "quality"), [(False, 0.01, 90), (False, 0.03, 75), (True, 0.01, 90),
                                                          (True, 0.03, 90), (True, 0.01, 75)])
def test_jpeg_noise_measures_the_compression_error(tmp_path, colour, sigma, quality):
    """unblur.io.jpeg_noise against the true RMS error of the decoded pixels (noise and
    compression): on astronaut and coffee with defocus 4, noise 0.01-0.03, quality
    75-95, it read 0.99-1.2 of it in grey and 0.99-1.57 in colour (on the safe side: a
    larger level regularises more), where estimate_noise read 0.2-1.0 (session 20)."""
    import unblur

    path, blurred = _jpeg_case(tmp_path, colour, sigma, quality)
    img = unblur.io.read(path, linear=False)
    assert img.jpeg is not None and img.jpeg["mode"] == ("RGB" if colour else "L")
    true = np.sqrt(np.mean((img.data - blurred) ** 2, axis=(0, 1)))
    got = unblur.io.jpeg_noise(img)
    assert got.shape == ((3,) if colour else (1,))
    ratio = got / true
    assert np.all(ratio > 0.9) and np.all(ratio < 1.7), ratio
    # The same file decoded to linear light: the estimate is in code values all the same.
    np.testing.assert_allclose(unblur.io.jpeg_noise(unblur.io.read(path)), got, rtol=1e-3)


def test_jpeg_noise_undoes_the_exif_orientation(tmp_path):
    """The blocks were coded before the orientation was applied: every orientation gives
    the estimate of the file as coded."""
    import unblur

    want = None
    for orientation in range(1, 9):
        path, _ = _jpeg_case(tmp_path, True, 0.01, 90, orientation=orientation)
        got = unblur.io.jpeg_noise(unblur.io.read(path))
        if want is None:
            want = got
        np.testing.assert_allclose(got, want, rtol=1e-9, err_msg=f"orientation {orientation}")


def test_jpeg_noise_is_none_where_it_does_not_apply(tmp_path):
    import unblur

    png = tmp_path / "a.png"
    PILImage.fromarray(np.zeros((64, 64, 3), np.uint8)).save(png)
    assert unblur.io.read(png).jpeg is None and unblur.io.jpeg_noise(unblur.io.read(png)) is None
    cmyk = tmp_path / "cmyk.jpg"
    PILImage.new("CMYK", (64, 64), (10, 20, 30, 40)).save(cmyk, quality=90)
    assert unblur.io.jpeg_noise(unblur.io.read(cmyk)) is None
    tiny = tmp_path / "tiny.jpg"
    PILImage.fromarray(np.full((16, 16), 128, np.uint8)).save(tiny, quality=90)  # 4 blocks: too few to measure
    assert unblur.io.jpeg_noise(unblur.io.read(tiny)) is None
    assert unblur.io.jpeg_noise(np.zeros((64, 64))) is None  # pixels without a file: nothing detected
    with pytest.raises(TypeError, match="img must be an unblur.io.Image"):
        unblur.io.jpeg_noise("in.jpg")


def test_jpeg_noise_needs_no_scipy(tmp_path):
    """scipy is a test and bench extra, not a runtime dependency: the command line's JPEG
    estimate must work without it."""
    import json
    import subprocess
    import sys

    import unblur

    path, _ = _jpeg_case(tmp_path, True, 0.01, 90)
    want = unblur.io.jpeg_noise(unblur.io.read(path))
    code = ("import json, sys; sys.modules['scipy'] = None\n"
            "import numpy as np, unblur.io\n"
            f"print(json.dumps(unblur.io.jpeg_noise(unblur.io.read({str(path)!r})).tolist()))")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(unblur.__file__)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(json.loads(r.stdout), want, rtol=1e-9)


# ---- JPEG tables found from the pixels (detect_jpeg) ----------------------------------------


def _decoded(array, quality, **kwargs):
    """`array` (uint8) saved as a JPEG by Pillow and decoded again: (pixels, tables)."""
    import io as stdio

    f = stdio.BytesIO()
    PILImage.fromarray(array).save(f, format="JPEG", quality=quality, **kwargs)
    f.seek(0)
    with PILImage.open(f) as im:
        return np.asarray(im), {k: list(v) for k, v in im.quantization.items()}


def _photo(colour, sigma=0.01, seed=0):
    """A defocused astronaut crop with noise, as 8-bit samples (uint8)."""
    import unblur

    sharp = unblur.data.astronaut()[:200, 100:300].astype(np.float64) / 255
    if not colour:
        sharp = sharp.mean(axis=-1)
    blurred = unblur.convolve(sharp, unblur.psf.disk(2.0), channel_axis=-1 if colour else None, boundary="reflect")
    noisy = blurred + np.random.default_rng(seed).normal(0, sigma, blurred.shape)
    return np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)


def test_ijg_tables_are_pillows_at_every_quality():
    """The standard's example tables scaled as libjpeg scales them: what Pillow writes."""
    flat = np.arange(64, dtype=np.uint8).reshape(8, 8).repeat(4, 0).repeat(4, 1)
    for quality in range(1, 101):
        _, tables = _decoded(np.dstack([flat, flat[::-1], flat.T]), quality)
        np.testing.assert_array_equal(io._ijg_table(io._IJG_LUMA, quality), tables[0], err_msg=str(quality))
        np.testing.assert_array_equal(io._ijg_table(io._IJG_CHROMA, quality), tables[1], err_msg=str(quality))


@pytest.mark.parametrize(("colour", "quality", "subsampling"),
                         [(False, 30, None), (False, 75, None), (False, 90, None), (False, 95, None),
                          (True, 50, 2), (True, 90, 2), (True, 90, 0), (True, 75, 0)])
def test_detect_jpeg_finds_the_quality_the_grid_and_the_subsampling(colour, quality, subsampling):
    """On Pillow's files of qualities 30-95 (session 22's trials, 540 files, grey and
    colour, blurred and noisy: 517 found, the quality to within 1; none wrong; the rest
    not found. Neighbouring qualities' tables differ in a few steps by 1, which only some
    coefficients show)."""
    kwargs = {} if subsampling is None else {"subsampling": subsampling}
    pixels, tables = _decoded(_photo(colour), quality, **kwargs)
    for dy, dx in ((0, 0), (3, 5), (7, 1)):  # a crop of the decoded image moves the 8 x 8 grid
        found = io.detect_jpeg(pixels[dy:, dx:])
        assert found is not None, (dy, dx)
        assert abs(found["quality"] - quality) <= 1
        assert np.abs(np.array(found["tables"][0]) - tables[0]).max() <= 0.05 * max(tables[0]) + 1
        assert found["offset"] == ((8 - dy) % 8, (8 - dx) % 8)
        assert found["sampling"] == subsampling
        assert found["coherence"] >= io._LATTICE_COHERENCE and found["z"] >= io._LATTICE_Z
    # the same pixels as floats in [0, 1] (as read with linear=False) and as 0..255 floats
    assert abs(io.detect_jpeg(pixels / np.float32(255))["quality"] - quality) <= 1
    assert abs(io.detect_jpeg(pixels.astype(np.float64))["quality"] - quality) <= 1


def test_detect_jpeg_finds_nothing_in_images_never_compressed():
    """No lattice: 8-bit and float photographs, a JPEG resized, flat, ramp, binary and
    periodic synthetic images, and values that are not 8-bit samples."""
    import unblur

    grey, colour = _photo(False), _photo(True)
    y, x = np.mgrid[:160, :160]
    resized = np.asarray(PILImage.fromarray(_decoded(grey, 75)[0]).resize((150, 150), PILImage.BILINEAR))
    cases = {
        "8-bit grey": grey, "8-bit colour": colour, "float": grey / 255.0 + 1e-3, "resized JPEG": resized,
        "flat": np.full((64, 64), 200, np.uint8), "zeros": np.zeros((64, 64)),
        "ramp": np.round(0.35 * x + 0.52 * y).astype(np.uint8),
        "gradient": (x + y).astype(np.uint8),
        "binary": ((np.random.default_rng(1).random((20, 20)) > 0.5).repeat(8, 0).repeat(8, 1) * 255).astype(np.uint8),
        "sine": np.round(128 + 100 * np.sin(x / 3.1) * np.sin(y / 4.7)).astype(np.uint8),
        "checker": (((x // 5 + y // 5) % 2) * 200 + 20).astype(np.uint8),
        "linear light": unblur.io.srgb_to_linear(_decoded(grey, 75)[0] / 255.0),
        "16-bit": grey.astype(np.uint16) * 257, "tiny": _decoded(grey[:12, :12], 50)[0],
    }
    for name, pixels in cases.items():
        assert io.detect_jpeg(pixels) is None, name


def test_jpeg_noise_of_pixels_matches_the_files(tmp_path):
    """Pixels without their file get the estimate the file gets from its own tables;
    an 8-bit PNG saved from the decoded JPEG too."""
    for colour in (False, True):
        path, _ = _jpeg_case(tmp_path, colour, 0.01, 90)
        img = io.read(path, linear=False)
        want = io.jpeg_noise(img)
        with PILImage.open(path) as im:
            decoded = np.asarray(im)
        np.testing.assert_allclose(io.jpeg_noise(decoded), want, rtol=1e-6)
        png = tmp_path / f"from-jpeg-{colour}.png"
        PILImage.fromarray(decoded).save(png)
        from_png = io.read(png)  # linear light: encoded back to its code values first
        assert from_png.jpeg is None
        np.testing.assert_allclose(io.jpeg_noise(from_png), want, rtol=1e-4)


def test_detect_jpeg_bad_input():
    with pytest.raises(TypeError, match="pixels must be"):
        io.detect_jpeg("in.jpg")
    with pytest.raises(ValueError, match="pixels must be grey"):
        io.detect_jpeg(np.zeros((32, 32, 4), np.uint8))
    with pytest.raises(ValueError, match="pixels must be grey"):
        io.detect_jpeg(np.zeros(64, np.uint8))
    assert io.detect_jpeg(np.full((32, 32), np.nan)) is None
    assert io.detect_jpeg(np.zeros((32, 32), complex)) is None
