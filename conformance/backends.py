"""The backends a conformance run can use, each imported only when it runs.

A :class:`Backend` knows how to tell whether it can run here without
importing its framework (``importlib.util.find_spec``; the CUDA variants have
to import the framework to ask for a device, which happens only when that
backend is selected), how to turn NumPy inputs into its arrays, read results
back as float64 NumPy, and, for autodiff backends, take gradients.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

ALL = ("numpy", "array_api_strict", "torch", "jax", "dask", "cupy", "torch-cuda", "jax-gpu")
DTYPES = ("float32", "float64")


class Unavailable(Exception):
    """The backend cannot run on this machine; the message says why."""


class Backend:
    name: str = ""
    module: str = ""  # import name checked with find_spec
    has_grad: bool = False

    def check(self) -> None:
        """Raise :class:`Unavailable` with a reason, or return (and set up)."""
        if importlib.util.find_spec(self.module.split(".")[0]) is None:
            raise Unavailable(f"{self.module.split('.')[0]} is not installed")
        try:
            self.mod = importlib.import_module(self.module)
        except Exception as e:  # e.g. a CUDA library without a driver
            raise Unavailable(f"{self.module} failed to import: {type(e).__name__}: {e}") from None
        self.setup()

    def setup(self) -> None:
        pass

    # --- conversion ---------------------------------------------------------
    def asarray(self, a: np.ndarray, dtype: str) -> Any:
        raise NotImplementedError

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def sum(self, x: Any) -> Any:
        raise NotImplementedError

    def run(self, fn: Callable[..., Any], args: list) -> Any:
        """``fn(*args)`` (jax compiles it once with jit)."""
        return fn(*args)

    def value_and_grad(self, fn: Callable[..., Any], args: list, argnums: tuple[int, ...]):
        """``fn(*args)`` returns ``(scalar, aux)``; gives ``(aux, [d scalar / d args[i] as float64 NumPy])``."""
        raise NotImplementedError(f"{self.name} has no autodiff")


def _cast(a: np.ndarray, dtype: str) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(dtype) if a.dtype.kind == "f" else a.copy()


class NumpyBackend(Backend):
    name, module = "numpy", "numpy"

    def asarray(self, a, dtype):
        return _cast(a, dtype)

    def to_numpy(self, x):
        return np.asarray(x, dtype=np.float64)


class ArrayApiStrictBackend(Backend):
    name, module = "array_api_strict", "array_api_strict"

    def asarray(self, a, dtype):
        xp = self.mod
        a = _cast(a, dtype)
        if a.dtype.kind == "f":
            return xp.asarray(a, dtype=getattr(xp, dtype))
        return xp.asarray(a)

    def to_numpy(self, x):
        return np.from_dlpack(x).astype(np.float64)


class DaskBackend(Backend):
    name, module = "dask", "dask.array"

    def asarray(self, a, dtype):
        a = _cast(a, dtype)
        # Two chunks per axis where possible, so chunk boundaries are exercised.
        chunks = tuple(max(1, (s + 1) // 2) for s in a.shape)
        return self.mod.from_array(a, chunks=chunks)

    def to_numpy(self, x):
        return np.asarray(x.compute(), dtype=np.float64)


class CupyBackend(Backend):
    name, module = "cupy", "cupy"

    def setup(self):
        try:
            n = self.mod.cuda.runtime.getDeviceCount()
        except Exception as e:
            raise Unavailable(f"no CUDA device ({type(e).__name__}: {e})") from None
        if n < 1:
            raise Unavailable("no CUDA device")

    def asarray(self, a, dtype):
        return self.mod.asarray(_cast(a, dtype))

    def to_numpy(self, x):
        return self.mod.asnumpy(x).astype(np.float64)


class TorchBackend(Backend):
    name, module = "torch", "torch"
    has_grad = True
    device = "cpu"

    def asarray(self, a, dtype):
        t = self.mod.from_numpy(_cast(a, dtype))
        return t.to(self.device) if self.device != "cpu" else t

    def to_numpy(self, x):
        return x.detach().cpu().double().numpy()

    def sum(self, x):
        return self.mod.sum(x)

    def value_and_grad(self, fn, args, argnums):
        torch = self.mod
        leaves = [a.detach().clone().requires_grad_(True) if i in argnums else a for i, a in enumerate(args)]
        out, aux = fn(*leaves)
        gs = torch.autograd.grad(out, [leaves[i] for i in argnums], allow_unused=True)
        grads = [np.zeros(tuple(leaves[i].shape)) if g is None else g.detach().cpu().double().numpy()
                 for i, g in zip(argnums, gs)]
        return aux, grads


class TorchCudaBackend(TorchBackend):
    name = "torch-cuda"
    device = "cuda"

    def setup(self):
        if not self.mod.cuda.is_available():
            raise Unavailable("no CUDA device (torch.cuda.is_available() is False)")


class JaxBackend(Backend):
    name, module = "jax", "jax"
    has_grad = True
    platform = "cpu"

    def setup(self):
        self.mod.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        self.jnp = jnp
        try:
            self.dev = self.mod.devices(self.platform)[0]
        except RuntimeError as e:
            raise Unavailable(f"no {self.platform.upper()} device for jax ({e})") from None

    def asarray(self, a, dtype):
        return self.mod.device_put(self.jnp.asarray(_cast(a, dtype)), self.dev)

    def to_numpy(self, x):
        return np.asarray(x, dtype=np.float64)

    def sum(self, x):
        return self.jnp.sum(x)

    # One jit per call site: op-by-op execution would compile every primitive
    # for every new shape, which costs far more than one compile of the whole.
    def run(self, fn, args):
        return self.mod.jit(fn)(*args)

    def value_and_grad(self, fn, args, argnums):
        vg = self.mod.jit(self.mod.value_and_grad(fn, argnums=tuple(argnums), has_aux=True))
        (_, aux), gs = vg(*args)
        return aux, [np.asarray(g, dtype=np.float64) for g in gs]


class JaxGpuBackend(JaxBackend):
    name = "jax-gpu"
    platform = "gpu"

    def setup(self):
        self.mod.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        self.jnp = jnp
        try:
            devs = self.mod.devices("gpu")
        except RuntimeError:
            raise Unavailable("no CUDA device (jax has no GPU backend here)") from None
        self.dev = devs[0]


_CLASSES = {c.name: c for c in (NumpyBackend, ArrayApiStrictBackend, TorchBackend, JaxBackend, DaskBackend,
                                CupyBackend, TorchCudaBackend, JaxGpuBackend)}


def get(name: str) -> Backend:
    """A fresh backend object (not yet checked)."""
    try:
        return _CLASSES[name]()
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(ALL)}") from None
