"""Ranking losses: learn a scoring function that orders items by relevance.

Pairwise: :func:`margin_ranking` (two score arrays and a preference label)
and :func:`ranknet` (every ordered pair inside a list). Listwise:
:func:`listnet`, :func:`listmle` and :func:`approx_ndcg`.

The listwise and list-pairwise losses take ``scores`` and ``relevance`` of
equal shape; the lists lie along ``axis`` (the last one by default), so a
batch of queries is ``[num_queries, list_size]``. ``reduction="none"`` returns
one value per list (the input shape without ``axis``); "mean" averages over
all lists, empty ones included.

**Padding.** Lists of unequal length are padded to one size: a position
where ``where=`` is False, or whose relevance is negative (or NaN), is
padding (negative relevance keeps meaning padding, so existing padded data
needs no mask; ``where=`` is optax's and Rax's way). A ``where=`` of the
per-list shape drops whole lists; with ``where=``, "mean" averages over the
lists that have a position left. Padding never changes the
loss of the real items, a list with no real items has loss 0, and the masks
are built with ``where``, so padded batches run under ``jax.jit`` and
``jax.vmap`` (no boolean indexing, no data-dependent shapes).

See the user guide (README, "Conventions") for reductions and dtypes.
"""

from __future__ import annotations

import math
from typing import Any

from ._core import numerics
from ._core import validate as v
from ._core.loss import loss
from ._core.prepare import Prepared, float_array, prepare
from ._core.types import Array, Reduction

__all__ = [
    "margin_ranking",
    "ranknet",
    "listnet",
    "listmle",
    "approx_ndcg",
]

_LN2 = math.log(2.0)


def _lists(scores: Array, relevance: Array, axis: Any, reduction: str, where: Any) -> tuple[Prepared, int]:
    """Validate and cast scores and relevance; the list axis, normalised."""
    if v.is_array(scores) and scores.ndim == 0:
        prepare(scores, relevance, reduction=reduction)  # type and shape errors first
        try:
            v.axis(axis, 1, "scores")  # a bad type is a TypeError first
        except v.BadValue:
            pass
        raise v.BadValue("scores must have at least one dimension (the list axis), got a 0-d array")
    a = prepare(scores, relevance, reduction=reduction, where=where, axis=axis, what="scores")
    assert a.axis is not None
    return a, a.axis


def _last(a: Prepared, s: Array, r: Array, axis: int) -> tuple[Array, Array, Array]:
    """Scores and relevance with the list axis last, padded scores replaced
    by 0, and the real-item mask."""
    xp = a.xp
    mask = a.where
    if axis != s.ndim - 1:
        s = xp.moveaxis(s, axis, -1)
        r = xp.moveaxis(r, axis, -1)
        mask = None if mask is None else xp.moveaxis(mask, axis, -1)
    if mask is not None:  # where=False is padding, as negative relevance is
        r = xp.where(mask, r, xp.full_like(r, -1.0))
    # Negative or NaN relevance marks padding (NaN >= 0 is False). Padded
    # scores are replaced by 0, so junk there (inf, NaN) reaches no value and
    # no gradient.
    valid = r >= 0
    return xp.where(valid, s, xp.zeros_like(s)), r, valid


def _reverse_cumulative_logsumexp(ops: Any, x: Array, valid: Array) -> tuple[Array, Array]:
    """Reverse cumulative log-sum-exp over the real items (last axis).

    Returns ``(m, log_c)`` with ``m + log_c = log(sum_{real j >= i} exp(x_j))``
    at each position ``i``. Callers subtract a score from ``m`` first:
    ``(m - s) + log_c`` keeps the digits that ``(m + log_c) - s`` loses when
    both are large.

    A doubling (Hillis-Steele) scan over pairs ``(m, c)`` that stand for
    ``m + log(c)``: combining two windows shifts both by the larger ``m``, so
    every exp is <= 1 and the window's largest term contributes exp(0) * c >= 1.
    Hence ``c >= 1`` wherever a real item is in the window and the log is
    finite for any finite scores, however far apart (the single "subtract the
    list max, reverse cumsum, log" pass underflows to log(0) once a list's
    scores span more than ~88 in float32). Padding is the pair
    ``(lowest finite, 0)``, an exact identity of the combine, so padded and
    unpadded lists give the same values. log2(n) steps of elementwise work.
    """
    xp = ops.xp
    n = x.shape[-1]
    lowest = xp.finfo(x.dtype).min
    m = xp.where(valid, x, xp.full_like(x, lowest))
    c = xp.where(valid, xp.ones_like(x), xp.zeros_like(x))
    d = 1
    while d < n:
        m_next = xp.concat([m[..., d:], xp.full_like(m[..., :d], lowest)], axis=-1)
        c_next = xp.concat([c[..., d:], xp.zeros_like(c[..., :d])], axis=-1)
        # The shift cancels exactly in m + log(c), so it needs no gradient;
        # all of the gradient flows through c.
        top = ops.stop_gradient(xp.maximum(m, m_next))
        c = c * xp.exp(m - top) + c_next * xp.exp(m_next - top)
        m = top
        d *= 2
    c = xp.where(valid, c, xp.ones_like(c))  # padded positions: finite junk, masked by callers
    return m, xp.log(c)


@loss
def margin_ranking(s1: Array, s2: Array, target: Array, /, *, margin: float = 0.0,
                   where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Margin ranking loss, ``max(0, -target * (s1 - s2) + margin)``.

    ``target == 1`` means ``s1`` should score higher than ``s2`` by at least
    ``margin``; ``target == -1`` the reverse. Values follow
    ``torch.nn.functional.margin_ranking_loss``. Target values other than
    +-1 are not checked (a value check would break ``jax.jit``); they are used
    as they are, as torch does.

    At the kink (``-target * (s1 - s2) + margin == 0``) the gradient is that
    of the linear piece (``-target`` for ``s1``), as torch 2.13's ``clamp_min``
    gives (torch 2.14 gives 0), on every backend; a NaN score gives a NaN loss, as in torch.

    Args:
      s1: scores of the first items, floating array of any shape.
      s2: scores of the second items, floating, same shape as ``s1``.
      target: +1 or -1 per pair (any real or integer dtype), same shape.
      margin: the required score gap (any real number; default 0).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or an array of ``s1``'s shape for "none".

    Example:
      >>> import numpy as np, lossapi
      >>> s1, s2 = np.array([0.8, 0.2, 0.5]), np.array([0.4, 0.6, 0.3])
      >>> round(float(lossapi.margin_ranking(s1, s2, np.array([1.0, 1.0, -1.0]), margin=0.2)), 4)
      0.3333
    """
    margin = v.number("margin", margin)
    a = prepare(s1, s2, target, reduction=reduction, where=where)
    float_array(a.ops, s2, "s2")
    return a.run(_margin_ranking, margin=margin)


def _margin_ranking(a: Prepared, s1: Array, s2: Array, y: Array, *, margin: float) -> Array:
    # max(0, v) with the linear piece's gradient at the kink (the "slope"
    # rule, torch's clamp_min up to 2.13), 0 at v == -inf, NaN kept.
    return numerics.hinge(a.ops, margin - y * (s1 - s2), at_kink="slope")


@loss
def ranknet(scores: Array, relevance: Array, /, *, axis: int | tuple[int, ...] = -1, where: Array | None = None,
            reduction: Reduction = "mean") -> Array:
    """RankNet pairwise logistic loss, averaged over the ordered pairs of a list.

    For every pair of real items with ``relevance[i] > relevance[j]`` the loss
    is ``-log sigmoid(s_i - s_j) = softplus(-(s_i - s_j))``, RankNet's cross
    entropy with target probability 1. A list's loss is the mean over such
    pairs; a list without one (all relevances equal, or fewer than two real
    items) has loss 0. Tied pairs are left out (RankNet's target 1/2 for
    ties is not used), as in most learning-to-rank libraries.

    Memory is ``O(list_size**2)`` per list (all pairs are formed at once).

    Args:
      scores: predicted scores, floating array ``[..., list_size]``.
      relevance: graded relevance, same shape (any real or integer dtype);
        negative values mark padding.
      axis: the axis holding the lists.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per list for "none".

    References:
      Burges et al., "Learning to Rank using Gradient Descent", ICML 2005.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 5.0]])
      >>> r = np.array([[2, 1, -1], [1, 0, -1]])  # -1: padding
      >>> np.round(lossapi.ranknet(s, r, reduction="none"), 4)
      array([0.3133, 1.3133])
    """
    a, axis = _lists(scores, relevance, axis, reduction, where)
    return a.run(_ranknet, axis=axis)


def _ranknet(a: Prepared, scores: Array, relevance: Array, *, axis: int) -> Array:
    ops, xp = a.ops, a.xp
    s, r, valid = _last(a, scores, relevance, axis)
    # [..., i, j]: pair (i, j) counts when item i is more relevant than item j
    # and both are real (rel_i > rel_j >= 0).
    pair = (xp.expand_dims(r, axis=-1) > xp.expand_dims(r, axis=-2)) & xp.expand_dims(valid, axis=-2)
    per_pair = ops.softplus(xp.expand_dims(s, axis=-2) - xp.expand_dims(s, axis=-1))
    total = xp.sum(xp.where(pair, per_pair, xp.zeros_like(per_pair)), axis=(-2, -1))
    count = xp.sum(xp.astype(pair, s.dtype), axis=(-2, -1))
    return total / xp.where(count > 0, count, xp.ones_like(count))


@loss
def listnet(scores: Array, relevance: Array, /, *, axis: int | tuple[int, ...] = -1, where: Array | None = None,
            reduction: Reduction = "mean") -> Array:
    """ListNet top-one loss: cross entropy between two softmaxes of a list.

    ``-sum_i softmax(relevance)_i * log softmax(scores)_i`` over the real
    items of each list: the top-one probabilities of the Plackett-Luce model
    under the relevance (target) and under the scores (model). Computed in
    log space (two log-sum-exps), finite for any finite scores.

    Args:
      scores: predicted scores, floating array ``[..., list_size]``.
      relevance: relevance values, same shape (any real or integer dtype);
        negative values mark padding.
      axis: the axis holding the lists.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per list for "none".

    References:
      Cao, Qin, Liu, Tsai & Li, "Learning to Rank: From Pairwise Approach to
      Listwise Approach", ICML 2007.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[1.0, 0.0, 0.0], [3.0, 1.0, 7.0]])
      >>> r = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])  # -1: padding
      >>> np.round(lossapi.listnet(s, r, reduction="none"), 4)
      array([0.9753, 1.1269])
    """
    a, axis = _lists(scores, relevance, axis, reduction, where)
    return a.run(_listnet, axis=axis)


def _listnet(a: Prepared, scores: Array, relevance: Array, *, axis: int) -> Array:
    ops, xp = a.ops, a.xp
    s, r, valid = _last(a, scores, relevance, axis)
    # Padding enters both log-sum-exps as half the lowest finite value: exp
    # of it is 0 against any real item, and lse - pad stays finite (lowest
    # itself would overflow it for scores above ~1e31 in float32).
    pad = xp.full_like(s, xp.finfo(s.dtype).min / 2)
    s_pad = xp.where(valid, s, pad)
    r_pad = xp.where(valid, r, pad)
    lse_s = ops.logsumexp(s_pad, axis=-1, keepdims=True)
    lse_r = ops.logsumexp(r_pad, axis=-1, keepdims=True)
    # -sum_i p_i log q_i with p_i = exp(r_i - lse_r) (0 on padding) and
    # -log q_i = lse_s - s_i: two log-sum-exps and one fused sum, no
    # (list, items) log-softmax arrays kept.
    loss = xp.sum(xp.exp(r_pad - lse_r) * (lse_s - s_pad), axis=-1)
    # A real item has relevance >= 0, so lse_r >= 0 exactly when the list
    # has one; an empty list's loss is 0 (and its finite junk gets no gradient).
    has_items = lse_r[..., 0] >= 0
    return xp.where(has_items, loss, xp.zeros_like(loss))


@loss
def listmle(scores: Array, relevance: Array, /, *, axis: int | tuple[int, ...] = -1, where: Array | None = None,
            reduction: Reduction = "mean") -> Array:
    """ListMLE: negative Plackett-Luce log-likelihood of the relevance order.

    With ``pi`` the real items sorted by relevance, highest first,
    ``loss = sum_i [logsumexp(s_pi(i), ..., s_pi(n)) - s_pi(i)]``, the negative
    log-probability that the Plackett-Luce model with parameters ``scores``
    draws exactly that order.

    **Ties** in relevance are broken by position: a stable sort keeps tied
    items in their order along ``axis`` (earlier first). ListMLE is not
    invariant to this choice; shuffle tied items beforehand to randomise it.

    The reverse cumulative log-sum-exp is a log-space scan, finite for any
    finite scores (no underflow to log 0 however far apart they are).

    Args:
      scores: predicted scores, floating array ``[..., list_size]``.
      relevance: relevance values, same shape (any real or integer dtype);
        negative values mark padding.
      axis: the axis holding the lists.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per list for "none".

    References:
      Xia, Liu, Wang, Zhang & Li, "Listwise Approach to Learning to Rank:
      Theory and Algorithm", ICML 2008.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[3.0, 1.0, 2.0], [0.0, 1.0, 9.0]])
      >>> r = np.array([[2, 0, 1], [1, 0, -1]])  # -1: padding
      >>> np.round(lossapi.listmle(s, r, reduction="none"), 4)
      array([0.7209, 1.3133])
    """
    a, axis = _lists(scores, relevance, axis, reduction, where)
    return a.run(_listmle, axis=axis)


def _listmle(a: Prepared, scores: Array, relevance: Array, *, axis: int) -> Array:
    ops, xp = a.ops, a.xp
    s, r, _ = _last(a, scores, relevance, axis)
    # Padding (negative or NaN relevance) may land anywhere in the order;
    # the scan and the final mask treat it wherever it is.
    order = xp.argsort(r, axis=-1, descending=True, stable=True)
    s_sorted = ops.take_along_axis(s, order, axis=-1)
    valid_sorted = ops.take_along_axis(r, order, axis=-1) >= 0
    m, log_c = _reverse_cumulative_logsumexp(ops, s_sorted, valid_sorted)
    terms = xp.where(valid_sorted, (m - s_sorted) + log_c, xp.zeros_like(s_sorted))
    return xp.sum(terms, axis=-1)


@loss
def approx_ndcg(scores: Array, relevance: Array, /, *, temperature: float = 1.0,
                axis: int | tuple[int, ...] = -1,
                where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """ApproxNDCG loss: ``1 - NDCG`` with ranks smoothed by sigmoids.

    The rank of item ``i`` is approximated by
    ``pi_i = 1 + sum_{j != i} sigmoid((s_j - s_i) / temperature)`` (sums over
    real items), which tends to the true rank as ``temperature -> 0``. Then
    ``DCG = sum_i (2**rel_i - 1) / log2(1 + pi_i)``, and ``IDCG`` is the DCG of
    the ideal order (relevance sorted descending, integer ranks). The loss is
    ``1 - DCG / IDCG``: 0 for a perfect ranking in the sharp limit, near 1 for
    a bad one (TF-Ranking returns ``-approxNDCG``; the two differ by a
    constant and have the same gradient). A list with ``IDCG == 0`` (no item
    of positive relevance) has loss 0.

    Memory is ``O(list_size**2)`` per list (all pairs are formed at once).

    Args:
      scores: predicted scores, floating array ``[..., list_size]``.
      relevance: graded relevance, same shape (any real or integer dtype);
        negative values mark padding.
      temperature: positive smoothing of the ranks; smaller is sharper.
      axis: the axis holding the lists.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per list for "none".

    References:
      Qin, Liu & Li, "A General Approximation Framework for Direct
      Optimization of Information Retrieval Measures", Information
      Retrieval 13(4), 2010. Bruch, Zoghi, Bendersky & Najork, "Revisiting
      Approximate Metric Optimization in the Age of Deep Neural Networks",
      SIGIR 2019 (TF-Ranking).

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[3.0, 1.0, 2.0], [0.0, 1.0, 9.0]])
      >>> r = np.array([[2, 0, 1], [1, 0, -1]])  # -1: padding
      >>> np.round(lossapi.approx_ndcg(s, r, reduction="none"), 4)
      array([0.1683, 0.3101])
    """
    temperature = v.positive("temperature", temperature)
    a, axis = _lists(scores, relevance, axis, reduction, where)
    return a.run(_approx_ndcg, temperature=temperature, axis=axis)


def _approx_ndcg(a: Prepared, scores: Array, relevance: Array, *, temperature: float, axis: int) -> Array:
    ops, xp = a.ops, a.xp
    s, r, valid = _last(a, scores, relevance, axis)
    zero = xp.zeros_like(s)
    # [..., i, j] = sigmoid((s_j - s_i) / T), summed over real j. The j == i
    # term is sigmoid(0) = 1/2 exactly (with zero gradient), so
    # 1 + sum_{j != i} = 1/2 + sum_j: no identity matrix needed.
    sig = ops.sigmoid((xp.expand_dims(s, axis=-2) - xp.expand_dims(s, axis=-1)) / temperature)
    sig = xp.where(xp.expand_dims(valid, axis=-2), sig, xp.zeros_like(sig))
    approx_rank = 0.5 + xp.sum(sig, axis=-1)
    # Gain 2**rel - 1 as expm1(rel * ln 2): accurate for small relevance.
    gain = xp.where(valid, xp.expm1(r * _LN2), zero)
    dcg = xp.sum(gain / xp.log2(1.0 + approx_rank), axis=-1)
    # Ideal DCG: gains sorted descending at ranks 1..n (padding has gain 0).
    # The ranks come from a cumulative sum so they share the input's device.
    ideal_gain = xp.sort(gain, axis=-1, descending=True)
    ranks = xp.cumulative_sum(xp.ones_like(ideal_gain), axis=-1)
    idcg = xp.sum(ideal_gain / xp.log2(1.0 + ranks), axis=-1)
    has_gain = idcg > 0
    ndcg = dcg / xp.where(has_gain, idcg, xp.ones_like(idcg))
    return xp.where(has_gain, 1.0 - ndcg, xp.zeros_like(ndcg))
