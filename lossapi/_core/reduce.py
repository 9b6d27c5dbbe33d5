"""Reduction: the one place where a loss's values become its result.

A ``where=`` mask (:attr:`~lossapi._core.prepare.Prepared.keep`, one boolean
per value) is applied here, once for every loss: a value whose mask is False
becomes 0 (``reduction="none"``) and leaves the sum and the mean's
denominator. With a mask, a mean over nothing is 0 with zero gradient, never
NaN (without one, torch's all-ignored NaN is kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mean:
    """Per-sample values whose "mean" divides by ``sum(weights)`` rather than
    by the number of values (torch's weighted means, ignored samples, valid
    entries).

    ``weights`` has the values' shape: each value's share of the denominator
    (its class weight, 1 or 0 for kept or ignored). ``empty_zero``: a zero
    denominator gives 0 rather than NaN."""

    values: Any
    weights: Any
    empty_zero: bool = False


def reduce(ops: Any, values: Any, reduction: str, out_dtype: Any, keep: Any = None) -> Any:
    """Apply ``reduction`` to ``values`` (only where ``keep`` is True, if given)
    and cast back to the caller's dtype.

    ``values`` is an array, a :class:`Mean`, or a named tuple of either (each
    field reduced alike, as :func:`lossapi.vae_loss` returns)."""
    if isinstance(values, tuple):
        return type(values)(*(reduce(ops, v, reduction, out_dtype, keep) for v in values))
    xp = ops.xp
    weights, empty_zero = None, keep is not None
    if isinstance(values, Mean):
        values, weights, empty_zero = values.values, values.weights, values.empty_zero or empty_zero
    if keep is not None:
        values = xp.where(keep, values, xp.zeros_like(values))
        if reduction == "mean":
            weights = xp.astype(keep, values.dtype) if weights is None else xp.where(keep, weights, 0.0)
    if reduction == "none":
        out = values
    elif reduction == "sum":
        out = xp.sum(values)
    elif weights is None:
        out = xp.mean(values)
    else:
        denom = xp.sum(weights)
        if empty_zero:
            denom = xp.where(denom == 0, xp.ones_like(denom), denom)
        out = xp.sum(values) / denom
    return out if out.dtype == out_dtype else xp.astype(out, out_dtype)
