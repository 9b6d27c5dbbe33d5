"""Conventions shared by every loss: argument checks, dtypes, reductions.

Every check here is static (shapes, dtypes, Python option values), so it works
unchanged under ``jax.jit``, ``jax.vmap`` and ``torch.compile``.
"""

from __future__ import annotations

import functools
import math
import operator
import threading
from typing import Any

from .backends import PLAN_TYPES, Ops, resolve

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(loss: str, reduction: Any) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{loss}: reduction must be one of 'mean', 'sum', 'none'; got {reduction!r}")


def check_shapes(loss: str, a: Any, b: Any, names: tuple[str, str] = ("pred", "target")) -> None:
    if a.shape != b.shape and tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{loss}: {names[0]} has shape {tuple(a.shape)} but {names[1]} has shape "
            f"{tuple(b.shape)}; they must be equal"
        )


def check_number(loss: str, name: str, value: Any, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False, high_open: bool = False) -> float:
    """A real Python number within [low, high] (or the open ends), else an error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{loss}: {name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v):
        raise ValueError(f"{loss}: {name} must not be NaN")
    if low is not None and (v < low or (low_open and v == low)):
        rel = ">" if low_open else ">="
        raise ValueError(f"{loss}: {name} must be {rel} {low:g}, got {v:g}")
    if high is not None and (v > high or (high_open and v == high)):
        rel = "<" if high_open else "<="
        raise ValueError(f"{loss}: {name} must be {rel} {high:g}, got {v:g}")
    return v


def check_choice(loss: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{loss}: {name} must be one of {listed}; got {value!r}")
    return value


def is_float(ops: Ops, x: Any) -> bool:
    return ops.kind(x.dtype) == "f"


def compute_dtype(ops: Ops, dtype: Any) -> Any:
    """float16 / bfloat16 are computed in float32; float32/64 as they are."""
    xp = ops.xp
    if dtype == xp.float32 or dtype == xp.float64:
        return dtype
    return xp.float32


def as_float_pred(loss: str, ops: Ops, x: Any, name: str = "pred") -> Any:
    if not hasattr(x, "dtype") or ops.kind(x.dtype) != "f":
        got = getattr(x, "dtype", type(x).__name__)
        raise TypeError(f"{loss}: {name} must be a real floating-point array, got {got}")
    return x


def cast_to(loss: str, ops: Ops, x: Any, dtype: Any, name: str) -> Any:
    """Cast a target (integer, boolean or floating) to ``dtype``.

    Complex targets are an error. Floating targets of another precision are
    cast too, so the result always has the prediction's dtype.
    """
    xp = ops.xp
    if not hasattr(x, "dtype"):
        raise TypeError(f"{loss}: {name} must be an array, got {type(x).__name__}")
    if x.dtype == dtype:
        return x
    if ops.kind(x.dtype) == "c":
        raise TypeError(f"{loss}: {name} must be real, got {x.dtype}")
    return xp.astype(x, dtype)


def setup(loss: str, pred: Any, *others: Any, names: tuple[str, ...] = ("pred", "target"),
          same_shape: bool = True, reduction: str = "mean"):
    """Resolve the backend, validate and cast the common elementwise case.

    Returns ``(ops, out_dtype, pred, *others)`` with every array in the compute
    dtype (float32 for half-precision inputs). ``others`` that are ``None``
    are passed through.
    """
    check_reduction(loss, reduction)
    ops = resolve(loss, pred, *others)
    as_float_pred(loss, ops, pred, names[0])
    out_dtype = pred.dtype
    cdt = compute_dtype(ops, out_dtype)
    if pred.dtype != cdt:
        pred = ops.xp.astype(pred, cdt)
    cast: list[Any] = []
    for name, o in zip(names[1:], others):
        if o is None:
            cast.append(None)
            continue
        if same_shape:
            check_shapes(loss, pred, o, (names[0], name))
        cast.append(cast_to(loss, ops, o, cdt, name))
    return (ops, out_dtype, pred, *cast)


def reduce(ops: Ops, values: Any, reduction: str, out_dtype: Any, *, weights_sum: Any = None) -> Any:
    """Apply ``reduction`` and cast back to the caller's dtype.

    ``weights_sum``, when given, replaces the element count as the mean's
    denominator (weighted means).
    """
    xp = ops.xp
    if reduction == "none":
        out = values
    elif reduction == "sum":
        out = xp.sum(values)
    elif weights_sum is not None:
        out = xp.sum(values) / weights_sum
    else:
        out = xp.mean(values)
    return out if out.dtype == out_dtype else xp.astype(out, out_dtype)


def native_loss(ops: Ops, name: str, out_dtype: Any, *args: Any, **kwargs: Any) -> Any:
    """Run the backend's fused kernel for loss ``name`` if it has one.

    Returns None when the backend has no fast path, so the caller runs the
    generic array-API code.
    """
    fn = ops.native_losses.get(name)
    if fn is None:
        return None
    return run_native(ops, name, fn, out_dtype, args, kwargs)


def run_native(ops: Ops, name: str, fn: Any, out_dtype: Any, args: tuple, kwargs: dict) -> Any:
    """``fn(*args, **kwargs)`` (``ops.native_losses[name]``) cast to
    ``out_dtype``, recorded for :func:`planned`."""
    out = fn(*args, **kwargs)
    out = out if out.dtype == out_dtype else ops.xp.astype(out, out_dtype)
    rec = getattr(_TLS, "rec", None)
    if rec is not None:
        rec.append((ops, name, fn, args, kwargs, out_dtype, out))
    return out


# --- call plans -------------------------------------------------------------
# On small inputs the checks above cost more than torch's own kernel. A loss
# decorated with @planned remembers, per call signature (each array's type,
# dtype and shape; each option's type and value), that a checked call ran one
# backend kernel on the caller's own arrays and nothing else. The next call
# with that signature runs the kernel directly: every check lossapi makes is
# static, so it would pass again. Value checks are the kernel's own (label
# ranges, probabilities in [0, 1]): when the kernel raises, the full path runs
# again and raises lossapi's error. A signature whose path reads values or
# runs other code gets no plan.

_TLS = threading.local()
_PLAIN = frozenset((int, float, str, bool, type(None)))
_MISS = object()
_MAX_PLANS = 256  # per loss; a full table is emptied (shapes that vary without end)


def no_plan() -> None:
    """Mark the call in progress as unplannable (it read array values)."""
    rec = getattr(_TLS, "rec", None)
    if rec is not None:
        rec.append(None)


def _signature(args: tuple, kwargs: dict) -> tuple:
    # Flat, and unambiguous: the keyword names first, as one tuple; then per
    # value its type, which says whether (value) or (dtype, shape) follows.
    # AttributeError: not an array.
    key: list[Any] = [tuple(kwargs)]
    for a in (*args, *kwargs.values()) if kwargs else args:
        t = type(a)
        key.append(t)
        if t in _PLAIN:
            key.append(a)
        else:
            key.append(a.dtype)
            key.append(a.shape)
    return tuple(key)


def _make_plan(rec: list, out: Any, args: tuple, kwargs: dict) -> Any:
    """The plan for a recorded call, or None where the call is not just one
    kernel on the caller's arrays."""
    if len(rec) != 1 or rec[0] is None or rec[0][-1] is not out:
        return None
    ops, name, fn, nargs, nkwargs, out_dtype, _ = rec[0]
    where: dict[int, tuple[int, Any]] = {}  # id(array) -> (0, position) or (1, keyword)
    for i, a in enumerate(args):
        if type(a) not in _PLAIN:
            if id(a) in where:  # the same array twice: slots would be ambiguous
                return None
            where[id(a)] = (0, i)
    for k, a in kwargs.items():
        if type(a) not in _PLAIN:
            if id(a) in where:
                return None
            where[id(a)] = (1, k)
    used = set()
    consts: dict[str, Any] = {}

    def source(v: Any) -> str:
        if type(v) in _PLAIN:
            name = f"c{len(consts)}"
            consts[name] = v
            return name
        s = where.get(id(v))
        if s is None:  # a derived array (a cast, a reshape): not replayable
            raise LookupError
        used.add(id(v))
        return f"args[{s[1]}]" if s[0] == 0 else f"kwargs[{s[1]!r}]"

    try:
        call = [source(v) for v in nargs] + [f"{k}={source(v)}" for k, v in nkwargs.items()]
    except LookupError:
        return None
    if len(used) != len(where):  # an array the kernel never saw: its values mattered elsewhere
        return None
    # Generated once per signature, as dataclasses do: a plain call is the
    # cheapest replay (a loop over argument sources costs a microsecond). A
    # plan stands down (MISS) when the fast path has been switched off since.
    src = (f"def plan(args, kwargs):\n"
           f"    if ops.native_losses.get(name) is not fn:\n"
           f"        return MISS\n"
           f"    res = fn({', '.join(call)})\n"
           f"    return res if res.dtype == out_dtype else astype(res, out_dtype)\n")
    ns = {"fn": fn, "ops": ops, "name": name, "MISS": _MISS, "out_dtype": out_dtype, "astype": ops.xp.astype,
          **consts}
    exec(src, ns)
    return ns["plan"]


def planned(loss: Any) -> Any:
    """Cache, per call signature, the one-kernel path of ``loss`` (see above).

    Only for array types a backend has registered in ``PLAN_TYPES`` (whose
    predicate also turns plans off while ``torch.compile`` traces)."""
    plans: dict[tuple, Any] = {}

    @functools.wraps(loss)
    def call(*args: Any, **kwargs: Any) -> Any:
        ok = PLAN_TYPES.get(type(args[0])) if args else None
        if ok is None or not ok():
            return loss(*args, **kwargs)
        try:
            key = _signature(args, kwargs)
            plan = plans.get(key)
        except (AttributeError, TypeError):  # not an array; an unhashable option
            return loss(*args, **kwargs)
        if plan:
            try:
                out = plan(args, kwargs)
            except Exception:  # bad values: the full path raises lossapi's error
                return loss(*args, **kwargs)
            return loss(*args, **kwargs) if out is _MISS else out
        if plan is not None:  # False: this signature has no plan
            return loss(*args, **kwargs)
        prev = getattr(_TLS, "rec", None)
        rec: list[Any] = []
        _TLS.rec = rec
        try:
            out = loss(*args, **kwargs)
        finally:
            _TLS.rec = prev
        if len(plans) >= _MAX_PLANS:
            plans.clear()
        plans[key] = _make_plan(rec, out, args, kwargs) or False
        return out

    call.plans = plans  # type: ignore[attr-defined]  # for tests
    return call


def check_axis(loss: str, axis: Any, ndim: int, what: str = "inputs") -> int:
    """``axis`` as a non-negative int, or an error naming the loss."""
    if isinstance(axis, bool):
        raise TypeError(f"{loss}: axis must be an int, got bool")
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"{loss}: axis must be an int, got {type(axis).__name__}") from None
    if not -ndim <= axis < ndim:
        raise ValueError(f"{loss}: axis {axis} is out of range for {what} with {ndim} dimension(s)")
    return axis % ndim
