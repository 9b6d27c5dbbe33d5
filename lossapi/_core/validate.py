"""Argument checks: one place for every rule a loss's options and arrays obey.

Checks raise :class:`BadType` / :class:`BadValue` with a message that names
the argument but not the loss; :func:`lossapi._core.loss.loss` adds the loss's
name (``"huber: delta must be > 0, got 0"``), so no check is ever handed a
name to repeat. Every check here is static (Python values, shapes, dtypes)
and so works under ``jax.jit``, ``jax.vmap`` and ``torch.compile``, except
:class:`ValueCheck` objects, which read array values and are run (or left to
a kernel that checks the same thing) by the dispatcher, never skipped
silently.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REDUCTIONS = ("mean", "sum", "none")


class ArgumentError(Exception):
    """A bad argument; the message names the argument, ``@loss`` the loss."""

    def named(self, loss: str) -> Exception:
        base = TypeError if isinstance(self, TypeError) else ValueError
        return base(f"{loss}: {self}")


class BadType(ArgumentError, TypeError):
    pass


class BadValue(ArgumentError, ValueError):
    pass


# --- options -------------------------------------------------------------------


def reduction(value: Any) -> str:
    if value not in REDUCTIONS:
        raise BadValue(f"reduction must be one of 'mean', 'sum', 'none'; got {value!r}")
    return value


def number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> Any:
    """A real number within [low, high] (or the open ends): a Python number
    (returned as float) or a 0-d array (returned as it is).

    A 0-d array option (a value passed through ``jax.jit`` or ``jax.vmap``, a
    learnable ``torch.nn.Parameter``) is registered with the loss call in
    progress: the dispatcher converts it to the inputs' library and compute
    dtype, and checks its value against the same bounds where the value can
    be read (concrete, not traced)."""
    if is_array(value):
        return _number_array(name, value, low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadType(f"{name} must be a real number or a 0-d array, got {type(value).__name__}")
    return _in_bounds(name, float(value), low, high, low_open, high_open)


def static_number(name: str, value: Any, why: str, **bounds: Any) -> float:
    """:func:`number` for an option that selects a formula (a Python number
    only; ``why`` says what it selects)."""
    if is_array(value):
        raise BadType(f"{name} must be a Python number ({why}), got an array")
    return number(name, value, **bounds)


def _in_bounds(name: str, v: float, low: float | None, high: float | None, low_open: bool, high_open: bool) -> float:
    if math.isnan(v):
        raise BadValue(f"{name} must not be NaN")
    if low is not None and (v < low or (low_open and v == low)):
        raise BadValue(f"{name} must be {'>' if low_open else '>='} {low:g}, got {v:g}")
    if high is not None and (v > high or (high_open and v == high)):
        raise BadValue(f"{name} must be {'<' if high_open else '<='} {high:g}, got {v:g}")
    return v


def _number_array(name: str, value: Any, low: float | None, high: float | None, low_open: bool,
                  high_open: bool) -> Any:
    from .loss import current

    if value.ndim != 0:
        raise BadValue(f"{name} must be a real number or a 0-d array, got an array of shape {tuple(value.shape)}")

    def run(ops: Any) -> None:
        if ops.kind(value.dtype) not in ("f", "i"):
            raise BadType(f"{name} must be a real number or a real 0-d array, got dtype {value.dtype}")
        if not ops.option_readable(value):
            return
        try:
            # detach (torch): no warning for a learnable option; not
            # stop_gradient, which would trace a NumPy option under jax.jit
            detach = getattr(value, "detach", None)
            v = float(value if detach is None else detach())
        except RuntimeError:  # torch.func.vmap: a batched value cannot be read
            return
        _in_bounds(name, v, low, high, low_open, high_open)

    current().options.append((value, ValueCheck("options", run)))
    return value


def positive(name: str, value: Any) -> Any:
    return number(name, value, low=0.0, low_open=True)


def choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise BadValue(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadType(f"{name} must be bool, got {type(value).__name__}")
    return value


def integer_or_none(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadType(f"{name} must be an int or None, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise BadType(f"{name} must be an int or None, got {type(value).__name__}") from None


def _index(value: Any, ndim: int, what: str, type_error: str) -> int:
    """One axis as a non-negative int: any integer (``__index__``), not bool."""
    if isinstance(value, bool):
        raise BadType(type_error)
    try:
        a = operator.index(value)
    except TypeError:
        raise BadType(type_error) from None
    if not -ndim <= a < ndim:
        raise BadValue(f"axis {a} is out of range for {what} with {ndim} dimension(s)")
    return a % ndim


def axis(value: Any, ndim: int, what: str = "inputs") -> int:
    """``value`` as a non-negative axis of an ``ndim``-d array.

    Any integer is accepted (Python ``int``, NumPy integers: anything with
    ``__index__``); ``bool`` is not."""
    return _index(value, ndim, what, f"axis must be an int, got {type(value).__name__}")


def axes(value: Any, ndim: int, what: str = "inputs", none: bool = True) -> tuple[int, ...]:
    """``value`` (None, an integer or a non-empty tuple/list of integers) as a
    tuple of distinct non-negative axes; None means every axis (``none``:
    whether None is accepted, for the messages)."""
    if value is None:
        return tuple(range(ndim))
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    kinds = "None, an int" if none else "an int"
    if not items:
        raise BadValue(f"axis must be {kinds} or a non-empty tuple of ints, got {value!r}")
    bad = f"axis must be {kinds} or a tuple of ints, got {value!r}"
    out = [_index(a, ndim, what, bad) for a in items]
    if len(set(out)) != len(out):
        raise BadValue(f"axis {value!r} repeats an axis")
    return tuple(out)


def axis_or_axes(value: Any, ndim: int, what: str = "inputs") -> tuple[int, ...]:
    """An int or a non-empty tuple/list of ints, as a tuple of distinct
    non-negative axes (one for an int)."""
    if isinstance(value, (tuple, list)):
        if not value:
            raise BadValue(f"axis must be an int or a non-empty tuple of ints, got {value!r}")
        return axes(value, ndim, what, none=False)
    return (_index(value, ndim, what, f"axis must be an int or a tuple of ints, got {type(value).__name__}"),)


# --- arrays --------------------------------------------------------------------


def is_array(x: Any) -> bool:
    return hasattr(x, "dtype") and hasattr(x, "shape")


def array(name: str, x: Any) -> Any:
    if not is_array(x):
        raise BadType(f"{name} must be an array, got {type(x).__name__}")
    return x


def array_or_none(name: str, x: Any) -> Any:
    return None if x is None else array(name, x)


def same_shape(a: Any, b: Any, names: tuple[str, str]) -> None:
    if a.shape != b.shape and tuple(a.shape) != tuple(b.shape):
        raise BadValue(f"{names[0]} has shape {tuple(a.shape)} but {names[1]} has shape {tuple(b.shape)}; "
                       "they must be equal")


def min_ndim(x: Any, name: str, ndim: int, layout: str) -> None:
    if x.ndim < ndim:
        raise BadValue(f"{name} must have shape {layout} (at least {ndim} axes), got shape {tuple(x.shape)}")


def per_pair(y: Any, x: Any, names: tuple[str, str]) -> None:
    """``y`` (one value per vector of ``x``) has ``x``'s shape without the
    last (feature) axis; ``names`` are ``(y's name, x's name)``."""
    want = tuple(x.shape[:-1])
    if tuple(y.shape) != want:
        raise BadValue(f"{names[0]} has shape {tuple(y.shape)} but {names[1]} has shape {tuple(x.shape)}; "
                       f"{names[0]} must have shape {want} ({names[1]}'s shape without the feature axis)")


def broadcasts_to(name: str, x: Any, shape: tuple, onto: str) -> None:
    """``x``'s shape broadcasts to ``shape`` without growing it (torch's rule
    for elementwise weights)."""
    xs = tuple(x.shape)
    if not (len(xs) <= len(shape) and all(a in (1, b) for a, b in zip(xs[::-1], shape[::-1]))):
        raise BadValue(f"{name} has shape {xs}, which does not broadcast to {onto}'s shape {tuple(shape)}")


# --- value checks ----------------------------------------------------------------
# The only checks that read array values. A preparation step does not run
# them: it attaches them to its record, and the dispatcher
# (lossapi._core.loss.run) runs each one, except those a backend kernel's
# table row declares that the kernel makes itself. A call plan is made only
# when every check of the call is such a declared kernel check, so no value
# check is skipped on a repeated call unless a kernel row says so.


@dataclass(frozen=True)
class ValueCheck:
    """A named check of array values, run by the dispatcher.

    ``kind`` names what is checked ("labels", ...): a kernel row lists the
    kinds its kernel checks itself. ``run(ops)`` raises :class:`BadValue`."""

    kind: str
    run: Callable[[Any], None]


def label_range(labels: Any, num_classes: int, ignore_index: int | None, name: str = "target") -> ValueCheck:
    """Class labels in ``[0, num_classes)`` (or equal to ``ignore_index``),
    checked where the backend can read values without a device sync or
    breaking a trace (elsewhere out-of-range labels give NaN: see
    :mod:`lossapi.classification`)."""

    def run(ops: Any) -> None:
        if not ops.values_readable(labels) or math.prod(labels.shape) == 0:
            return
        xp = ops.xp
        try:  # two reductions decide the common case
            if int(xp.min(labels)) >= 0 and int(xp.max(labels)) < num_classes:
                return
        except RuntimeError:  # torch.func.vmap: values cannot be read; NaN marks bad labels
            return
        bad = (labels < 0) | (labels >= num_classes)
        if ignore_index is not None:
            bad = bad & (labels != ignore_index)
        if bool(xp.any(bad)):
            vals = xp.where(bad, labels, 0)
            hi, lo = int(xp.max(vals)), int(xp.min(vals))
            v = hi if hi >= num_classes else lo
            also = "" if ignore_index is None else f" and is not ignore_index={ignore_index}"
            raise BadValue(f"{name} contains class label {v}, which is outside [0, {num_classes}){also}")

    return ValueCheck("labels", run)
