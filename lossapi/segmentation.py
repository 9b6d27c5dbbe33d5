"""Segmentation losses: soft Dice, Jaccard, Tversky, generalized Dice and
the Lovasz hinge and Lovasz-Softmax losses.

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

``include_background=False`` (with ``class_axis``, the axis that holds the
classes) drops the first class along ``class_axis`` from both maps before
anything is summed, as MONAI's and segmentation_models.pytorch's losses do
(``where`` is sliced alike where it has that axis).

:func:`generalized_dice` weights the classes of each sample; the Lovasz losses
(:func:`lovasz_hinge` on logits and binary masks, :func:`lovasz_softmax` on
class probabilities and integer labels) sort the pixel errors and take the
Lovasz extension of the Jaccard loss; they take ``where`` per pixel.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, Literal

from ._core import numerics
from ._core import validate as v
from ._core.loss import loss
from ._core.prepare import Prepared, masks, prepare
from ._core.prepare import classes as class_scores
from ._core.types import Array, Reduction

__all__ = ["dice", "jaccard", "tversky", "generalized_dice", "lovasz_hinge", "lovasz_softmax"]

Axes = int | tuple[int, ...] | None


def _sum(xp: Any, x: Array, axes: tuple[int, ...]) -> Array:
    # An empty tuple (0-d inputs) means nothing to sum; torch would sum all.
    return xp.sum(x, axis=axes) if axes else x


def _overlaps(xp: Any, p: Array, g: Array, axes: tuple[int, ...]) -> tuple[Array, Array]:
    """Soft ``TP`` and ``FP + FN``, each summed over ``axes``.

    ``FP = sum(p - p g)`` and ``FN = sum(g - p g)`` are summed per pixel (no
    ``sum p - TP`` cancellation for near-perfect masks; exact terms for
    binary targets) and in two sums rather than one sum of their elementwise
    total: in eager torch that is one elementwise pass and two input-sized
    temporaries fewer (forward: about a third less time, half the peak
    memory; the Tversky weights go on the sums, not on every element).
    """
    tp, fp, fn = _counts(xp, p, g, axes)
    return tp, fp + fn


def _counts(xp: Any, p: Array, g: Array, axes: tuple[int, ...]) -> tuple[Array, Array, Array]:
    """Soft ``TP``, ``FP`` and ``FN`` summed over ``axes`` (see :func:`_overlaps`)."""
    pg = p * g
    return _sum(xp, pg, axes), _sum(xp, p - pg, axes), _sum(xp, g - pg, axes)


def _weighted_overlaps(xp: Any, p: Array, g: Array, axes: tuple[int, ...], alpha: float,
                       beta: float) -> tuple[Array, Array]:
    """Soft ``TP`` and ``alpha FP + beta FN``, the counts summed as in
    :func:`_overlaps` and weighted after the sums (the per-loss arrays,
    not the inputs)."""
    tp, fp, fn = _counts(xp, p, g, axes)
    return tp, alpha * fp + beta * fn


def _prepare(probs: Array, target: Array, smooth: Any, axis: Any, reduction: str,
             where: Any, include_background: Any = True, class_axis: Any = None
             ) -> tuple[Prepared, float, tuple[int, ...]]:
    smooth = v.number("smooth", smooth, low=0.0)
    include_background = v.flag("include_background", include_background)
    a = prepare(probs, target, reduction=reduction, extra=(v.array_or_none("where", where),))
    ndim = a.arrays[0].ndim
    axes = v.axes(axis, ndim)
    if class_axis is not None:
        class_axis = v.axis(class_axis, ndim, "probs")
    elif not include_background:
        raise v.BadValue("include_background=False needs class_axis, the axis that holds the classes")
    a = a.masked(where, axes)
    if not include_background:
        a = _drop_background(a, class_axis, axes)
    if a.where is not None:  # masked pixels leave every sum: both maps are 0 there
        xp = a.xp
        a = a._replace(arrays=tuple(xp.where(a.where, x, xp.zeros_like(x)) for x in a.arrays))
    return a, smooth, axes


def _first_dropped(x: Array, axis: int) -> Array:
    return x[(slice(None),) * axis + (slice(1, None), ...)]


def _drop_background(a: Prepared, class_axis: int, axes: tuple[int, ...]) -> Prepared:
    """The record without the first class along ``class_axis`` (MONAI's and
    SMP's ``include_background=False``): in both maps, in an element mask
    (then each loss's ``keep`` is recomputed from what is left) and in a
    per-loss mask that has the class axis."""
    num_classes = a.arrays[0].shape[class_axis]
    if num_classes < 2:
        raise v.BadValue(f"include_background=False needs at least 2 classes along class_axis {class_axis}, "
                         f"got {num_classes}")
    xp = a.xp
    arrays = tuple(_first_dropped(x, class_axis) for x in a.arrays)
    where, keep = a.where, a.keep
    if where is not None:
        where = _first_dropped(where, class_axis)
        keep = xp.any(where, axis=axes)
    elif keep is not None and class_axis not in axes:  # a per-loss mask: the class axis is among its axes
        keep = _first_dropped(keep, class_axis - sum(1 for i in axes if i < class_axis))
    return a._replace(arrays=arrays, where=where, keep=keep)


@loss
def dice(probs: Array, target: Array, /, *, smooth: float = 1e-6, axis: Axes = None,
         where: Array | None = None, include_background: bool = True, class_axis: int | None = None,
         reduction: Reduction = "mean") -> Array:
    """Soft Dice loss, ``1 - (2 TP + smooth) / (sum p + sum g + smooth)``.

    ``sum p + sum g = 2 TP + FP + FN``, so the loss is computed as
    ``(FP + FN) / (2 TP + FP + FN + smooth)``. ``smooth`` keeps empty masks
    (prediction and target all 0) at loss 0; with ``smooth=0`` they are 0 too.

    From logits: ``dice(sigmoid(logits), target)`` for binary masks;
    ``dice(softmax(logits, axis=1), one_hot, axis=(2, 3), class_axis=1)`` for
    ``[N, C, H, W]`` scores (one loss per sample and class, averaged).

    Args:
      probs: predicted probabilities, floating array of any shape.
      target: ground-truth mask, same shape (bool, int or float).
      smooth: non-negative smoothing added to numerator and denominator.
      axis: None (one overlap over all elements) or the axes summed over,
        see the module docstring.
      where: optional boolean mask, see the module docstring.
      include_background: False drops the first class (index 0) along
        ``class_axis`` before the sums (MONAI, segmentation_models.pytorch).
      class_axis: the axis holding the classes; needed for
        ``include_background=False``.
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
      >>> np.round(lossapi.dice(p, g, axis=0, class_axis=1, include_background=False, reduction="none"), 4)
      array([0.1579])
    """
    a, smooth, axes = _prepare(probs, target, smooth, axis, reduction, where, include_background, class_axis)
    return a.run(_dice, smooth=smooth, axes=axes)


def _dice(a: Prepared, p: Array, g: Array, *, smooth: float, axes: tuple[int, ...]) -> Array:
    tp, miss = _overlaps(a.xp, p, g, axes)  # miss = FP + FN
    # safe_ratio: a zero denominator (only possible with smooth == 0 and
    # empty masks, where num == 0 too) gives 0 and a finite gradient.
    return numerics.safe_ratio(a.ops, miss, 2.0 * tp + miss + smooth)


@loss
def jaccard(probs: Array, target: Array, /, *, smooth: float = 1e-6, axis: Axes = None,
            where: Array | None = None, include_background: bool = True, class_axis: int | None = None,
            reduction: Reduction = "mean") -> Array:
    """Soft Jaccard (IoU) loss, ``1 - (TP + smooth) / (sum p + sum g - TP + smooth)``.

    ``sum p + sum g - TP = TP + FP + FN`` (the soft union), so the loss is
    computed as ``(FP + FN) / (TP + FP + FN + smooth)``. Empty masks give 0.
    Equals :func:`tversky` with ``alpha = beta = 1``. From logits:
    ``jaccard(sigmoid(logits), target)`` or ``softmax(logits, axis=...)``.

    Args:
      probs: predicted probabilities, floating array of any shape.
      target: ground-truth mask, same shape.
      smooth: non-negative smoothing added to numerator and denominator.
      axis: None or the axes summed over, see the module docstring.
      where: optional boolean mask, see the module docstring.
      include_background: False drops the first class (index 0) along
        ``class_axis`` before the sums (MONAI, segmentation_models.pytorch).
      class_axis: the axis holding the classes; needed for
        ``include_background=False``.
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
    a, smooth, axes = _prepare(probs, target, smooth, axis, reduction, where, include_background, class_axis)
    return a.run(_jaccard, smooth=smooth, axes=axes)


def _jaccard(a: Prepared, p: Array, g: Array, *, smooth: float, axes: tuple[int, ...]) -> Array:
    tp, miss = _overlaps(a.xp, p, g, axes)  # miss = FP + FN
    return numerics.safe_ratio(a.ops, miss, tp + miss + smooth)  # 0 for a zero denominator, as in dice


@loss
def tversky(probs: Array, target: Array, /, *, alpha: float = 0.5, beta: float = 0.5, gamma: float = 1.0,
            smooth: float = 1e-6, axis: Axes = None, where: Array | None = None,
            include_background: bool = True, class_axis: int | None = None,
            reduction: Reduction = "mean") -> Array:
    """Tversky loss, and focal Tversky loss for ``gamma != 1``.

    ``TI = (TP + smooth) / (TP + alpha FP + beta FN + smooth)`` and the loss
    is ``(1 - TI) ** gamma``, computed as
    ``((alpha FP + beta FN) / (TP + alpha FP + beta FN + smooth)) ** gamma``.
    ``alpha`` weights false positives, ``beta`` false negatives (``beta >
    alpha`` favours recall, Salehi et al. use alpha=0.3, beta=0.7). From
    logits: ``tversky(sigmoid(logits), target)`` or ``softmax(logits, axis=...)``.

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
      where: optional boolean mask, see the module docstring.
      include_background: False drops the first class (index 0) along
        ``class_axis`` before the sums (MONAI, segmentation_models.pytorch).
      class_axis: the axis holding the classes; needed for
        ``include_background=False``.
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
    a, smooth, axes = _prepare(probs, target, smooth, axis, reduction, where, include_background, class_axis)
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


# --- generalized Dice -----------------------------------------------------------------

_GD_WEIGHTS = ("square", "simple", "uniform")


@loss
def generalized_dice(probs: Array, target: Array, /, *, weight: Literal["square", "simple", "uniform"] = "square",
                     smooth: float = 1e-6, axis: int = 1, where: Array | None = None,
                     include_background: bool = True, reduction: Reduction = "mean") -> Array:
    """Generalized Dice loss (Sudre et al. 2017), one value per sample.

    Inputs are ``[N, ...]`` with the classes on ``axis``; every other axis
    but the batch axis 0 is summed over. With per-class soft counts
    ``TP_c``, ``G_c = sum g`` and ``P_c = sum p`` of one sample and weights
    ``w_c``,
    ``loss = 1 - (2 sum_c w_c TP_c + smooth) / (sum_c w_c (G_c + P_c) + smooth)``,
    computed as ``sum_c w_c (FP_c + FN_c) / (sum_c w_c (G_c + P_c) + smooth)``
    (exact near a perfect overlap). ``weight`` picks ``w_c``: ``"square"``
    ``1 / G_c**2`` (Sudre et al.), ``"simple"`` ``1 / G_c``, ``"uniform"`` 1.

    **Absent classes** (``G_c == 0``, an infinite weight) get the largest
    weight of the sample's present classes, as MONAI does since its issue
    #371 (before, one absent class made the loss NaN); a sample with no
    class present has all weights 0 and loss 0. MONAI's separate numerator
    and denominator smoothing (``smooth_nr``, ``smooth_dr``, 1e-5 each) is
    one ``smooth`` here. The weights are functions of ``target`` (its
    gradient flows through them, as in MONAI). From logits:
    ``generalized_dice(softmax(logits, axis=1), one_hot)``.

    Args:
      probs: predicted probabilities ``[N, ..., C, ...]``, floating, at least 2-D.
      target: ground-truth masks (one-hot or soft), same shape.
      weight: "square", "simple" or "uniform", see above.
      smooth: non-negative smoothing added to numerator and denominator.
      axis: the class axis (not 0, the batch axis).
      where: boolean mask broadcastable to ``probs`` (masked elements leave
        every sum; a sample with none left leaves the mean) or of shape ``[N]``.
      include_background: False drops class 0 along ``axis`` first.
      reduction: "mean", "sum" or "none" over the samples.

    Returns:
      A scalar array, or ``[N]`` for "none".

    References:
      Sudre, Li, Vercauteren, Ourselin & Cardoso, "Generalised Dice overlap as
      a deep learning loss function for highly unbalanced segmentations", 2017.

    Example:
      >>> import numpy as np, lossapi
      >>> p = np.array([[[0.9, 0.2], [0.1, 0.8]]]); g = np.array([[[1.0, 0.0], [0.0, 1.0]]])
      >>> round(float(lossapi.generalized_dice(p, g)), 4)
      0.15
    """
    kind = v.choice("weight", weight, _GD_WEIGHTS)
    smooth = v.number("smooth", smooth, low=0.0)
    include_background = v.flag("include_background", include_background)
    a = prepare(probs, target, reduction=reduction, extra=(v.array_or_none("where", where),))
    ndim = a.arrays[0].ndim
    v.min_ndim(a.arrays[0], "probs", 2, "[N, ..., C, ...]")
    axis = v.axis(axis, ndim, "probs")
    if axis == 0:
        raise v.BadValue("axis must be the class axis, not 0 (the batch axis)")
    a = a.masked(where, tuple(range(1, ndim)))
    if not include_background:
        a = _drop_background(a, axis, tuple(range(1, ndim)))
    if a.where is not None:  # masked elements leave every sum
        xp = a.xp
        a = a._replace(arrays=tuple(xp.where(a.where, x, xp.zeros_like(x)) for x in a.arrays))
    spatial = tuple(i for i in range(1, ndim) if i != axis)
    return a.run(_generalized_dice, weight=kind, smooth=smooth, spatial=spatial)


def _generalized_dice(a: Prepared, p: Array, g: Array, *, weight: str, smooth: Any,
                      spatial: tuple[int, ...]) -> Array:
    xp = a.xp
    tp, miss = _overlaps(xp, p, g, spatial)  # [N, C]; miss = FP + FN
    gsum = _sum(xp, g, spatial)
    if weight == "uniform":
        w = xp.ones_like(gsum)
    else:
        # Double where: 1 / G never sees G == 0, so no inf reaches the value
        # or the gradient; an absent class takes the largest present weight
        # of its sample (MONAI #371), 0 when none is present.
        absent = gsum == 0
        safe = xp.where(absent, xp.ones_like(gsum), gsum)
        w = 1.0 / (safe * safe) if weight == "square" else 1.0 / safe
        w = xp.where(absent, xp.zeros_like(w), w)
        w = xp.where(absent, xp.max(w, axis=-1, keepdims=True), w)
    num = xp.sum(w * miss, axis=-1)
    return numerics.safe_ratio(a.ops, num, xp.sum(w * (2.0 * tp + miss), axis=-1) + smooth)


# --- Lovasz losses --------------------------------------------------------------------


def _lovasz(ops: Any, errors: Array, fg: Array, valid: Array, hinge: bool) -> Array:
    """The Lovasz extension of the Jaccard loss along the last axis.

    ``errors`` are sorted in decreasing order (a stable sort, so ties break
    alike on every backend); with ``fg`` (0/1 foreground, 0 where not valid)
    and ``valid`` (1/0) in that order, the Jaccard loss of the first ``k``
    sorted pixels is ``1 - I_k / U_k`` with ``I_k = G - cumsum(fg)_k`` and
    ``U_k = G + cumsum(valid - fg)_k`` (Berman et al., Alg. 1); the loss is
    the dot product of the sorted errors (``relu``-ed for the hinge) with
    its increments. Masked pixels add to neither count, so their increment
    and their error are 0 wherever the sort puts them; ``U_k == 0`` (nothing
    valid yet) counts as a Jaccard loss of 0, so an all-masked row is 0 with
    zero gradient. The gradient flows through the sorted errors only: the
    permutation and the increments are piecewise constant.
    """
    xp = ops.xp
    e_sorted, perm = ops.sort(errors, axis=-1, descending=True)
    g = ops.take_along_axis(fg, perm, axis=-1)
    m = ops.take_along_axis(valid, perm, axis=-1)
    total = xp.sum(g, axis=-1, keepdims=True)
    inter = total - ops.cumsum(g, axis=-1)
    union = total + ops.cumsum(m - g, axis=-1)
    jac = numerics.safe_ratio(ops, union - inter, union)  # 1 - I/U, 0 where U == 0
    zero = xp.zeros_like(jac[..., :1])
    grad = ops.stop_gradient(jac - xp.concat([zero, jac[..., :-1]], axis=-1))
    e = xp.where(m > 0, e_sorted, xp.zeros_like(e_sorted))
    if hinge:
        e = ops.relu(e)  # derivative 0 at 0, as the reference's F.relu
    return xp.sum(e * grad, axis=-1)


def _flat(xp: Any, x: Array, per_image: bool, trailing: tuple[int, ...] = ()) -> Array:
    """``x`` as ``[images, pixels, *trailing]``: one image per index of axis 0,
    or one for the whole batch."""
    lead = x.ndim - len(trailing)
    if per_image:
        return xp.reshape(x, (x.shape[0], math.prod(x.shape[1:lead]), *trailing))
    return xp.reshape(x, (1, math.prod(x.shape[:lead]), *trailing))


@loss
def lovasz_hinge(logits: Array, target: Array, /, *, per_image: bool = True, where: Array | None = None,
                 reduction: Reduction = "mean") -> Array:
    """Binary Lovasz hinge loss (Berman et al. 2018), per image or per batch.

    With signs ``s = 2 t - 1``, the hinge errors ``e = 1 - logits * s`` of an
    image's pixels are sorted in decreasing order and the loss is
    ``sum_k relu(e_(k)) (J_k - J_(k-1))``, where ``J_k`` is the Jaccard loss
    ``|M_k| / |F ∪ M_k|`` of the set ``M_k`` of the ``k`` largest errors and
    ``F`` the foreground: the Lovasz extension of the Jaccard loss, a convex
    surrogate for ``1 - IoU`` of the foreground. Exactly the reference
    code's ``lovasz_hinge``; its gradient flows through the sorted errors
    (the order is piecewise constant; ties break in pixel order).

    **An image without foreground** (LovaszSoftmax#26): every increment but
    the first is 0, so the loss is ``relu(1 + max logit)``, the hinge of the
    single most confident false positive: only that pixel gets a gradient.

    **Masks.** ``where`` (broadcastable to ``logits``, or one value per image)
    removes pixels, as the reference's ``ignore`` label does. An image with
    no pixel left gives 0 with zero gradient (LovaszSoftmax#14) and, unlike
    the reference's per-image mean, leaves the mean (lossapi's ``where``
    convention); everything masked gives 0, not NaN.

    Args:
      logits: ``[N, ...]`` floating scores (any real value; 0 is the decision
        boundary).
      target: binary masks of the same shape (0/1: bool, int or float).
      per_image: True: one loss per image (axis 0), then ``reduction``
        (the reference averages over images: "mean"); False: one loss over
        every pixel of the batch (0-d for every reduction).
      where: optional boolean pixel mask, see above.
      reduction: "mean", "sum" or "none" over the images.

    Returns:
      A scalar array, or ``[N]`` for "none" with ``per_image``.

    References:
      Berman, Rannen Triki & Blaschko, "The Lovász-Softmax loss: A tractable
      surrogate for the optimization of the intersection-over-union measure
      in neural networks", CVPR 2018.

    Example:
      >>> import numpy as np, lossapi
      >>> x = np.array([[2.0, -1.0, 0.5, -3.0]]); t = np.array([[1.0, 0.0, 0.0, 0.0]])
      >>> round(float(lossapi.lovasz_hinge(x, t)), 4)
      0.75
    """
    per_image = v.flag("per_image", per_image)
    a = prepare(logits, target, reduction=reduction, extra=(v.array_or_none("where", where),))
    x = a.arrays[0]
    if per_image:
        v.min_ndim(x, "logits", 1, "[N, ...] with per_image=True")
    axes = tuple(range(1 if per_image else 0, x.ndim))
    a = a.masked(where, axes)
    return a.run(_lovasz_hinge, per_image=per_image)


def _lovasz_hinge(a: Prepared, x: Array, t: Array, *, per_image: bool) -> Array:
    xp = a.xp
    valid = xp.ones_like(x) if a.where is None else xp.astype(a.where, x.dtype)
    x, t, valid = (_flat(xp, y, per_image) for y in (x, t, valid))
    errors = 1.0 - x * (2.0 * t - 1.0)
    loss = _lovasz(a.ops, errors, t * valid, valid, hinge=True)
    return loss if per_image else loss[0]


def _class_list(value: Any, num_classes: int) -> tuple[int, ...]:
    if isinstance(value, str):
        raise v.BadValue(f"classes must be 'present', 'all' or a sequence of class indices, got {value!r}")
    if not isinstance(value, Sequence):
        raise v.BadType(f"classes must be 'present', 'all' or a sequence of class indices, got {value!r}")
    if not value:
        raise v.BadValue("classes must name at least one class")
    out = []
    for c in value:
        if isinstance(c, bool):
            raise v.BadType(f"classes must hold class indices (ints), got {c!r}")
        try:
            k = operator.index(c)
        except TypeError:
            raise v.BadType(f"classes must hold class indices (ints), got {c!r}") from None
        if not 0 <= k < num_classes:
            raise v.BadValue(f"classes contains {k}, which is outside [0, {num_classes})")
        out.append(k)
    if len(set(out)) != len(out):
        raise v.BadValue(f"classes {tuple(out)} repeats a class")
    return tuple(out)


@loss
def lovasz_softmax(probs: Array, labels: Array, /, *, classes: str | Sequence[int] = "present",
                   per_image: bool = False, where: Array | None = None, axis: int = 1,
                   ignore_index: int | None = None, reduction: Reduction = "mean") -> Array:
    """Multi-class Lovasz-Softmax loss (Berman et al. 2018).

    For each class ``c``, the errors ``|[y == c] - p_c|`` of the pixels are
    sorted in decreasing order and their Lovasz extension of the Jaccard loss
    of class ``c`` is taken (see :func:`lovasz_hinge`, without the relu);
    the loss averages it over the classes named by ``classes``: ``"present"``
    (those with a labelled pixel, the default), ``"all"``, or a sequence of
    class indices (averaged whether present or not). Exactly the reference
    code's ``lovasz_softmax``.

    **A class without pixels** (in ``"all"`` or a list; LovaszSoftmax#26):
    its loss is its largest probability over the pixels (only that pixel
    gets a gradient). An image (or batch) whose classes are all skipped, or
    with no pixel left, gives 0 with zero gradient (LovaszSoftmax#14).

    **Masks.** ``where`` (broadcastable to ``labels``' shape, one value per
    pixel) and ``ignore_index`` (the reference's ``ignore``) remove pixels.
    With ``per_image``, an image with no pixel left leaves the mean (the
    reference counts it as 0).

    Args:
      probs: class probabilities, floating ``[N, C, ...]`` (classes on
        ``axis``): a softmax over ``axis`` of the logits.
      labels: integer class labels, ``probs``' shape without ``axis``, in
        ``[0, C)`` (or ``ignore_index``).
      classes: "present", "all" or a sequence of distinct class indices.
      per_image: True: one loss per image (axis 0 of ``labels``), then
        ``reduction``; False (default, as the reference): one loss over
        every pixel of the batch (0-d for every reduction).
      where: optional boolean pixel mask, see above.
      axis: the class axis of ``probs``.
      ignore_index: a label value whose pixels are removed, or None.
      reduction: "mean", "sum" or "none" over the images.

    Returns:
      A scalar array, or ``[N]`` for "none" with ``per_image``.

    References:
      Berman, Rannen Triki & Blaschko, "The Lovász-Softmax loss: A tractable
      surrogate for the optimization of the intersection-over-union measure
      in neural networks", CVPR 2018.

    Example:
      >>> import numpy as np, lossapi
      >>> p = np.array([[[0.8, 0.3, 0.4], [0.2, 0.7, 0.6]]]); y = np.array([[0, 1, 0]])
      >>> round(float(lossapi.lovasz_softmax(p, y)), 4)
      0.4333
    """
    per_image = v.flag("per_image", per_image)
    ignore_index = v.integer_or_none("ignore_index", ignore_index)
    a = class_scores(probs, labels, axis=axis, reduction=reduction, ignore_index=ignore_index,
                extra=(v.array_or_none("where", where),))
    if isinstance(axis, (tuple, list)):
        raise v.BadType("axis must be an int (the class axis)")
    y = a.arrays[1]
    num_classes = a.arrays[0].shape[a.axis]
    chosen = classes if classes in ("present", "all") else _class_list(classes, num_classes)
    if per_image:
        v.min_ndim(y, "labels", 1, "[N, ...] with per_image=True")
    pixel_axes = tuple(range(1 if per_image else 0, y.ndim))
    valid, keep = masks(a.ops, where, tuple(y.shape), ())
    if ignore_index is not None:
        kept = y != ignore_index
        valid = kept if valid is None else valid & kept
    if valid is not None:
        keep = a.xp.any(valid, axis=pixel_axes) if pixel_axes else valid
    a = a._replace(where=valid, keep=keep)
    return a.run(_lovasz_softmax, axis=a.axis, chosen=chosen, per_image=per_image)


def _lovasz_softmax(a: Prepared, p: Array, y: Array, *, axis: int, chosen: Any, per_image: bool) -> Array:
    xp, ops = a.xp, a.ops
    num_classes = p.shape[axis]
    p = _flat(xp, xp.moveaxis(p, axis, -1), per_image, (num_classes,))  # [n, P, C]
    p = xp.permute_dims(p, (0, 2, 1))  # [n, C, P]: each class's pixels along the last axis
    y = _flat(xp, y, per_image)[:, None, :]  # [n, 1, P]
    cls = xp.reshape(xp.arange(num_classes, dtype=y.dtype, device=a.device), (1, num_classes, 1))
    fg = xp.astype(y == cls, p.dtype)
    if a.where is None:
        valid = xp.ones_like(p[:, :1, :])
    else:
        valid = _flat(xp, xp.astype(a.where, p.dtype), per_image)[:, None, :]
        fg = fg * valid
    errors = ops.abs(fg - p)  # |d|, derivative 0 at 0 (the reference's torch abs)
    losses = _lovasz(ops, errors, fg, xp.broadcast_to(valid, tuple(p.shape)), hinge=False)  # [n, C]
    if chosen == "present":
        counted = xp.astype(xp.any(fg > 0, axis=-1), p.dtype)
    elif chosen == "all":
        counted = xp.ones_like(losses)
    else:
        listed = xp.asarray([float(c in chosen) for c in range(num_classes)], dtype=p.dtype, device=a.device)
        counted = xp.broadcast_to(listed[None, :], tuple(losses.shape))
    loss = numerics.safe_ratio(ops, xp.sum(losses * counted, axis=-1), xp.sum(counted, axis=-1))
    # A label outside [0, C) that the value check could not read (traced,
    # lazy) makes its image NaN, as in the classification losses.
    bad = (y < 0) | (y >= num_classes)
    if a.where is not None:
        bad = bad & (valid > 0)
    loss = xp.where(xp.any(bad, axis=(1, 2)), xp.full_like(loss, math.nan), loss)
    return loss if per_image else loss[0]
