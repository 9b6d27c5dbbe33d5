"""Conventions shared by every loss: argument checks, dtypes, reductions.

Every check here is static (shapes, dtypes, Python option values), so it works
unchanged under ``jax.jit``, ``jax.vmap`` and ``torch.compile``.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from .backends import Ops, resolve

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
    out = fn(*args, **kwargs)
    return out if out.dtype == out_dtype else ops.xp.astype(out, out_dtype)


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
