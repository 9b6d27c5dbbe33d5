"""Multi-label losses: scores ``[..., C]`` with the classes on the **last
axis** (torch's layout), any number of classes true per sample, and one value
per sample (``reduction="none"`` returns the scores' shape without the class
axis; a 1-D ``[C]`` input is one sample and gives a 0-d array)."""

from __future__ import annotations

import math
from typing import Any

from .._core import numerics
from .._core import validate as v
from .._core.loss import loss
from .._core.prepare import Prepared, prepare
from .._core.prepare import weight as elementwise_weight
from .._core.types import Array, Reduction

__all__ = ["multilabel_margin", "multilabel_soft_margin", "asymmetric"]


def _classes_last(a: Prepared, name: str) -> int:
    """The number of classes (the last axis) of the prediction, at least 1."""
    x = a.arrays[0]
    v.min_ndim(x, name, 1, "[..., C]")
    if x.shape[-1] == 0:
        raise v.BadValue(f"{name} must have at least one class (its last axis has size 0)")
    return x.shape[-1]


@loss
def multilabel_margin(scores: Array, target: Array, /, *, where: Array | None = None,
                      reduction: Reduction = "mean") -> Array:
    """Multi-label margin loss with torch's semantics (``F.multilabel_margin_loss``).

    ``target`` lists each sample's true classes as class indices, padded with
    ``-1``: the list is the entries before the first ``-1`` (everything after
    it is ignored). With ``J`` that list and ``x`` the sample's scores::

        loss = sum_{j in J} sum_{i not in J} max(0, 1 - (x[j] - x[i])) / C

    A class listed twice counts twice in the outer sum, as in torch. A
    sample whose list is empty (its first entry is ``-1``) has loss 0, as has
    one listing every class. The subgradient at each kink
    (``x[j] - x[i] == 1``) is 0, as in torch.

    ``target`` entries must lie in ``[-1, C)`` (the whole array, as torch
    checks): a ``ValueError`` where the values can be read without a device
    synchronisation or breaking tracing, else that sample's loss is NaN (see
    :mod:`lossapi.classification`). The generic code builds ``[..., C, C]``
    temporaries (every listed class against every class); on torch the call
    runs ``F.multilabel_margin_loss`` itself (same values and gradients).

    Args:
      scores: raw scores, floating, ``[..., C]`` (classes last; torch takes
        ``[C]`` or ``[N, C]``).
      target: integer class indices padded with ``-1``, ``scores``' shape.
      reduction: "mean" (over samples), "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses (``scores``' shape without the last axis).

    Example:
      >>> import numpy as np, lossapi
      >>> x = np.array([[0.1, 0.2, 0.4, 0.8]])
      >>> round(float(lossapi.multilabel_margin(x, np.array([[3, 0, -1, 1]]))), 6)
      0.85
    """
    a = prepare(scores, reduction=reduction, extra=(target, v.array_or_none("where", where)))
    num_classes = _classes_last(a, "scores")
    x = a.arrays[0]
    v.array("target", target)
    target = a.ops.own(target)
    if a.ops.kind(target.dtype) != "i":
        raise v.BadType(f"target must hold integer class indices padded with -1, got dtype {target.dtype}")
    if tuple(target.shape) != tuple(x.shape):
        raise v.BadValue(f"scores has shape {tuple(x.shape)} but target has shape {tuple(target.shape)}; "
                         "target (class indices padded with -1) must have the shape of scores")
    # Entries in [-1, C): the label check with -1 (the padding) allowed.
    check = v.label_range(target, num_classes, -1, "target")
    a = a._replace(arrays=(x, target), axis=x.ndim - 1, checks=(check,)).masked(where)
    return a.run(_multilabel_margin)


def _multilabel_margin(a: Prepared, x: Array, target: Array) -> Array:
    ops, xp = a.ops, a.xp
    num_classes = x.shape[-1]
    idx = xp.arange(num_classes, device=a.device)
    # The list: positions before the first -1 (any negative ends it).
    first = xp.min(xp.where(target < 0, idx, num_classes), axis=-1, keepdims=True)
    listed = idx < first  # [..., k]
    safe = xp.where(listed, target, 0)
    # hit[..., k, i]: list position k names class i. No gather: the same
    # comparison selects x[j] (Dask has no take_along_axis with C indices).
    hit = listed[..., :, None] & (safe[..., :, None] == idx)
    is_target = xp.any(hit, axis=-2)  # [..., i]
    zero = xp.zeros_like(x)
    x_j = xp.sum(xp.where(hit, x[..., None, :], zero[..., None, :]), axis=-1)  # [..., k]: x at the listed class
    pairs = listed[..., :, None] & ~is_target[..., None, :]
    if a.where is not None:  # a masked class is in no pair, as a target or as a non-target
        kept_j = xp.any(hit & a.where[..., None, :], axis=-1)
        pairs = pairs & kept_j[..., :, None] & a.where[..., None, :]
        denom = xp.sum(xp.astype(a.where, x.dtype), axis=-1)  # the kept classes
        denom = xp.maximum(denom, xp.ones_like(denom))
    else:
        denom = num_classes
    # torch's order of terms: (1 - x[j]) + x[i].
    h = numerics.hinge(ops, (1.0 - x_j)[..., :, None] + x[..., None, :], at_kink="zero")
    out = xp.sum(xp.where(pairs, h, xp.zeros_like(h)), axis=(-2, -1)) / denom
    # Entries outside [-1, C) anywhere in the row (not caught under tracing): NaN.
    valid = xp.all((target >= -1) & (target < num_classes), axis=-1)
    return xp.where(valid, out, math.nan)


@loss
def multilabel_soft_margin(logits: Array, target: Array, /, *, weight: Array | None = None,
                           where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Multi-label soft-margin loss with torch's semantics (``F.multilabel_soft_margin_loss``).

    The binary cross-entropy on logits of each class, weighted, averaged over
    the classes (the last axis), then reduced over samples::

        loss = sum_c w[c] * (-t[c] log sigmoid(x[c]) - (1 - t[c]) log sigmoid(-x[c])) / C

    computed with two softplus terms, finite for any finite logit (as
    :func:`binary_cross_entropy_with_logits`). The mean over classes divides
    by ``C`` whatever the weights (torch's rule).

    Args:
      logits: floating, ``[..., C]`` (classes last).
      target: targets in [0, 1] (hard or soft), ``logits``' shape.
      weight: optional per-class weight ``[C]``, or any array broadcastable
        to ``logits``' shape without growing it (as torch broadcasts it).
      reduction: "mean" (over samples), "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses (``logits``' shape without the last axis).

    Example:
      >>> import numpy as np, lossapi
      >>> x, t = np.array([[2.0, -1.0, 0.0]]), np.array([[1.0, 0.0, 1.0]])
      >>> round(float(lossapi.multilabel_soft_margin(x, t)), 6)
      0.377779
    """
    v.array_or_none("weight", weight)
    a = prepare(logits, target, reduction=reduction, extra=(weight, v.array_or_none("where", where)))
    _classes_last(a, "logits")
    a = a.masked(where)
    return a.run(_multilabel_soft_margin, weight=elementwise_weight(a, weight, "weight"))


def _multilabel_soft_margin(a: Prepared, x: Array, t: Array, *, weight: Array | None) -> Array:
    out = a.ops.sigmoid_cross_entropy(x, t)
    if weight is not None:
        out = weight * out
    if a.where is None:
        return a.xp.sum(out, axis=-1) / x.shape[-1]
    xp = a.xp
    n = xp.sum(xp.astype(a.where, x.dtype), axis=-1)  # the kept classes' mean
    return a.sum(out, axis=-1) / xp.maximum(n, xp.ones_like(n))


@loss
def asymmetric(logits: Array, target: Array, /, *, gamma_neg: float = 4.0, gamma_pos: float = 1.0,
               clip: float = 0.05, detach_weights: bool = False, where: Array | None = None,
               reduction: Reduction = "mean") -> Array:
    """Asymmetric loss (ASL) for multi-label classification (Ridnik et al. 2021).

    With ``p = sigmoid(x)`` per class and the shifted probability of a
    negative ``p_m = max(p - clip, 0)``::

        L+ = (1 - p)**gamma_pos * (-log p)            (positives)
        L- = p_m**gamma_neg * (-log(1 - p_m))         (negatives)
        loss = sum_c t[c] L+[c] + (1 - t[c]) L-[c]

    summed over the classes (the last axis), then reduced over samples: the
    reference code's ``-loss.sum()`` is ``reduction="sum"``. Negatives with
    ``p <= clip`` contribute nothing (hard thresholding of easy negatives);
    ``clip=0`` and both gammas 0 is the binary cross-entropy summed over the
    classes; ``clip=0`` and equal gammas is :func:`binary_focal` summed.

    Differences from the reference code: it clamps both probabilities at
    ``eps = 1e-8`` before the log, which caps a positive's loss at 18.4 and
    zeroes its gradient below ``x = -18.4``; here ``-log p`` is
    ``softplus(-x)`` (exact, finite for every finite logit) and ``-log(1 -
    p_m)`` is ``softplus(x)`` for ``clip=0``, ``-log1p(-(p - clip))`` above
    the clip (at most ``-log(clip)``). Its default
    ``disable_torch_grad_focal_loss=True`` treats the focusing weights as
    constants in the gradient: pass ``detach_weights=True`` for that; the
    default differentiates the loss as written, as the paper's gradient
    analysis does. Soft targets give the convex combination above (the
    reference mixes the two gammas inside one power).

    Args:
      logits: floating, ``[..., C]`` (classes last).
      target: targets in [0, 1] (0/1 labels), ``logits``' shape.
      gamma_neg: focusing parameter of the negatives, >= 0.
      gamma_pos: focusing parameter of the positives, >= 0.
      clip: probability margin ``m`` of the negatives, in [0, 1) (a Python
        number: 0 selects the exact log-space form).
      detach_weights: treat ``(1 - p)**gamma_pos`` and ``p_m**gamma_neg`` as
        constants in the gradient (the reference code's default).
      where: optional mask, per sample or per class score (a masked class
        leaves the sum).
      reduction: "mean" (over samples), "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses (``logits``' shape without the last axis).

    References:
      Ridnik, Ben-Baruch, Zamir, Noy, Friedman, Protter & Zelnik-Manor,
      "Asymmetric Loss For Multi-Label Classification", ICCV 2021.

    Example:
      >>> import numpy as np, lossapi
      >>> x, t = np.array([[2.0, -1.0, 0.0]]), np.array([[1.0, 0.0, 1.0]])
      >>> round(float(lossapi.asymmetric(x, t)), 6)
      0.362272
    """
    gamma_neg = v.number("gamma_neg", gamma_neg, low=0.0)
    gamma_pos = v.number("gamma_pos", gamma_pos, low=0.0)
    clip = v.static_number("clip", clip, "0 selects the exact log-space form", low=0.0, high=1.0, high_open=True)
    detach = v.flag("detach_weights", detach_weights)
    a = prepare(logits, target, reduction=reduction, extra=(v.array_or_none("where", where),))
    _classes_last(a, "logits")
    a = a.masked(where)
    return a.run(_asymmetric, gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip, detach_weights=detach)


def _power(ops: Any, base: Array, log_base: Array | None, gamma: Any) -> Array:
    """``base ** gamma`` for ``base`` in [0, 1]: an integer power for 1..8,
    else ``exp(gamma * log(base))`` from ``log_base`` (or from ``base`` floored
    at the smallest normal: finite derivative at 0, where the caller's other
    factor is 0)."""
    xp = ops.xp
    if numerics.is_number(gamma, 0.0):
        return xp.ones_like(base)
    if numerics.small_int(gamma):
        return base ** int(gamma)
    if log_base is None:
        log_base = xp.log(xp.maximum(base, xp.finfo(base.dtype).smallest_normal))
    return xp.exp(gamma * log_base)


def _asymmetric(a: Prepared, x: Array, t: Array, *, gamma_neg: Any, gamma_pos: Any, clip: float,
                detach_weights: bool) -> Array:
    ops, xp = a.ops, a.xp
    # Positives: -log p = softplus(-x), weighted by (1 - p)**gamma_pos = sigmoid(-x)**gamma_pos.
    w_pos = _power(ops, ops.sigmoid(-x), ops.log_sigmoid(-x), gamma_pos)
    if clip == 0.0:
        # No shift: -log(1 - p) = softplus(x), p**gamma_neg in log space.
        nll_neg = ops.softplus(x)
        w_neg = _power(ops, ops.sigmoid(x), ops.log_sigmoid(x), gamma_neg)
    else:
        r = ops.sigmoid(x) - clip
        active = r > 0  # p > clip; elsewhere p_m = 0 and the term is 0 (its gradient too)
        pm = xp.where(active, r, xp.zeros_like(r))
        nll_neg = -xp.log1p(-pm)  # 1 - p_m >= clip: finite
        w_neg = _power(ops, pm, None, gamma_neg)
    if detach_weights:
        w_pos, w_neg = ops.stop_gradient(w_pos), ops.stop_gradient(w_neg)
    out = t * (w_pos * ops.softplus(-x)) + (1.0 - t) * (w_neg * nll_neg)
    return xp.sum(out, axis=-1) if a.where is None else a.sum(out, axis=-1)
