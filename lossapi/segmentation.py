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
* ``where``: a boolean mask of the inputs' shape (pixels where it is False,
  ignore regions, leave every sum) or of the per-loss shape (the shape
  without ``axis``: whole images or classes). With it, "mean" averages over
  the losses that have a pixel left. None of these losses takes class
  labels, so there is no ``ignore_index``: mask the ignore label's pixels
  with ``where=labels != ignore``.

Each loss is computed as ``(weighted FP + FN) / denominator`` rather than
``1 - ratio``: algebraically the same as the textbook form, but exact near a
perfect overlap and never below 0. When the denominator is 0 (empty
prediction and target with ``smooth=0``) the loss is 0, with a finite
gradient. See the user guide (README, "Conventions") for reductions and dtypes.
"""

from __future__ import annotations

from typing import Any

from ._core import numerics
from ._core import validate as v
from ._core.loss import loss
from ._core.prepare import Prepared, prepare
from ._core.types import Array, Reduction

__all__ = ["dice", "jaccard", "tversky"]

Axes = int | tuple[int, ...] | None


def _sum(xp: Any, x: Array, axes: tuple[int, ...]) -> Array:
    # An empty tuple (0-d inputs) means nothing to sum; torch would sum all.
    return xp.sum(x, axis=axes) if axes else x


def _overlaps(xp: Any, p: Array, g: Array, axes: tuple[int, ...]) -> tuple[Array, Array]:
    """Soft ``TP`` and ``FP + FN``, each summed once over ``axes``.

    ``FP + FN = (p - p g) + (g - p g)``: summed directly (no ``sum p - TP``
    cancellation for near-perfect masks), exact for binary targets, and with
    no constant in it, so XLA:CPU fuses both sums with their elementwise
    terms, forward and backward (a ``1 - g`` makes it materialise a
    broadcast ``1`` the size of the inputs).
    """
    pg = p * g
    return _sum(xp, pg, axes), _sum(xp, (p - pg) + (g - pg), axes)


def _weighted_overlaps(xp: Any, p: Array, g: Array, axes: tuple[int, ...], alpha: float,
                       beta: float) -> tuple[Array, Array]:
    """Soft ``TP`` and ``alpha FP + beta FN``, each summed once over ``axes``.

    ``FP = -(p (g - 1))`` and ``FN = -(g (p - 1))``, the same numbers as
    ``p (1 - g)`` and ``(1 - p) g``; in this form XLA:CPU keeps the forward
    pass in one fused reduction (no input-sized temporary).
    """
    return _sum(xp, p * g, axes), -_sum(xp, alpha * (p * (g - 1.0)) + beta * (g * (p - 1.0)), axes)


def _prepare(probs: Array, target: Array, smooth: Any, axis: Any, reduction: str,
             where: Any) -> tuple[Prepared, float, tuple[int, ...]]:
    smooth = v.number("smooth", smooth, low=0.0)
    a = prepare(probs, target, reduction=reduction, extra=(v.array_or_none("where", where),))
    axes = v.axes(axis, a.arrays[0].ndim)
    a = a.masked(where, axes)
    if a.where is not None:  # masked pixels leave every sum: both maps are 0 there
        xp = a.xp
        a = a._replace(arrays=tuple(xp.where(a.where, x, xp.zeros_like(x)) for x in a.arrays))
    return a, smooth, axes


@loss
def dice(probs: Array, target: Array, /, *, smooth: float = 1e-6, axis: Axes = None,
         where: Array | None = None, reduction: Reduction = "mean") -> Array:
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
    a, smooth, axes = _prepare(probs, target, smooth, axis, reduction, where)
    return a.run(_dice, smooth=smooth, axes=axes)


def _dice(a: Prepared, p: Array, g: Array, *, smooth: float, axes: tuple[int, ...]) -> Array:
    tp, miss = _overlaps(a.xp, p, g, axes)  # miss = FP + FN
    # safe_ratio: a zero denominator (only possible with smooth == 0 and
    # empty masks, where num == 0 too) gives 0 and a finite gradient.
    return numerics.safe_ratio(a.ops, miss, 2.0 * tp + miss + smooth)


@loss
def jaccard(probs: Array, target: Array, /, *, smooth: float = 1e-6, axis: Axes = None,
            where: Array | None = None, reduction: Reduction = "mean") -> Array:
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
    a, smooth, axes = _prepare(probs, target, smooth, axis, reduction, where)
    return a.run(_jaccard, smooth=smooth, axes=axes)


def _jaccard(a: Prepared, p: Array, g: Array, *, smooth: float, axes: tuple[int, ...]) -> Array:
    tp, miss = _overlaps(a.xp, p, g, axes)  # miss = FP + FN
    return numerics.safe_ratio(a.ops, miss, tp + miss + smooth)  # 0 for a zero denominator, as in dice


@loss
def tversky(probs: Array, target: Array, /, *, alpha: float = 0.5, beta: float = 0.5, gamma: float = 1.0,
            smooth: float = 1e-6, axis: Axes = None, where: Array | None = None,
            reduction: Reduction = "mean") -> Array:
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
    alpha = v.number("alpha", alpha, low=0.0)
    beta = v.number("beta", beta, low=0.0)
    gamma = v.positive("gamma", gamma)
    a, smooth, axes = _prepare(probs, target, smooth, axis, reduction, where)
    return a.run(_tversky, alpha=alpha, beta=beta, gamma=gamma, smooth=smooth, axes=axes)


def _tversky(a: Prepared, p: Array, g: Array, *, alpha: float, beta: float, gamma: float, smooth: float,
             axes: tuple[int, ...]) -> Array:
    xp = a.xp
    tp, miss = _weighted_overlaps(xp, p, g, axes, alpha, beta)  # miss = alpha FP + beta FN
    loss = numerics.safe_ratio(a.ops, miss, tp + miss + smooth)  # 1 - TI, >= 0
    if not numerics.is_number(gamma, 1.0):
        # Double where: pow's gradient at 0 is inf (gamma < 1) or NaN-prone.
        pos = loss > 0
        loss = xp.where(pos, xp.where(pos, loss, xp.ones_like(loss)) ** gamma, xp.zeros_like(loss))
    return loss
