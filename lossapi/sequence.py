"""Sequence losses: alignment-free training of sequence models.

:func:`ctc` is the connectionist temporal classification loss (Graves et al.,
2006) with torch's semantics (``torch.nn.functional.ctc_loss``) in a
batch-first layout. Its forward recursion is written once, in log space,
against the ``scan`` primitive (a Python loop on most backends,
``jax.lax.scan`` on JAX, so ``jax.jit`` compiles it in a time independent of
the sequence length).

Numerics: log(0) (an unreachable state, a ``-inf`` log-probability) is
carried as a large *finite* negative number (the dtype's lowest value over
``4 (T + 1)``, so ``T + 1`` of them add up to a finite number) instead of
``-inf``, so no ``inf - inf`` appears in the recursion or its gradient; the
loss of a sample none of whose alignments is possible is reported as ``inf``
(or 0 with ``zero_infinity``) with zero gradient.
"""

from __future__ import annotations

import operator
from typing import Any

from ._core import validate as v
from ._core.loss import current, loss
from ._core.prepare import Prepared, masks, prepare
from ._core.types import Array, Reduction

__all__ = ["ctc"]


@loss
def ctc(log_probs: Array, labels: Array, input_lengths: Array, label_lengths: Array, /, *, blank: int = 0,
        zero_infinity: bool = False, where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Connectionist temporal classification loss (torch's ``ctc_loss``, batch first).

    Each sample's loss is ``-log p(labels[n, :label_lengths[n]] | x)``, the
    probability summed over every alignment of the label sequence to the
    first ``input_lengths[n]`` frames: a path of one class per frame that
    reads as the labels once repeated classes are merged and blanks removed
    (two equal consecutive labels need a blank between them).

    Args:
      log_probs: ``[N, T, C]`` floating array of per-frame log-probabilities
        (log-softmax outputs over the ``C`` classes, blank included), batch
        first. They are used as given (not normalised again).
      labels: ``[N, S]`` integer array of label sequences, padded to ``S``;
        values past ``label_lengths[n]`` are ignored.
      input_lengths: ``[N]`` integers in ``[0, T]``: frames used per sample.
      label_lengths: ``[N]`` integers in ``[0, S]``: labels per sample.
      blank: the blank class, in ``[0, C)``; labels within ``label_lengths``
        must be classes in ``[0, C)`` other than ``blank`` (a ``ValueError``
        where values can be read: NumPy, array-api-strict, torch on the CPU;
        torch itself does not check).
      zero_infinity: report impossible samples (``input_lengths[n]`` shorter
        than the labels plus the blanks their repeats need, or only
        zero-probability paths) as 0 instead of ``inf``.
      where: optional ``[N]`` boolean mask of the sequences that count (a
        masked one is 0 and leaves the mean; see README, "Conventions").
      reduction: "none" gives the ``[N]`` negative log-likelihoods; "mean"
        divides each by its label length (at least 1) and averages over the
        batch, as torch does; "sum" sums them.

    Returns:
      A scalar array, or shape ``[N]`` for "none".

    Gradients are those of the value: ``-`` the expected occupancy of each
    ``(frame, class)`` (torch's own kernel returns ``exp(log_probs)`` minus
    that, which equals it only once composed with ``log_softmax``; lossapi's
    torch kernel returns the derivative of the value, as every other backend).
    An impossible sample's gradient is 0. A negative value (only rounding
    gives one for normalised ``log_probs``; see optax issue #1771) is
    reported as 0 with zero gradient, also for ``log_probs`` that are not
    normalised (where torch returns it as it is). ``T = 0`` and ``N = 0``
    are allowed (torch's kernel rejects empty ``log_probs``).

    References:
      Graves, Fernández, Gomez, Schmidhuber, "Connectionist Temporal
      Classification: Labelling Unsegmented Sequence Data with Recurrent
      Neural Networks", ICML 2006.

    Example:
      >>> import numpy as np, lossapi
      >>> lp = np.log(np.full((1, 2, 2), 0.5))  # two frames, classes {blank, 1}
      >>> # alignments of [1]: (1, 1), (1, blank), (blank, 1): p = 3/4
      >>> round(float(lossapi.ctc(lp, np.array([[1]]), np.array([2]), np.array([1]))), 6)
      0.287682
    """
    zero_infinity = v.flag("zero_infinity", zero_infinity)
    a, blank = _prepare(log_probs, labels, input_lengths, label_lengths, blank, reduction, where)
    return a.run(_ctc, blank=blank, zero_infinity=zero_infinity)


# --- preparation --------------------------------------------------------------------


def _integer(ops: Any, x: Any, name: str, shape: tuple[int, ...], layout: str) -> None:
    if ops.kind(x.dtype) != "i":
        raise v.BadType(f"{name} must be an integer array, got dtype {x.dtype}")
    if tuple(x.shape) != shape:
        raise v.BadValue(f"{name} must have shape {layout} = {shape}, got shape {tuple(x.shape)}")


def _prepare(log_probs: Any, labels: Any, input_lengths: Any, label_lengths: Any, blank: Any,
             reduction: str, where: Any) -> tuple[Prepared, int]:
    names = current().params
    ints = (labels, input_lengths, label_lengths)
    for name, x in zip(names[1:], ints):
        v.array(name, x)
    # log_probs in the compute dtype; the integer arrays join the one-library check.
    a = prepare(log_probs, reduction=reduction, extra=(*ints, v.array_or_none("where", where)))
    ops, x = a.ops, a.arrays[0]
    if ops.adopts_numpy:  # NumPy arrays next to JAX / Dask arrays, taken as those libraries take them
        ints = tuple(ops.own(i) for i in ints)
    labels, input_lengths, label_lengths = ints
    if x.ndim != 3:
        raise v.BadValue(f"{names[0]} must have shape [N, T, C] (batch, time, classes), got shape {tuple(x.shape)}")
    n, t, c = (int(d) for d in x.shape)
    if ops.kind(labels.dtype) != "i":
        raise v.BadType(f"{names[1]} must be an integer array, got dtype {labels.dtype}")
    if labels.ndim != 2 or int(labels.shape[0]) != n:
        raise v.BadValue(f"{names[1]} must have shape [N, S] with N = {n} (the batch of {names[0]}), got shape "
                         f"{tuple(labels.shape)}")
    _integer(ops, input_lengths, names[2], (n,), "[N]")
    _integer(ops, label_lengths, names[3], (n,), "[N]")
    blank = _blank(blank, c)
    s = int(labels.shape[1])
    checks = (_lengths_check(input_lengths, label_lengths, t, s, names),
              _labels_check(labels, label_lengths, c, blank, names))
    keep = masks(ops, where, (n,))[1]  # one boolean per sequence (the lengths mask frames and labels)
    return a._replace(arrays=(x, labels, input_lengths, label_lengths), checks=checks, keep=keep), blank


def _blank(value: Any, num_classes: int) -> int:
    if isinstance(value, bool):
        raise v.BadType("blank must be an int, got bool")
    try:
        b = operator.index(value)
    except TypeError:
        raise v.BadType(f"blank must be an int, got {type(value).__name__}") from None
    if not 0 <= b < num_classes:
        raise v.BadValue(f"blank must be a class in [0, {num_classes}) (C, the last axis of log_probs), got {b}")
    return b


def _lengths_check(input_lengths: Any, label_lengths: Any, t: int, s: int, names: tuple[str, ...]) -> v.ValueCheck:
    """input_lengths in [0, T], label_lengths in [0, S]."""

    def run(ops: Any) -> None:
        xp = ops.xp
        for x, hi, name, what in ((input_lengths, t, names[2], "T, the time axis of " + names[0]),
                                  (label_lengths, s, names[3], "S, the label axis of " + names[1])):
            if not ops.values_readable(x) or int(x.shape[0]) == 0:
                continue
            try:
                lo_v, hi_v = int(xp.min(x)), int(xp.max(x))
            except RuntimeError:  # torch.func.vmap: values cannot be read
                return
            if lo_v < 0 or hi_v > hi:
                bad = lo_v if lo_v < 0 else hi_v
                raise v.BadValue(f"{name} contains {bad}, outside [0, {hi}] ({what})")

    return v.ValueCheck("lengths", run)


def _labels_check(labels: Any, label_lengths: Any, num_classes: int, blank: int,
                  names: tuple[str, ...]) -> v.ValueCheck:
    """Labels within label_lengths are classes in [0, C) other than blank
    (run after the lengths check)."""

    def run(ops: Any) -> None:
        if not ops.values_readable(labels) or not ops.values_readable(label_lengths):
            return
        n, s = (int(d) for d in labels.shape)
        if n == 0 or s == 0:
            return
        xp = ops.xp
        try:
            used = xp.arange(s)[None, :] < label_lengths[:, None]  # host arrays: the default device
            bad = used & ((labels < 0) | (labels >= num_classes) | (labels == blank))
            if not bool(xp.any(bad)):
                return
            i = int(xp.argmax(xp.astype(xp.reshape(bad, (-1,)), xp.int8)))
            row, col = divmod(i, s)
            value = int(labels[row, col])
        except RuntimeError:  # torch.func.vmap
            return
        where = f"at [{row}, {col}], within {names[3]}"
        if value == blank:
            raise v.BadValue(f"{names[1]} contains the blank class {blank} {where}; labels must be classes other "
                             "than blank")
        raise v.BadValue(f"{names[1]} contains class label {value} {where}, which is outside [0, {num_classes})")

    return v.ValueCheck("labels", run)


# --- the loss ----------------------------------------------------------------------------


def _index(xp: Any, x: Array) -> Array:
    """Integer array ``x`` in a dtype every backend indexes with."""
    return x if x.dtype == xp.int64 or x.dtype == xp.int32 else xp.astype(x, xp.int32)


def _ctc(a: Prepared, log_probs: Array, labels: Array, input_lengths: Array, label_lengths: Array, *,
         blank: int, zero_infinity: bool) -> Array:
    xp, ops = a.xp, a.ops
    dev = a.device
    dt = log_probs.dtype
    n, t, c = (int(d) for d in log_probs.shape)
    s = int(labels.shape[1])
    size = 2 * s + 1  # the extended sequence: blank, l1, blank, l2, ..., blank
    # log(0) stand-in: finite, and so small that T + 1 of them still are, so
    # alpha (a sum of at most T emissions on top of the start) never reaches
    # -inf and no step needs a clamp.
    neg = float(xp.finfo(dt).min) / (4.0 * (t + 1))
    ll = _index(xp, label_lengths)
    il = _index(xp, input_lengths)
    lab = _index(xp, labels)

    # Extended labels [N, 2S+1]; padding past label_lengths (any value)
    # becomes blank, so every gathered index is a class.
    used = xp.arange(s, dtype=lab.dtype, device=dev)[None, :] < xp.astype(ll, lab.dtype)[:, None]
    lab = xp.where(used, lab, xp.full_like(lab, blank))
    states = xp.arange(size, dtype=lab.dtype, device=dev)
    ext = xp.full((n, size), blank, dtype=lab.dtype, device=dev)
    if s > 0:  # odd positions 2k + 1 hold label k
        pick = xp.broadcast_to(xp.maximum(states - 1, xp.zeros_like(states))[None, :] // 2, (n, size))
        ext = xp.where(states % 2 == 1, ops.take_along_axis(lab, pick, axis=1), ext)
    # The skip s-2 -> s is allowed into a label that differs from the label
    # before it (never into a blank).
    if size > 2:
        differs = ext[:, 2:] != ext[:, :-2]
        skip = xp.concat([xp.zeros((n, 2), dtype=xp.bool, device=dev), differs], axis=1) & (ext != blank)
    else:
        skip = xp.zeros((n, size), dtype=xp.bool, device=dev)

    # Frames [T, N, C]; -inf log-probabilities become the stand-in (gradient
    # 0 there). Each step gathers its frame's emissions [N, 2S+1]: the
    # gradient then scatters one frame at a time, not one [N, T, 2S+1] block
    # at the end (2x faster forward+backward under XLA).
    frames = xp.permute_dims(xp.maximum(log_probs, xp.asarray(neg, dtype=dt, device=dev)), (1, 0, 2))
    live = xp.arange(t, dtype=il.dtype, device=dev)[:, None] < il[None, :]  # [T, N]: frame t is used

    neg1 = xp.full((n, 1), neg, dtype=dt, device=dev)
    w2 = min(2, size)
    neg2 = xp.full((n, w2), neg, dtype=dt, device=dev)
    floor = xp.full((n, size), neg, dtype=dt, device=dev)

    def step(alpha: Array, frame: tuple[Array, Array]) -> tuple[Array, None]:
        x, on = frame
        e = ops.take_along_axis(x, ext, axis=1)
        prev1 = xp.concat([neg1, alpha[:, : size - 1]], axis=1)
        prev2 = xp.where(skip, xp.concat([neg2, alpha[:, : size - w2]], axis=1), floor)
        # log(exp(alpha) + exp(prev1) + exp(prev2)) shifted by the
        # (gradient-free) largest: each exp <= 1, the sum >= 1.
        m = ops.stop_gradient(xp.maximum(alpha, xp.maximum(prev1, prev2)))
        new = m + xp.log(xp.exp(alpha - m) + xp.exp(prev1 - m) + xp.exp(prev2 - m)) + e
        return xp.where(on[:, None], new, alpha), None

    # Before the first frame: log 1 in state 0, log 0 elsewhere. The first
    # step then gives state 0 (stay) and state 1 (advance) their first
    # emission, the two starts of an alignment, with the same recursion.
    alpha0 = xp.concat([xp.zeros((n, 1), dtype=dt, device=dev), floor[:, 1:]], axis=1)
    alpha, _ = ops.scan(step, alpha0, (frames, live))

    # An alignment ends in the last label or the blank after it.
    end = 2 * xp.astype(ll, lab.dtype)[:, None]
    final = (states[None, :] == end) | (states[None, :] == end - 1)
    log_p = ops.logsumexp(xp.where(final, alpha, floor), axis=1)
    impossible = log_p < 0.5 * neg  # a stand-in on every path
    nll = -log_p
    nll = xp.where(nll < 0, xp.zeros_like(nll), nll)  # rounding (optax issue #1771)
    out = xp.where(impossible, xp.full_like(nll, 0.0 if zero_infinity else float("inf")), nll)
    if a.reduction == "mean":  # torch: each loss over its label length, then the batch mean
        out = out / xp.maximum(xp.astype(ll, dt), xp.ones_like(out))
    return out
