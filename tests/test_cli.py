"""The command line, run as a user would: real files in a temporary folder (8-bit PNG,
RGBA PNG, JPEG with EXIF rotation, 16-bit TIFF, a 3-D TIFF stack), every command, and
the bad-input list: one line, a non-zero status, no traceback, the other files done,
nothing overwritten without --overwrite. Most calls run unblur.cli.main in-process
(the same code the `unblur` entry point runs); a few run `python -m unblur` itself."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tifffile
import unblur
import unblur.io
from PIL import Image as PILImage
from unblur import cli


def _run(capsys, *argv):
    """(status, stdout, stderr) of `unblur argv...` in-process."""
    try:
        status = cli.main(list(argv))
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def _photo(size=96):
    return unblur.data.astronaut()[60:60 + size, 140:140 + size]


@pytest.fixture
def files(tmp_path):
    """The test files: sharp and blurred versions in several formats."""
    rgb = _photo()
    PILImage.fromarray(rgb).save(tmp_path / "sharp.png")
    # A lens blurs light: the blur is applied in linear light and the file holds sRGB
    # code values, as a camera's (the CLI decodes them back to light by default).
    light = unblur.io.srgb_to_linear(rgb.astype(np.float32) / 255)
    blurred = unblur.convolve(light, unblur.psf.motion(7, 30).astype(np.float32), boundary="reflect",
                              channel_axis=-1)
    b8 = np.round(unblur.io.linear_to_srgb(blurred) * 255).astype(np.uint8)
    PILImage.fromarray(b8).save(tmp_path / "blurred.png")
    rgba = np.concatenate([b8, np.full(b8.shape[:2] + (1,), 200, np.uint8)], axis=-1)
    rgba[:10, :10, 3] = 0
    PILImage.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    exif = PILImage.Exif()
    exif[0x0112] = 6
    PILImage.fromarray(b8[:, :80]).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    grey16 = np.round(blurred.mean(axis=-1) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "grey16.tif", grey16)
    stack = np.stack([grey16[:48, :48]] * 4)
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    return tmp_path


def test_simulate_deconvolve_evaluate_round_trip(files, capsys):
    d = files
    status, out, _ = _run(capsys, "simulate", str(d / "sharp.png"), "--psf", "gaussian:sigma=1.5", "--noise",
                          "0.005")
    assert status == 0 and (d / "sharp-blurred.png").exists() and "sharp-blurred.png" in out
    status, out, _ = _run(capsys, "deconvolve", str(d / "sharp-blurred.png"), "--psf", "gaussian:sigma=1.5",
                          "--method", "wiener", "--compare")
    assert status == 0 and (d / "sharp-blurred-deconvolved.png").exists()
    assert (d / "sharp-blurred-deconvolved-compare.png").exists()
    status, out, _ = _run(capsys, "evaluate", str(d / "sharp-blurred.png"), str(d / "sharp-blurred-deconvolved.png"),
                          "--reference", str(d / "sharp.png"), "--json")
    doc = json.loads(out)
    before, after = doc["results"]
    assert status == 0 and doc["failed"] == 0
    assert after["psnr"] > before["psnr"] + 1.0 and after["ssim"] > before["ssim"]


def test_restore_keeps_alpha_and_formats_and_refuses_to_overwrite(files, capsys):
    d = files
    status, out, err = _run(capsys, "restore", str(d / "alpha.png"), str(d / "rotated.jpg"), "--json")
    doc = json.loads(out)
    assert status == 0, err
    assert [r["model"] for r in doc["results"]] == ["motion", "motion"]
    with PILImage.open(d / "alpha-restored.png") as im:
        assert im.mode == "RGBA" and im.size == (96, 96)
        alpha = np.asarray(im)[..., 3]
    assert alpha[0, 0] == 0 and alpha[50, 50] == 200  # carried through untouched
    with PILImage.open(d / "rotated-restored.jpg") as im:
        assert im.size == (96, 80)  # EXIF rotation applied once: 80 wide x 96 high became 96 x 80
        assert im.getexif().get(0x0112, 1) == 1
    before = (d / "alpha-restored.png").read_bytes()
    status, _, err = _run(capsys, "restore", str(d / "alpha.png"))
    assert status == 1 and "exists; pass --overwrite" in err
    assert (d / "alpha-restored.png").read_bytes() == before


def test_16bit_tiff_and_3d_stack(files, capsys):
    d = files
    status, _, err = _run(capsys, "deconvolve", str(d / "grey16.tif"), str(d / "stack.tif"), "--psf",
                          "motion:length=7,angle=30", "--method", "rl", "--iterations", "5")
    assert status == 0, err
    out = tifffile.imread(d / "grey16-deconvolved.tif")
    assert out.dtype == np.uint16 and out.shape == (96, 96)
    stack = tifffile.imread(d / "stack-deconvolved.tif")
    assert stack.dtype == np.uint16 and stack.shape == (4, 48, 48)
    status, _, err = _run(capsys, "restore", str(d / "stack.tif"))
    assert status == 1 and "restore works on 2-D images" in err


def test_estimate_psf_writes_the_psf_and_its_picture(files, capsys):
    d = files
    light = unblur.io.srgb_to_linear(unblur.data.astronaut()[20:212, 100:292].astype(np.float32) / 255)
    big = unblur.convolve(light, unblur.psf.motion(9, 30).astype(np.float32), mode="valid", channel_axis=-1)
    PILImage.fromarray(np.round(unblur.io.linear_to_srgb(big) * 255).astype(np.uint8)).save(d / "blurred.png")
    status, out, _ = _run(capsys, "estimate-psf", str(d / "blurred.png"), "--picture", "--json")
    doc = json.loads(out)["results"][0]
    assert status == 0 and doc["model"] == "motion"
    assert doc["params"]["length"] == pytest.approx(9, abs=1.5)
    psf = unblur.psf.from_image(d / "blurred-psf.png", center=False)
    assert psf.shape == tuple(doc["psf_shape"]) and psf.sum() == pytest.approx(1.0)
    with PILImage.open(d / "blurred-psf-view.png") as im:
        assert max(im.size) >= 256 and im.size[0] % psf.shape[1] == 0  # whole-pixel enlargement
    # The written PSF is a valid --psf FILE.
    status, _, err = _run(capsys, "deconvolve", str(d / "blurred.png"), "--psf", str(d / "blurred-psf.png"),
                          "--output-dir", str(d), "-q", "--format", "tif")
    assert status == 0, err
    assert (d / "blurred-deconvolved.tif").exists()


def _bomb_png(path, side=30000):
    """A PNG whose header claims side x side pixels (the data is a few bytes)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_bad_inputs_are_one_line_each_and_the_batch_goes_on(files, capsys):
    d = files
    (d / "corrupt.png").write_bytes(b"not an image")
    data = (d / "blurred.png").read_bytes()
    (d / "truncated.png").write_bytes(data[: len(data) // 3])
    (d / "notes.txt").write_text("hello")
    _bomb_png(d / "bomb.png")
    bad = ["missing.png", "corrupt.png", "truncated.png", "notes.txt", "bomb.png"]
    status, out, err = _run(capsys, "deconvolve", *[str(d / b) for b in bad], str(d / "blurred.png"), "--psf",
                            "disk:radius=2", "--json")
    doc = json.loads(out)
    assert status == 1 and doc["failed"] == len(bad)
    errors = {os.path.basename(r["input"]): r["error"] for r in doc["results"]}
    assert errors["blurred.png"] is None and (d / "blurred-deconvolved.png").exists()
    assert "no such file" in errors["missing.png"]
    assert "not an image format" in errors["corrupt.png"] and "not an image format" in errors["notes.txt"]
    assert "cannot read the image" in errors["truncated.png"]
    assert "decompression bomb" in errors["bomb.png"] or "more than unblur reads" in errors["bomb.png"]
    assert len(err.strip().splitlines()) == len(bad)  # one line each
    status, out, err = _run(capsys, "deconvolve", *[str(d / b) for b in bad[:2]], str(d / "sharp.png"), "--psf",
                            "disk:radius=2")
    assert status == 1 and "2 of 3 files failed" in err and "missing.png" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["deconvolve", "{d}/blurred.png", "--psf", "gauss:sigma=2"], "not a file, and not one of"),
    (["deconvolve", "{d}/blurred.png", "--psf", "gaussian:width=2"], "gaussian takes sigma=..."),
    (["deconvolve", "{d}/blurred.png", "--psf", "motion:length=abc"], "length must be a number"),
    (["deconvolve", "{d}/blurred.png", "--psf", "motion:angle=3"], "motion needs length=..."),
    (["deconvolve", "{d}/blurred.png", "--psf", "disk:radius=-1"], "radius"),
    (["restore", "{d}/blurred.png", "--output-dir", "{d}/nowhere"], "no such folder"),
    (["restore", "{d}/blurred.png", "{d}/sharp.png", "-o", "{d}/x.png"], "-o/--output names one file"),
    (["restore", "{d}/blurred.png", "-o", "{d}/blurred.png", "--overwrite"], "would replace an input"),
    (["restore", "{d}/*.nothing"], "no file matches"),
    (["simulate", "{d}/sharp.png", "--psf", "disk:radius=2", "--noise", "-1"], "--noise must be >= 0"),
    (["restore", "{d}/blurred.png", "--threads", "0"], "--threads must be >= 1"),
    (["restore", "{d}/blurred.png", "-o", "{d}/out.bmp"], "writes .png, .jpg, .tif and .npy"),
    (["restore", "{d}/blurred.png", "--device", "gpu"], "--device gpu needs CuPy and a CUDA GPU"),
    (["restore", "{d}/blurred.png", "--noise-sigma", "-0.01"], "--noise-sigma must be a finite number >= 0"),
    (["deconvolve", "{d}/blurred.png", "--psf", "disk:radius=2", "--noise-sigma", "nan"],
     "--noise-sigma must be a finite number >= 0"),
    (["deconvolve", "{d}/blurred.png", "--psf", "disk:radius=2", "--method", "wiener", "--noise-sigma", "0.01"],
     "--noise-sigma applies to --method auto, tv, rl, pnp; not wiener"),
])
def test_bad_command_lines(files, capsys, argv, message):
    if "gpu" in argv and unblur._backend.cupy_available():
        pytest.skip("CuPy is importable here: --device gpu may work")
    argv = [a.format(d=files) for a in argv]
    status, out, err = _run(capsys, *argv)
    assert status in (1, 2) and message in err
    assert len(err.strip().splitlines()) == 1


def test_the_entry_points_run(files):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-m", "unblur", "info"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0 and '"cpu_threads"' in r.stdout
    r = subprocess.run([sys.executable, "-m", "unblur", "deconvolve", str(files / "missing.png"), "--psf",
                        "disk:radius=2"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "unblur", "nonsense"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_unreadable_inputs_and_unwritable_folders(files, capsys, monkeypatch):
    # Permissions cannot be taken from root, who runs CI: the operating system's answer
    # (os.access) is made "no" for the paths in question instead, and the CLI must say so.
    d = files
    real_access = os.access
    locked = {str(d / "blurred.png"), str(d / "ro")}
    (d / "ro").mkdir()

    def access(path, mode, *a, **k):
        return False if os.fspath(path) in locked else real_access(path, mode, *a, **k)

    monkeypatch.setattr(unblur.io.os, "access", access)
    monkeypatch.setattr(cli.os, "access", access)
    status, _, err = _run(capsys, "deconvolve", str(d / "blurred.png"), str(d / "sharp.png"), "--psf",
                          "disk:radius=2")
    assert status == 1 and "not readable (permission denied)" in err and (d / "sharp-deconvolved.png").exists()
    status, _, err = _run(capsys, "deconvolve", str(d / "sharp.png"), "--psf", "disk:radius=2", "--output-dir",
                          str(d / "ro"))
    assert status == 2 and "not writable" in err
    status, _, err = _run(capsys, "deconvolve", str(d / "sharp.png"), "--psf", "disk:radius=2", "-o",
                          str(d / "ro" / "x.png"))
    assert status == 1 and "is not writable" in err


def test_pnp_from_the_command_line(files, capsys):
    """--method pnp for deconvolve (with its progress over the iterations) and restore."""
    pytest.importorskip("onnxruntime")
    d = files
    status, out, err = _run(capsys, "simulate", str(d / "sharp.png"), "--psf", "gaussian:sigma=1.5", "--noise",
                            "0.01", "--output", str(d / "noisy.png"))
    assert status == 0, err
    status, out, err = _run(capsys, "deconvolve", str(d / "noisy.png"), "--psf", "gaussian:sigma=1.5",
                            "--method", "pnp", "--iterations", "4", "--json")
    assert status == 0, err
    assert json.loads(out)["results"][0]["method"] == "pnp"
    status, out, err = _run(capsys, "evaluate", str(d / "noisy.png"), str(d / "noisy-deconvolved.png"),
                            "--reference", str(d / "sharp.png"), "--json")
    before, after = json.loads(out)["results"]
    assert after["psnr"] > before["psnr"] + 1.0
    status, out, err = _run(capsys, "restore", str(d / "blurred.png"), "--method", "pnp", "--json")
    assert status == 0, err
    doc = json.loads(out)["results"][0]
    assert doc["model"] == "motion" and doc["method"] == "pnp"


@pytest.mark.parametrize("method", ["auto", "rl", "pnp"])
def test_a_jpegs_noise_comes_from_its_tables_or_is_given(tmp_path, capsys, method):
    """A JPEG removes the finest details, where estimate_noise measures the noise, so
    every method on its own estimate under-regularises it. The command line takes a JPEG
    file's noise from its quantisation tables (unblur.io.jpeg_noise), or --noise-sigma.
    Measured on this 130 x 130 grey crop (defocus 3 in linear light, noise 0.01, quality
    90), PSNR against the sharp code values, the method's own estimate / the tables /
    told 0.01: TV (auto) 21.01 / 28.19 / 28.32 dB, RL 17.75 / 27.69 / 27.34, PnP 14.36 /
    28.11 / 28.71; the JPEG itself 25.23. The bounds: above the JPEG by 1.0 dB (under
    half the smallest gain, RL's +2.1) and above the own estimate by 3 dB (under half
    the smallest gain, TV's +7.2)."""
    if method == "pnp":
        pytest.importorskip("onnxruntime")
    sharp = unblur.data.astronaut()[40:176, 120:256, 1].astype(np.float64) / 255
    psf = unblur.psf.disk(3.0)
    light = unblur.convolve(unblur.io.srgb_to_linear(sharp), psf, mode="valid")
    code = unblur.io.linear_to_srgb(light) + np.random.default_rng(0).normal(0, 0.01, light.shape)
    PILImage.fromarray(np.round(np.clip(code, 0, 1) * 255).astype(np.uint8)).save(tmp_path / "in.jpg", quality=90)
    truth = sharp[3:-3, 3:-3]

    def psnr(got):
        return float(unblur.metrics.psnr(truth, got, data_range=1))

    def psnr_file(name):
        return psnr(np.asarray(PILImage.open(tmp_path / name), dtype=np.float64) / 255)

    img = unblur.io.read(tmp_path / "in.jpg")
    own = unblur.deconvolve(img.data, psf.astype(np.float32), method=method)
    own = psnr(unblur.io.linear_to_srgb(np.clip(own, 0, 1)))
    runs = {}
    for extra in ([], ["--noise-sigma", "0.01"]):
        status, out, err = _run(capsys, "deconvolve", str(tmp_path / "in.jpg"), "--psf", "disk:radius=3",
                                "--method", method, "-o", str(tmp_path / "out.png"), "--overwrite", "--json", *extra)
        assert status == 0, err
        runs[json.loads(out)["results"][0]["noise_source"]] = psnr_file("out.png")
    jpeg = psnr_file("in.jpg")
    assert set(runs) == {"jpeg", "given"}
    for got in runs.values():
        assert got > jpeg + 1.0
        assert got > own + 3.0


def test_a_png_saved_from_a_jpeg_gets_the_noise_of_the_tables_found(tmp_path, capsys):
    """The same crop as above, its JPEG decoded and saved as a PNG (what many tools do):
    unblur.io.detect_jpeg finds the tables in the pixels, so TV gets the level the JPEG
    file would give it (28.19 dB above; on its own estimate 21.01, the JPEG 25.23)."""
    sharp = unblur.data.astronaut()[40:176, 120:256, 1].astype(np.float64) / 255
    psf = unblur.psf.disk(3.0)
    light = unblur.convolve(unblur.io.srgb_to_linear(sharp), psf, mode="valid")
    code = unblur.io.linear_to_srgb(light) + np.random.default_rng(0).normal(0, 0.01, light.shape)
    PILImage.fromarray(np.round(np.clip(code, 0, 1) * 255).astype(np.uint8)).save(tmp_path / "in.jpg", quality=90)
    with PILImage.open(tmp_path / "in.jpg") as im:
        PILImage.fromarray(np.asarray(im)).save(tmp_path / "in.png")
    truth = sharp[3:-3, 3:-3]

    def psnr_file(name):
        return float(unblur.metrics.psnr(truth, np.asarray(PILImage.open(tmp_path / name), np.float64) / 255,
                                         data_range=1))

    docs = {}
    for name in ("in.jpg", "in.png"):
        status, out, err = _run(capsys, "deconvolve", str(tmp_path / name), "--psf", "disk:radius=3", "--method", "tv",
                                "-o", str(tmp_path / f"out-{name}.png"), "--overwrite", "--json")
        assert status == 0, err
        docs[name] = json.loads(out)["results"][0]
    assert docs["in.jpg"]["noise_source"] == "jpeg" and docs["in.png"]["noise_source"] == "jpeg-detected"
    assert abs(psnr_file("out-in.png.png") - psnr_file("out-in.jpg.png")) < 0.01
    assert psnr_file("out-in.png.png") > psnr_file("in.png") + 1.0


def test_a_png_keeps_the_methods_own_noise_estimate(files, capsys):
    status, out, err = _run(capsys, "deconvolve", str(files / "blurred.png"), "--psf", "disk:radius=2", "--json",
                            "--iterations", "3", "--method", "tv")
    assert status == 0, err
    assert json.loads(out)["results"][0]["noise_source"] == "estimated"


def test_noise_sigma_in_linear_light_follows_the_srgb_curve():
    """--noise-sigma is in the file's code values; decoded to linear light it becomes the
    noise sigma times the curve's slope (a map for PnP, its RMS for the others)."""
    class Args:
        method = "tv"

    img = unblur.io.Image(np.full((8, 8), 0.5, np.float32), linear=True)
    code = float(unblur.io.linear_to_srgb(np.array([0.5]))[0])
    slope = 2.4 / 1.055 * ((code + 0.055) / 1.055) ** 1.4
    # The slope is the inverse curve's derivative: a small step in code values moves light by it.
    step = 1e-6
    up, down = unblur.io.srgb_to_linear(np.array([code + step, code - step]))
    numeric = (up - down) / (2 * step)
    assert slope == pytest.approx(numeric, rel=1e-6)
    got = cli._noise_params(Args, 0.01, img, img.data, None)
    assert got["noise_sigma"] == pytest.approx(0.01 * slope, rel=1e-5)
    Args.method = "pnp"
    got = cli._noise_params(Args, 0.01, img, img.data, None)
    np.testing.assert_allclose(got["noise_sigma"], 0.01 * slope, rtol=1e-5)
    assert got["noise_sigma"].shape == (8, 8)


def test_an_output_that_is_a_link_to_an_input_never_replaces_it(files, capsys):
    """--overwrite replaces outputs, never an input: not through a symbolic link nor a
    hard link that names the input under the output's name."""
    d = files
    before = (d / "blurred.png").read_bytes()
    os.symlink(d / "blurred.png", d / "blurred-deconvolved.png")
    os.link(d / "blurred.png", d / "hard.png")
    status, _, err = _run(capsys, "deconvolve", str(d / "blurred.png"), "--psf", "disk:radius=2", "--overwrite")
    assert status == 1 and "would replace an input" in err
    status, _, err = _run(capsys, "deconvolve", str(d / "blurred.png"), "--psf", "disk:radius=2", "--overwrite",
                          "-o", str(d / "hard.png"))
    assert status == 1 and "would replace an input" in err
    assert (d / "blurred.png").read_bytes() == before


def test_a_file_whose_name_holds_glob_characters_is_that_file(files, capsys):
    d = files
    (d / "shot [1].png").write_bytes((d / "blurred.png").read_bytes())
    status, _, err = _run(capsys, "deconvolve", str(d / "shot [1].png"), "--psf", "disk:radius=2", "-q")
    assert status == 0, err
    assert (d / "shot [1]-deconvolved.png").exists()


def test_json_is_standard_json_when_a_score_is_infinite(files, capsys):
    """PSNR of identical images is infinite: the document stays valid JSON (no bare
    Infinity, which strict parsers such as jq refuse) and says null."""
    d = files

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    status, out, err = _run(capsys, "evaluate", str(d / "sharp.png"), "--reference", str(d / "sharp.png"), "--json")
    assert status == 0, err
    result = json.loads(out, parse_constant=refuse)["results"][0]
    assert result["psnr"] is None and result["ssim"] == pytest.approx(1.0)


def test_inputs_in_formats_unblur_reads_but_does_not_write_give_png(files, capsys):
    """BMP, GIF and WebP are read (and picked from folders); their outputs are PNG rather
    than a failure after the work. -o with such a name is refused before any work."""
    d = files
    with PILImage.open(d / "blurred.png") as im:
        im.save(d / "scan.bmp")
        im.convert("P").save(d / "anim.gif")
    status, _, err = _run(capsys, "deconvolve", str(d / "scan.bmp"), str(d / "anim.gif"), "--psf",
                          "disk:radius=2", "--method", "wiener", "-q")
    assert status == 0, err
    for name in ("scan-deconvolved.png", "anim-deconvolved.png"):
        with PILImage.open(d / name) as im:
            assert im.format == "PNG" and im.size == (96, 96)
    status, _, err = _run(capsys, "deconvolve", str(d / "scan.bmp"), "--psf", "disk:radius=2", "-o",
                          str(d / "out.bmp"))
    assert status == 2 and "writes .png, .jpg, .tif and .npy" in err


def test_two_inputs_with_one_output_name_do_not_replace_each_other(files, capsys):
    """x/p.png and y/p.png into one --output-dir: even with --overwrite the second must
    not silently replace the first's result."""
    d = files
    for sub in ("x", "y"):
        (d / sub).mkdir()
        (d / sub / "p.png").write_bytes((d / ("blurred.png" if sub == "x" else "sharp.png")).read_bytes())
    (d / "out").mkdir()
    status, out, err = _run(capsys, "deconvolve", str(d / "x" / "p.png"), str(d / "y" / "p.png"), "--psf",
                            "disk:radius=2", "--method", "wiener", "--output-dir", str(d / "out"), "--overwrite",
                            "--json")
    results = json.loads(out)["results"]
    assert status == 1 and results[0]["error"] is None
    assert "also the output of" in results[1]["error"] and str(d / "x" / "p.png") in results[1]["error"]


def test_estimate_psf_honours_bits(files, capsys):
    d = files
    status, _, err = _run(capsys, "estimate-psf", str(d / "blurred.png"), "--format", "tif", "--bits", "32", "-q")
    assert status == 0, err
    psf = tifffile.imread(d / "blurred-psf.tif")
    assert psf.dtype == np.float32 and psf.sum() == pytest.approx(1.0, rel=1e-5)  # float: the PSF as it is


@pytest.mark.parametrize("argv", [
    ["deconvolve", "{d}/blurred.png", "{d}/sharp.png", "--psf", "disk:radius=2", "--method", "rl",
     "--iterations", "0"],
    ["restore", "{d}/blurred.png", "{d}/sharp.png", "--size", "4"],
    ["estimate-psf", "{d}/blurred.png", "{d}/sharp.png", "--size", "1"],
])
def test_bad_numbers_are_a_bad_command_line_said_once(files, capsys, argv):
    """A bad --iterations or --size is the command line's fault: status 2, one line,
    before any file is read (it was one error per file, status 1)."""
    status, _, err = _run(capsys, *[a.format(d=files) for a in argv])
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert not list(files.glob("*-deconvolved.png")) + list(files.glob("*-restored.png"))


def test_simulate_passes_threads_on(files, capsys, monkeypatch):
    seen = []
    real = unblur.convolve

    def convolve(*a, **k):
        seen.append(k.get("threads"))
        return real(*a, **k)

    monkeypatch.setattr(unblur, "convolve", convolve)
    status, _, err = _run(capsys, "simulate", str(files / "sharp.png"), "--psf", "disk:radius=2", "--threads", "1",
                          "-q")
    assert status == 0, err
    assert seen == [1]


@pytest.mark.parametrize(("argv", "second", "first"), [
    (["deconvolve", "{d}/blurred.png", "--psf", "disk:radius=2", "--method", "wiener", "--compare"],
     "blurred-deconvolved-compare.png", "blurred-deconvolved.png"),
    (["estimate-psf", "{d}/blurred.png", "--picture"], "blurred-psf-view.png", "blurred-psf.png"),
])
def test_an_existing_second_output_stops_the_file_before_anything_is_written(files, capsys, argv, second, first):
    """--compare / --picture outputs are checked with the main one, before the work: the
    main output is not left behind by a run that failed (a rerun then said it exists)."""
    (files / second).write_bytes(b"keep")
    status, _, err = _run(capsys, *[a.format(d=files) for a in argv])
    assert status == 1 and "exists; pass --overwrite" in err
    assert not (files / first).exists() and (files / second).read_bytes() == b"keep"


@pytest.mark.parametrize("option", [["--no-linear"], ["--threads", "2"]])
def test_evaluate_has_no_options_that_would_do_nothing(files, capsys, option):
    """evaluate scores the files' code values and runs no threaded work: --no-linear and
    --threads (which the other commands take) are a usage error there, not ignored."""
    d = files
    status, _, err = _run(capsys, "evaluate", str(d / "sharp.png"), "--reference", str(d / "sharp.png"), *option)
    assert status == 2 and "unrecognized arguments" in err and option[0] in err
    status, _, err = _run(capsys, "simulate", str(d / "sharp.png"), "--psf", "disk:radius=2", "-q", *option)
    assert status == 0, err
