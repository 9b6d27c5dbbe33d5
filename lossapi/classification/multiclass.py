"""Multiclass losses: scores with a class axis and integer class labels (or,
for :func:`cross_entropy` and :func:`poly1`, class probabilities); see
:mod:`lossapi.classification` for the layout and the label checks."""

from __future__ import annotations

import math
from typing import Any, Literal

from .._core import numerics
from .._core import validate as v
from .._core.loss import loss
from .._core.prepare import Prepared, class_weight, classes, device
from .._core.types import Array, Reduction
from ._labels import (
    _along,
    _ce_from_labels,
    _ce_from_probs,
    _class_values,
    _gather,
    _Labels,
    _masked_logits,
    _mean,
    _mean_neg_logp,
    _multiclass_options,
    _num_classes,
    _smoothed,
)

__all__ = ["cross_entropy", "nll", "focal", "multiclass_hinge", "poly1", "multiclass_sparsemax", "multiclass_perceptron",
           "generalized_cross_entropy"]


def _prepare_ce(logits: Array, target: Array, axis: Any, weight: Any, ignore_index: int | None,
                reduction: str, where: Any) -> tuple[Prepared, Array | None]:
    """The record and class weights of :func:`cross_entropy` and :func:`poly1`."""
    a = classes(logits, target, axis=axis, reduction=reduction, probs=True, ignore_index=ignore_index,
                extra=(weight,), where=where)
    w = class_weight(a, weight, "weight")
    if a.probs and ignore_index is not None:
        raise v.BadValue("ignore_index applies to integer class labels only; target holds probabilities")
    return a, w


@loss
def cross_entropy(logits: Array, target: Array, /, *, axis: int | tuple[int, ...] = -1, weight: Array | None = None,
                  ignore_index: int | None = None, label_smoothing: float = 0.0, z_loss: float = 0.0,
                  softcap: float | None = None, where: Array | None = None,
                  reduction: Reduction = "mean") -> Array:
    """Softmax cross-entropy with torch's semantics (``F.cross_entropy``).

    ``target`` is either integer class labels (``logits``' shape without
    ``axis``) or class probabilities (``logits``' shape), told apart by dtype.
    With ``log p = log_softmax(logits)``, class weights ``w`` (all 1 by
    default) and smoothing ``eps``:

    * labels ``y``: ``(1 - eps) * w[y] * (-log p[y]) + eps / C * sum_c w[c] * (-log p[c])``;
      the mean divides the sum by ``sum(w[y])`` over non-ignored samples
      (their count without weights), as torch does; samples whose label is
      ``ignore_index`` contribute 0 loss and 0 gradient (all ignored: NaN mean).
    * probabilities ``q``: ``-sum_c w[c] * q'[c] * log p[c]`` with
      ``q' = (1 - eps) q + eps / C``; the mean is over samples.

    Two options for language-model pretraining (torch has neither):

    * ``softcap`` ``c`` (Gemma 2): the logits pass through ``c * tanh(logits
      / c)`` before everything else (the gradient flows through the tanh).
    * ``z_loss`` ``s`` (PaLM; Liger's ``lse_square_scale``): each counted
      sample adds ``s * logsumexp(logits)**2``, computed from the same
      log-sum-exp as the loss. With class weights the sample's whole loss,
      z-term included, is scaled by ``w[y]`` (so the mean stays a weighted
      average; Liger divides its z-term by the unweighted count); ignored
      samples add nothing.

    Integer labels never build a one-hot array or, without label
    smoothing, a log-softmax: ``logsumexp(logits) - logits[y]``, one
    reduction and one gather along ``axis``. On torch, integer labels run
    ``torch.nn.functional.cross_entropy`` itself (same values and gradients).

    Differences from torch: the class axis defaults to the last (torch: 1);
    ``ignore_index`` defaults to None (torch: -100, so a -100 label is an
    error here unless you pass ``ignore_index=-100``) and is an error with
    probability targets (torch ignores it). Labels out of range: see the
    module documentation.

    Args:
      logits: unnormalised scores, floating, classes on ``axis``.
      target: integer labels ``[...]`` or probabilities ``[..., C, ...]``.
      axis: the class axis of ``logits``.
      weight: optional ``[C]`` class weights.
      ignore_index: a label value to skip (integer labels only), or None.
      label_smoothing: ``eps`` in [0, 1].
      z_loss: ``s >= 0``, the weight of the squared log-sum-exp.
      softcap: ``c > 0``, or None for no cap.
      where: optional mask, per sample or per score (see the README).
      reduction: "mean", "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses (``logits``' shape without ``axis``).

    Example:
      >>> import numpy as np, lossapi
      >>> z = np.array([[1.0, 2.0, 0.5], [0.2, 0.1, 1.5]])
      >>> round(float(lossapi.cross_entropy(z, np.array([1, 2]))), 4)
      0.4413
      >>> round(float(lossapi.cross_entropy(z, np.array([1, 2]), z_loss=1e-4, softcap=30.0)), 4)
      0.4425
    """
    ignore_index, eps = _multiclass_options(weight, ignore_index, label_smoothing)
    z_loss, softcap = lm_options(z_loss, softcap)
    a, w = _prepare_ce(logits, target, axis, weight, ignore_index, reduction, where)
    return a.run(_cross_entropy, axis=a.axis, weight=w, ignore_index=ignore_index, label_smoothing=eps,
                 z_loss=z_loss, softcap=softcap)


def lm_options(z_loss: Any, softcap: Any) -> tuple[Any, Any]:
    """``z_loss >= 0`` and ``softcap`` (None or > 0), checked (shared with
    :func:`lossapi.linear_cross_entropy`)."""
    z_loss = v.number("z_loss", z_loss, low=0.0)
    if softcap is not None:
        softcap = v.number("softcap", softcap, low=0.0, low_open=True)
    return z_loss, softcap


def soft_capped(ops: Any, z: Array, softcap: Any) -> Array:
    """``softcap * tanh(z / softcap)`` (Gemma 2's logit cap), or ``z``."""
    return z if softcap is None else softcap * ops.xp.tanh(z / softcap)


def _cross_entropy(a: Prepared, logits: Array, target: Array, *, axis: int, weight: Array | None,
                   ignore_index: int | None, label_smoothing: float, z_loss: Any, softcap: Any) -> Any:
    ops = a.ops
    logits = soft_capped(ops, logits, softcap)
    masked = _masked_logits(ops, logits, a.where)
    zl = not numerics.is_number(z_loss, 0.0)
    if a.probs:
        lse = ops.logsumexp(masked, axis=axis)
        logp = masked - ops.xp.expand_dims(lse, axis=axis)
        out = _ce_from_probs(ops, logp, target, axis, weight, label_smoothing, a.where)
        return out + z_loss * lse * lse if zl else out
    # -log p[y] = logsumexp(z) - z[y]: one reduction and one gather, no
    # (N, C) log-softmax unless label smoothing needs every class. With a
    # class mask the normaliser runs over the kept classes and z[y] is the
    # label's own score even where it is masked (optax's semantics).
    lab = _Labels(ops, target, logits.shape[axis], ignore_index)
    lse = ops.logsumexp(masked, axis=axis)
    nll_y = lse - _gather(ops, logits, lab.safe, axis)
    out, denom, wy = _ce_from_labels(
        ops, nll_y,
        lambda: _mean_neg_logp(ops, masked - ops.xp.expand_dims(lse, axis=axis), axis, weight, a.where), weight,
        label_smoothing, lab)
    if zl:  # PaLM's z-loss: counted samples only, scaled by the label's class weight
        z = z_loss * lse * lse
        out = out + ops.xp.where(lab.keep, z if wy is None else wy * z, 0.0)
    return _mean(out, denom)


@loss
def nll(log_probs: Array, target: Array, /, *, axis: int = -1, weight: Array | None = None,
        ignore_index: int | None = None, where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Negative log-likelihood of integer labels (torch's ``F.nll_loss``).

    ``-w[y] * log_probs[y]`` per sample; the mean divides by ``sum(w[y])``
    over non-ignored samples (their count without weights). Ignored samples
    contribute 0 loss and 0 gradient. ``log_probs`` are used as given (not
    normalised). ``cross_entropy(z, y) == nll(log_softmax(z), y)``.

    Args:
      log_probs: log-probabilities, floating, classes on ``axis``.
      target: integer labels, ``log_probs``' shape without ``axis``.
      axis: the class axis (torch: 1).
      weight: optional ``[C]`` class weights.
      ignore_index: a label value to skip, or None (torch's default is -100).
      reduction: "mean", "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses.

    Example:
      >>> import numpy as np, lossapi
      >>> lp = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
      >>> round(float(lossapi.nll(lp, np.array([0, 2]))), 4)
      0.2899
    """
    ignore_index, _ = _multiclass_options(weight, ignore_index, 0.0)
    a = classes(log_probs, target, axis=axis, reduction=reduction, ignore_index=ignore_index, extra=(weight,),
                where=where)
    w = class_weight(a, weight, "weight")
    return a.run(_nll, axis=a.axis, weight=w, ignore_index=ignore_index)


def _nll(a: Prepared, logp: Array, target: Array, *, axis: int, weight: Array | None,
         ignore_index: int | None) -> Any:
    ops = a.ops
    lab = _Labels(ops, target, logp.shape[axis], ignore_index, a.where, axis)
    out, denom, _ = _ce_from_labels(ops, -_gather(ops, logp, lab.safe, axis), None, weight, 0.0, lab)
    return _mean(out, denom)


@loss
def focal(logits: Array, target: Array, /, *, gamma: float = 2.0, alpha: Array | None = None, axis: int = -1,
          ignore_index: int | None = None, where: Array | None = None,
          reduction: Reduction = "mean") -> Array:
    """Multiclass (softmax) focal loss for integer labels.

    ``-alpha[y] * (1 - p_y) ** gamma * log p_y`` with ``p = softmax(logits)``.
    ``gamma=0`` with ``alpha=None`` is :func:`cross_entropy`; with ``alpha``
    it matches ``cross_entropy(weight=alpha)`` for "sum" and "none".

    The mean is over non-ignored samples (their count, not the sum of
    ``alpha[y]``: ``alpha`` re-weights classes within the average, as in the
    focal-loss paper, rather than defining a weighted mean as torch's
    cross-entropy does). Ignored samples contribute 0 loss and 0 gradient.

    Numerics: ``log p_y`` comes from ``log_softmax`` and ``log(1 - p_y)`` from
    a stable ``log1mexp``; the factor is ``exp(gamma * log(1 - p_y))`` (for
    an integer ``gamma`` from 1 to 8, the power ``(-expm1(log p_y)) **
    gamma``), so values and gradients are finite for every ``gamma >= 0`` and
    saturated logits (the loss and its gradient tend to 0 as ``p_y -> 1``).

    Args:
      logits: floating, classes on ``axis``.
      target: integer labels, ``logits``' shape without ``axis``.
      gamma: focusing parameter, >= 0.
      alpha: optional ``[C]`` per-class weights.
      axis: the class axis.
      ignore_index: a label value to skip, or None.
      reduction: "mean", "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses.

    References:
      Lin, Goyal, Girshick, He & Dollár, "Focal Loss for Dense Object
      Detection", 2017.

    Example:
      >>> import numpy as np, lossapi
      >>> z = np.array([[1.0, 2.0, 0.5], [0.2, 0.1, 1.5]])
      >>> round(float(lossapi.focal(z, np.array([1, 2]), gamma=2.0)), 4)
      0.0565
    """
    gamma = v.number("gamma", gamma, low=0.0)
    ignore_index, _ = _multiclass_options(alpha, ignore_index, 0.0, "alpha")
    a = classes(logits, target, axis=axis, reduction=reduction, ignore_index=ignore_index, extra=(alpha,),
                where=where)
    alpha = class_weight(a, alpha, "alpha")
    return a.run(_focal, gamma=gamma, alpha=alpha, axis=a.axis, ignore_index=ignore_index)


def _focal(a: Prepared, logits: Array, target: Array, *, gamma: float, alpha: Array | None, axis: int,
           ignore_index: int | None) -> Any:
    ops, xp = a.ops, a.xp
    lab = _Labels(ops, target, logits.shape[axis], ignore_index, a.where, axis)
    lp = _gather(ops, ops.log_softmax(_masked_logits(ops, logits, a.where), axis=axis), lab.safe, axis)
    if numerics.is_number(gamma, 0.0):
        out = -lp
    elif numerics.small_int(gamma):
        out = -((-xp.expm1(lp)) ** int(gamma)) * lp  # 1 - p_y without cancellation; finite derivative
    else:
        out = -xp.exp(gamma * numerics.log1mexp(ops, lp)) * lp
    if alpha is not None:
        out = _class_values(ops, alpha, lab.safe) * out
    out = lab.finish(ops, out)
    return _mean(out, lab.weights(ops, out.dtype) if lab.ignoring else None)


_FORMS = ("crammer_singer", "weston_watkins")


@loss
def multiclass_hinge(scores: Array, target: Array, /, *, margin: float = 1.0,
                     form: Literal["crammer_singer", "weston_watkins"] = "crammer_singer", axis: int = -1,
                     p: Literal[1, 2] = 1, weight: Array | None = None, where: Array | None = None,
                     reduction: Reduction = "mean") -> Array:
    """Multiclass hinge loss for integer labels, in either classic form.

    With ``s`` the scores and ``y`` the label:

    * ``"crammer_singer"``: ``max(0, margin - s[y] + max_{j != y} s[j])``,
      the largest margin violation (Crammer & Singer, 2001; optax's
      ``multiclass_hinge_loss``, scikit-learn's multiclass ``hinge_loss``).
    * ``"weston_watkins"``: ``sum_{j != y} max(0, margin - s[y] + s[j])``,
      every violation (Weston & Watkins, 1999); torch's
      ``multi_margin_loss`` (p=1) is this divided by ``C``.

    The loss-functions notes (section 11) print the sum and call it
    Crammer-Singer; the sum is the Weston-Watkins form, and the names here
    follow the literature. The subgradient at each kink is 0.

    ``p`` and ``weight`` are torch's ``multi_margin_loss`` options, with the
    same meaning in both forms: ``p=2`` squares each hinge term (every
    ``max(0, ...)`` above; Crammer-Singer has one per sample), and the class
    weight ``weight[y]`` of the sample's label multiplies its loss. The mean
    stays a plain mean over samples, as in torch (not divided by the sum of
    the weights, unlike :func:`cross_entropy`). With them the Weston-Watkins
    form is ``C`` times torch's ``multi_margin_loss(p=p, weight=weight)``.

    Args:
      scores: raw scores, floating, classes on ``axis``.
      target: integer labels, ``scores``' shape without ``axis``.
      margin: required margin, >= 0.
      form: "crammer_singer" or "weston_watkins".
      axis: the class axis.
      p: 1 (the hinge) or 2 (the squared hinge).
      weight: optional ``[C]`` class weights (``weight[y]`` scales a sample).
      reduction: "mean", "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses.

    References:
      Crammer & Singer, "On the Algorithmic Implementation of Multiclass
      Kernel-based Vector Machines", 2001. Weston & Watkins, "Support Vector
      Machines for Multi-Class Pattern Recognition", 1999.

    Example:
      >>> import numpy as np, lossapi
      >>> s, y = np.array([[2.0, 1.5, 0.0]]), np.array([0])
      >>> float(lossapi.multiclass_hinge(s, y)), float(lossapi.multiclass_hinge(s, y, form="weston_watkins"))
      (0.5, 0.5)
      >>> float(lossapi.multiclass_hinge(s, y, p=2, weight=np.array([2.0, 1.0, 1.0])))
      0.5
    """
    margin = v.number("margin", margin, low=0.0)
    v.choice("form", form, _FORMS)
    if v.static_number("p", p, "the hinge's power") not in (1.0, 2.0):
        raise v.BadValue(f"p must be 1 or 2, got {p!r}")
    v.array_or_none("weight", weight)
    a = classes(scores, target, axis=axis, reduction=reduction, extra=(weight,), where=where)
    w = class_weight(a, weight, "weight")
    return a.run(_multiclass_hinge, axis=a.axis, margin=margin, form=form, p=int(p), weight=w)


def _multiclass_hinge(a: Prepared, s: Array, target: Array, *, axis: int, margin: float, form: str, p: int,
                      weight: Array | None) -> Array:
    ops, xp = a.ops, a.xp
    num_classes = s.shape[axis]
    lab = _Labels(ops, target, num_classes, None, a.where, axis)  # a masked label's class drops its sample
    sy = xp.expand_dims(_gather(ops, s, lab.safe, axis), axis=axis)
    if form == "weston_watkins":
        d = (s - sy) + margin  # exactly `margin` at j == y, whose term (margin ** p) is removed below
        h = numerics.hinge(ops, d, at_kink="zero")
        if a.where is not None:  # a masked class j is no violation
            h = xp.where(a.where, h, xp.zeros_like(h))
        if p == 2:
            # margin as the j == y term holds it (in the scores' dtype)
            m = margin if v.is_array(margin) else xp.asarray(margin, dtype=s.dtype, device=a.device)
            out = xp.sum(h * h, axis=axis) - m * m
        else:
            out = xp.sum(h, axis=axis) - margin
    else:
        shape = [1] * s.ndim
        shape[axis] = num_classes
        index = xp.reshape(xp.arange(num_classes, dtype=target.dtype, device=a.device), tuple(shape))
        others = xp.where(index == xp.expand_dims(lab.safe, axis=axis), -math.inf, s)
        if a.where is not None:
            others = xp.where(a.where, others, -math.inf)
        out = numerics.hinge(ops, margin + xp.max(others, axis=axis) - xp.squeeze(sy, axis=axis), at_kink="zero")
        if p == 2:
            out = out * out
    if weight is not None:
        out = _class_values(ops, weight, lab.safe) * out
    out = lab.finish(ops, out)
    return _mean(out, lab.weights(ops, out.dtype) if lab.ignoring else None)


@loss
def poly1(logits: Array, target: Array, /, *, epsilon: float = 1.0, axis: int | tuple[int, ...] = -1,
          weight: Array | None = None,
          ignore_index: int | None = None, label_smoothing: float = 0.0, where: Array | None = None,
          reduction: Reduction = "mean") -> Array:
    """Poly-1 loss: cross-entropy plus ``epsilon * (1 - p_t)``.

    ``p_t`` is the probability the model gives the (smoothed) target:
    ``sum_c q'[c] * softmax(logits)[c]``, which for integer labels is
    ``(1 - eps) p[y] + eps / C`` (no one-hot). Every option means what it
    means in :func:`cross_entropy`, and the Poly-1 term is weighted and
    reduced like the cross-entropy's target term: by ``w[y]`` for labels (so
    the mean is the same weighted mean), by ``sum_c w[c] q[c]`` for
    probabilities (which is ``w[y]`` for one-hot ``q``; mean over samples);
    ignored samples contribute 0. ``epsilon=0`` is :func:`cross_entropy`.

    Args:
      logits: floating, classes on ``axis``.
      target: integer labels or probabilities, as in :func:`cross_entropy`.
      epsilon: coefficient of the Poly-1 term, >= -1 (the paper's range).
      axis, weight, ignore_index, label_smoothing: as in :func:`cross_entropy`.
      reduction: "mean", "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses.

    References:
      Leng et al., "PolyLoss: A Polynomial Expansion Perspective of
      Classification Loss Functions", ICLR 2022.

    Example:
      >>> import numpy as np, lossapi
      >>> z = np.array([[1.0, 2.0, 0.5], [0.2, 0.1, 1.5]])
      >>> round(float(lossapi.poly1(z, np.array([1, 2]), epsilon=1.0)), 4)
      0.7979
    """
    epsilon = v.number("epsilon", epsilon, low=-1.0)
    ignore_index, eps = _multiclass_options(weight, ignore_index, label_smoothing)
    a, w = _prepare_ce(logits, target, axis, weight, ignore_index, reduction, where)
    return a.run(_poly1, epsilon=epsilon, axis=a.axis, weight=w, ignore_index=ignore_index, label_smoothing=eps)


def _poly1(a: Prepared, logits: Array, target: Array, *, epsilon: float, axis: int, weight: Array | None,
           ignore_index: int | None, label_smoothing: float) -> Any:
    ops, xp = a.ops, a.xp
    eps = label_smoothing
    logp = ops.log_softmax(_masked_logits(ops, logits, a.where), axis=axis)
    if a.probs:
        ce = _ce_from_probs(ops, logp, target, axis, weight, eps, a.where)
        q = _smoothed(target, eps, _num_classes(ops, a.where, axis, logp))
        pt = a.sum(q * xp.exp(logp), axis=axis)
        # With a class mask, 1 is the kept target mass: sum_c q[c] (1 - p[c])
        # over the kept classes, as optax's poly_loss_cross_entropy.
        poly = (1.0 if a.where is None else a.sum(q, axis=axis)) - pt
        if weight is not None:
            poly = xp.sum(target * _along(ops, weight, axis, logp.ndim), axis=axis) * poly
        return ce + epsilon * poly
    lab = _Labels(ops, target, logp.shape[axis], ignore_index, a.where, axis)
    logp_y = _gather(ops, logp, lab.safe, axis)
    ce, denom, wy = _ce_from_labels(ops, -logp_y, lambda: _mean_neg_logp(ops, logp, axis, weight, a.where), weight,
                                    eps, lab)
    poly = 1.0 - ((1.0 - eps) * xp.exp(logp_y) + eps / _num_classes(ops, a.where, axis, logp, keepdims=False))
    if wy is not None:
        poly = wy * poly
    return _mean(ce + epsilon * lab.finish(ops, poly), denom)


@loss
def multiclass_sparsemax(logits: Array, labels: Array, /, *, axis: int = -1, where: Array | None = None,
                         reduction: Reduction = "mean") -> Array:
    """Multiclass sparsemax loss (optax's ``multiclass_sparsemax_loss``).

    The Fenchel-Young loss of sparsemax, the Euclidean projection ``p`` of the
    scores ``z`` onto the probability simplex (Martins & Astudillo 2016)::

        loss = sum_i p_i * (z_i - z_y) + (1 - sum_i p_i**2) / 2

    It is 0 exactly when sparsemax puts all its mass on the label (``z_y``
    leads every other score by at least 1); its gradient is ``p - onehot(y)``.
    ``p_i = max(z_i - tau, 0)`` with the threshold ``tau`` found by one sort
    along the class axis (the backend's ``sort`` primitive; on Dask that axis
    is rechunked into one chunk): the support is the scores above
    ``(c_k - 1) / k`` for the largest ``k`` with ``1 + k z_(k) > c_k``
    (``z_(k)`` the sorted scores, ``c_k`` their cumulative sums), so tied
    scores are in or out of the support together, as in optax.
    Scores are shifted by their maximum first (sparsemax is shift-invariant)
    so large logits keep float32 accuracy.

    Args:
      logits: scores, floating, classes on ``axis``.
      labels: integer labels, ``logits``' shape without ``axis``.
      axis: the class axis.
      where: optional mask, per sample or per score; a masked class leaves
        the projection (sparsemax over the kept classes), and a sample whose
        label's class is masked is dropped.
      reduction: "mean", "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses.

    References:
      Martins & Astudillo, "From Softmax to Sparsemax: A Sparse Model of
      Attention and Multi-Label Classification", ICML 2016. Blondel, Martins
      & Niculae, "Learning with Fenchel-Young Losses", JMLR 2020.

    Example:
      >>> import numpy as np, lossapi
      >>> z = np.array([[2.0, 1.5, 0.0], [0.0, 3.0, 1.0]])
      >>> lossapi.multiclass_sparsemax(z, np.array([1, 1]), reduction="none")
      array([0.5625, 0.    ])
    """
    a = classes(logits, labels, axis=axis, reduction=reduction, where=where)
    return a.run(_multiclass_sparsemax, axis=a.axis)


def _sparsemax_support(ops: Any, z: Array, axis: int, kept: Array | None) -> tuple[Array, Array]:
    """Sparsemax's support and threshold along ``axis`` (``tau`` keeps the
    axis, size 1). ``kept``: the classes taking part (None: all).

    The support size comes from one sort (Duchi et al.'s projection): with
    ``z`` sorted in decreasing order and ``c_k`` its cumulative sums, it is the
    number of ``k`` with ``1 + k * z_(k) > c_k``; ``O(C log C)`` work and
    ``O(C)`` memory per sample. ``tau`` is then recomputed from the support
    with ``z``'s gradient."""
    xp = ops.xp
    free = ops.stop_gradient(z if kept is None else xp.where(kept, z, xp.full_like(z, -math.inf)))
    zs, _ = ops.sort(free, axis=axis, descending=True)  # masked classes last, never in the support
    cs = ops.cumsum(zs, axis=axis)
    shape = [1] * z.ndim
    shape[axis] = z.shape[axis]
    ks = xp.reshape(xp.arange(1, z.shape[axis] + 1, dtype=z.dtype, device=device(z)), tuple(shape))
    count = xp.sum(xp.astype(1.0 + ks * zs > cs, xp.int32), axis=axis, keepdims=True)
    count = xp.maximum(count, xp.ones_like(count))
    edge = (ops.take_along_axis(cs, count - 1, axis=axis) - 1.0) / xp.astype(count, z.dtype)
    support = free > edge
    if kept is not None:
        support = support & kept
    zero = xp.zeros_like(z)
    size = xp.sum(xp.astype(support, z.dtype), axis=axis, keepdims=True)
    size = xp.maximum(size, xp.ones_like(size))  # a sample with every class masked: no support
    tau = (xp.sum(xp.where(support, z, zero), axis=axis, keepdims=True) - 1.0) / size
    return support, tau


def _multiclass_sparsemax(a: Prepared, z: Array, labels: Array, *, axis: int) -> Any:
    ops, xp = a.ops, a.xp
    lab = _Labels(ops, labels, z.shape[axis], None, a.where, axis)
    # Shift-invariance: subtract the (kept) maximum, a constant for autodiff.
    top = z if a.where is None else xp.where(a.where, z, xp.full_like(z, -math.inf))
    z = z - ops.stop_gradient(xp.max(top, axis=axis, keepdims=True))
    if a.where is not None:
        z = xp.where(a.where, z, xp.zeros_like(z))  # finite stand-ins, left out of every sum below
    support, tau = _sparsemax_support(ops, z, axis, a.where)
    zero = xp.zeros_like(z)
    p = xp.where(support, z - tau, zero)
    zy = xp.expand_dims(_gather(ops, z, lab.safe, axis), axis=axis)
    out = xp.sum(xp.where(support, p * (z - zy), zero), axis=axis) + 0.5 * (1.0 - xp.sum(p * p, axis=axis))
    out = lab.finish(ops, out)
    return _mean(out, lab.weights(ops, out.dtype) if lab.ignoring else None)


@loss
def multiclass_perceptron(scores: Array, labels: Array, /, *, axis: int = -1, where: Array | None = None,
                          reduction: Reduction = "mean") -> Array:
    """Multiclass perceptron loss (optax's ``multiclass_perceptron_loss``).

    ``max_j s_j - s_y``: 0 when the label's score is (one of) the largest,
    else the gap to the largest (Collins 2002). Computed as
    ``max(0, max_{j != y} s_j - s_y)``, :func:`multiclass_hinge` with margin
    0, so a tie between the label and another class has subgradient 0 on
    every backend (optax's ``max`` splits it). Ties among the other classes
    split as each backend's ``max`` does.

    Args:
      scores: raw scores, floating, classes on ``axis``.
      labels: integer labels, ``scores``' shape without ``axis``.
      axis: the class axis.
      where: optional mask, per sample or per score (a masked class is no
        competitor; a sample whose label's class is masked is dropped).
      reduction: "mean", "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses.

    References:
      Collins, "Discriminative Training Methods for Hidden Markov Models:
      Theory and Experiments with Perceptron Algorithms", EMNLP 2002.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[2.0, 1.5, 0.0], [0.0, 3.0, 1.0]])
      >>> lossapi.multiclass_perceptron(s, np.array([1, 1]), reduction="none")
      array([0.5, 0. ])
    """
    a = classes(scores, labels, axis=axis, reduction=reduction, where=where)
    return a.run(_multiclass_hinge, axis=a.axis, margin=0.0, form="crammer_singer", p=1, weight=None)


@loss
def generalized_cross_entropy(logits: Array, labels: Array, /, *, q: float = 0.7, axis: int = -1,
                              ignore_index: int | None = None, where: Array | None = None,
                              reduction: Reduction = "mean") -> Array:
    """Generalized cross-entropy (the Lq loss) of Zhang & Sabuncu, robust to noisy labels.

    ``(1 - p_y**q) / q`` with ``p = softmax(logits)``. ``q -> 0`` gives the
    cross-entropy ``-log p_y``, ``q = 1`` the mean absolute error ``1 - p_y``
    (each sample's loss is bounded by ``1 / q``, which makes it robust to
    noisy labels). Computed as ``-expm1(q * log_softmax(logits)[y]) / q``: no
    cancellation in ``1 - p_y**q`` for small ``q`` or ``p_y`` near 1, and
    finite values and gradients for saturated logits.

    Args:
      logits: floating, classes on ``axis``.
      labels: integer labels, ``logits``' shape without ``axis``.
      q: the exponent, in (0, 1] (the paper's range; 0.7 is its default).
      axis: the class axis.
      ignore_index: a label value to skip, or None (the mean is over the
        other samples).
      where: optional mask, per sample or per score (a masked class leaves the
        softmax; a sample whose label's class is masked is dropped).
      reduction: "mean", "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses.

    References:
      Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep
      Neural Networks with Noisy Labels", NeurIPS 2018.

    Example:
      >>> import numpy as np, lossapi
      >>> z = np.array([[1.0, 2.0, 0.5], [0.2, 0.1, 1.5]])
      >>> round(float(lossapi.generalized_cross_entropy(z, np.array([1, 2]))), 4)
      0.3795
    """
    q = v.number("q", q, low=0.0, high=1.0, low_open=True)
    ignore_index = v.integer_or_none("ignore_index", ignore_index)
    a = classes(logits, labels, axis=axis, reduction=reduction, ignore_index=ignore_index, where=where)
    return a.run(_generalized_cross_entropy, q=q, axis=a.axis, ignore_index=ignore_index)


def _generalized_cross_entropy(a: Prepared, logits: Array, labels: Array, *, q: Any, axis: int,
                               ignore_index: int | None) -> Any:
    ops, xp = a.ops, a.xp
    lab = _Labels(ops, labels, logits.shape[axis], ignore_index, a.where, axis)
    lp = _gather(ops, ops.log_softmax(_masked_logits(ops, logits, a.where), axis=axis), lab.safe, axis)
    out = lab.finish(ops, -xp.expm1(q * lp) / q)  # 1 - p_y**q without cancellation
    return _mean(out, lab.weights(ops, out.dtype) if lab.ignoring else None)
