"""Label handling shared by the multiclass losses.

Integer class labels are gathered along the class axis (never one-hot), masked
by :class:`_Labels` (kept, valid and safe labels) and reduced with torch's
weighted-mean denominators. Label values are never read here: the range check
is the :class:`~lossapi._core.validate.ValueCheck` that
:func:`lossapi._core.prepare.classes` attaches, and a label that escapes it
(under tracing) gives NaN (see :mod:`lossapi.classification`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .._core import numerics
from .._core import validate as v
from .._core.reduce import Mean
from .._core.types import Array


def _gather(ops: Any, x: Array, labels: Array, axis: int) -> Array:
    """``x`` at ``labels`` along ``axis`` (one value per sample, no one-hot)."""
    xp = ops.xp
    return xp.squeeze(ops.take_along_axis(x, xp.expand_dims(labels, axis=axis), axis=axis), axis=axis)


class _Labels:
    """Masks for integer labels: ``keep`` (counted), ``valid`` (in range or
    ignored) and ``safe`` (labels with every non-kept one replaced by 0, so a
    gather never reads out of bounds)."""

    def __init__(self, ops: Any, labels: Array, num_classes: int, ignore_index: int | None,
                 where: Array | None = None, axis: int = -1):
        xp = ops.xp
        in_range = (labels >= 0) & (labels < num_classes)
        if ignore_index is None:
            self.keep = self.valid = in_range
        else:
            ignored = labels == ignore_index
            self.keep = in_range & ~ignored
            self.valid = in_range | ignored
        self.ignoring = ignore_index is not None
        self.safe = xp.where(self.keep, labels, 0)
        if where is not None:  # a per-class mask: a sample whose label's class is masked out is dropped
            self.keep = self.keep & _gather(ops, where, self.safe, axis)
            self.ignoring = True
            self.safe = xp.where(self.keep, labels, 0)

    def finish(self, ops: Any, loss: Array) -> Array:
        """Zero at ignored samples, NaN at out-of-range labels (see module doc)."""
        xp = ops.xp
        if self.ignoring:
            loss = xp.where(self.keep, loss, 0.0)
        return xp.where(self.valid, loss, math.nan)

    def weights(self, ops: Any, dtype: Any) -> Array:
        """1 for a counted sample, 0 for an ignored one (the mean's denominator)."""
        return ops.xp.astype(self.keep, dtype)


def _class_values(ops: Any, w: Array, safe: Array) -> Array:
    """``w[labels]`` for a per-class vector ``w``."""
    xp = ops.xp
    return xp.reshape(xp.take(w, xp.reshape(safe, (-1,)), axis=0), tuple(safe.shape))


def _along(ops: Any, w: Array, axis: int, ndim: int) -> Array:
    """A per-class vector shaped to broadcast along ``axis``."""
    shape = [1] * ndim
    shape[axis] = w.shape[0]
    return ops.xp.reshape(w, tuple(shape))


def _ce_from_labels(ops: Any, nll_y: Array, smooth_terms: Callable[[], Array] | None, weight: Array | None,
                    smoothing: float, lab: _Labels) -> tuple[Array, Array | None, Array | None]:
    """Per-sample torch cross-entropy, masked, and each sample's share of the
    mean's denominator (None for a plain mean). Returns (loss, weights, wy).

    ``nll_y`` is ``-log p[y]`` at the safe labels; ``smooth_terms()`` gives
    ``1/C * sum_c w[c] * (-log p[c])`` per sample and is called only when
    ``smoothing > 0``.
    """
    xp = ops.xp
    wy = None if weight is None else _class_values(ops, weight, lab.safe)
    loss = nll_y if wy is None else wy * nll_y
    if not numerics.is_number(smoothing, 0.0):
        # torch: (1 - eps) * w[y] * nll + eps / C * sum_c w_c * (-log p_c)
        assert smooth_terms is not None
        loss = (1.0 - smoothing) * loss + smoothing * smooth_terms()
    loss = lab.finish(ops, loss)
    if wy is not None:
        denom = xp.where(lab.keep, wy, 0.0)  # torch: sum of the non-ignored targets' weights
    elif lab.ignoring:
        denom = lab.weights(ops, loss.dtype)
    else:
        denom = None
    return loss, denom, wy


def _mean_neg_logp(ops: Any, logp: Array, axis: int, weight: Array | None, where: Array | None = None) -> Array:
    """``1/C * sum_c w[c] * (-log p[c])`` per sample, the smoothing term (over
    the classes ``where`` keeps, if given)."""
    xp = ops.xp
    wl = logp if weight is None else logp * _along(ops, weight, axis, logp.ndim)
    if where is None:
        return -xp.sum(wl, axis=axis) / logp.shape[axis]
    return -xp.sum(xp.where(where, wl, 0.0), axis=axis) / _num_classes(ops, where, axis, logp, keepdims=False)


def _num_classes(ops: Any, where: Array | None, axis: int, x: Array, keepdims: bool = True) -> Any:
    """The number of classes per sample: ``C``, or (with a class mask) the
    kept ones' count, at least 1."""
    if where is None:
        return x.shape[axis]
    xp = ops.xp
    n = xp.sum(xp.astype(where, x.dtype), axis=axis, keepdims=keepdims)
    return xp.maximum(n, xp.ones_like(n))


def _smoothed(target: Array, smoothing: Any, num_classes: Any) -> Array:
    if numerics.is_number(smoothing, 0.0):
        return target
    return target * (1.0 - smoothing) + smoothing / num_classes


def _masked_logits(ops: Any, z: Array, where: Array | None) -> Array:
    """Scores with masked classes out of every softmax: a large finite
    negative fill (exp underflows to 0, and no inf reaches autodiff); their
    gradient is 0."""
    if where is None:
        return z
    xp = ops.xp
    return xp.where(where, z, xp.full_like(z, -0.25 * xp.finfo(z.dtype).max))


def _ce_from_probs(ops: Any, logp: Array, target: Array, axis: int, weight: Array | None,
                   smoothing: Any, where: Array | None = None) -> Array:
    xp = ops.xp
    t = _smoothed(target, smoothing, _num_classes(ops, where, axis, logp))
    prod = t * logp if weight is None else t * logp * _along(ops, weight, axis, logp.ndim)
    if where is not None:
        prod = xp.where(where, prod, 0.0)
    return -xp.sum(prod, axis=axis)


def _multiclass_options(weight: Any, ignore_index: Any, label_smoothing: Any,
                        weight_name: str = "weight") -> tuple[int | None, float]:
    """The multiclass options, checked before the arrays (in this order):
    ``weight`` an array or None, ``ignore_index`` an int or None,
    ``label_smoothing`` in [0, 1]. Returns ``(ignore_index, label_smoothing)``."""
    v.array_or_none(weight_name, weight)
    ignore_index = v.integer_or_none("ignore_index", ignore_index)
    return ignore_index, v.number("label_smoothing", label_smoothing, low=0.0, high=1.0)


def _mean(loss: Array, weights: Array | None) -> Any:
    """``loss`` whose mean divides by ``sum(weights)`` (None: a plain mean)."""
    return loss if weights is None else Mean(loss, weights)
