"""Binary classification losses: ``pred`` and ``target`` of equal shapes, one
value per element (see :mod:`lossapi.classification`). ``where=`` masks
elements, as for the regression losses."""

from __future__ import annotations

import math
from typing import Any

from .._core import numerics
from .._core import validate as v
from .._core.loss import loss
from .._core.prepare import Prepared, prepare
from .._core.prepare import weight as elementwise_weight
from .._core.types import Array, Reduction

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_focal",
    "hinge",
    "squared_hinge",
    "soft_margin",
    "sparsemax_loss",
    "perceptron",
]


@loss
def binary_cross_entropy(probs: Array, target: Array, /, *, weight: Array | None = None,
                         label_smoothing: float = 0.0, where: Array | None = None,
                         reduction: Reduction = "mean") -> Array:
    """Binary cross-entropy on probabilities (torch's ``binary_cross_entropy``).

    ``-w * (t * log(p) + (1 - t) * log(1 - p))`` with each log clamped at
    ``-100`` as torch does, so ``p`` exactly 0 or 1 gives the finite value 100.
    Prefer :func:`binary_cross_entropy_with_logits` when you have logits: it
    is exact where ``p`` rounds to 0 or 1.

    Gradients are those of the clamped value: ``(p - t) / (p (1 - p))``
    wherever no log is clamped, 0 where one is (``p == 0``, ``p == 1``, and
    subnormal ``p`` whose ``1/p`` would overflow). torch's hand-written
    backward instead floors ``p (1 - p)`` at 1e-12, so the two differ only for
    ``p`` within about 1e-12 of 0 or 1 (e.g. torch gives -1e12 at ``p = 0,
    t = 1``, lossapi 0). On torch the value comes from torch's own kernel and
    the gradient from lossapi's formula, in one fused pass each.

    Probabilities outside [0, 1] are a ValueError on torch CPU (torch's kernel
    checks them; on CUDA it is torch's device assert); other backends, whose
    values cannot be read under tracing, give NaN there.

    Args:
      probs: predicted probabilities in [0, 1], floating, any shape.
      target: targets in [0, 1] (hard or soft), ``probs``' shape.
      weight: optional array broadcastable to ``probs``' shape (not grown),
        multiplying each element's loss; the mean stays a plain mean over
        elements, as in torch.
      label_smoothing: ``ls`` in [0, 1]: the target becomes
        ``t * (1 - ls) + 0.5 * ls`` (Keras's ``label_smoothing``; torch's
        binary losses have none).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar, or an array of ``probs``' shape for "none".

    Example:
      >>> import numpy as np, lossapi
      >>> p, y = np.array([0.9, 0.1, 0.8]), np.array([1.0, 0.0, 1.0])
      >>> round(float(lossapi.binary_cross_entropy(p, y)), 4)
      0.1446
      >>> float(lossapi.binary_cross_entropy(np.array([0.0]), np.array([1.0])))
      100.0
    """
    v.array_or_none("weight", weight)
    ls = _label_smoothing(label_smoothing)
    a = prepare(probs, target, reduction=reduction, where=where, extra=(weight,))
    return a.run(_binary_cross_entropy, weight=elementwise_weight(a, weight, "weight"), label_smoothing=ls)


def _label_smoothing(value: Any) -> Any:
    return v.number("label_smoothing", value, low=0.0, high=1.0)


def _smoothed(t: Array, ls: Any) -> Array:
    """Keras's binary label smoothing ``t * (1 - ls) + 0.5 * ls`` (``t`` itself
    for the Python number 0)."""
    return t if numerics.is_number(ls, 0.0) else t * (1.0 - ls) + 0.5 * ls


def _binary_cross_entropy(a: Prepared, p: Array, t: Array, *, weight: Array | None, label_smoothing: Any) -> Array:
    xp = a.xp
    out = numerics.binary_cross_entropy(a.ops, p, _smoothed(t, label_smoothing))
    out = xp.where((p >= 0) & (p <= 1), out, math.nan)  # no value checks under tracing: NaN marks them
    return out if weight is None else weight * out


@loss
def binary_cross_entropy_with_logits(logits: Array, target: Array, /, *, weight: Array | None = None,
                                     pos_weight: Array | None = None, label_smoothing: float = 0.0,
                                     where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Binary cross-entropy on logits (torch's ``binary_cross_entropy_with_logits``).

    With ``x`` the logit and ``t`` the target in [0, 1]::

        loss = w * (pos_weight * t * softplus(-x) + (1 - t) * softplus(x))

    which is ``-w * (pos_weight * t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x)))``
    computed without overflow: finite values and gradients for any finite
    logit (``±1e4`` included). The gradient is ``w * (sigmoid(x) * (1 - t +
    pos_weight * t) - pos_weight * t)``. On torch this runs torch's own kernel
    (same values and gradients, one fused pass); its value, computed as
    ``(1 - t) x - log_sigmoid(x)``, can be off by about ``eps * |x|`` where
    the loss is near 0 (``t = 0``, ``x << 0``), where the generic two
    softplus terms are exact.

    Args:
      logits: floating, any shape, typically ``[..., num_classes]`` for
        multi-label problems.
      target: targets in [0, 1], ``logits``' shape.
      weight: optional array broadcastable to ``logits``' shape (not grown);
        the mean stays a plain mean over elements, as in torch.
      pos_weight: optional weight of the positive term, broadcastable to
        ``logits``' shape: a ``[num_classes]`` vector weighs each class (the
        last axis), as in torch.
      label_smoothing: ``ls`` in [0, 1]: the target becomes
        ``t * (1 - ls) + 0.5 * ls`` (Keras's ``label_smoothing``).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar, or an array of ``logits``' shape for "none".

    Example:
      >>> import numpy as np, lossapi
      >>> x, y = np.array([2.2, -2.2, 1.38]), np.array([1.0, 0.0, 1.0])
      >>> round(float(lossapi.binary_cross_entropy_with_logits(x, y)), 4)
      0.1449
    """
    ls = _label_smoothing(label_smoothing)
    a = prepare(logits, target, reduction=reduction, where=where, extra=(weight, pos_weight))
    return a.run(_binary_cross_entropy_with_logits, weight=elementwise_weight(a, weight, "weight"),
                 pos_weight=elementwise_weight(a, pos_weight, "pos_weight"), label_smoothing=ls)


def _binary_cross_entropy_with_logits(a: Prepared, x: Array, t: Array, *, weight: Array | None,
                                      pos_weight: Array | None, label_smoothing: Any) -> Array:
    ops = a.ops
    t = _smoothed(t, label_smoothing)
    # Two softplus terms (never x - log_sigmoid(x)): no cancellation for x << 0.
    pos = t * ops.softplus(-x)
    if pos_weight is not None:
        pos = pos_weight * pos
    out = pos + (1.0 - t) * ops.softplus(x)
    return out if weight is None else weight * out


@loss
def binary_focal(logits: Array, target: Array, /, *, gamma: float = 2.0, alpha: float | None = None,
                 label_smoothing: float = 0.0, where: Array | None = None,
                 reduction: Reduction = "mean") -> Array:
    """Binary (sigmoid) focal loss, torchvision's ``sigmoid_focal_loss``.

    With ``p = sigmoid(x)`` and ``p_t = p t + (1 - p)(1 - t)``::

        loss = alpha_t * (1 - p_t) ** gamma * bce_with_logits(x, t)

    where ``alpha_t = alpha t + (1 - alpha)(1 - t)`` (no weighting when
    ``alpha`` is None; torchvision's default is 0.25). ``gamma=0`` and
    ``alpha=None`` is :func:`binary_cross_entropy_with_logits`. Soft targets
    follow the same formula.

    Numerics: with ``s = |x|``, ``e = exp(-s)`` and ``b = 1 - t`` if
    ``x >= 0`` else ``t``, the cross-entropy is ``log1p(e) + b s`` and
    ``log(1 - p_t) = log(b + (1 - b) e) - log1p(e)``, both free of overflow
    and cancellation. For an integer ``gamma`` from 1 to 8 the factor is the
    power ``(t sigmoid(-x) + (1 - t) sigmoid(x)) ** gamma`` (no
    cancellation either, and torch's fused kernels); for any other ``gamma`` it is
    ``exp(gamma * log(1 - p_t))``, never ``0 ** gamma``, so values and
    gradients are finite for every ``gamma >= 0`` (also ``0 < gamma < 1``,
    where the power's derivative is infinite at ``p_t = 1``) and any finite
    logit.

    Args:
      logits: floating, any shape.
      target: targets in [0, 1], ``logits``' shape.
      gamma: focusing parameter, >= 0.
      alpha: weight of the positive class in [0, 1], or None.
      label_smoothing: ``ls`` in [0, 1]: the target becomes
        ``t * (1 - ls) + 0.5 * ls`` everywhere it appears (the
        cross-entropy, ``p_t`` and ``alpha_t``), as in Keras's
        ``binary_focal_crossentropy``.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar, or an array of ``logits``' shape for "none".

    References:
      Lin, Goyal, Girshick, He & Dollár, "Focal Loss for Dense Object
      Detection", 2017.

    Example:
      >>> import numpy as np, lossapi
      >>> x, y = np.array([2.2, -2.2, 1.38]), np.array([1.0, 0.0, 1.0])
      >>> round(float(lossapi.binary_focal(x, y, gamma=2.0)), 5)
      0.00372
    """
    gamma = v.number("gamma", gamma, low=0.0)
    if alpha is not None:
        alpha = v.number("alpha", alpha, low=0.0, high=1.0)
    ls = _label_smoothing(label_smoothing)
    return prepare(logits, target, reduction=reduction, where=where).run(_binary_focal, gamma=gamma, alpha=alpha,
                                                                          label_smoothing=ls)


def _binary_focal(a: Prepared, x: Array, t: Array, *, gamma: float, alpha: float | None,
                  label_smoothing: Any) -> Array:
    ops, xp = a.ops, a.xp
    t = _smoothed(t, label_smoothing)
    if numerics.is_number(gamma, 0.0) or numerics.small_int(gamma):
        out = ops.sigmoid_cross_entropy(x, t)
        if gamma != 0.0:
            # 1 - p_t = t sigmoid(-x) + (1 - t) sigmoid(x): two non-negative
            # terms, no cancellation; an integer power has a finite
            # derivative everywhere.
            out = (t * ops.sigmoid(-x) + (1.0 - t) * ops.sigmoid(x)) ** int(gamma) * out
    else:
        nonneg = x >= 0
        s = xp.where(nonneg, x, -x)  # |x| with slope +1 at 0, so the gradient at x == 0 is sigmoid(0) - t
        e = xp.exp(-s)
        lg = xp.log1p(e)
        b = xp.where(nonneg, 1.0 - t, t)
        out = lg + b * s  # = t * softplus(-x) + (1 - t) * softplus(x), no cancellation
        # 1 - p_t = (b + (1 - b) e) / (1 + e), in log space: the floor only
        # acts when b == 0 and e underflows, where the loss is 0 anyway, and
        # keeps log's gradient finite there (the power's is infinite at 0
        # for gamma < 1).
        u = xp.maximum(b + (1.0 - b) * e, xp.finfo(x.dtype).smallest_normal)
        out = xp.exp(gamma * (xp.log(u) - lg)) * out
    if alpha is not None:
        out = ((1.0 - alpha) + (2.0 * alpha - 1.0) * t) * out
    return out


@loss
def hinge(scores: Array, target: Array, /, *, where: Array | None = None,
           reduction: Reduction = "mean") -> Array:
    """Binary hinge loss, ``max(0, 1 - t * s)``, for targets ``t`` in {-1, +1}.

    Targets are used as given: a {0, 1} target 0 gives the constant loss 1
    with zero gradient, so convert such labels with ``2 * t - 1`` first. The
    subgradient at ``t * s == 1`` is 0.

    Args:
      scores: raw scores (not probabilities), floating, any shape.
      target: {-1, +1} targets, ``scores``' shape.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar, or an array of ``scores``' shape for "none".

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.hinge(np.array([0.8, -0.3, 0.4]), np.array([1.0, -1.0, 1.0]))), 4)
      0.5
    """
    return prepare(scores, target, reduction=reduction, where=where).run(_hinge)


def _hinge(a: Prepared, s: Array, t: Array) -> Array:
    # The kink at t * s == 1 gets subgradient 0 on every backend.
    return numerics.hinge(a.ops, 1.0 - t * s, at_kink="zero")


@loss
def squared_hinge(scores: Array, target: Array, /, *, where: Array | None = None,
           reduction: Reduction = "mean") -> Array:
    """Squared hinge loss, ``max(0, 1 - t * s) ** 2``, targets in {-1, +1}.

    Targets are used as given, as in :func:`hinge` (convert {0, 1} labels with
    ``2 * t - 1``). Differentiable everywhere.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.squared_hinge(np.array([0.8, -0.3, 0.4]), np.array([1.0, -1.0, 1.0]))), 4)
      0.2967
    """
    return prepare(scores, target, reduction=reduction, where=where).run(_squared_hinge)


def _squared_hinge(a: Prepared, s: Array, t: Array) -> Array:
    h = _hinge(a, s, t)
    return h * h


@loss
def soft_margin(scores: Array, target: Array, /, *, where: Array | None = None,
           reduction: Reduction = "mean") -> Array:
    """Soft-margin loss (torch's ``soft_margin_loss``), for targets in {-1, +1}.

    The logistic loss of the margin ``t * s``::

        loss = log(1 + exp(-t * s)) = softplus(-t * s)

    computed as a softplus, which never overflows: values and gradients are
    finite for any finite score (``±1e4`` included; torch's kernel, which
    computes ``log1p(exp(-t * s))``, gives inf and a NaN gradient once
    ``-t * s`` exceeds about 88 in float32, 709 in float64). The gradient
    with respect to ``s`` is ``-t * sigmoid(-t * s)`` (``-t / 2`` at
    ``t * s == 0``). Targets are used as given, as in :func:`hinge` (convert
    {0, 1} labels with ``2 * t - 1``).

    Args:
      scores: raw scores (not probabilities), floating, any shape.
      target: {-1, +1} targets, ``scores``' shape.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar, or an array of ``scores``' shape for "none".

    Example:
      >>> import numpy as np, lossapi
      >>> s, t = np.array([0.8, -0.3, 0.4, 0.0]), np.array([1.0, -1.0, -1.0, 1.0])
      >>> round(float(lossapi.soft_margin(s, t)), 4)
      0.6329
    """
    return prepare(scores, target, reduction=reduction, where=where).run(_soft_margin)


def _soft_margin(a: Prepared, s: Array, t: Array) -> Array:
    return a.ops.softplus(-t * s)


@loss
def sparsemax_loss(logits: Array, target: Array, /, *, where: Array | None = None,
                   reduction: Reduction = "mean") -> Array:
    """Binary sparsemax loss (optax's ``sparsemax_loss``), for targets in [0, 1].

    The Fenchel-Young loss of the sparse sigmoid ``clip((x + 1) / 2, 0, 1)``:
    with ``sparse_plus(x) = 0`` for ``x <= -1``, ``(x + 1)**2 / 4`` for
    ``-1 < x < 1`` and ``x`` for ``x >= 1``::

        loss = t * sparse_plus(-x) + (1 - t) * sparse_plus(x) - t * (1 - t)

    For a hard target this is optax's ``sparse_plus(x if t == 0 else -x)``
    (two non-negative terms, no cancellation); a soft target ``t`` gives the
    Fenchel-Young value ``sparse_plus(x) - t x + t**2 - t``, zero exactly where
    the sparse sigmoid equals ``t``. The loss is 0 (with zero gradient) once
    the margin passes 1, unlike the logistic loss. optax reads any non-zero
    label as 1; here ``target`` is used as a number. The gradient is
    ``sparse_sigmoid(x) - t`` everywhere (the function is continuously
    differentiable).

    Args:
      logits: floating, any shape.
      target: targets in [0, 1] (0/1 labels, or soft targets), ``logits``' shape.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar, or an array of ``logits``' shape for "none".

    References:
      Blondel, Martins & Niculae, "Learning with Fenchel-Young Losses",
      JMLR 2020 (section 4.4).

    Example:
      >>> import numpy as np, lossapi
      >>> x, t = np.array([2.0, 0.5, -0.2]), np.array([1.0, 0.0, 1.0])
      >>> lossapi.sparsemax_loss(x, t, reduction="none")
      array([0.    , 0.5625, 0.36  ])
    """
    return prepare(logits, target, reduction=reduction, where=where).run(_sparsemax_loss)


def _sparsemax_loss(a: Prepared, x: Array, t: Array) -> Array:
    # t * sparse_plus(-x) + (1 - t) * sparse_plus(x) - t (1 - t), written out
    # piece by piece (no clip): x from 1 on, sparse_plus(x) = x and
    # sparse_plus(-x) = 0; up to -1, the other way round; between, both
    # parabolas. Value and slope are continuous at both joins, so every
    # backend's gradient is the same there. The same operations as summing
    # two sparse_plus terms, but with one select at the top: XLA:CPU then
    # computes the whole loss in one fused loop (two sparse_plus selects and
    # a broadcast 1 each became an input-sized temporary, 3x the memory and
    # 5x the time of optax's forward pass).
    xp = a.xp
    u = 1.0 - t
    c = t * u  # 0 for hard targets: soft targets' Fenchel-Young constant
    mid = t * ((1.0 - x) * (1.0 - x) * 0.25) + u * ((x + 1.0) * (x + 1.0) * 0.25) - c
    return xp.where(x >= 1.0, u * x - c, xp.where(x <= -1.0, t * -x - c, mid))


@loss
def perceptron(scores: Array, target: Array, /, *, where: Array | None = None,
               reduction: Reduction = "mean") -> Array:
    """Binary perceptron loss (optax's ``perceptron_loss``), targets in {-1, +1}.

    ``max(0, -t * s)``: zero for a correct sign, the violation otherwise (the
    hinge without its margin, :func:`hinge` with margin 0). Targets are used
    as given (convert {0, 1} labels with ``2 * t - 1``). The subgradient at
    ``t * s == 0`` is 0 on every backend (JAX's ``maximum``, behind optax,
    gives half of ``-t`` there).

    Args:
      scores: raw scores, floating, any shape.
      target: {-1, +1} targets, ``scores``' shape.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar, or an array of ``scores``' shape for "none".

    References:
      Rosenblatt, "The Perceptron: A Probabilistic Model for Information
      Storage and Organization in the Brain", 1958.

    Example:
      >>> import numpy as np, lossapi
      >>> lossapi.perceptron(np.array([0.8, -0.3, 0.4]), np.array([1.0, 1.0, -1.0]), reduction="none")
      array([0. , 0.3, 0.4])
    """
    return prepare(scores, target, reduction=reduction, where=where).run(_perceptron)


def _perceptron(a: Prepared, s: Array, t: Array) -> Array:
    return numerics.hinge(a.ops, -t * s, at_kink="zero")
