"""Reduction: the one place where a loss's values become its result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mean:
    """Per-sample values whose "mean" divides by ``denom`` rather than by the
    number of values (torch's weighted means, ignored samples, masks)."""

    values: Any
    denom: Any


def reduce(ops: Any, values: Any, reduction: str, out_dtype: Any) -> Any:
    """Apply ``reduction`` to ``values`` and cast back to the caller's dtype.

    ``values`` is an array, a :class:`Mean`, or a named tuple of either (each
    field reduced alike, as :func:`lossapi.vae_loss` returns)."""
    if isinstance(values, tuple):
        return type(values)(*(reduce(ops, v, reduction, out_dtype) for v in values))
    xp = ops.xp
    denom = None
    if isinstance(values, Mean):
        values, denom = values.values, values.denom
    if reduction == "none":
        out = values
    elif reduction == "sum":
        out = xp.sum(values)
    elif denom is not None:
        out = xp.sum(values) / denom
    else:
        out = xp.mean(values)
    return out if out.dtype == out_dtype else xp.astype(out, out_dtype)
