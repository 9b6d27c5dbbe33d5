"""Classification losses: binary, multiclass, focal, margin and Poly-1.

Two layouts:

* **Binary / elementwise** (:func:`binary_cross_entropy`,
  :func:`binary_cross_entropy_with_logits`, :func:`binary_focal`,
  :func:`hinge`, :func:`squared_hinge`): ``pred`` and ``target`` have equal
  shapes and ``reduction="none"`` returns one value per element.
* **Multiclass** (:func:`cross_entropy`, :func:`nll`, :func:`focal`,
  :func:`multiclass_hinge`, :func:`poly1`): scores with a class axis ``axis``
  (default ``-1``, the last) and integer class labels with the scores' shape
  without that axis (``[N]`` for ``[N, C]`` scores). ``reduction="none"``
  returns one value per sample, the labels' shape. **torch puts the classes on
  axis 1**: for its ``[N, C, d1, ...]`` layout pass ``axis=1``.

Class labels out of ``[0, C)`` (and not equal to ``ignore_index``) are a
``ValueError`` where the values can be read without a device synchronisation
or breaking tracing: NumPy, array-api-strict and torch CPU tensors outside
``torch.compile``. Elsewhere (JAX, Dask, CuPy, torch under ``torch.compile``)
such a sample's loss is NaN, so the mean is NaN rather than silently wrong.
On torch CUDA tensors the losses that run torch's own kernel
(:func:`cross_entropy` and :func:`nll` with labels, Weston-Watkins
:func:`multiclass_hinge`) get its device-side assert, the others NaN: no
check costs a host synchronisation.

See the user guide (README, "Conventions") for what ``reduction`` does and how
dtypes are handled.
"""

from __future__ import annotations

import math

import array_api_compat

from ._common import (
    as_float_pred,
    cast_to,
    check_choice,
    check_number,
    check_reduction,
    compute_dtype,
    native_loss,
    no_plan,
    planned,
    reduce,
    run_native,
    setup,
)
from .backends import resolve

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "nll",
    "binary_focal",
    "focal",
    "hinge",
    "squared_hinge",
    "multiclass_hinge",
    "poly1",
]

_LOG_FLOOR = -100.0  # torch's floor for each log in binary_cross_entropy


# --- argument checks ----------------------------------------------------------


def _check_axis(loss, axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{loss}: axis must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{loss}: axis {axis} is out of range for scores with {ndim} dimension(s)")
    return axis % ndim


def _check_ignore_index(loss, ignore_index):
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
        raise TypeError(f"{loss}: ignore_index must be an int or None, got {type(ignore_index).__name__}")


def _check_array(loss, name, x):
    if x is not None and not hasattr(x, "dtype"):
        raise TypeError(f"{loss}: {name} must be an array, got {type(x).__name__}")


def _broadcasts_to(loss, name, x, shape, pred_name):
    """``x``'s shape broadcasts to ``shape`` without growing it (as torch's weights)."""
    xs = tuple(x.shape)
    ok = len(xs) <= len(shape) and all(a in (1, b) for a, b in zip(xs[::-1], shape[::-1]))
    if not ok:
        raise ValueError(f"{loss}: {name} has shape {xs}, which does not broadcast to "
                         f"{pred_name}'s shape {tuple(shape)}")


def _multiclass_setup(loss, scores, target, axis, reduction, *, probs=False, extra=(), names=("logits", "target")):
    """Validate scores and labels (or, with ``probs=True``, probability targets).

    Returns ``(ops, out_dtype, scores, target, axis, is_probs)``; scores (and
    probability targets) are in the compute dtype, labels untouched.
    """
    check_reduction(loss, reduction)
    _check_array(loss, names[1], target)
    ops = resolve(loss, scores, target, *extra)
    xp = ops.xp
    as_float_pred(loss, ops, scores, names[0])
    if scores.ndim == 0:
        raise ValueError(f"{loss}: {names[0]} must have a class axis, got a 0-d array")
    axis = _check_axis(loss, axis, scores.ndim)
    out_dtype = scores.dtype
    cdt = compute_dtype(ops, out_dtype)
    if scores.dtype != cdt:
        scores = xp.astype(scores, cdt)
    shape = tuple(scores.shape)
    sample_shape = shape[:axis] + shape[axis + 1:]
    tshape = tuple(target.shape)
    tkind = ops.kind(target.dtype)
    is_float = tkind == "f"
    if tkind == "i":
        if tshape != sample_shape:
            raise ValueError(
                f"{loss}: {names[0]} has shape {tuple(scores.shape)} (classes on axis {axis}) but the integer "
                f"class labels in {names[1]} have shape {tshape}; they must have shape {sample_shape}"
                + (f", or {names[1]} must hold probabilities of shape {tuple(scores.shape)}" if probs else "")
            )
        return ops, out_dtype, scores, target, axis, False
    if probs and is_float:
        if tshape != tuple(scores.shape):
            if tshape == sample_shape:
                raise TypeError(f"{loss}: {names[1]} of shape {tshape} has dtype {target.dtype}: class labels "
                                f"must be integers (probability targets have the shape of {names[0]})")
            raise ValueError(
                f"{loss}: {names[0]} has shape {tuple(scores.shape)} but {names[1]} has shape {tshape}; "
                f"probability targets must have the shape of {names[0]}, integer class labels shape {sample_shape}"
            )
        return ops, out_dtype, scores, cast_to(loss, ops, target, cdt, names[1]), axis, True
    kinds = "integer class labels or floating class probabilities" if probs else "integer class labels"
    raise TypeError(f"{loss}: {names[1]} must hold {kinds}, got dtype {target.dtype}")


def _class_weight(loss, ops, w, num_classes, dtype, name="weight"):
    if w is None:
        return None
    if tuple(w.shape) != (num_classes,):
        raise ValueError(f"{loss}: {name} must have shape ({num_classes},), one value per class, "
                         f"got shape {tuple(w.shape)}")
    if ops.kind(w.dtype) not in ("f", "i"):
        raise TypeError(f"{loss}: {name} must be a real array, got dtype {w.dtype}")
    return cast_to(loss, ops, w, dtype, name)


def _values_readable(ops, x):
    """Whether checking ``x``'s values is free of tracing and device syncs."""
    if ops.name in ("numpy", "array_api_strict"):
        return True
    if ops.name == "torch":
        import torch

        return x.device.type == "cpu" and not torch.compiler.is_compiling()
    return False


def _check_label_values(loss, ops, labels, num_classes, ignore_index):
    no_plan()  # reads values: a call plan would skip this
    if not _values_readable(ops, labels) or math.prod(labels.shape) == 0:
        return
    xp = ops.xp
    try:  # two reductions decide the common case
        if int(xp.min(labels)) >= 0 and int(xp.max(labels)) < num_classes:
            return
    except RuntimeError:  # torch.func.vmap: values cannot be read; torch's kernel still checks them
        return
    bad = (labels < 0) | (labels >= num_classes)
    if ignore_index is not None:
        bad = bad & (labels != ignore_index)
    if bool(xp.any(bad)):
        vals = xp.where(bad, labels, 0)
        hi, lo = int(xp.max(vals)), int(xp.min(vals))
        v = hi if hi >= num_classes else lo
        also = "" if ignore_index is None else f" and is not ignore_index={ignore_index}"
        raise ValueError(f"{loss}: target contains class label {v}, which is outside [0, {num_classes}){also}")


def _native_on_labels(loss, ops, dt, labels, num_classes, ignore_index, /, *args, **kwargs):
    """The backend's fused kernel for a loss of integer labels, or None.

    Labels are checked first wherever their values are readable, except on
    torch, whose kernels check them on the CPU themselves (IndexError /
    RuntimeError): that saves two reductions and a host read per call, and
    the kernel's error becomes the same ValueError naming the label.
    """
    fn = ops.native_losses.get(loss)
    if fn is None or ops.name != "torch":
        _check_label_values(loss, ops, labels, num_classes, ignore_index)
        return native_loss(ops, loss, dt, *args, **kwargs)
    try:
        return run_native(ops, loss, fn, dt, args, kwargs)
    except (IndexError, RuntimeError):
        _check_label_values(loss, ops, labels, num_classes, ignore_index)
        raise


# --- shared multiclass pieces ---------------------------------------------------


def _gather(ops, x, labels, axis):
    """``x`` at ``labels`` along ``axis`` (one value per sample, no one-hot)."""
    xp = ops.xp
    return xp.squeeze(ops.take_along_axis(x, xp.expand_dims(labels, axis=axis), axis=axis), axis=axis)


class _Labels:
    """Masks for integer labels: ``keep`` (counted), ``valid`` (in range or
    ignored) and ``safe`` (labels with every non-kept one replaced by 0, so a
    gather never reads out of bounds)."""

    def __init__(self, ops, labels, num_classes, ignore_index):
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

    def finish(self, ops, loss):
        """Zero at ignored samples, NaN at out-of-range labels (see module doc)."""
        xp = ops.xp
        if self.ignoring:
            loss = xp.where(self.keep, loss, 0.0)
        return xp.where(self.valid, loss, math.nan)

    def count(self, ops, dtype):
        return ops.xp.sum(ops.xp.astype(self.keep, dtype))


def _class_values(ops, w, safe):
    """``w[labels]`` for a per-class vector ``w``."""
    xp = ops.xp
    return xp.reshape(xp.take(w, xp.reshape(safe, (-1,)), axis=0), tuple(safe.shape))


def _along(ops, w, axis, ndim):
    """A per-class vector shaped to broadcast along ``axis``."""
    shape = [1] * ndim
    shape[axis] = w.shape[0]
    return ops.xp.reshape(w, tuple(shape))


def _ce_from_labels(ops, nll_y, smooth_terms, weight, smoothing, lab):
    """Per-sample torch cross-entropy, masked, and the mean's denominator
    (None for a plain mean). Returns (loss, denom, wy).

    ``nll_y`` is ``-log p[y]`` at the safe labels; ``smooth_terms()`` gives
    ``1/C * sum_c w[c] * (-log p[c])`` per sample and is called only when
    ``smoothing > 0``.
    """
    xp = ops.xp
    wy = None if weight is None else _class_values(ops, weight, lab.safe)
    loss = nll_y if wy is None else wy * nll_y
    if smoothing > 0.0:
        # torch: (1 - eps) * w[y] * nll + eps / C * sum_c w_c * (-log p_c)
        loss = (1.0 - smoothing) * loss + smoothing * smooth_terms()
    loss = lab.finish(ops, loss)
    if wy is not None:
        denom = xp.sum(xp.where(lab.keep, wy, 0.0))  # torch: sum of the non-ignored targets' weights
    elif lab.ignoring:
        denom = lab.count(ops, loss.dtype)
    else:
        denom = None
    return loss, denom, wy


def _mean_neg_logp(ops, logp, axis, weight):
    """``1/C * sum_c w[c] * (-log p[c])`` per sample, the smoothing term."""
    wl = logp if weight is None else logp * _along(ops, weight, axis, logp.ndim)
    return -ops.xp.sum(wl, axis=axis) / logp.shape[axis]


def _smoothed(target, smoothing, num_classes):
    return target if smoothing == 0.0 else target * (1.0 - smoothing) + smoothing / num_classes


def _ce_from_probs(ops, logp, target, axis, weight, smoothing):
    t = _smoothed(target, smoothing, logp.shape[axis])
    prod = t * logp if weight is None else t * logp * _along(ops, weight, axis, logp.ndim)
    return -ops.xp.sum(prod, axis=axis)


def _multiclass_options(loss, weight, ignore_index, label_smoothing, weight_name="weight"):
    _check_array(loss, weight_name, weight)
    _check_ignore_index(loss, ignore_index)
    return check_number(loss, "label_smoothing", label_smoothing, low=0.0, high=1.0)


def _prepare_ce(loss, logits, target, axis, weight, ignore_index, label_smoothing, reduction):
    eps = _multiclass_options(loss, weight, ignore_index, label_smoothing)
    ops, dt, logits, target, axis, probs = _multiclass_setup(loss, logits, target, axis, reduction, probs=True,
                                                             extra=(weight,))
    weight = _class_weight(loss, ops, weight, logits.shape[axis], logits.dtype)
    if probs and ignore_index is not None:
        raise ValueError(f"{loss}: ignore_index applies to integer class labels only; target holds probabilities")
    return eps, ops, dt, logits, target, axis, probs, weight


# --- binary ---------------------------------------------------------------------


def _binary_weights(loss, ops, pred, dtype, pred_name, **weights):
    out = []
    for name, w in weights.items():
        _check_array(loss, name, w)
        if w is None:
            out.append(None)
            continue
        _broadcasts_to(loss, name, w, tuple(pred.shape), pred_name)
        out.append(cast_to(loss, ops, w, dtype, name))
    return out


def _clamped_log(ops, p):
    """``max(log(p), -100)`` with finite gradients.

    Where the log is clamped, and where 1/p would overflow (subnormal p), the
    value keeps torch's clamp but the gradient is 0, the derivative of the
    clamped curve; the "double where" keeps log away from 0 so no inf * 0.
    """
    xp = ops.xp
    pos = p > 0
    grad_ok = p >= xp.finfo(p.dtype).smallest_normal
    safe = xp.where(grad_ok, p, ops.stop_gradient(xp.where(pos, p, 1.0)))
    return xp.where(pos, xp.maximum(xp.log(safe), _LOG_FLOOR), _LOG_FLOOR)


def _clamped_log1m(ops, p):
    """``max(log1p(-p), -100)``; 1 - p is never subnormal for p <= 1, so only
    p == 1 needs the double where."""
    xp = ops.xp
    below = p < 1
    return xp.where(below, xp.maximum(xp.log1p(-xp.where(below, p, 0.0)), _LOG_FLOOR), _LOG_FLOOR)


@planned
def binary_cross_entropy(probs, target, /, *, weight=None, reduction="mean"):
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
    loss_name = "binary_cross_entropy"
    _check_array(loss_name, "weight", weight)
    ops, dt, p, t = setup(loss_name, probs, target, names=("probs", "target"), reduction=reduction)
    resolve(loss_name, p, weight)
    (w,) = _binary_weights(loss_name, ops, p, p.dtype, "probs", weight=weight)
    try:
        fast = native_loss(ops, loss_name, dt, p, t, reduction, weight=w)
    except RuntimeError as e:  # torch's kernel checks the range (on CPU; CUDA asserts)
        if "between 0 and 1" in str(e):
            raise ValueError(f"{loss_name}: probs must hold probabilities in [0, 1]; "
                             "pass logits to binary_cross_entropy_with_logits") from None
        raise
    if fast is not None:
        return fast
    xp = ops.xp
    loss = -(t * _clamped_log(ops, p) + (1.0 - t) * _clamped_log1m(ops, p))
    loss = xp.where((p >= 0) & (p <= 1), loss, math.nan)  # no value checks under tracing: NaN marks them
    if w is not None:
        loss = w * loss
    return reduce(ops, loss, reduction, dt)


@planned
def binary_cross_entropy_with_logits(logits, target, /, *, weight=None, pos_weight=None, reduction="mean"):
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
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar, or an array of ``logits``' shape for "none".

    Example:
      >>> import numpy as np, lossapi
      >>> x, y = np.array([2.2, -2.2, 1.38]), np.array([1.0, 0.0, 1.0])
      >>> round(float(lossapi.binary_cross_entropy_with_logits(x, y)), 4)
      0.1449
    """
    loss_name = "binary_cross_entropy_with_logits"
    ops, dt, x, t = setup(loss_name, logits, target, names=("logits", "target"), reduction=reduction)
    resolve(loss_name, x, weight, pos_weight)
    w, pw = _binary_weights(loss_name, ops, x, x.dtype, "logits", weight=weight, pos_weight=pos_weight)
    fast = native_loss(ops, loss_name, dt, x, t, reduction, weight=w, pos_weight=pw)
    if fast is not None:
        return fast
    # Two softplus terms (never x - log_sigmoid(x)): no cancellation for x << 0.
    pos = t * ops.softplus(-x)
    if pw is not None:
        pos = pw * pos
    loss = pos + (1.0 - t) * ops.softplus(x)
    if w is not None:
        loss = w * loss
    return reduce(ops, loss, reduction, dt)


def binary_focal(logits, target, /, *, gamma=2.0, alpha=None, reduction="mean"):
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
    loss_name = "binary_focal"
    gamma = check_number(loss_name, "gamma", gamma, low=0.0)
    if alpha is not None:
        alpha = check_number(loss_name, "alpha", alpha, low=0.0, high=1.0)
    ops, dt, x, t = setup(loss_name, logits, target, names=("logits", "target"), reduction=reduction)
    xp = ops.xp
    if gamma == 0.0 or _small_int(gamma):
        loss = _bce_logits_terms(ops, x, t)
        if gamma != 0.0:
            # 1 - p_t = t sigmoid(-x) + (1 - t) sigmoid(x): two non-negative
            # terms, no cancellation; an integer power has a finite
            # derivative everywhere.
            loss = (t * ops.sigmoid(-x) + (1.0 - t) * ops.sigmoid(x)) ** int(gamma) * loss
    else:
        nonneg = x >= 0
        s = xp.where(nonneg, x, -x)  # |x| with slope +1 at 0, so the gradient at x == 0 is sigmoid(0) - t
        e = xp.exp(-s)
        lg = xp.log1p(e)
        b = xp.where(nonneg, 1.0 - t, t)
        loss = lg + b * s  # = t * softplus(-x) + (1 - t) * softplus(x), no cancellation
        # 1 - p_t = (b + (1 - b) e) / (1 + e), in log space: the floor only
        # acts when b == 0 and e underflows, where the loss is 0 anyway, and
        # keeps log's gradient finite there (the power's is infinite at 0
        # for gamma < 1).
        u = xp.maximum(b + (1.0 - b) * e, xp.finfo(x.dtype).smallest_normal)
        loss = xp.exp(gamma * (xp.log(u) - lg)) * loss
    if alpha is not None:
        loss = ((1.0 - alpha) + (2.0 * alpha - 1.0) * t) * loss
    return reduce(ops, loss, reduction, dt)


def _bce_logits_terms(ops, x, t):
    """Elementwise ``t * softplus(-x) + (1 - t) * softplus(x)`` (the backend's
    fused kernel where it has one)."""
    fast = native_loss(ops, "binary_cross_entropy_with_logits", x.dtype, x, t, "none", weight=None, pos_weight=None)
    return fast if fast is not None else t * ops.softplus(-x) + (1.0 - t) * ops.softplus(x)


def _small_int(gamma):
    """Whether ``x ** gamma`` can be an integer power (1 to 8)."""
    return gamma == int(gamma) and 1 <= gamma <= 8


def _hinge_margin(loss_name, scores, target, reduction):
    ops, dt, s, t = setup(loss_name, scores, target, names=("scores", "target"), reduction=reduction)
    return ops, dt, ops.relu(1.0 - t * s)  # the kink at t * s == 1 gets subgradient 0 on every backend


def hinge(scores, target, /, *, reduction="mean"):
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
    ops, dt, h = _hinge_margin("hinge", scores, target, reduction)
    return reduce(ops, h, reduction, dt)


def squared_hinge(scores, target, /, *, reduction="mean"):
    """Squared hinge loss, ``max(0, 1 - t * s) ** 2``, targets in {-1, +1}.

    Targets are used as given, as in :func:`hinge` (convert {0, 1} labels with
    ``2 * t - 1``). Differentiable everywhere.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.squared_hinge(np.array([0.8, -0.3, 0.4]), np.array([1.0, -1.0, 1.0]))), 4)
      0.2967
    """
    ops, dt, h = _hinge_margin("squared_hinge", scores, target, reduction)
    return reduce(ops, h * h, reduction, dt)


# --- multiclass -----------------------------------------------------------------


@planned
def cross_entropy(logits, target, /, *, axis=-1, weight=None, ignore_index=None, label_smoothing=0.0,
                  reduction="mean"):
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
      reduction: "mean", "sum" or "none" (one value per sample).

    Returns:
      A scalar, or the per-sample losses (``logits``' shape without ``axis``).

    Example:
      >>> import numpy as np, lossapi
      >>> z = np.array([[1.0, 2.0, 0.5], [0.2, 0.1, 1.5]])
      >>> round(float(lossapi.cross_entropy(z, np.array([1, 2]))), 4)
      0.4413
    """
    loss_name = "cross_entropy"
    eps, ops, dt, logits, target, axis, probs, w = _prepare_ce(loss_name, logits, target, axis, weight,
                                                               ignore_index, label_smoothing, reduction)
    if probs:
        fast = native_loss(ops, "cross_entropy_probs", dt, logits, target, reduction, axis=axis, weight=w,
                           label_smoothing=eps)
        if fast is not None:
            return fast
        logp = ops.log_softmax(logits, axis=axis)
        return reduce(ops, _ce_from_probs(ops, logp, target, axis, w, eps), reduction, dt)
    fast = _native_on_labels(loss_name, ops, dt, target, logits.shape[axis], ignore_index, logits, target, reduction,
                             axis=axis, weight=w, ignore_index=ignore_index, label_smoothing=eps)
    if fast is not None:
        return fast
    # -log p[y] = logsumexp(z) - z[y]: one reduction and one gather, no
    # (N, C) log-softmax unless label smoothing needs every class.
    lab = _Labels(ops, target, logits.shape[axis], ignore_index)
    lse = ops.logsumexp(logits, axis=axis)
    nll_y = lse - _gather(ops, logits, lab.safe, axis)
    loss, denom, _ = _ce_from_labels(
        ops, nll_y, lambda: _mean_neg_logp(ops, logits - ops.xp.expand_dims(lse, axis=axis), axis, w), w, eps, lab)
    return reduce(ops, loss, reduction, dt, weights_sum=denom)


@planned
def nll(log_probs, target, /, *, axis=-1, weight=None, ignore_index=None, reduction="mean"):
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
    loss_name = "nll"
    _multiclass_options(loss_name, weight, ignore_index, 0.0)
    ops, dt, logp, target, axis, _ = _multiclass_setup(loss_name, log_probs, target, axis, reduction,
                                                       extra=(weight,), names=("log_probs", "target"))
    w = _class_weight(loss_name, ops, weight, logp.shape[axis], logp.dtype)
    fast = _native_on_labels(loss_name, ops, dt, target, logp.shape[axis], ignore_index, logp, target, reduction,
                             axis=axis, weight=w, ignore_index=ignore_index)
    if fast is not None:
        return fast
    lab = _Labels(ops, target, logp.shape[axis], ignore_index)
    loss, denom, _ = _ce_from_labels(ops, -_gather(ops, logp, lab.safe, axis), None, w, 0.0, lab)
    return reduce(ops, loss, reduction, dt, weights_sum=denom)


def _log1mexp(ops, a):
    """``log(1 - exp(a))`` for ``a <= 0``, finite gradients.

    Mächler's switch: ``log(-expm1(a))`` above ``-log 2``, ``log1p(-exp(a))``
    below; each branch sees a safe input ("double where"). Where ``a`` is 0 or
    within the smallest normal of it (``1 - exp(a)`` rounds to 0, or its
    reciprocal would overflow) the result is ``-inf`` with zero gradient.
    """
    xp = ops.xp
    live = a < -xp.finfo(a.dtype).smallest_normal
    near = a > -math.log(2.0)
    a_near = xp.where(live & near, a, -0.5)
    a_far = xp.where(near, -1.0, a)
    out = xp.where(near, xp.log(-xp.expm1(a_near)), xp.log1p(-xp.exp(a_far)))
    return xp.where(live, out, -math.inf)


def focal(logits, target, /, *, gamma=2.0, alpha=None, axis=-1, ignore_index=None, reduction="mean"):
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
    loss_name = "focal"
    gamma = check_number(loss_name, "gamma", gamma, low=0.0)
    _multiclass_options(loss_name, alpha, ignore_index, 0.0, "alpha")
    ops, dt, logits, target, axis, _ = _multiclass_setup(loss_name, logits, target, axis, reduction, extra=(alpha,))
    xp = ops.xp
    num_classes = logits.shape[axis]
    alpha = _class_weight(loss_name, ops, alpha, num_classes, logits.dtype, "alpha")
    _check_label_values(loss_name, ops, target, num_classes, ignore_index)
    lab = _Labels(ops, target, num_classes, ignore_index)
    lp = _gather(ops, ops.log_softmax(logits, axis=axis), lab.safe, axis)
    if gamma == 0.0:
        loss = -lp
    elif _small_int(gamma):
        loss = -((-xp.expm1(lp)) ** int(gamma)) * lp  # 1 - p_y without cancellation; finite derivative
    else:
        loss = -xp.exp(gamma * _log1mexp(ops, lp)) * lp
    if alpha is not None:
        loss = _class_values(ops, alpha, lab.safe) * loss
    loss = lab.finish(ops, loss)
    return reduce(ops, loss, reduction, dt, weights_sum=lab.count(ops, loss.dtype) if lab.ignoring else None)


_FORMS = ("crammer_singer", "weston_watkins")


@planned
def multiclass_hinge(scores, target, /, *, margin=1.0, form="crammer_singer", axis=-1, reduction="mean"):
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

    Args:
      scores: raw scores, floating, classes on ``axis``.
      target: integer labels, ``scores``' shape without ``axis``.
      margin: required margin, >= 0.
      form: "crammer_singer" or "weston_watkins".
      axis: the class axis.
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
    """
    loss_name = "multiclass_hinge"
    margin = check_number(loss_name, "margin", margin, low=0.0)
    check_choice(loss_name, "form", form, _FORMS)
    ops, dt, s, target, axis, _ = _multiclass_setup(loss_name, scores, target, axis, reduction,
                                                    names=("scores", "target"))
    xp = ops.xp
    num_classes = s.shape[axis]
    if form == "weston_watkins":
        fast = _native_on_labels(loss_name, ops, dt, target, num_classes, None, s, target, reduction, axis=axis,
                                 margin=margin)
        if fast is not None:
            return fast
    else:
        _check_label_values(loss_name, ops, target, num_classes, None)
    lab = _Labels(ops, target, num_classes, None)
    sy = xp.expand_dims(_gather(ops, s, lab.safe, axis), axis=axis)
    if form == "weston_watkins":
        d = (s - sy) + margin  # exactly `margin` at j == y, whose term (margin) is removed below
        loss = xp.sum(ops.relu(d), axis=axis) - margin
    else:
        shape = [1] * s.ndim
        shape[axis] = num_classes
        classes = xp.reshape(xp.arange(num_classes, dtype=target.dtype, device=array_api_compat.device(target)),
                             tuple(shape))
        others = xp.where(classes == xp.expand_dims(lab.safe, axis=axis), -math.inf, s)
        loss = ops.relu(margin + xp.max(others, axis=axis) - xp.squeeze(sy, axis=axis))
    return reduce(ops, lab.finish(ops, loss), reduction, dt)


def poly1(logits, target, /, *, epsilon=1.0, axis=-1, weight=None, ignore_index=None, label_smoothing=0.0,
          reduction="mean"):
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
    loss_name = "poly1"
    epsilon = check_number(loss_name, "epsilon", epsilon, low=-1.0)
    eps, ops, dt, logits, target, axis, probs, w = _prepare_ce(loss_name, logits, target, axis, weight,
                                                               ignore_index, label_smoothing, reduction)
    if not probs:
        _check_label_values(loss_name, ops, target, logits.shape[axis], ignore_index)
    xp = ops.xp
    num_classes = logits.shape[axis]
    logp = ops.log_softmax(logits, axis=axis)
    if probs:
        ce = _ce_from_probs(ops, logp, target, axis, w, eps)
        pt = xp.sum(_smoothed(target, eps, num_classes) * xp.exp(logp), axis=axis)
        poly = 1.0 - pt
        if w is not None:
            poly = xp.sum(target * _along(ops, w, axis, logp.ndim), axis=axis) * poly
        return reduce(ops, ce + epsilon * poly, reduction, dt)
    lab = _Labels(ops, target, num_classes, ignore_index)
    logp_y = _gather(ops, logp, lab.safe, axis)
    ce, denom, wy = _ce_from_labels(ops, -logp_y, lambda: _mean_neg_logp(ops, logp, axis, w), w, eps, lab)
    poly = 1.0 - ((1.0 - eps) * xp.exp(logp_y) + eps / num_classes)
    if wy is not None:
        poly = wy * poly
    loss = ce + epsilon * lab.finish(ops, poly)
    return reduce(ops, loss, reduction, dt, weights_sum=denom)
