"""Segmentation (overlap) losses: soft Dice, Jaccard and Tversky.

Inputs are **probabilities**, not logits: apply the sigmoid (binary masks) or
the softmax over the class axis (multi-class) yourself. Targets are masks of
the same shape (0/1, boolean or soft values in [0, 1]); integer label maps
must be one-hot encoded to ``probs``' shape first.

All three losses compare soft counts summed over the axes in ``axis``:
``TP = sum p*g``, ``FP = sum p*(1-g)``, ``FN = sum (1-p)*g``.

* ``axis=None`` (default) sums over every element: one overlap for the whole
  batch, a 0-d result for every ``reduction``.
* ``axis`` an int or a tuple of ints sums over those axes only and gives one
  loss per remaining index (e.g. ``axis=(2, 3)`` on ``[N, C, H, W]`` gives a
  loss per sample and class); ``reduction`` then averages ("mean"), adds
  ("sum") or returns ("none") those losses.

Each loss is computed as ``(weighted FP + FN) / denominator`` rather than
``1 - ratio``: algebraically the same as the textbook form, but exact near a
perfect overlap and never below 0. When the denominator is 0 (empty
prediction and target with ``smooth=0``) the loss is 0, with a finite
gradient. See the user guide (README, "Conventions") for reductions and dtypes.
"""

from __future__ import annotations

import operator
from typing import Any

from ._common import check_number, reduce, setup

__all__ = ["dice", "jaccard", "tversky"]


def _check_axes(loss: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` as a tuple of distinct non-negative ints (all axes for None)."""
    if axis is None:
        return tuple(range(ndim))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if not items:
        raise ValueError(f"{loss}: axis must be None, an int or a non-empty tuple of ints, got {axis!r}")
    out = []
    for a in items:
        if isinstance(a, bool):
            raise TypeError(f"{loss}: axis must be None, an int or a tuple of ints, got {axis!r}")
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(f"{loss}: axis must be None, an int or a tuple of ints, got {axis!r}") from None
        if not -ndim <= a < ndim:
            raise ValueError(f"{loss}: axis {a} is out of range for inputs with {ndim} dimension(s)")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{loss}: axis {axis!r} repeats an axis")
    return tuple(out)


def _sum(xp, x, axes):
    # An empty tuple (0-d inputs) means nothing to sum; torch would sum all.
    return xp.sum(x, axis=axes) if axes else x


def _safe_ratio(xp, num, den):
    # Double where: a zero denominator (only possible with smooth == 0 and
    # empty masks, where num == 0 too) gives 0 and a finite gradient.
    zero = den == 0
    return xp.where(zero, xp.zeros_like(num), num / xp.where(zero, xp.ones_like(den), den))


def _overlaps(xp, p, g, axes):
    """Soft ``TP`` and ``FP + FN``, each summed once over ``axes``.

    ``FP + FN = (p - p g) + (g - p g)``: summed directly (no ``sum p - TP``
    cancellation for near-perfect masks), exact for binary targets, and with
    no constant in it, so XLA:CPU fuses both sums with their elementwise
    terms, forward and backward (a ``1 - g`` makes it materialise a
    broadcast ``1`` the size of the inputs).
    """
    pg = p * g
    return _sum(xp, pg, axes), _sum(xp, (p - pg) + (g - pg), axes)


def _weighted_overlaps(xp, p, g, axes, alpha, beta):
    """Soft ``TP`` and ``alpha FP + beta FN``, each summed once over ``axes``.

    ``FP = -(p (g - 1))`` and ``FN = -(g (p - 1))``, the same numbers as
    ``p (1 - g)`` and ``(1 - p) g``; in this form XLA:CPU keeps the forward
    pass in one fused reduction (no input-sized temporary).
    """
    return _sum(xp, p * g, axes), -_sum(xp, alpha * (p * (g - 1.0)) + beta * (g * (p - 1.0)), axes)


def _prepare(loss, probs, target, smooth, axis, reduction):
    smooth = check_number(loss, "smooth", smooth, low=0.0)
    ops, dt, probs, target = setup(loss, probs, target, names=("probs", "target"), reduction=reduction)
    return ops, dt, probs, target, smooth, _check_axes(loss, axis, probs.ndim)


def dice(probs, target, /, *, smooth=1e-6, axis=None, reduction="mean"):
    """Soft Dice loss, ``1 - (2 TP + smooth) / (sum p + sum g + smooth)``.

    ``sum p + sum g = 2 TP + FP + FN``, so the loss is computed as
    ``(FP + FN) / (2 TP + FP + FN + smooth)``. ``smooth`` keeps empty masks
    (prediction and target all 0) at loss 0; with ``smooth=0`` they are 0 too.

    Args:
      probs: predicted probabilities, floating array of any shape.
      target: ground-truth mask, same shape (bool, int or float).
      smooth: non-negative smoothing added to numerator and denominator.
      axis: None (one overlap over all elements) or the axes summed over,
        see the module docstring.
      reduction: "mean", "sum" or "none" over the per-index losses.

    Returns:
      A scalar array, or for "none" with ``axis`` given, ``probs``' shape
      without the axes in ``axis``.

    References:
      Milletari, Navab & Ahmadi, "V-Net: Fully Convolutional Neural Networks
      for Volumetric Medical Image Segmentation", 2016.

    Example:
      >>> import numpy as np, lossapi
      >>> p = np.array([[0.9, 0.1], [0.2, 0.8]]); g = np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(lossapi.dice(p, g)), 4)
      0.15
      >>> np.round(lossapi.dice(p, g, axis=1, reduction="none"), 4)
      array([0.1, 0.2])
    """
    ops, dt, p, g, smooth, axes = _prepare("dice", probs, target, smooth, axis, reduction)
    xp = ops.xp
    tp, miss = _overlaps(xp, p, g, axes)  # miss = FP + FN
    return reduce(ops, _safe_ratio(xp, miss, 2.0 * tp + miss + smooth), reduction, dt)


def jaccard(probs, target, /, *, smooth=1e-6, axis=None, reduction="mean"):
    """Soft Jaccard (IoU) loss, ``1 - (TP + smooth) / (sum p + sum g - TP + smooth)``.

    ``sum p + sum g - TP = TP + FP + FN`` (the soft union), so the loss is
    computed as ``(FP + FN) / (TP + FP + FN + smooth)``. Empty masks give 0.
    Equals :func:`tversky` with ``alpha = beta = 1``.

    Args:
      probs: predicted probabilities, floating array of any shape.
      target: ground-truth mask, same shape.
      smooth: non-negative smoothing added to numerator and denominator.
      axis: None or the axes summed over, see the module docstring.
      reduction: "mean", "sum" or "none" over the per-index losses.

    Returns:
      A scalar array, or for "none" with ``axis`` given, ``probs``' shape
      without the axes in ``axis``.

    References:
      Rahman & Wang, "Optimizing Intersection-Over-Union in Deep Neural
      Networks for Image Segmentation", 2016.

    Example:
      >>> import numpy as np, lossapi
      >>> p = np.array([[0.9, 0.1], [0.2, 0.8]]); g = np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(lossapi.jaccard(p, g)), 4)
      0.2609
    """
    ops, dt, p, g, smooth, axes = _prepare("jaccard", probs, target, smooth, axis, reduction)
    xp = ops.xp
    tp, miss = _overlaps(xp, p, g, axes)  # miss = FP + FN
    return reduce(ops, _safe_ratio(xp, miss, tp + miss + smooth), reduction, dt)


def tversky(probs, target, /, *, alpha=0.5, beta=0.5, gamma=1.0, smooth=1e-6, axis=None, reduction="mean"):
    """Tversky loss, and focal Tversky loss for ``gamma != 1``.

    ``TI = (TP + smooth) / (TP + alpha FP + beta FN + smooth)`` and the loss
    is ``(1 - TI) ** gamma``, computed as
    ``((alpha FP + beta FN) / (TP + alpha FP + beta FN + smooth)) ** gamma``.
    ``alpha`` weights false positives, ``beta`` false negatives (``beta >
    alpha`` favours recall, Salehi et al. use alpha=0.3, beta=0.7).

    Identities: ``alpha = beta = 1`` is :func:`jaccard` (same ``smooth``);
    ``alpha = beta = 0.5`` is :func:`dice` with ``smooth`` doubled
    (``tversky(smooth=s) == dice(smooth=2*s)``; equal for ``smooth=0``).

    **Exponent convention.** ``gamma`` is the exponent itself. Abraham & Khan
    (2019) write ``(1 - TI) ** (1/gamma)`` and recommend their gamma = 4/3:
    that is ``gamma=0.75`` here. With ``gamma < 1`` the gradient at a perfect
    overlap (``1 - TI == 0``) is infinite in theory; it is taken as 0.

    Args:
      probs: predicted probabilities, floating array of any shape.
      target: ground-truth mask, same shape.
      alpha: non-negative weight of false positives.
      beta: non-negative weight of false negatives.
      gamma: positive exponent (1: plain Tversky loss).
      smooth: non-negative smoothing added to numerator and denominator.
      axis: None or the axes summed over, see the module docstring.
      reduction: "mean", "sum" or "none" over the per-index losses.

    Returns:
      A scalar array, or for "none" with ``axis`` given, ``probs``' shape
      without the axes in ``axis``.

    References:
      Salehi, Erdogmus & Gholipour, "Tversky Loss Function for Image
      Segmentation Using 3D Fully Convolutional Deep Networks", 2017.
      Abraham & Khan, "A Novel Focal Tversky Loss Function with Improved
      Attention U-Net for Lesion Segmentation", 2019.

    Example:
      >>> import numpy as np, lossapi
      >>> p = np.array([[0.9, 0.4], [0.2, 0.8]]); g = np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(lossapi.tversky(p, g, alpha=0.3, beta=0.7)), 4)
      0.1866
    """
    name = "tversky"
    alpha = check_number(name, "alpha", alpha, low=0.0)
    beta = check_number(name, "beta", beta, low=0.0)
    gamma = check_number(name, "gamma", gamma, low=0.0, low_open=True)
    ops, dt, p, g, smooth, axes = _prepare(name, probs, target, smooth, axis, reduction)
    xp = ops.xp
    tp, miss = _weighted_overlaps(xp, p, g, axes, alpha, beta)  # miss = alpha FP + beta FN
    loss = _safe_ratio(xp, miss, tp + miss + smooth)  # 1 - TI, >= 0
    if gamma != 1.0:
        # Double where: pow's gradient at 0 is inf (gamma < 1) or NaN-prone.
        pos = loss > 0
        loss = xp.where(pos, xp.where(pos, loss, xp.ones_like(loss)) ** gamma, xp.zeros_like(loss))
    return reduce(ops, loss, reduction, dt)
