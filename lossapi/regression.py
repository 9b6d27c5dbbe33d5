"""Regression losses: elementwise penalties on ``pred - target``.

Shapes: ``pred`` and ``target`` must have equal shapes; ``reduction="none"``
returns one value per element. Every loss takes ``where=``, a boolean mask
broadcasting to ``pred``'s shape: masked elements are 0 under "none" and
leave the sum and the mean (whose denominator counts the kept elements; a
mean over nothing is 0). Numeric options may be 0-d arrays (README,
"Conventions"). See the user guide (README, "Conventions") for
what ``reduction`` does and how dtypes are handled.
"""

from __future__ import annotations

import math

from ._core import numerics
from ._core import validate as v
from ._core.loss import loss
from ._core.prepare import Prepared, cast, float_array, prepare
from ._core.types import Array, Reduction

__all__ = [
    "mse",
    "mae",
    "huber",
    "smooth_l1",
    "log_cosh",
    "mape",
    "smape",
    "msle",
    "pinball",
    "poisson_nll",
    "gaussian_nll",
]


@loss
def mse(pred: Array, target: Array, /, *, where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Mean squared error, ``(pred - target)**2``.

    Args:
      pred: predictions, floating array of any shape.
      target: targets, same shape as ``pred``.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or an array of ``pred``'s shape for "none".

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.mse(np.array([2.5, 2.8, 4.2]), np.array([2.0, 3.0, 5.0]))), 4)
      0.31
    """
    return prepare(pred, target, reduction=reduction, where=where).run(_mse)


def _mse(a: Prepared, pred: Array, target: Array) -> Array:
    r = pred - target
    return r * r


@loss
def mae(pred: Array, target: Array, /, *, where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Mean absolute error, ``|pred - target|`` (torch's ``l1_loss``).

    The subgradient at ``pred == target`` is 0 on every backend.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.mae(np.array([2.5, 2.8, 4.2]), np.array([2.0, 3.0, 5.0]))), 6)
      0.5
    """
    return prepare(pred, target, reduction=reduction, where=where).run(_mae)


def _mae(a: Prepared, pred: Array, target: Array) -> Array:
    return a.ops.abs(pred - target)


@loss
def huber(pred: Array, target: Array, /, *, delta: float = 1.0, where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Huber loss as in the guide (and ``torch.nn.functional.huber_loss``).

    ``0.5 r**2`` for ``|r| <= delta``, ``delta * (|r| - 0.5 delta)`` beyond.
    For torch's ``smooth_l1_loss`` (the same curve divided by ``beta``) use
    :func:`smooth_l1`; ``huber(delta=d) == d * smooth_l1(beta=d)``.

    Args:
      delta: positive threshold between the quadratic and linear pieces.

    References:
      Huber, "Robust Estimation of a Location Parameter", 1964.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.huber(np.array([0.0, 3.0]), np.array([0.5, 0.0]))), 4)
      1.3125
    """
    delta = v.positive("delta", delta)
    return prepare(pred, target, reduction=reduction, where=where).run(_huber, delta=delta)


def _huber(a: Prepared, pred: Array, target: Array, *, delta: float) -> Array:
    # q = min(|r|, delta) splits the loss into its quadratic and linear parts
    # without a where, which XLA fuses into the reduction (no input-sized
    # temporary under jax.jit); the slope at |r| == delta is delta however a
    # backend splits the tie of the minimum. At r == 0 the slope is
    # q * d|r|/dr + delta * (d|r|/dr - dq/dr) = 0 whatever the backend's
    # d|r|/dr there, so the plain xp.abs will do.
    # 0.5 * (q * q), not (0.5 * q) * q: XLA:CPU runs the former 25% faster.
    r = a.xp.abs(pred - target)
    q = a.xp.minimum(r, delta)
    return 0.5 * (q * q) + delta * (r - q)


@loss
def smooth_l1(pred: Array, target: Array, /, *, beta: float = 1.0, where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Smooth L1 loss with torch's semantics.

    ``0.5 r**2 / beta`` for ``|r| < beta``, ``|r| - 0.5 beta`` otherwise;
    ``beta == 0`` is the L1 loss.

    References:
      Girshick, "Fast R-CNN", 2015.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.smooth_l1(np.array([2.5, 2.8, 4.2]), np.array([2.0, 3.0, 5.0]))), 4)
      0.155
    """
    beta = v.number("beta", beta, low=0.0)
    return prepare(pred, target, reduction=reduction, where=where).run(_smooth_l1, beta=beta)


def _smooth_l1(a: Prepared, pred: Array, target: Array, *, beta: float) -> Array:
    r = pred - target
    m = a.ops.abs(r)
    if numerics.is_number(beta, 0.0):
        return m
    # A 0-d array beta may be 0: the discarded branch divides by a safe value.
    safe = beta if isinstance(beta, float) else a.xp.where(beta > 0, beta, a.xp.ones_like(beta))
    return a.xp.where(m < beta, 0.5 * r * r / safe, m - 0.5 * beta)


@loss
def log_cosh(pred: Array, target: Array, /, *, where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Log-cosh loss, ``log(cosh(pred - target))``.

    Computed as ``|r| + log1p(exp(-|r|)**2) - log 2``, which is exact and finite
    for every finite ``r`` (the naive ``cosh`` overflows float32 near
    ``|r| = 89``). Its gradient is ``tanh(r)``.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.log_cosh(np.array([2.5, 2.8, 4.2]), np.array([2.0, 3.0, 5.0]))), 4)
      0.1436
    """
    return prepare(pred, target, reduction=reduction, where=where).run(_log_cosh)


def _log_cosh(a: Prepared, pred: Array, target: Array) -> Array:
    m = a.ops.abs(pred - target)
    # exp(-|r|)**2 rather than exp(-2|r|): -2|r| itself overflows near the
    # float32 maximum, exp(-|r|) is in [0, 1].
    e = a.xp.exp(-m)
    return m + a.xp.log1p(e * e) - math.log(2.0)


@loss
def mape(pred: Array, target: Array, /, *, eps: float = 1.17e-6, where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Mean absolute percentage error, ``100 * |pred - target| / |target|``.

    A zero (or tiny) target would divide by zero. The denominator is
    ``max(|target|, eps)`` (as torchmetrics does), so a zero target gives the
    large but finite value ``100 * |pred| / eps``, never inf or NaN. Pass
    ``eps`` to choose the floor.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.mape(np.array([2.5, 2.8, 4.2]), np.array([2.0, 3.0, 5.0]))), 4)
      15.8889
    """
    eps = v.positive("eps", eps)
    return prepare(pred, target, reduction=reduction, where=where).run(_mape, eps=eps)


def _mape(a: Prepared, pred: Array, target: Array, *, eps: float) -> Array:
    denom = numerics.at_least(a.ops, a.ops.abs(target), eps)
    return 100.0 * a.ops.abs(pred - target) / denom


@loss
def smape(pred: Array, target: Array, /, *, eps: float = 1.17e-6, where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Symmetric MAPE in percent: ``100 * 2|r| / (|pred| + |target|)``.

    Values lie in [0, 200]. The denominator is floored at ``eps``, so
    ``pred == target == 0`` gives 0.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.smape(np.array([1.0, 3.0]), np.array([1.0, 1.0]))), 4)
      50.0
    """
    eps = v.positive("eps", eps)
    return prepare(pred, target, reduction=reduction, where=where).run(_smape, eps=eps)


def _smape(a: Prepared, pred: Array, target: Array, *, eps: float) -> Array:
    ops = a.ops
    denom = numerics.at_least(ops, ops.abs(pred) + ops.abs(target), eps)
    return 200.0 * ops.abs(pred - target) / denom


@loss
def msle(pred: Array, target: Array, /, *, where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Mean squared logarithmic error, ``(log1p(pred) - log1p(target))**2``.

    Negative values are clipped to 0 first (Keras' convention), so the loss
    stays finite for any input; the gradient is 0 where ``pred < 0``.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.msle(np.array([np.e - 1]), np.array([0.0]))), 4)
      1.0
    """
    return prepare(pred, target, reduction=reduction, where=where).run(_msle)


def _msle(a: Prepared, pred: Array, target: Array) -> Array:
    xp = a.xp
    zero = xp.zeros_like(pred)
    r = xp.log1p(xp.where(pred > 0, pred, zero)) - xp.log1p(xp.where(target > 0, target, zero))
    return r * r


@loss
def pinball(pred: Array, target: Array, /, *, quantile: float = 0.5, where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Pinball (quantile) loss for the ``quantile``-th quantile.

    With ``r = target - pred``: ``quantile * r`` if ``r >= 0`` else
    ``(quantile - 1) * r``. ``quantile=0.5`` is half the MAE.

    References:
      Koenker & Bassett, "Regression Quantiles", 1978.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.pinball(np.array([0.0, 0.0]), np.array([1.0, -1.0]), quantile=0.9)), 4)
      0.5
    """
    q = v.number("quantile", quantile, low=0.0, high=1.0)
    return prepare(pred, target, reduction=reduction, where=where).run(_pinball, quantile=q)


def _pinball(a: Prepared, pred: Array, target: Array, *, quantile: float) -> Array:
    r = target - pred
    return a.xp.where(r >= 0, quantile * r, (quantile - 1.0) * r)


@loss
def poisson_nll(pred: Array, target: Array, /, *, log_input: bool = True, full: bool = False, eps: float = 1e-8,
                where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Poisson negative log-likelihood with torch's semantics.

    ``log_input=True``: ``pred`` is the log-rate, loss ``exp(pred) - target*pred``.
    ``log_input=False``: ``pred`` is the rate, loss ``pred - target*log(pred+eps)``.
    ``full=True`` adds Stirling's approximation of ``log(target!)``,
    ``target*log(target) - target + 0.5*log(2*pi*target)``, for targets > 1.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.poisson_nll(np.array([1.5, 0.5, 2.0]), np.array([5.0, 1.0, 7.0]))), 4)
      -2.8268
    """
    eps = v.number("eps", eps, low=0.0)
    if not isinstance(log_input, bool) or not isinstance(full, bool):
        raise v.BadType("log_input and full must be bool")
    return prepare(pred, target, reduction=reduction, where=where).run(_poisson_nll, log_input=log_input, full=full, eps=eps)


def _poisson_nll(a: Prepared, pred: Array, target: Array, *, log_input: bool, full: bool, eps: float) -> Array:
    xp = a.xp
    if log_input:
        loss = xp.exp(pred) - target * pred
    else:
        loss = pred - target * xp.log(pred + eps)
    if full:
        big = target > 1
        t = xp.where(big, target, xp.ones_like(target))
        stirling = t * xp.log(t) - t + 0.5 * xp.log(2.0 * math.pi * t)
        loss = loss + xp.where(big, stirling, xp.zeros_like(t))
    return loss


@loss
def gaussian_nll(mean: Array, target: Array, var: Array, /, *, full: bool = False, eps: float = 1e-6,
                 where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Gaussian negative log-likelihood with torch's semantics.

    ``0.5 * (log(var) + (mean - target)**2 / var)``, plus ``0.5*log(2*pi)``
    with ``full=True``. ``var`` has ``target``'s shape, or that shape with
    the last axis of size 1 or dropped (one variance per sample). As in torch,
    ``var`` is clamped to at least ``eps`` for the value while the gradient
    passes through the clamp unchanged.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.gaussian_nll(np.array([0.0]), np.array([1.0]), np.array([1.0]))), 4)
      0.5
    """
    eps = v.number("eps", eps, low=0.0)
    if not isinstance(full, bool):
        raise v.BadType("full must be bool")
    a = prepare(mean, target, reduction=reduction, extra=(var,), where=where)
    float_array(a.ops, var, "var")
    var = cast(a.ops, var, a.dtype, "var")
    ts, vs = tuple(target.shape), tuple(var.shape)
    if vs != ts:
        if target.ndim >= 1 and vs == ts[:-1]:
            var = a.xp.expand_dims(var, axis=-1)
        elif not (target.ndim >= 1 and vs == ts[:-1] + (1,)):
            raise v.BadValue(f"var has shape {vs} but must have target's shape {ts}, "
                             "or that shape with the last axis of size 1 or removed")
    return a.run(_gaussian_nll, var=var, full=full, eps=eps)


def _gaussian_nll(a: Prepared, mean: Array, target: Array, *, var: Array, full: bool, eps: float) -> Array:
    ops, xp = a.ops, a.xp
    # Clamp the value, pass the gradient through (torch clamps under no_grad).
    var = var + ops.stop_gradient(numerics.at_least(ops, var, eps) - var)
    # One expression with an unnamed residual, freed once squared: eager
    # backends peak at 4 input-sized buffers in the forward, not 5 (torch:
    # 64 MiB for 4M float32 elements, as F.gaussian_nll_loss), and this order
    # keeps the forward+backward peak at torch's too.
    loss = 0.5 * (xp.log(var) + (mean - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2.0 * math.pi)
    return loss
