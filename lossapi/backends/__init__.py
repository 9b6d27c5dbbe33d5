"""The backend layer: namespace resolution and the primitives a loss needs.

A loss calls :func:`resolve` on its array arguments and gets an :class:`Ops`:
``ops.xp`` is the array-API namespace of the inputs (through array-api-compat)
and ``ops.<primitive>`` are the primitives the standard lacks or does slowly.
Each primitive has one generic implementation (``_generic``) and optional
native overrides, one module per backend, imported only when arrays of that
backend are first seen: importing lossapi imports no array framework.

The result is cached per tuple of input types, so steady-state dispatch is a
dictionary lookup.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from . import _generic

__all__ = ["Ops", "resolve", "PRIMITIVES", "PLAN_TYPES"]

# Array types whose calls may be planned (see ``lossapi._common.planned``),
# each with a predicate that says whether plans may be used now. A backend
# module registers its type when it is first imported.
PLAN_TYPES: dict[type, Any] = {}

PRIMITIVES = (
    "abs",
    "logsumexp",
    "log_softmax",
    "softplus",
    "log_sigmoid",
    "sigmoid",
    "xlogy",
    "take_along_axis",
    "norm",
    "matmul",
    "stop_gradient",
    "relu",
)


class Ops:
    """The namespace and the primitives for one backend.

    Attributes:
      name: backend name ("numpy", "array_api_strict", "torch", "jax", "dask",
        "cupy", or "generic" for any other array-API library).
      xp: the array-API namespace.
    """

    def __init__(self, name: str, xp: Any):
        self.name = name
        self.xp = xp
        native = _native_module(name)
        for prim in PRIMITIVES:
            impl = getattr(native, prim, None) or getattr(_generic, prim)
            setattr(self, prim, functools.partial(impl, xp))
        # Whole-loss fast paths: a backend module's ``loss_<name>`` functions
        # route a loss to the framework's own fused kernel (same values and
        # gradients; the tests and the conformance harness check both paths).
        self.native_losses: dict[str, Any] = {
            n[len("loss_"):]: f for n, f in vars(native or _generic).items() if n.startswith("loss_")
        }
        self._kinds: dict[Any, str] = {}

    def kind(self, dtype: Any) -> str:
        """``dtype``'s kind: "f" real floating, "c" complex, "i" integral,
        "b" bool, "?" other; cached, as ``xp.isdtype`` costs a microsecond
        per call through array-api-compat."""
        try:
            return self._kinds[dtype]
        except KeyError:
            pass
        except TypeError:  # an unhashable dtype object: no cache
            return self._kind(dtype)
        k = self._kinds[dtype] = self._kind(dtype)
        return k

    def _kind(self, dtype: Any) -> str:
        isdtype = self.xp.isdtype
        for k, name in (("f", "real floating"), ("i", "integral"), ("b", "bool"), ("c", "complex floating")):
            if isdtype(dtype, name):
                return k
        return "?"

    def __repr__(self) -> str:
        return f"Ops({self.name!r})"


def _native_module(name: str):
    if name == "generic":
        return None
    return importlib.import_module(f".{name}", __name__)


def _backend_name(x: Any) -> str:
    # array-api-compat's is_*_array helpers look at sys.modules and the type,
    # so they never import a framework.
    import array_api_compat as c

    if c.is_numpy_array(x):
        return "numpy"
    if c.is_torch_array(x):
        return "torch"
    if c.is_jax_array(x):
        return "jax"
    if c.is_dask_array(x):
        return "dask"
    if c.is_cupy_array(x):
        return "cupy"
    ns = getattr(x, "__array_namespace__", None)
    if ns is not None and c.is_array_api_strict_namespace(ns()):
        return "array_api_strict"
    return "generic"


_CACHE: dict[tuple[type, ...], Ops] = {}
_BY_NAMESPACE: dict[tuple[str, int], Ops] = {}  # one Ops (and dtype cache) per namespace


def resolve(loss: str, *arrays: Any) -> Ops:
    """The :class:`Ops` for the libraries of ``arrays``.

    Python scalars and ``None`` are ignored. Arrays of two different libraries
    are a ``TypeError`` naming both.
    """
    # The key holds every argument's type (None and Python scalars too), so
    # the steady state is one tuple and one dictionary lookup.
    key = tuple(map(type, arrays))
    ops = _CACHE.get(key)
    if ops is not None:
        return ops
    types = tuple(type(a) for a in arrays if a is not None and not isinstance(a, (int, float, bool)))
    if not types:
        raise TypeError(f"{loss}: expected at least one array argument, got only Python scalars")
    import array_api_compat as c

    names: dict[str, type] = {}
    for a in arrays:
        if a is None or isinstance(a, (int, float, bool)):
            continue
        try:
            names.setdefault(_backend_name(a), type(a))
        except Exception:  # pragma: no cover - defensive
            names.setdefault("generic", type(a))
    if len(names) > 1:
        desc = " and ".join(f"{n} ({t.__module__}.{t.__qualname__})" for n, t in names.items())
        raise TypeError(f"{loss}: inputs come from different array libraries: {desc}; pass arrays of one library")
    (name,) = names
    arrs = [a for a in arrays if a is not None and not isinstance(a, (int, float, bool))]
    try:
        xp = c.array_namespace(*arrs)
    except TypeError as e:
        raise TypeError(f"{loss}: unsupported array type {types[0].__module__}.{types[0].__qualname__}: {e}") from None
    ops = _BY_NAMESPACE.get((name, id(xp)))
    if ops is None:
        ops = _BY_NAMESPACE[(name, id(xp))] = Ops(name, xp)
    _CACHE[key] = ops
    return ops
