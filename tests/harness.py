"""Test-side view of each backend: build arrays from NumPy, read them back,
differentiate and jit. Independent of lossapi's own backend layer."""

from __future__ import annotations

import enum
import importlib
import os

import numpy as np
import pytest


class Backend(enum.Enum):
    NUMPY = "numpy"
    ARRAY_API_STRICT = "array_api_strict"
    TORCH = "torch"
    JAX = "jax"
    DASK = "dask"
    CUPY = "cupy"

    @property
    def module_name(self) -> str:
        return {"dask": "dask.array", "jax": "jax.numpy"}.get(self.value, self.value)


def required_backends() -> set[str]:
    env = os.environ.get("LOSSAPI_BACKENDS", "")
    return {b.strip() for b in env.split(",") if b.strip()}


def selected_backends() -> set[str] | None:
    """LOSSAPI_ONLY restricts a run to some backends (nox sets it per session)."""
    env = os.environ.get("LOSSAPI_ONLY", "")
    names = {b.strip() for b in env.split(",") if b.strip()}
    return names or None


class Harness:
    """Array conversion, gradients and jit for one backend."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.name = backend.value
        self.mod = self._import()
        if self.name == "jax":
            import jax

            jax.config.update("jax_enable_x64", True)
        if self.name == "cupy":
            if self.mod.cuda.runtime.getDeviceCount() < 1:  # pragma: no cover
                pytest.skip("cupy: no CUDA device")

    def _import(self):
        try:
            return importlib.import_module(self.backend.module_name)
        except ImportError as e:
            if self.name in required_backends():
                pytest.fail(f"backend {self.name} is named in LOSSAPI_BACKENDS but cannot be imported: {e}")
            pytest.skip(f"{self.name} is not installed")
        except Exception as e:  # e.g. cupy without a CUDA driver
            if self.name in required_backends():
                pytest.fail(f"backend {self.name} failed to import: {e}")
            pytest.skip(f"{self.name} unusable here: {e}")

    # --- dtypes -------------------------------------------------------------
    def dtype(self, name: str):
        if self.name == "torch":
            import torch

            return getattr(torch, name)
        if self.name == "jax":
            import jax.numpy as jnp

            return getattr(jnp, name)
        if self.name == "array_api_strict":
            return getattr(self.mod, name)
        if name == "bfloat16":
            return None
        return np.dtype(name)

    def half_dtypes(self) -> list[str]:
        return {"torch": ["float16", "bfloat16"], "jax": ["float16", "bfloat16"],
                "numpy": ["float16"], "cupy": ["float16"], "dask": ["float16"]}.get(self.name, [])

    # --- conversion ---------------------------------------------------------
    def asarray(self, a, dtype: str | None = None, device=None):
        a = np.asarray(a)
        if dtype is not None and a.dtype.kind == "f":
            a = a.astype(dtype) if dtype != "bfloat16" else a.astype(np.float32)
        if self.name == "numpy":
            return a.copy()
        if self.name == "torch":
            import torch

            t = torch.from_numpy(a.copy())
            if dtype == "bfloat16" and t.is_floating_point():
                t = t.to(torch.bfloat16)
            return t.to(device) if device is not None else t
        if self.name == "jax":
            import jax.numpy as jnp

            x = jnp.asarray(a)
            if dtype == "bfloat16" and a.dtype.kind == "f":
                x = x.astype(jnp.bfloat16)
            return x
        if self.name == "dask":
            import dask.array as da

            chunks = tuple(max(1, (s + 1) // 2) for s in a.shape)
            return da.from_array(a.copy(), chunks=chunks)
        if self.name == "cupy":
            return self.mod.asarray(a)
        if self.name == "array_api_strict":
            return self.mod.asarray(a.copy())
        raise AssertionError(self.name)

    def to_numpy(self, x) -> np.ndarray:
        if self.name == "torch":
            return x.detach().cpu().float().numpy() if x.dtype.__repr__() == "torch.bfloat16" else x.detach().cpu().numpy()
        if self.name == "jax":
            import jax.numpy as jnp

            if x.dtype == jnp.bfloat16:
                x = x.astype(jnp.float32)
            return np.asarray(x)
        if self.name == "dask":
            return np.asarray(x.compute())
        if self.name == "cupy":
            return self.mod.asnumpy(x)
        if self.name == "array_api_strict":
            return np.from_dlpack(x)
        return np.asarray(x)

    def is_native(self, x) -> bool:
        """x is an array of this backend (not a NumPy array or a scalar)."""
        if self.name == "numpy":
            return isinstance(x, np.ndarray) or isinstance(x, np.generic)
        if self.name == "torch":
            import torch

            return isinstance(x, torch.Tensor)
        if self.name == "jax":
            import jax

            return isinstance(x, jax.Array)
        if self.name == "dask":
            import dask.array as da

            return isinstance(x, da.Array)
        if self.name == "cupy":
            return isinstance(x, self.mod.ndarray)
        return type(x).__module__.startswith("array_api_strict")

    def device(self, x):
        if self.name == "torch":
            return x.device
        if self.name == "jax":
            return next(iter(x.devices()))
        return getattr(x, "device", None)

    # --- autodiff -----------------------------------------------------------
    @property
    def has_grad(self) -> bool:
        return self.name in ("torch", "jax")

    def grad(self, fn, args, argnums):
        """Gradients of the scalar ``fn(*args)`` w.r.t. ``args[i]``, i in argnums."""
        if self.name == "torch":
            import torch

            leaves = [a.detach().clone().requires_grad_(i in argnums) if a.is_floating_point() else a
                      for i, a in enumerate(args)]
            out = fn(*leaves)
            gs = torch.autograd.grad(out, [leaves[i] for i in argnums])
            return [g.detach().numpy() for g in gs]
        if self.name == "jax":
            import jax

            gs = jax.grad(lambda *a: fn(*a), argnums=tuple(argnums))(*args)
            return [np.asarray(g) for g in gs]
        raise AssertionError("no autodiff for " + self.name)
