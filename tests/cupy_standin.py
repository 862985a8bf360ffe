"""A CPU stand-in for CuPy, for tests only: NumPy underneath, CuPy's rules on top.

``install()`` returns the modules to put in ``sys.modules`` (``cupy``, ``cupy.fft``,
``cupy.cuda``, ``cupyx``, ``cupyx.scipy``, ``cupyx.scipy.special``); the ``fake_cupy``
fixture in conftest.py does it for one test and undoes it afterwards. Nothing here is
imported or installed at collection time.

It exists to test unblur's namespace discipline on a machine without a GPU: code that
would fail on a real CuPy array (mixing it with a NumPy array, converting it implicitly,
sending it to the C++ engine) fails here too, and every host <-> device transfer is
counted (``transfers``). It is never more permissive than CuPy; where it is stricter,
the rule says so. The rules, with where they come from (CuPy's sources,
cupy/_core/core.pyx, _kernel.pyx, _scalar.pyx, _routines_indexing.pyx, and the "CuPy
and NumPy" pages of its documentation):

1. ``ndarray`` is not a ``numpy.ndarray`` subclass (CuPy's is not either), and its
   ``__module__`` is "cupy", so ``type(x).__module__.startswith("cupy")`` holds.
2. Operands: a CuPy array combines with CuPy arrays, Python scalars (bool, int, float,
   complex) and NumPy scalars (``numpy.generic``); anything else, a NumPy array of any
   ndim included, raises TypeError (CuPy's ``_scalar.CScalar`` accepts only those
   scalar types: "Unsupported type <class 'numpy.ndarray'>"). This holds for the
   operators, for NumPy ufuncs called on CuPy arrays (``__array_ufunc__``: CuPy maps
   ``numpy.exp(x)`` to ``cupy.exp(x)``, so do we) and for every function of this
   namespace. CuPy's one exception, 0-d NumPy arrays in comparison ufuncs called
   through NumPy (numpy/numpy#12142), is kept.
3. ``numpy.asarray(x)`` / ``numpy.array(x)`` / anything that calls ``__array__``:
   TypeError "Implicit conversion to a NumPy array is not allowed. Please use `.get()`
   to construct a NumPy array explicitly." (CuPy's exact message). The C++ engine
   (pybind11 converts through ``__array__``) therefore refuses stand-in arrays too.
4. NumPy's non-ufunc functions (``numpy.sum(x)``, ``numpy.where(x, ...)``,
   ``numpy.median(x)``): STRICTER than CuPy by default. Real CuPy implements NEP 18
   (``__array_function__``) and forwards such calls to ``cupy.<name>`` when it exists
   (else TypeError); the stand-in raises TypeError naming the function, so that unblur
   calls the array's namespace (``xp.sum``) and never relies on the forwarding (which
   breaks as soon as CuPy lacks the function or the call mixes in a NumPy array).
   ``NEP18_DISPATCH = True`` switches to CuPy's forwarding.
5. Reductions (``x.sum()``, ``cupy.median(x)``, ``x.max()``) and integer indexing
   (``x[0, 0]``) return 0-d arrays on the device, not scalars (as CuPy).
6. Reading a value on the host: ``float(x)``, ``int(x)``, ``complex(x)``, ``bool(x)``,
   ``x.item()`` of a size-1 array are allowed (CuPy: a synchronising copy of one value)
   and counted as scalar reads. Operations whose output size depends on the data
   synchronise in CuPy to read a count (``nonzero``, ``argwhere``, ``flatnonzero``,
   ``unique``, ``compress``, boolean-mask indexing ``x[mask]``): counted as one scalar
   read each.
7. Array transfers, counted with their sizes: uploads are ``cupy.asarray`` /
   ``cupy.array`` of host data (NumPy arrays, lists, scalars), ``x.set(a)``,
   ``x[:] = a`` with a NumPy array of x's shape and dtype (the one NumPy value CuPy's
   ``__setitem__`` accepts), and NumPy arrays or lists used as indices (CuPy converts
   them with ``cupy.array``). Downloads are ``x.get()``, ``cupy.asnumpy(x)``,
   ``x.tolist()``, ``repr(x)`` / ``str(x)`` / ``format(x)`` (CuPy prints through
   ``get()``).
8. ``cupy.ascontiguousarray`` / ``cupy.*_like`` / everything that is not one of the
   creation functions of rule 7 refuse NumPy arrays (stricter than CuPy for the few
   functions that would accept one, e.g. ``cupy.take`` with NumPy indices), and a
   function that takes arrays must get at least one device array (``cupy.sum([1, 2])``
   is refused: CuPy's routines do not take host lists); ufuncs take device arrays and
   scalars only.
9. ``x.flags`` has ``c_contiguous``, ``f_contiguous`` and ``owndata`` only (no
   ``writeable``, as CuPy); ``x.data.ptr`` is the NumPy buffer's address (fake: it
   must never reach the CUDA module, which the fixture ensures with
   ``UNBLUR_BACKEND=cupy``); ``x.device.id`` is the device that was current when the
   array was made. Two devices exist, 0 and 1 (``cupy.cuda.Device(1)`` lets a test
   make an array on another device); there is no ``cupy.cuda.runtime``, so a probe for
   GPUs (conftest's) finds none even if the stand-in were installed.
10. FFTs follow CuPy's dtypes: float32 / complex64 in, complex64 (or float32 for the
    inverse real transforms) out; anything else complex128 / float64.
11. No ``numpy.random.Generator`` methods, no pickling (CuPy pickles through a
    download; refused here so that a test cannot do it unnoticed).
"""

from __future__ import annotations

import sys
import types

import numpy as np

NEP18_DISPATCH = False
DEVICE_COUNT = 2
_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
             "Please use `.get()` to construct a NumPy array explicitly.")


# ---- transfer counters ------------------------------------------------------------------
class Transfers:
    """Host <-> device traffic since the last reset(): counts, bytes and where each
    transfer came from (the first caller outside this module)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.uploads = 0
        self.upload_bytes = 0
        self.downloads = 0
        self.download_bytes = 0
        self.scalar_reads = 0
        self.log = []  # (kind, elements, "file:line function")

    def _record(self, kind, elements, nbytes):
        where = _caller()
        if kind == "upload":
            self.uploads += 1
            self.upload_bytes += nbytes
        elif kind == "download":
            self.downloads += 1
            self.download_bytes += nbytes
        else:
            self.scalar_reads += 1
        self.log.append((kind, int(elements), where))

    def largest_upload(self):
        return max([n for k, n, _ in self.log if k == "upload"], default=0)

    def where(self, kind):
        """{caller: count} of one kind of transfer."""
        out = {}
        for k, _, w in self.log:
            if k == kind:
                out[w] = out.get(w, 0) + 1
        return out

    def summary(self):
        return (f"{self.uploads} uploads ({self.upload_bytes} B, largest {self.largest_upload()} elements), "
                f"{self.downloads} downloads ({self.download_bytes} B), {self.scalar_reads} scalar reads")


transfers = Transfers()


def _caller():
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename == __file__:
        f = f.f_back
    if f is None:
        return "?"
    return f"{f.f_code.co_filename.rsplit('/', 1)[-1]}:{f.f_lineno} {f.f_code.co_name}"


# ---- devices and streams ------------------------------------------------------------------
class _CUDARuntimeError(RuntimeError):
    pass


class Device:
    """cupy.cuda.Device: ``id``, a context manager making it current, ``use()``."""

    _current = 0

    def __init__(self, device=None):
        if device is None:
            device = Device._current
        device = int(device)
        if not 0 <= device < DEVICE_COUNT:
            raise _CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self.id = device
        self._previous = []

    def use(self):
        Device._current = self.id

    def synchronize(self):
        pass

    def __enter__(self):
        self._previous.append(Device._current)
        Device._current = self.id
        return self

    def __exit__(self, *exc):
        Device._current = self._previous.pop()

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class Stream:
    """cupy.cuda.Stream: ``ptr`` (0 for the null stream), a context manager."""

    _next_ptr = 0x1000
    _stack = []

    def __init__(self, null=False, non_blocking=False, ptds=False):
        if null:
            self.ptr = 0
        else:
            Stream._next_ptr += 0x100
            self.ptr = Stream._next_ptr

    def synchronize(self):
        pass

    def __enter__(self):
        Stream._stack.append(self)
        return self

    def __exit__(self, *exc):
        Stream._stack.pop()


Stream.null = Stream(null=True)


def get_current_stream():
    return Stream._stack[-1] if Stream._stack else Stream.null


class _MemoryPointer:
    def __init__(self, arr, device):
        self.ptr = arr.ctypes.data
        self.device_id = device
        self.device = Device(device)


class _Flags:
    def __init__(self, a):
        self.c_contiguous = bool(a.flags.c_contiguous)
        self.f_contiguous = bool(a.flags.f_contiguous)
        self.owndata = a.base is None

    def __getitem__(self, name):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[name]

    def __repr__(self):
        return f"  C_CONTIGUOUS : {self.c_contiguous}\n  F_CONTIGUOUS : {self.f_contiguous}\n  OWNDATA : {self.owndata}"


# ---- operands --------------------------------------------------------------------------------
_PY_SCALARS = (bool, int, float, complex)


def _unsupported(v, where=""):
    return TypeError(f"Unsupported type {type(v)}{where}")


def _operand(v):
    """A CuPy operand as NumPy data: a stand-in array's buffer, or a scalar (rule 2)."""
    if isinstance(v, ndarray):
        return v._a
    if type(v) in _PY_SCALARS or isinstance(v, np.generic):
        return v
    raise _unsupported(v)


def _device_args(v, name):
    """Arguments of a CuPy function: stand-in arrays unwrapped (also inside lists and
    tuples), NumPy arrays refused (rules 2 and 8), everything else passed through."""
    if isinstance(v, ndarray):
        return v._a
    if isinstance(v, np.ndarray):
        raise TypeError(f"cupy.{name}: Unsupported type {type(v)} (a NumPy array given to a CuPy function; "
                        f"copy it to the device with cupy.asarray first)")
    if isinstance(v, (list, tuple)):
        return type(v)(_device_args(x, name) for x in v)
    return v


def _has_device(v):
    if isinstance(v, ndarray):
        return True
    if isinstance(v, (list, tuple)):
        return any(_has_device(x) for x in v)
    return False


def _wrap(r, device=None):
    """NumPy results as device arrays: arrays wrapped, NumPy scalars as 0-d arrays
    (rule 5), tuples and lists element by element; Python objects unchanged."""
    if isinstance(r, np.ndarray):
        return ndarray._from(r, device)
    if isinstance(r, np.generic):
        return ndarray._from(np.asarray(r), device)
    if isinstance(r, tuple):
        return tuple(_wrap(x, device) for x in r)
    if isinstance(r, list):
        return [_wrap(x, device) for x in r]
    return r


def _index(key):
    """An index for a stand-in array: stand-in index arrays unwrapped; NumPy arrays and
    lists are copied to the device as CuPy does (counted as uploads, rule 7)."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, (np.ndarray, list)):
        a = np.asarray(key)
        transfers._record("upload", a.size, a.nbytes)
        return a
    return key


def _is_mask(key):
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, np.ndarray) and k.dtype == np.bool_ for k in keys)


# ---- the array ---------------------------------------------------------------------------------
class ndarray:
    """A device array of the stand-in: NumPy data behind CuPy's interface."""

    __module__ = "cupy"
    __slots__ = ("_a", "_dev")
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        self._a = np.empty(shape, dtype=dtype, order=order)
        self._dev = Device._current

    @classmethod
    def _from(cls, a, device=None):
        obj = cls.__new__(cls)
        obj._a = a
        obj._dev = Device._current if device is None else device
        return obj

    # -- attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: _Flags(self._a))
    data = property(lambda self: _MemoryPointer(self._a, self._dev))
    device = property(lambda self: Device(self._dev))
    T = property(lambda self: self._same(self._a.T))
    real = property(lambda self: self._same(self._a.real))
    imag = property(lambda self: self._same(self._a.imag))
    base = property(lambda self: None if self._a.base is None else self._same(self._a.base))

    def _same(self, a):
        return ndarray._from(a, self._dev)

    # -- conversions (rules 3, 6, 7)
    def __array__(self, dtype=None, copy=None):
        raise TypeError(_IMPLICIT)

    def _scalar(self):
        if self._a.size != 1:
            raise TypeError("only size-1 arrays can be converted to Python scalars")
        transfers._record("scalar", 1, self._a.itemsize)
        return self._a

    def __float__(self):
        return float(self._scalar())

    def __int__(self):
        return int(self._scalar())

    def __complex__(self):
        return complex(self._scalar())

    def __bool__(self):
        if self._a.size != 1:
            raise ValueError("The truth value of an array with more than one element is ambiguous. "
                             "Use a.any() or a.all()")
        return bool(self._scalar())

    def item(self):
        if self._a.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self._scalar().item()

    def get(self, stream=None, order="C", out=None):
        transfers._record("download", self._a.size, self._a.nbytes)
        if out is not None:
            if not isinstance(out, np.ndarray):
                raise TypeError("Only numpy.ndarray can be obtained from cupy.ndarray")
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if arr.dtype != self._a.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self._a.dtype} array")
        if arr.shape != self._a.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self._a.shape}, new shape: {arr.shape}")
        transfers._record("upload", arr.size, arr.nbytes)
        self._a[...] = arr

    def tolist(self):
        transfers._record("download", self._a.size, self._a.nbytes)
        return self._a.tolist()

    def __repr__(self):
        transfers._record("download", self._a.size, self._a.nbytes)
        return repr(self._a)

    def __str__(self):
        transfers._record("download", self._a.size, self._a.nbytes)
        return str(self._a)

    def __format__(self, spec):
        transfers._record("download", self._a.size, self._a.nbytes)
        return format(self._a, spec)

    def __reduce__(self):
        raise TypeError("stand-in arrays cannot be pickled (CuPy would download them to do it)")

    def __copy__(self):
        return self._same(self._a.copy())

    def __deepcopy__(self, memo):
        return self._same(self._a.copy())

    # -- NumPy protocols (rules 2 and 4)
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            return NotImplemented
        comparison = ufunc.__name__ in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal")
        args = []
        for x in inputs:
            if comparison and isinstance(x, np.ndarray) and x.ndim == 0:
                x = x.item()
            args.append(_operand(x))
        out = kwargs.pop("out", None)
        if out is not None:
            outs = out if isinstance(out, tuple) else (out,)
            if not all(isinstance(o, ndarray) for o in outs):
                raise TypeError("out must be a cupy.ndarray")
            kwargs["out"] = tuple(o._a for o in outs)
            ufunc(*args, **kwargs)
            return outs[0] if len(outs) == 1 else outs
        return _wrap(ufunc(*args, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        if not NEP18_DISPATCH:
            raise TypeError(f"numpy.{func.__name__}() was called with a cupy array: the stand-in refuses NumPy "
                            f"functions on device arrays (real CuPy forwards them to cupy.{func.__name__} "
                            f"where it exists); use the array's namespace")
        target = getattr(cupy, func.__name__, None)
        if target is None or not all(issubclass(t, (ndarray, np.ndarray)) for t in types):
            return NotImplemented
        return target(*args, **kwargs)

    # -- indexing
    def __getitem__(self, key):
        k = _index(key)
        if _is_mask(k):
            transfers._record("scalar", 1, 8)  # CuPy reads the number of selected elements
        r = self._a[k]
        if not isinstance(r, np.ndarray):
            r = np.asarray(r)
        return self._same(r)

    def __setitem__(self, key, value):
        k = _index(key)
        if isinstance(value, np.ndarray):
            # CuPy copies a NumPy value from the host only for x[:] = a of the same
            # shape and dtype; any other NumPy value is an unsupported operand.
            whole = key is Ellipsis or (isinstance(key, slice) and key == slice(None))
            if whole and value.shape == self._a.shape and value.dtype == self._a.dtype:
                transfers._record("upload", value.size, value.nbytes)
                self._a[...] = value
                return
            raise _unsupported(value, " (assigning a NumPy array into a CuPy array)")
        self._a[k] = _operand(value)

    def __len__(self):
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._a.shape[0]))

    # -- methods (results stay on the device)
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        r = self._a.astype(dtype, order=order, copy=copy)
        return self if r is self._a else self._same(r)

    def copy(self, order="C"):
        return self._same(self._a.copy(order=order))

    def fill(self, value):
        self._a.fill(_operand(value))

    def sort(self, axis=-1):
        self._a.sort(axis=axis)

    def reshape(self, *shape, order="C"):
        return self._same(self._a.reshape(*shape, order=order))

    def nonzero(self):
        transfers._record("scalar", 1, 8)
        return _wrap(self._a.nonzero(), self._dev)

    def compress(self, condition, axis=None, out=None):
        transfers._record("scalar", 1, 8)
        return self._method("compress", condition, axis=axis, out=out)

    def dot(self, b, out=None):
        return self._method("dot", b, out=out)

    def _method(self, name, *args, **kwargs):
        out = kwargs.get("out")
        if out is not None:
            if not isinstance(out, ndarray):
                raise TypeError("out must be a cupy.ndarray")
            kwargs["out"] = out._a
        args = _device_args(args, name)
        r = getattr(self._a, name)(*args, **kwargs)
        return out if out is not None else _wrap(r, self._dev)


def _make_method(name):
    def method(self, *args, **kwargs):
        return self._method(name, *args, **kwargs)

    method.__name__ = name
    return method


for _name in ("sum", "prod", "mean", "var", "std", "max", "min", "argmax", "argmin", "all", "any", "cumsum",
              "cumprod", "clip", "round", "conj", "conjugate", "ravel", "flatten", "transpose", "swapaxes",
              "squeeze", "take", "repeat", "diagonal", "trace", "argsort", "partition", "argpartition", "view",
              "put", "choose"):
    setattr(ndarray, _name, _make_method(_name))


def _binary(ufunc, reflected=False):
    def op(self, other):
        if other is None:
            return NotImplemented
        a, b = (other, self) if reflected else (self, other)
        if isinstance(other, np.ndarray):  # CuPy hands these to NumPy's ufunc (its __array_ufunc__ decides)
            return self.__array_ufunc__(ufunc, "__call__", a, b)
        return _wrap(ufunc(_operand(a), _operand(b)), self._dev)

    return op


def _inplace(ufunc):
    def op(self, other):
        ufunc(self._a, _operand(other), out=self._a)
        return self

    return op


for _name, _uf in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
                   ("floordiv", np.floor_divide), ("mod", np.remainder), ("pow", np.power),
                   ("matmul", np.matmul), ("and", np.bitwise_and), ("or", np.bitwise_or),
                   ("xor", np.bitwise_xor), ("lshift", np.left_shift), ("rshift", np.right_shift)):
    setattr(ndarray, f"__{_name}__", _binary(_uf))
    setattr(ndarray, f"__r{_name}__", _binary(_uf, reflected=True))
    setattr(ndarray, f"__i{_name}__", _inplace(_uf))
for _name, _uf in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal),
                   ("eq", np.equal), ("ne", np.not_equal)):
    setattr(ndarray, f"__{_name}__", _binary(_uf))
ndarray.__neg__ = lambda self: self._same(-self._a)
ndarray.__pos__ = lambda self: self._same(+self._a)
ndarray.__abs__ = lambda self: self._same(np.abs(self._a))
ndarray.__invert__ = lambda self: self._same(~self._a)


# ---- the namespace --------------------------------------------------------------------------------
def _upload(obj, dtype=None, copy=True, order="K", ndmin=0):
    if _has_device(obj):  # device arrays (possibly in a list): no transfer
        a = np.array(_device_args(obj, "array"), dtype=dtype, copy=True if copy else None, order=order, ndmin=ndmin)
        return ndarray._from(a)
    if isinstance(obj, np.ndarray) or isinstance(obj, (list, tuple)) or type(obj) in _PY_SCALARS or \
            isinstance(obj, np.generic):
        a = np.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin)
        transfers._record("upload", a.size, a.nbytes)
        return ndarray._from(a)
    raise _unsupported(obj, " (cupy.array takes arrays, sequences and scalars)")


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, blocking=False):
    if isinstance(obj, ndarray):
        return ndarray._from(np.array(obj._a, dtype=dtype, copy=True if copy else None, order=order, ndmin=ndmin))
    return _upload(obj, dtype, copy, order, ndmin)


def asarray(a, dtype=None, order=None, blocking=False):
    if isinstance(a, ndarray):
        return a.astype(dtype if dtype is not None else a.dtype, copy=False)
    return _upload(a, dtype, order=order or "K")


asanyarray = asarray


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args):
    return cupy if any(isinstance(a, ndarray) for a in args) else np


# Functions that take no array: creation from shapes and values, dtype helpers.
_NO_ARRAY = set("""empty zeros ones full arange linspace logspace eye identity indices tri result_type can_cast
promote_types common_type min_scalar_type issubdtype finfo iinfo dtype isscalar""".split())


def _func(name, fn, syncs=False):
    ufunc = isinstance(fn, np.ufunc)
    needs_array = not ufunc and name.rsplit(".", 1)[-1] not in _NO_ARRAY

    def f(*args, **kwargs):
        out = kwargs.get("out")
        if out is not None and not isinstance(out, ndarray):
            raise TypeError(f"cupy.{name}: out must be a cupy.ndarray")
        if ufunc:  # CuPy ufuncs take device arrays and scalars only (rule 2)
            for a in args:
                if not isinstance(a, ndarray):
                    _operand(a)
        elif needs_array and not (_has_device(args) or _has_device(list(kwargs.values()))):
            raise TypeError(f"cupy.{name}: no cupy.ndarray among the arguments (host data given to a CuPy "
                            f"function; copy it to the device with cupy.asarray first)")
        args = _device_args(args, name)
        kwargs = {k: _device_args(v, name) for k, v in kwargs.items()}
        if syncs:
            transfers._record("scalar", 1, 8)
        r = fn(*args, **kwargs)
        return out if out is not None else _wrap(r)

    f.__name__ = name
    f.__qualname__ = name
    return f


# The NumPy functions CuPy provides (its "Comparison Table" of NumPy / SciPy APIs), by name.
_FUNCTIONS = """
abs absolute add subtract multiply divide true_divide floor_divide negative positive power float_power remainder
mod fmod sign exp exp2 expm1 log log2 log10 log1p sqrt cbrt square reciprocal sin cos tan arcsin arccos arctan
arctan2 hypot sinh cosh tanh arcsinh arccosh arctanh deg2rad rad2deg degrees radians floor ceil trunc rint round
around fix maximum minimum fmax fmin clip isfinite isinf isnan signbit copysign nextafter ldexp frexp modf conj
conjugate real imag angle logical_and logical_or logical_xor logical_not greater greater_equal less less_equal
equal not_equal bitwise_and bitwise_or bitwise_xor invert left_shift right_shift heaviside sinc nan_to_num i0 gcd
lcm sum prod mean median var std average amax amin max min nanmax nanmin nansum nanprod nanmean nanmedian nanvar
nanstd cumsum cumprod diff gradient argmax argmin nanargmax nanargmin count_nonzero all any percentile quantile
histogram bincount digitize searchsorted sort argsort lexsort partition argpartition where extract isclose
allclose array_equal dot vdot inner outer matmul tensordot einsum kron trace cross convolve correlate interp cov
corrcoef reshape ravel transpose moveaxis swapaxes rollaxis squeeze expand_dims broadcast_to broadcast_arrays
atleast_1d atleast_2d atleast_3d concatenate stack vstack hstack dstack column_stack split array_split hsplit
vsplit tile repeat flip fliplr flipud roll rot90 pad take take_along_axis put place putmask choose diagonal diag
diagflat tril triu ix_ ravel_multi_index unravel_index meshgrid copyto copy append resize select piecewise
fill_diagonal empty zeros ones full arange linspace logspace eye identity indices tri asfortranarray
ascontiguousarray empty_like zeros_like ones_like full_like isscalar ndim shape size result_type can_cast
promote_types common_type min_scalar_type issubdtype finfo iinfo dtype
"""
_SYNCING = {"nonzero", "argwhere", "flatnonzero", "unique", "compress"}


def _where(condition, x=None, y=None):
    if x is None and y is None:
        transfers._record("scalar", 1, 8)
        return np.nonzero(condition)
    return np.where(condition, x, y)


def _build_namespace():
    ns = types.ModuleType("cupy", "CPU stand-in for CuPy (tests/cupy_standin.py)")
    ns.__version__ = "13.0.0+standin"
    ns.__file__ = __file__
    for name in _FUNCTIONS.split():
        setattr(ns, name, _func(name, getattr(np, name)))
    for name in _SYNCING:
        setattr(ns, name, _func(name, getattr(np, name), syncs=True))
    ns.where = _func("where", _where)
    for name in ("float16 float32 float64 complex64 complex128 int8 int16 int32 int64 uint8 uint16 uint32 uint64 "
                 "bool_ intp uintp int_ double single csingle cdouble half byte ubyte short ushort intc uintc "
                 "longlong ulonglong generic number integer signedinteger unsignedinteger floating "
                 "complexfloating inexact pi e inf nan newaxis euler_gamma").split():
        setattr(ns, name, getattr(np, name))
    ns.ndarray = ndarray
    ns.array, ns.asarray, ns.asanyarray, ns.asnumpy = array, asarray, asanyarray, asnumpy
    ns.get_array_module = get_array_module
    ns.transfers = transfers
    return ns


def _fft_namespace():
    ns = types.ModuleType("cupy.fft")

    def transform(name, inverse_real):
        fn = getattr(np.fft, name)

        def f(a, *args, **kwargs):
            if not isinstance(a, ndarray):
                raise _unsupported(a, f" (cupy.fft.{name} takes a cupy.ndarray)")
            single = a.dtype in (np.float32, np.complex64)
            r = fn(a._a, *args, **kwargs)
            want = (np.float32 if single else np.float64) if inverse_real else (np.complex64 if single else np.complex128)
            return ndarray._from(r.astype(want, copy=False))

        f.__name__ = name
        return f

    for name in ("fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "rfft2", "rfftn", "ihfft"):
        setattr(ns, name, transform(name, False))
    for name in ("irfft", "irfft2", "irfftn", "hfft"):
        setattr(ns, name, transform(name, True))
    for name in ("fftfreq", "rfftfreq", "fftshift", "ifftshift"):
        setattr(ns, name, _func(f"fft.{name}", getattr(np.fft, name)))
    return ns


def _cuda_namespace():
    ns = types.ModuleType("cupy.cuda")
    ns.Device, ns.Stream, ns.get_current_stream = Device, Stream, get_current_stream
    ns.CUDARuntimeError = _CUDARuntimeError
    ns.get_device_id = lambda: Device._current
    ns.is_available = lambda: True
    return ns


def _cupyx_namespaces():
    import scipy.special

    cupyx = types.ModuleType("cupyx")
    scipy_ns = types.ModuleType("cupyx.scipy")
    special = types.ModuleType("cupyx.scipy.special")
    for name in ("erf", "erfc", "erfcx", "erfinv", "j0", "j1", "y0", "y1", "i0", "i1", "gamma", "gammaln", "expit",
                 "logit", "log_ndtr", "ndtr", "ndtri"):
        setattr(special, name, _func(f"scipy.special.{name}", getattr(scipy.special, name)))
    cupyx.scipy = scipy_ns
    scipy_ns.special = special
    return {"cupyx": cupyx, "cupyx.scipy": scipy_ns, "cupyx.scipy.special": special}


cupy = _build_namespace()
cupy.fft = _fft_namespace()
cupy.cuda = _cuda_namespace()


def modules():
    """{name: module} to install in sys.modules for the stand-in to be `cupy`."""
    return {"cupy": cupy, "cupy.fft": cupy.fft, "cupy.cuda": cupy.cuda, **_cupyx_namespaces()}


def reset():
    """Counters to zero, device 0 current, no stream pushed."""
    transfers.reset()
    Device._current = 0
    Stream._stack.clear()
