"""Multi-label losses: scores ``[..., C]`` with the classes on the **last
axis** (torch's layout), any number of classes true per sample, and one value
per sample (``reduction="none"`` returns the scores' shape without the class
axis; a 1-D ``[C]`` input is one sample and gives a 0-d array)."""

from __future__ import annotations

import math

from .._core import numerics
from .._core import validate as v
from .._core.loss import loss
from .._core.prepare import Prepared, prepare
from .._core.prepare import weight as elementwise_weight
from .._core.types import Array, Reduction

__all__ = ["multilabel_margin", "multilabel_soft_margin"]


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
