"""Numerically careful building blocks, written once for every family.

Each function takes the :class:`~lossapi.backends.Ops` of the inputs and is
written against the array API standard plus the backend primitives. Every
constant is made with the input's dtype; every kink has a named subgradient
convention; every function keeps its gradient finite where the naive form's
is inf or NaN (the "double where": the risky operation never sees the
dangerous argument, even in a branch that ``where`` discards).
"""

from __future__ import annotations

import math
from typing import Any

LOG_FLOOR = -100.0  # torch's floor for each log in binary_cross_entropy
LOG2 = math.log(2.0)


# --- logs -------------------------------------------------------------------------


def clamped_log(ops: Any, p: Any) -> Any:
    """``max(log(p), -100)`` (torch's clamp) with finite gradients.

    Where the log is clamped, and where ``1/p`` would overflow (subnormal
    ``p``), the value keeps the clamp but the gradient is 0, the derivative of
    the clamped curve; log never sees 0, so no ``inf * 0`` reaches autodiff.
    Negative ``p`` gives NaN.
    """
    xp = ops.xp
    pos = p > 0
    grad_ok = p >= xp.finfo(p.dtype).smallest_normal
    safe = xp.where(grad_ok, p, ops.stop_gradient(xp.where(pos, p, 1.0)))
    return xp.where(pos, xp.maximum(xp.log(safe), LOG_FLOOR),
                    xp.where(p == 0, LOG_FLOOR, xp.full_like(p, math.nan)))


def clamped_log1m(ops: Any, p: Any) -> Any:
    """``max(log1p(-p), -100)``; ``1 - p`` is never subnormal for ``p <= 1``, so
    only ``p == 1`` needs the double where. ``p > 1`` gives NaN."""
    xp = ops.xp
    below = p < 1
    return xp.where(below, xp.maximum(xp.log1p(-xp.where(below, p, 0.0)), LOG_FLOOR),
                    xp.where(p == 1, LOG_FLOOR, xp.full_like(p, math.nan)))


def binary_cross_entropy(ops: Any, p: Any, t: Any) -> Any:
    """Elementwise ``-(t log p + (1 - t) log(1 - p))``, each log clamped at
    -100 as torch does; gradients of the clamped value (0 where a log is
    clamped). The one definition behind ``binary_cross_entropy`` and
    ``vae_loss``."""
    return -(t * clamped_log(ops, p) + (1.0 - t) * clamped_log1m(ops, p))


def log1mexp(ops: Any, a: Any) -> Any:
    """``log(1 - exp(a))`` for ``a <= 0``, with finite gradients.

    Mächler's switch: ``log(-expm1(a))`` above ``-log 2``, ``log1p(-exp(a))``
    below; each branch sees a safe input. Where ``a`` is 0 or within the
    smallest normal of it (``1 - exp(a)`` rounds to 0, or its reciprocal
    would overflow) the result is ``-inf`` with zero gradient.
    """
    xp = ops.xp
    live = a < -xp.finfo(a.dtype).smallest_normal
    near = a > -LOG2
    a_near = xp.where(live & near, a, -0.5)
    a_far = xp.where(near, -1.0, a)
    out = xp.where(near, xp.log(-xp.expm1(a_near)), xp.log1p(-xp.exp(a_far)))
    return xp.where(live, out, -math.inf)


def masked_logsumexp(ops: Any, x: Any, mask: Any, axis: int = -1) -> tuple[Any, Any]:
    """logsumexp of ``x`` over ``axis``, only where ``mask``; 0 for a slice
    with nothing in it. Returns ``(lse, any(mask))``.

    The fill is a large *finite* number, not -inf: exp underflows to 0 and no
    ``inf - inf`` or ``0 * inf`` appears in the value or the gradient.
    """
    xp = ops.xp
    fill = xp.full_like(x, -0.25 * xp.finfo(x.dtype).max)
    lse = ops.logsumexp(xp.where(mask, x, fill), axis=axis)
    has = xp.any(mask, axis=axis)
    return xp.where(has, lse, xp.zeros_like(lse)), has


# --- roots and norms ----------------------------------------------------------------


def safe_sqrt(ops: Any, s: Any) -> Any:
    """``sqrt(s)`` for ``s >= 0`` whose gradient is 0, not inf, at ``s == 0``.

    ``maximum(s, smallest_normal)`` keeps sqrt's argument positive (exact for
    every normal ``s``) and ``sign(s)`` (derivative 0) makes the value exactly
    0 at ``s == 0``. No comparison or ``where``, so XLA fuses it into the
    reduction that produces ``s``.
    """
    xp = ops.xp
    return xp.sqrt(xp.maximum(s, xp.full_like(s, xp.finfo(s.dtype).smallest_normal))) * xp.sign(s)


def sqrt_or_zero(ops: Any, s: Any) -> Any:
    """``sqrt(s)`` where ``s > 0``, else 0 (also for NaN), with gradient 0
    (not inf) where ``s <= 0``: sqrt only sees ``s > 0`` (double where).

    Unlike :func:`safe_sqrt` it is exact for subnormal ``s`` (gradient
    ``1/(2 sqrt(s))``, large but finite) and maps NaN to 0, as
    :func:`lossapi.batch_triplet`'s distance matrix always has.
    """
    xp = ops.xp
    pos = s > 0
    return xp.where(pos, xp.sqrt(xp.where(pos, s, xp.ones_like(s))), xp.zeros_like(s))


def pnorm(ops: Any, v: Any, p: float, axis: int = -1) -> Any:
    """``||v||_p`` along ``axis`` with a finite (zero) gradient at ``v == 0``."""
    xp = ops.xp
    if p == 2.0:
        return ops.norm(v, axis=axis)
    a = ops.abs(v)  # derivative 0 at 0 on every backend
    if p == 1.0:
        return xp.sum(a, axis=axis)
    if math.isinf(p):
        return xp.max(a, axis=axis)
    # The power and the root only see positive arguments: neither |v|**p
    # (p < 1) nor s**(1/p) has an infinite derivative at 0.
    pos = a > 0
    ap = xp.where(pos, xp.where(pos, a, xp.ones_like(a)) ** p, xp.zeros_like(a))
    s = xp.sum(ap, axis=axis)
    spos = s > 0
    return xp.where(spos, xp.where(spos, s, xp.ones_like(s)) ** (1.0 / p), xp.zeros_like(s))


def safe_ratio(ops: Any, num: Any, den: Any) -> Any:
    """``num / den``, and 0 with a finite gradient where ``den == 0``."""
    xp = ops.xp
    zero = den == 0
    return xp.where(zero, xp.zeros_like(num), num / xp.where(zero, xp.ones_like(den), den))


# --- hinges -----------------------------------------------------------------------------
# max(0, x) has a kink at 0, and frameworks disagree on its subgradient there.
# lossapi names the convention at each call site.


def hinge(ops: Any, x: Any, *, at_kink: str) -> Any:
    """``max(0, x)`` with the subgradient at ``x == 0`` named by ``at_kink``:

    * ``"zero"``: 0 (torch's ``relu`` and ``multi_margin_loss``);
    * ``"slope"``: 1, the linear piece's slope (torch 2.13's ``clamp_min``,
      behind ``margin_ranking_loss``, ``triplet_margin_loss`` and
      ``cosine_embedding_loss``; torch 2.14's gives 0). Written as ``x`` times a constant 0/1 mask
      from ``sign`` and ``minimum`` rather than a comparison and ``where``, so
      XLA fuses it into the surrounding reductions.
    """
    if at_kink == "zero":
        return ops.relu(x)
    if at_kink == "slope":
        xp = ops.xp
        mask = ops.stop_gradient(xp.minimum(xp.sign(x) + 1.0, xp.ones_like(x)))
        # x = -inf would give -inf * 0 = NaN where clamp_min gives 0: the mask
        # multiplies x raised to the lowest finite value, which changes x only
        # where the mask is 0 (NaN stays NaN).
        return xp.maximum(x, xp.finfo(x.dtype).min) * mask
    raise ValueError(f"hinge: at_kink must be 'zero' or 'slope', got {at_kink!r}")


def small_int(gamma: Any) -> bool:
    """Whether ``x ** gamma`` can be computed as an integer power (1 to 8);
    never for a 0-d array option (its value may be traced)."""
    return isinstance(gamma, float) and gamma == int(gamma) and 1 <= gamma <= 8


def is_number(value: Any, number: float) -> bool:
    """Whether an option is the Python number ``number`` (False for a 0-d
    array option: its value may be traced, so the general formula runs)."""
    return isinstance(value, float) and value == number


def at_least(ops: Any, x: Any, low: Any) -> Any:
    """``max(x, low)`` for a Python number or 0-d array ``low``."""
    xp = ops.xp
    return xp.maximum(x, low if hasattr(low, "dtype") else xp.full_like(x, low))
