"""The backend layer: namespace resolution, primitives and kernel tables.

A loss's preparation step calls :func:`resolve` on its array arguments and
gets an :class:`Ops`: ``ops.xp`` is the array-API namespace of the inputs
(through array-api-compat) and ``ops.<primitive>`` are the primitives the
standard lacks or does slowly. Each primitive has one generic implementation
(``_generic``); a backend module (one per library, imported only when arrays
of that library are first seen, so importing lossapi imports no framework)
declares two explicit tables:

* ``PRIMITIVES``: primitive name -> native override;
* ``KERNELS``: loss name -> :class:`Kernel`, a fused kernel that replaces the
  whole loss (its argument contract, when it applies, which value checks it
  makes itself, how its errors translate).

Nothing is discovered by naming convention; ``lossapi._core.loss.dispatch``
is the one place the kernel tables are consulted.

The result is cached per tuple of input types, so steady-state dispatch is a
dictionary lookup.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import _generic

__all__ = ["Ops", "Kernel", "resolve", "PRIMITIVES", "PLAN_TYPES"]

# Array types whose calls may be planned (see ``lossapi._core.loss``): a
# backend module registers its array type with (a predicate saying whether
# plans may be used now, its KERNELS table) when it is first imported.
PLAN_TYPES: dict[type, tuple[Callable[[], bool], dict[str, Kernel]]] = {}



@dataclass(frozen=True)
class Kernel:
    """One row of a backend's ``KERNELS`` table: a native kernel for a loss.

    The argument contract, the same for every row: ``fn(*arrays,
    reduction=..., **{name: options[name] for name in options})`` returns the
    loss's reduced value. ``arrays`` are the loss's prepared arrays
    (``Prepared.arrays``: validated, floating ones in the compute dtype,
    integer labels as given) in the loss's argument order; ``options`` names
    the keyword options (of those the loss passes to ``Prepared.run``) that
    the kernel takes. Its subgradients at every kink must equal the generic
    code's (``tests/test_kernels.py`` puts inputs on the kinks).

    Attributes:
      fn: the kernel.
      options: the option names ``fn`` takes besides ``reduction``.
      when: ``when(prepared, options)`` says whether the kernel applies to a
        call (e.g. only for integer labels); None: always.
      checks: kinds of value check (``ValueCheck.kind``) the kernel makes
        itself, so lossapi's Python check is not run before it (it still runs
        after a kernel error, for lossapi's message). Only such declared
        checks may be skipped on a planned call.
      errors: ``errors(exc)`` gives the message of lossapi's ``ValueError``
        for a kernel exception the value checks did not explain, or None to
        re-raise it.
    """

    fn: Callable[..., Any]
    options: tuple[str, ...] = ()
    when: Callable[[Any, dict], bool] | None = None
    checks: frozenset[str] = frozenset()
    errors: Callable[[Exception], str | None] | None = None


class Ops:
    """The namespace and the primitives for one backend.

    Attributes:
      name: backend name ("numpy", "array_api_strict", "torch", "jax", "dask",
        "cupy", or "generic" for any other array-API library).
      xp: the array-API namespace.
    """

    # The primitives, bound to ``xp`` in __init__: this list is PRIMITIVES
    # (below the class), the names a backend module's table may override.
    abs: Callable[..., Any]
    logsumexp: Callable[..., Any]
    log_softmax: Callable[..., Any]
    softplus: Callable[..., Any]
    log_sigmoid: Callable[..., Any]
    sigmoid: Callable[..., Any]
    xlogy: Callable[..., Any]
    take_along_axis: Callable[..., Any]
    norm: Callable[..., Any]
    matmul: Callable[..., Any]
    stop_gradient: Callable[..., Any]
    relu: Callable[..., Any]
    sigmoid_cross_entropy: Callable[..., Any]
    scan: Callable[..., Any]  # carry-scan over a leading axis (see _generic.scan)
    custom_vjp: Callable[..., Any]  # a function with its own gradient (see _generic.custom_vjp)
    add_rows: Callable[..., Any]  # buf[start:start + len(val)] += val, in place where the library can
    loop: Callable[..., Any]  # carry = body(i, carry) for i in range(n)
    rows: Callable[..., Any]  # x[start:start + size] (start may be a loop index)
    add_at: Callable[..., Any]  # buf[idx[i]] += val[i] for each i (repeated indices add up)
    rescale: Callable[..., Any]  # a custom_vjp residual times the upstream gradient (in place on torch)
    sort: Callable[..., Any]  # (sorted x, permutation) along an axis, stable (see _generic.sort)
    cumsum: Callable[..., Any]  # inclusive cumulative sum along an axis

    def __init__(self, name: str, xp: Any):
        self.name = name
        self.xp = xp
        native = _native_module(name)
        overrides = getattr(native, "PRIMITIVES", {})
        unknown = set(overrides) - set(PRIMITIVES)
        if unknown:  # pragma: no cover - a backend module's table is wrong
            raise AssertionError(f"backend {name} overrides unknown primitives {sorted(unknown)}")
        for prim in PRIMITIVES:
            impl = overrides.get(prim) or getattr(_generic, prim)
            setattr(self, prim, functools.partial(impl, xp))
        # Whole-loss kernels: the framework's own fused kernel for a loss
        # (same values and gradients; tests/test_kernels.py checks both paths).
        self.kernels: dict[str, Kernel] = dict(getattr(native, "KERNELS", {}))
        # Whether an array's values can be read without a device sync or
        # breaking a trace (for value checks such as label ranges).
        self.values_readable: Callable[[Any], bool] = getattr(native, "values_readable", _never)
        # Whether a 0-d option array's value can be read to check it (not a
        # tracer, not lazy): every backend but those whose module says not.
        self.option_readable: Callable[[Any], bool] = getattr(native, "option_readable", _always)
        # NumPy arrays next to this backend's arrays are taken as the
        # library takes them (JAX, Dask): converted by ``own``.
        self.adopts_numpy = name in _ADOPT_NUMPY
        self._kinds: dict[Any, str] = {}

    def own(self, x: Any) -> Any:
        """``x`` as an array of this backend: a NumPy array next to JAX or
        Dask arrays is converted as ``jax.numpy`` / ``dask.array`` convert it;
        an array of any other library is a ``TypeError`` (raised by the loss
        with its name: see :func:`lossapi._core.loss.loss`)."""
        if not (hasattr(x, "dtype") and hasattr(x, "shape")):
            return x  # not an array: the argument checks say so
        name = _backend_name(x)
        if name == self.name:
            return x
        if name == "numpy" and self.adopts_numpy:
            return self.xp.asarray(x)
        from .._core.validate import BadType

        raise BadType(f"inputs come from different array libraries: {self.name} and {name} "
                      f"({type(x).__module__}.{type(x).__qualname__}); pass arrays of one library")

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


# The primitive names: the annotated attributes of Ops, listed once.
PRIMITIVES = tuple(Ops.__annotations__)


def _never(x: Any) -> bool:
    return False


def _always(x: Any) -> bool:
    return True


# Backends that take NumPy arrays (and Python scalars) next to their own, as
# their libraries do; the others (torch, CuPy, array-api-strict) are strict.
_ADOPT_NUMPY = frozenset(("jax", "dask"))


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
    if len(names) == 2 and "numpy" in names and not _ADOPT_NUMPY.isdisjoint(names):
        del names["numpy"]  # taken as jax.numpy / dask.array take NumPy arrays: see Ops.own
    if len(names) > 1:
        desc = " and ".join(f"{n} ({t.__module__}.{t.__qualname__})" for n, t in names.items())
        raise TypeError(f"{loss}: inputs come from different array libraries: {desc}; pass arrays of one library")
    (name,) = names
    arrs = [a for a in arrays if a is not None and not isinstance(a, (int, float, bool)) and _backend_name(a) in names]
    try:
        xp = c.array_namespace(*arrs)
    except TypeError as e:
        raise TypeError(f"{loss}: unsupported array type {types[0].__module__}.{types[0].__qualname__}: {e}") from None
    ops = _BY_NAMESPACE.get((name, id(xp)))
    if ops is None:
        ops = _BY_NAMESPACE[(name, id(xp))] = Ops(name, xp)
    _CACHE[key] = ops
    return ops
