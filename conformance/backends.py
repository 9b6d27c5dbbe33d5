"""One class per array backend, shared by the tests, the conformance run and
the benchmarks; each framework is imported only when its backend is used.

A :class:`Backend` tells whether it can run here (:meth:`Backend.check`
raises :class:`Unavailable` with the reason: not installed, no CUDA device),
turns NumPy arrays into its arrays (any float dtype incl. float16 and
bfloat16, on its device), reads them back, names its dtypes, and, for autodiff
backends, takes gradients; jax runs and differentiates under ``jax.jit`` in
:meth:`Backend.run` / :meth:`Backend.value_and_grad`.

Users: the tests' ``xp`` fixture (``tests/harness.py``: pytest's skip/fail
around :meth:`Backend.check`), the conformance runner, the peers' and the
benchmarks' converters. Adding a backend: its shim in ``lossapi/backends``,
a class here, a requirements file in ``backends/``, a nox entry.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

ALL = ("numpy", "array_api_strict", "torch", "jax", "dask", "cupy", "torch-cuda", "jax-gpu")
TESTED = ALL[:6]  # the tests' backends (one nox session each)
DTYPES = ("float32", "float64")


class Unavailable(Exception):
    """The backend cannot run on this machine; the message says why."""


def _cast(a: Any, dtype: str | None) -> np.ndarray:
    """A copy of ``a``; floating arrays in ``dtype`` (bfloat16: float32, which
    the backend then rounds), other dtypes kept."""
    a = np.array(a)
    if dtype is None or a.dtype.kind != "f":
        return a
    return a.astype("float32" if dtype == "bfloat16" else dtype)


class Backend:
    name: str = ""
    module: str = ""  # the array namespace's import name; find_spec checks its top package
    has_grad: bool = False
    half: tuple[str, ...] = ()  # half-precision floating dtypes it holds
    xp: Any = None  # the namespace module, set by check()

    def check(self) -> Backend:
        """Raise :class:`Unavailable` with a reason, or set up and return self."""
        top = self.module.split(".")[0]
        if importlib.util.find_spec(top) is None:
            raise Unavailable(f"{top} is not installed")
        try:
            self.xp = importlib.import_module(self.module)
        except Exception as e:  # e.g. a CUDA library without a driver
            raise Unavailable(f"{self.module} failed to import: {type(e).__name__}: {e}") from None
        self.setup()
        return self

    def setup(self) -> None:
        pass

    # --- dtypes -------------------------------------------------------------
    def dtype(self, name: str) -> Any:
        """The backend's dtype object for a NumPy dtype name (None if it has none)."""
        return getattr(self.xp, name, None)

    def half_dtypes(self) -> list[str]:
        return list(self.half)

    # --- conversion ---------------------------------------------------------
    def asarray(self, a: Any, dtype: str | None = None, device: Any = None) -> Any:
        """A new backend array from NumPy ``a``: floating arrays cast to
        ``dtype`` (None: kept), integer and bool arrays as they are."""
        raise NotImplementedError

    def to_numpy(self, x: Any) -> np.ndarray:
        """A NumPy array of ``x``'s values in its dtype (bfloat16: float32)."""
        return np.asarray(x)

    def is_native(self, x: Any) -> bool:
        """``x`` is an array of this backend (not a NumPy array or a scalar)."""
        raise NotImplementedError

    def device(self, x: Any) -> Any:
        return getattr(x, "device", None)

    def sum(self, x: Any) -> Any:
        return self.xp.sum(x)

    # --- execution and autodiff --------------------------------------------
    def run(self, fn: Callable[..., Any], args: Sequence[Any]) -> Any:
        """``fn(*args)`` (jax compiles it once with jit)."""
        return fn(*args)

    def grad(self, fn: Callable[..., Any], args: Sequence[Any], argnums: Sequence[int], *,
             allow_unused: bool = False) -> list[np.ndarray]:
        """Gradients (NumPy) of the scalar ``fn(*args)`` w.r.t. ``args[i]``, i in argnums, run eagerly."""
        raise NotImplementedError(f"{self.name} has no autodiff")

    def value_and_grad(self, fn: Callable[..., Any], args: Sequence[Any], argnums: Sequence[int]):
        """``fn(*args)`` returns ``(scalar, aux)``; gives ``(aux, [d scalar / d args[i] as NumPy])``,
        with unused inputs' gradients 0 (jax: jit-compiled)."""
        raise NotImplementedError(f"{self.name} has no autodiff")


class NumpyBackend(Backend):
    name, module = "numpy", "numpy"
    half = ("float16",)

    def dtype(self, name):
        return None if name == "bfloat16" else np.dtype(name)

    def asarray(self, a, dtype=None, device=None):
        return _cast(a, dtype)

    def is_native(self, x):
        return isinstance(x, (np.ndarray, np.generic))


class ArrayApiStrictBackend(Backend):
    name, module = "array_api_strict", "array_api_strict"

    def asarray(self, a, dtype=None, device=None):
        return self.xp.asarray(_cast(a, dtype))

    def to_numpy(self, x):
        return np.from_dlpack(x)

    def is_native(self, x):
        return type(x).__module__.startswith("array_api_strict")


class DaskBackend(Backend):
    name, module = "dask", "dask.array"
    half = ("float16",)

    def dtype(self, name):
        return None if name == "bfloat16" else np.dtype(name)

    def asarray(self, a, dtype=None, device=None):
        a = _cast(a, dtype)
        # Two chunks per axis where possible, so chunk boundaries are exercised.
        return self.xp.from_array(a, chunks=tuple(max(1, (s + 1) // 2) for s in a.shape))

    def to_numpy(self, x):
        return np.asarray(x.compute())

    def is_native(self, x):
        return isinstance(x, self.xp.Array)


class CupyBackend(Backend):
    name, module = "cupy", "cupy"
    half = ("float16",)

    def setup(self):
        try:
            n = self.xp.cuda.runtime.getDeviceCount()
        except Exception as e:
            raise Unavailable(f"no CUDA device ({type(e).__name__}: {e})") from None
        if n < 1:
            raise Unavailable("no CUDA device")

    def dtype(self, name):
        return None if name == "bfloat16" else np.dtype(name)

    def asarray(self, a, dtype=None, device=None):
        return self.xp.asarray(_cast(a, dtype))

    def to_numpy(self, x):
        return self.xp.asnumpy(x)

    def is_native(self, x):
        return isinstance(x, self.xp.ndarray)


class TorchBackend(Backend):
    name, module = "torch", "torch"
    has_grad = True
    half = ("float16", "bfloat16")
    default_device = "cpu"

    def asarray(self, a, dtype=None, device=None):
        t = self.xp.from_numpy(_cast(a, dtype))
        if dtype == "bfloat16" and t.is_floating_point():
            t = t.to(self.xp.bfloat16)
        device = device if device is not None else self.default_device
        return t if str(device) == "cpu" else t.to(device)

    def to_numpy(self, x):
        x = x.detach().cpu()
        return (x.float() if x.dtype == self.xp.bfloat16 else x).numpy()

    def is_native(self, x):
        return isinstance(x, self.xp.Tensor)

    def device(self, x):
        return x.device

    def _leaves(self, args, argnums):
        return [a.detach().clone().requires_grad_(i in argnums) if a.is_floating_point() else a
                for i, a in enumerate(args)]

    def _grads(self, out, leaves, argnums, allow_unused):
        gs = self.xp.autograd.grad(out, [leaves[i] for i in argnums], allow_unused=allow_unused)
        return [np.zeros(tuple(leaves[i].shape)) if g is None else self.to_numpy(g) for i, g in zip(argnums, gs)]

    def grad(self, fn, args, argnums, *, allow_unused=False):
        leaves = self._leaves(args, argnums)
        return self._grads(fn(*leaves), leaves, argnums, allow_unused)

    def value_and_grad(self, fn, args, argnums):
        leaves = self._leaves(args, argnums)
        out, aux = fn(*leaves)
        return aux, self._grads(out, leaves, argnums, True)


class TorchCudaBackend(TorchBackend):
    name = "torch-cuda"
    default_device = "cuda"

    def setup(self):
        if not self.xp.cuda.is_available():
            raise Unavailable("no CUDA device (torch.cuda.is_available() is False)")


class JaxBackend(Backend):
    """jax on its CPU device. ``x64`` (default) turns on float64 globally
    (``jax_enable_x64``); with ``x64=False`` the configuration is left alone
    and integer inputs become int32 (the benchmarks' setting)."""

    name, module = "jax", "jax.numpy"
    has_grad = True
    half = ("float16", "bfloat16")
    platform = "cpu"

    def __init__(self, x64: bool = True):
        self.x64 = x64

    def setup(self):
        import jax

        self.jax = jax
        if self.x64:
            jax.config.update("jax_enable_x64", True)
        try:
            self.dev = jax.devices(self.platform)[0]
        except RuntimeError as e:
            raise Unavailable(f"no {self.platform.upper()} device for jax ({e})") from None

    def asarray(self, a, dtype=None, device=None):
        a = _cast(a, dtype)
        if not self.x64 and a.dtype == np.int64:
            a = a.astype(np.int32)
        x = self.jax.device_put(a, device if device is not None else self.dev)
        return x.astype(self.xp.bfloat16) if dtype == "bfloat16" and a.dtype.kind == "f" else x

    def to_numpy(self, x):
        return np.asarray(x.astype(self.xp.float32) if x.dtype == self.xp.bfloat16 else x)

    def is_native(self, x):
        return isinstance(x, self.jax.Array)

    def device(self, x):
        return next(iter(x.devices()))

    # One jit per call site: op-by-op execution would compile every primitive
    # for every new shape, which costs far more than one compile of the whole.
    def run(self, fn, args):
        return self.jax.jit(fn)(*args)

    def grad(self, fn, args, argnums, *, allow_unused=False):
        gs = self.jax.grad(fn, argnums=tuple(argnums))(*args)
        return [self.to_numpy(g) for g in gs]

    def value_and_grad(self, fn, args, argnums):
        vg = self.jax.jit(self.jax.value_and_grad(fn, argnums=tuple(argnums), has_aux=True))
        (_, aux), gs = vg(*args)
        return aux, [self.to_numpy(g) for g in gs]


class JaxGpuBackend(JaxBackend):
    name = "jax-gpu"
    platform = "gpu"

    def setup(self):
        try:
            super().setup()
        except Unavailable:
            raise Unavailable("no CUDA device (jax has no GPU backend here)") from None


_CLASSES: dict[str, type[Backend]] = {
    c.name: c for c in (NumpyBackend, ArrayApiStrictBackend, TorchBackend, JaxBackend, DaskBackend,
                        CupyBackend, TorchCudaBackend, JaxGpuBackend)}


def get(name: str, **options: Any) -> Backend:
    """A fresh backend object (not yet checked)."""
    try:
        cls = _CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(ALL)}") from None
    return cls(**options)


_READY: dict[tuple, Backend] = {}


def ready(name: str, **options: Any) -> Backend:
    """A checked backend, one per name and options (raises :class:`Unavailable`)."""
    key = (name, tuple(sorted(options.items())))
    if key not in _READY:
        _READY[key] = get(name, **options).check()
    return _READY[key]


def for_library(lib: str, device: str = "cpu", **options: Any) -> Backend:
    """The ready backend holding ``lib``'s arrays ("numpy", "torch", "jax",
    "cupy") on ``device`` ("cpu" or "cuda")."""
    name = {("torch", "cuda"): "torch-cuda", ("jax", "cuda"): "jax-gpu"}.get((lib, device), lib)
    return ready(name, **options)
