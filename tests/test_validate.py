"""The dtype policy and argument checks shared by every public function."""

from __future__ import annotations

import numpy as np
import pytest
import unblur
from unblur import _validate


@pytest.mark.parametrize(
    "dtype,expected",
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.float16, np.float32),
        (np.uint8, np.float32),
        (np.uint16, np.float32),
        (np.int32, np.float32),
        (np.bool_, np.float32),
    ],
)
def test_policy_dtype(dtype, expected):
    assert _validate.policy_dtype(dtype) == expected


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_rejected(dtype):
    with pytest.raises(TypeError, match="image must be real"):
        _validate.as_image(np.ones((4, 4), dtype))


def test_integers_scaled_to_unit_range():
    x, _ = _validate.as_image(np.array([[0, 128, 255]], np.uint8))
    np.testing.assert_allclose(x, [[0, 128 / 255, 1]], rtol=1e-7)
    assert x.dtype == np.float32
    y, _ = _validate.as_image(np.array([[0, 65535]], np.uint16))
    np.testing.assert_allclose(y, [[0, 1]])
    b, _ = _validate.as_image(np.array([[True, False]]))
    np.testing.assert_array_equal(b, [[1, 0]])


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">u2", ">i4"])
def test_byte_swapped_arrays_are_converted(rng, dtype):
    # Big-endian data (as read from some TIFF or FITS files) goes through the policy.
    native = np.dtype(dtype).newbyteorder("=")
    x = (rng.random((9, 11)) * (1000 if native.kind in "ui" else 1)).astype(native)
    got, _ = _validate.as_image(x.astype(dtype))
    want, _ = _validate.as_image(x)
    assert got.dtype == want.dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, want)
    y = (x // 2 + 1 if native.kind in "ui" else x * 0.5 + 1).astype(native)  # the same kind, so the same units
    assert unblur.metrics.psnr(x.astype(dtype), y.astype(dtype)) == unblur.metrics.psnr(x, y)


def test_unpickled_arrays_reach_the_core(rng):
    # An unpickled array's dtype is equal to, but not the same object as, numpy's
    # float64; the bindings compare dtypes by equivalence.
    import pickle

    x = pickle.loads(pickle.dumps(rng.random((8, 8))))
    psf = pickle.loads(pickle.dumps(np.full((3, 3), 1 / 9)))
    np.testing.assert_array_equal(unblur.convolve(x, psf), unblur.convolve(x.copy(), psf.copy()))
    assert unblur._core.project_kernel(psf) is not None


def test_input_is_not_modified_and_result_contiguous(rng):
    x = rng.random((10, 12))
    view = x[:, ::2]
    before = view.copy()
    out, _ = _validate.as_image(view)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(view, before)
    ro = rng.random((4, 4))
    ro.flags.writeable = False
    out, _ = _validate.as_image(ro)  # read-only input is fine to read
    np.testing.assert_array_equal(out, ro)


def test_channel_axis():
    x = np.zeros((5, 6, 3))
    _, axis = _validate.as_image(x, channel_axis=-1)
    assert axis == 2
    with pytest.raises(ValueError, match="channel_axis=3 is out of range"):
        _validate.as_image(x, channel_axis=3)
    with pytest.raises(TypeError, match="channel_axis must be an int"):
        _validate.as_image(x, channel_axis=1.0)
    with pytest.raises(ValueError, match="spatial dimensions plus the channel axis"):
        _validate.as_image(np.zeros((5, 3)), channel_axis=-1)


@pytest.mark.parametrize(
    "value,exc,match",
    [
        (np.zeros((3, 0)), ValueError, "image is empty"),
        (np.zeros(4), ValueError, "2 or 3 spatial dimensions"),
        (np.array([[np.inf]]), ValueError, "NaN or infinite"),
        (np.array([["a"]]), TypeError, "numeric array"),
        (None, TypeError, "image must be an array"),
        ({"a": 1}, TypeError, "image must be an array"),
    ],
)
def test_as_image_errors(value, exc, match):
    with pytest.raises(exc, match=match):
        _validate.as_image(value)


def test_psf_normalised_and_checked():
    psf = _validate.as_psf(np.ones((3, 3)), ndim=2, dtype=np.float32)
    assert psf.dtype == np.float32 and psf.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="psf must have a positive sum"):
        _validate.as_psf(np.zeros((3, 3)), ndim=2, dtype=np.float64)
    with pytest.raises(ValueError, match="psf must have a positive sum"):
        _validate.as_psf(-np.ones((3, 3)), ndim=2, dtype=np.float64)
    with pytest.raises(ValueError, match="odd sizes"):
        _validate.as_psf(np.ones((4, 3)), ndim=2, dtype=np.float64, require_odd=True)
    with pytest.raises(ValueError, match="psf must have 2 dimensions"):
        _validate.as_psf(np.ones(3), ndim=2, dtype=np.float64)
    with pytest.raises(TypeError, match="psf must be real"):
        _validate.as_psf(np.ones((3, 3), complex), ndim=2, dtype=np.float64)


def test_check_out():
    good = np.empty((4, 5), np.float32)
    assert _validate.check_out(good, (4, 5), np.float32) is good
    with pytest.raises(TypeError, match="out must have dtype float32"):
        _validate.check_out(np.empty((4, 5)), (4, 5), np.float32)
    with pytest.raises(ValueError, match="out must have shape"):
        _validate.check_out(np.empty((4, 4), np.float32), (4, 5), np.float32)
    with pytest.raises(TypeError, match="out must be C-contiguous"):
        _validate.check_out(np.empty((4, 10), np.float32)[:, ::2], (4, 5), np.float32)
    ro = np.empty((4, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        _validate.check_out(ro, (4, 5), np.float32)


def test_scalar_checks():
    assert _validate.positive_float(2, "sigma") == 2.0
    with pytest.raises(ValueError, match="sigma must be > 0"):
        _validate.positive_float(0, "sigma")
    with pytest.raises(ValueError, match="sigma must be finite"):
        _validate.positive_float(float("nan"), "sigma")
    with pytest.raises(TypeError, match="sigma must be a real number"):
        _validate.positive_float("1", "sigma")
    with pytest.raises(TypeError, match="sigma must be a real number"):
        _validate.positive_float(True, "sigma")
    with pytest.raises(ValueError, match="n must be >= 1"):
        _validate.positive_int(0, "n")
    assert _validate.axis_tuple([1, 2], 2, "sigma", _validate.nonnegative_float) == (1.0, 2.0)
    with pytest.raises(ValueError, match="sigma must be a scalar or have 2 values"):
        _validate.axis_tuple([1, 2, 3], 2, "sigma", _validate.nonnegative_float)
    with pytest.raises(ValueError, match="mode must be one of"):
        _validate.choice("x", "mode", {"a", "b"})


def test_an_integer_beyond_floats_range_is_a_value_error():
    # float(10**400) raises OverflowError; the checks say which argument.
    for check in (_validate.finite_float, _validate.positive_float, _validate.nonnegative_float):
        with pytest.raises(ValueError, match="lam must be finite, got an integer too large for a float"):
            check(10**400, "lam")
    assert _validate.finite_float(-(10**300), "lam") == -1e300
