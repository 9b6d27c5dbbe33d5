"""Detection losses: IoU-based penalties between pairs of bounding boxes.

Boxes are ``(x1, y1, x2, y2)`` on the last axis (size 4) of ``boxes1`` and
``boxes2``, which have equal shapes ``[..., 4]``; one value per box pair
(``reduction="none"`` returns shape ``[...]``). The values are those of
torchvision's ``generalized_box_iou_loss``, ``distance_box_iou_loss`` and
``complete_box_iou_loss`` (same formulas, same ``eps`` placement), with
lossapi's default ``reduction="mean"`` (torchvision's is "none"). As in
torchvision, a "mean" over no boxes is 0 and boxes are not checked for
``x1 <= x2``, ``y1 <= y2``.

Degenerate boxes. A zero-area box (``x1 == x2`` or ``y1 == y2``) gives finite
values and gradients: the intersection, union and enclosing box are
polynomials, every division has ``eps`` in its denominator, and the aspect
angle of :func:`ciou` (``atan(w / h)`` in torchvision, NaN there for a
zero-height box) is computed as ``atan2``, which is finite at ``h == 0``
(``±pi/2`` with gradient ``(0, -1/w)``, the derivative from ``h > 0``); a
point (``w == h == 0``, or both sides below the smallest normal number) has
angle 0 and zero gradient there.

Kinks, as in torchvision: the intersection is 0 with zero gradient where
boxes only touch (``relu``'s subgradient 0); the corners' ``min`` / ``max``
split a tie's gradient as the backend's ``minimum`` / ``maximum`` do.
"""

from __future__ import annotations

import math
from typing import Any

from ._core import validate as v
from ._core.loss import current, loss
from ._core.prepare import Prepared, prepare
from ._core.reduce import Mean
from ._core.types import Array, Reduction

__all__ = ["giou", "diou", "ciou"]

_ASPECT = 4.0 / math.pi**2  # CIoU's aspect-ratio weight: v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2


def _boxes(boxes1: Any, boxes2: Any, eps: Any, reduction: str, where: Any) -> tuple[Prepared, Any]:
    """The one preparation step of the box losses: floating ``boxes1`` of
    shape ``[..., 4]``, ``boxes2`` of its shape; ``eps > 0``; ``where=`` one
    boolean per box pair (``[...]``)."""
    eps = v.positive("eps", eps)
    a = prepare(boxes1, boxes2, reduction=reduction, extra=(v.array_or_none("where", where),))
    b = a.arrays[0]
    if b.ndim == 0 or b.shape[-1] != 4:
        raise v.BadValue(f"{current().params[0]} must have shape [..., 4] (boxes as x1, y1, x2, y2 on the last "
                         f"axis), got shape {tuple(b.shape)}")
    a = a.masked(where)
    if a.where is not None:
        raise v.BadValue(f"where has shape {tuple(where.shape)}; it takes one value per box pair, shape "
                         f"{tuple(b.shape[:-1])}")
    return a, eps


def _corners(b: Array) -> tuple[Array, Array, Array, Array]:
    return b[..., 0], b[..., 1], b[..., 2], b[..., 3]


class _Pair:
    """The geometry of two boxes, shared by the three losses: the IoU
    (``inter / (union + eps)``), the enclosing box's width and height, the
    widths and heights, and the centres' offset."""

    def __init__(self, a: Prepared, b1: Array, b2: Array, eps: Any):
        xp, ops = a.xp, a.ops
        x1, y1, x2, y2 = _corners(b1)
        u1, v1, u2, v2 = _corners(b2)
        # relu: touching boxes (a zero-width overlap) get gradient 0, as
        # torchvision's strict mask (overlap > 0) gives.
        iw = ops.relu(xp.minimum(x2, u2) - xp.maximum(x1, u1))
        ih = ops.relu(xp.minimum(y2, v2) - xp.maximum(y1, v1))
        self.inter = iw * ih
        self.w1, self.h1, self.w2, self.h2 = x2 - x1, y2 - y1, u2 - u1, v2 - v1
        self.union = self.w1 * self.h1 + self.w2 * self.h2 - self.inter
        self.iou = self.inter / (self.union + eps)
        self.cw = xp.maximum(x2, u2) - xp.minimum(x1, u1)
        self.ch = xp.maximum(y2, v2) - xp.minimum(y1, v1)
        self.dx = 0.5 * ((x1 + x2) - (u1 + u2))
        self.dy = 0.5 * ((y1 + y2) - (v1 + v2))


def _mean_of_none(a: Prepared, values: Array) -> Any:
    """torchvision's "mean" over no boxes is 0, not NaN (a static shape test)."""
    if math.prod(values.shape) == 0:
        return Mean(values, a.xp.ones_like(values), empty_zero=True)
    return values


@loss
def giou(boxes1: Array, boxes2: Array, /, *, eps: float = 1e-7, where: Array | None = None,
         reduction: Reduction = "mean") -> Array:
    """Generalized IoU loss, ``1 - IoU + (|C| - |A u B|) / |C|``.

    ``C`` is the smallest box enclosing both; the extra term keeps a gradient
    when the boxes do not overlap. Symmetric in its arguments. The values of
    ``torchvision.ops.generalized_box_iou_loss``: ``IoU = |A n B| / (|A u B| +
    eps)`` and ``|C| + eps`` in the second denominator.

    Args:
      boxes1: boxes ``(x1, y1, x2, y2)``, floating array of shape ``[..., 4]``.
      boxes2: boxes of the same shape, paired with ``boxes1`` elementwise.
      eps: positive number added to the denominators.
      reduction: "mean", "sum" or "none" (one value per box pair).

    Returns:
      A scalar array, or an array of shape ``boxes1.shape[:-1]`` for "none".

    References:
      Rezatofighi et al., "Generalized Intersection over Union", 2019.

    Example:
      >>> import numpy as np, lossapi
      >>> b1, b2 = np.array([0.0, 0.0, 2.0, 2.0]), np.array([1.0, 1.0, 3.0, 3.0])
      >>> round(float(lossapi.giou(b1, b2)), 6)  # 1 - 1/7 + (9 - 7)/9
      1.079365
    """
    a, eps = _boxes(boxes1, boxes2, eps, reduction, where)
    return a.run(_giou, eps=eps)


def _giou(a: Prepared, b1: Array, b2: Array, *, eps: Any) -> Any:
    p = _Pair(a, b1, b2, eps)
    area_c = p.cw * p.ch
    return _mean_of_none(a, 1.0 - p.iou + (area_c - p.union) / (area_c + eps))


@loss
def diou(boxes1: Array, boxes2: Array, /, *, eps: float = 1e-7, where: Array | None = None,
         reduction: Reduction = "mean") -> Array:
    """Distance IoU loss, ``1 - IoU + d^2 / c^2``.

    ``d`` is the distance between the boxes' centres, ``c`` the diagonal of
    the smallest box enclosing both. Symmetric in its arguments. The values
    of ``torchvision.ops.distance_box_iou_loss``: ``IoU = |A n B| / (|A u B| +
    eps)`` and ``c^2 + eps`` in the second denominator.

    Args:
      boxes1: boxes ``(x1, y1, x2, y2)``, floating array of shape ``[..., 4]``.
      boxes2: boxes of the same shape, paired with ``boxes1`` elementwise.
      eps: positive number added to the denominators.
      reduction: "mean", "sum" or "none" (one value per box pair).

    References:
      Zheng et al., "Distance-IoU Loss: Faster and Better Learning for
      Bounding Box Regression", 2020.

    Example:
      >>> import numpy as np, lossapi
      >>> b1, b2 = np.array([0.0, 0.0, 2.0, 2.0]), np.array([1.0, 1.0, 3.0, 3.0])
      >>> round(float(lossapi.diou(b1, b2)), 6)  # 1 - 1/7 + 2/18
      0.968254
    """
    a, eps = _boxes(boxes1, boxes2, eps, reduction, where)
    return a.run(_diou, eps=eps)


def _diou_terms(p: _Pair, eps: Any) -> Any:
    return 1.0 - p.iou + (p.dx * p.dx + p.dy * p.dy) / (p.cw * p.cw + p.ch * p.ch + eps)


def _diou(a: Prepared, b1: Array, b2: Array, *, eps: Any) -> Any:
    return _mean_of_none(a, _diou_terms(_Pair(a, b1, b2, eps), eps))


@loss
def ciou(boxes1: Array, boxes2: Array, /, *, eps: float = 1e-7, where: Array | None = None,
         reduction: Reduction = "mean") -> Array:
    """Complete IoU loss, ``1 - IoU + d^2 / c^2 + alpha * v``.

    :func:`diou` plus an aspect-ratio term: ``v = 4 / pi^2 (atan(w2 / h2) -
    atan(w1 / h1))^2`` and ``alpha = v / (1 - IoU + v + eps)``. ``alpha`` is a
    constant for the gradient (torchvision computes it under ``no_grad``), so
    the gradient is ``d(DIoU loss) + alpha * dv``. The values of
    ``torchvision.ops.complete_box_iou_loss`` with its default ``eps``; for
    another ``eps`` lossapi uses it in every denominator, where torchvision
    0.29 uses it only in ``alpha``'s and keeps 1e-7 in the DIoU part.

    A zero-height box has aspect angle ``pi/2`` (torchvision: ``atan(w / 0)``,
    with a NaN gradient); a point box angle 0 (torchvision: NaN). See the
    module documentation.

    Args:
      boxes1: boxes ``(x1, y1, x2, y2)``, floating array of shape ``[..., 4]``.
      boxes2: boxes of the same shape, paired with ``boxes1`` elementwise.
      eps: positive number added to the denominators.
      reduction: "mean", "sum" or "none" (one value per box pair).

    References:
      Zheng et al., "Distance-IoU Loss: Faster and Better Learning for
      Bounding Box Regression", 2020.

    Example:
      >>> import numpy as np, lossapi
      >>> b1, b2 = np.array([0.0, 0.0, 2.0, 1.0]), np.array([0.0, 0.0, 1.0, 2.0])
      >>> round(float(lossapi.ciou(b1, b2)), 6)
      0.762918
    """
    a, eps = _boxes(boxes1, boxes2, eps, reduction, where)
    return a.run(_ciou, eps=eps)


def _angle(a: Prepared, w: Array, h: Array) -> Array:
    """``atan(w / h)``, torchvision's aspect angle, as ``atan2(s w, s h)`` with
    ``s = -1`` where ``h < 0``, else 1: equal for every ``h != 0``, ``±pi/2``
    with finite gradient at ``h == 0``.

    Both sides are divided by ``m = max(|w|, |h|)``, held constant (the angle
    does not change with the scale), so ``atan2``'s gradient ``(h, -w) / (w^2 +
    h^2)`` is evaluated as ``(h, -w) / m / ((w/m)^2 + (h/m)^2)``: no square
    underflows. Where ``m`` is below the smallest normal number (a point, or
    a box of subnormal size) the angle is 0 with gradient 0, and ``1 / m`` is
    never formed (double where)."""
    xp, ops = a.xp, a.ops
    neg = h < 0
    ws, hs = xp.where(neg, -w, w), xp.where(neg, -h, h)
    m = ops.stop_gradient(xp.maximum(ops.abs(ws), hs))
    point = m < xp.finfo(w.dtype).smallest_normal
    one = xp.ones_like(w)
    m = xp.where(point, one, m)
    angle = xp.atan2(xp.where(point, one, ws) / m, xp.where(point, one, hs) / m)
    return xp.where(point, xp.zeros_like(w), angle)


def _ciou(a: Prepared, b1: Array, b2: Array, *, eps: Any) -> Any:
    p = _Pair(a, b1, b2, eps)
    d = _angle(a, p.w2, p.h2) - _angle(a, p.w1, p.h1)
    shape = _ASPECT * (d * d)
    alpha = a.ops.stop_gradient(shape / (1.0 - p.iou + shape + eps))
    return _mean_of_none(a, _diou_terms(p, eps) + alpha * shape)
