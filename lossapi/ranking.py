"""Ranking losses: learn a scoring function that orders items by relevance.

Pairwise: :func:`margin_ranking` (two score arrays and a preference label),
:func:`ranknet` and Rax's :func:`pairwise_hinge`, :func:`pairwise_logistic`
and :func:`pairwise_soft_zero_one` (every ordered pair inside a list), and
the LambdaLoss family :func:`lambda_loss`. Listwise: :func:`listnet`,
:func:`ranking_softmax`, :func:`listmle`, :func:`approx_ndcg`,
:func:`approx_mrr` and :func:`neural_ndcg`.

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
    "ranking_softmax",
    "pairwise_hinge",
    "pairwise_logistic",
    "pairwise_soft_zero_one",
    "lambda_loss",
    "approx_mrr",
    "neural_ndcg",
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


def _last(a: Prepared, s: Array, r: Array, axis: int, pad: float = 0.0) -> tuple[Array, Array, Array]:
    """Scores and relevance with the list axis last, padded scores replaced
    by ``pad`` (0 unless said), and the real-item mask."""
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
    return xp.where(valid, s, xp.full_like(s, pad)), r, valid


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
    gain = _gains(xp, r, valid)
    dcg = xp.sum(gain / xp.log2(1.0 + _approx_ranks(ops, s, valid, temperature)), axis=-1)
    idcg = _ideal_dcg(xp, gain, _positions(xp, gain), None)
    has_gain = idcg > 0
    ndcg = dcg / xp.where(has_gain, idcg, xp.ones_like(idcg))
    return xp.where(has_gain, 1.0 - ndcg, xp.zeros_like(ndcg))


# --- softmax, pairwise and metric-based losses (issue 14) ------------------------


@loss
def ranking_softmax(scores: Array, relevance: Array, /, *, axis: int | tuple[int, ...] = -1,
                    where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Softmax cross entropy with the relevance normalised into a target distribution.

    ``-sum_i (rel_i / sum_j rel_j) * log softmax(scores)_i`` over the real
    items of each list: optax's ``ranking_softmax_loss`` (and Rax's
    ``softmax_loss``) with the labels normalised by their sum, as TF-Ranking's
    ``SoftmaxLoss`` does, so a list's loss does not grow with its total
    relevance. Unlike :func:`listnet`, the target is ``rel / sum(rel)``, not
    ``softmax(rel)``: items of relevance 0 get no target mass.

    A list whose relevances are all 0 (or with no real item) has loss 0 and
    no gradient, which is what optax gives for it (optax does not normalise;
    Rax's ``normalize_probabilities`` would use a uniform target instead).

    Args:
      scores: predicted scores, floating array ``[..., list_size]``.
      relevance: non-negative relevance, same shape (any real or integer
        dtype); negative values mark padding.
      axis: the axis holding the lists.
      where: optional boolean mask, per item or per list (False: padding).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per list for "none".

    References:
      Cao et al., "Learning to Rank: From Pairwise Approach to Listwise
      Approach", ICML 2007; Bruch, Wang, Bendersky & Najork, "An Analysis of
      the Softmax Cross Entropy Loss for Learning-to-Rank with Binary
      Relevance", ICTIR 2019.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[2.0, 1.0, 3.0], [1.0, 0.5, 1.5]])
      >>> r = np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 2.0]])
      >>> np.round(lossapi.ranking_softmax(s, r, reduction="none"), 4)
      array([1.4076, 0.9303])
    """
    a, axis = _lists(scores, relevance, axis, reduction, where)
    return a.run(_ranking_softmax, axis=axis)


def _ranking_softmax(a: Prepared, scores: Array, relevance: Array, *, axis: int) -> Array:
    ops, xp = a.ops, a.xp
    # Padding enters the log-sum-exp as half the lowest finite value (exp of
    # it is 0 against any real item; see _listnet).
    s, r, valid = _last(a, scores, relevance, axis, pad=float(xp.finfo(scores.dtype).min) / 2)
    lse = ops.logsumexp(s, axis=-1, keepdims=True)
    rel = xp.where(valid, r, xp.zeros_like(s))
    # sum_i rel_i (lse - s_i) / sum_i rel_i: -log softmax(s)_i = lse - s_i >= 0
    # summed per item (no cancellation); padding has rel 0 and a finite
    # lse - s, so it adds 0. One division per list, not per item, and no
    # second padded copy of the scores: fewer list-sized temporaries. A
    # total of 0 (an all-zero list) gives loss 0.
    total = xp.sum(rel, axis=-1)
    return numerics.safe_ratio(ops, xp.sum(rel * (lse - s), axis=-1), total)


def _pairwise(a: Prepared, scores: Array, relevance: Array, axis: int, per_pair: Any) -> Array:
    """Mean of ``per_pair(s_i - s_j)`` over the pairs of real items with
    ``rel_i > rel_j`` in each list; 0 for a list without such a pair."""
    xp = a.xp
    s, r, valid = _last(a, scores, relevance, axis)
    # [..., i, j]: rel_i > rel_j >= 0 (NaN and negative relevance never pair).
    pair = (xp.expand_dims(r, axis=-1) > xp.expand_dims(r, axis=-2)) & xp.expand_dims(valid, axis=-2)
    values = per_pair(xp.expand_dims(s, axis=-1) - xp.expand_dims(s, axis=-2))
    total = xp.sum(xp.where(pair, values, xp.zeros_like(values)), axis=(-2, -1))
    count = xp.sum(xp.astype(pair, s.dtype), axis=(-2, -1))
    return total / xp.where(count > 0, count, xp.ones_like(count))


_PAIRWISE_DOC = """

    Rax semantics: a pair ``(i, j)`` of real items counts when
    ``relevance[i] > relevance[j]`` (ties are not pairs) and ``d = s_i - s_j``
    is its score difference. A list's loss is the mean over its pairs (0 for
    a list without one), and "mean" averages the lists, as for
    :func:`ranknet`. Rax's ``reduce_fn=jnp.mean`` averages all pairs of the
    batch at once instead (the same value for one list, or for lists with
    equally many pairs); its ``reduce_fn=None`` returns the ``[..., L, L]``
    pair losses. ``margin`` is lossapi's option (Rax has none); its default
    gives Rax's loss.

    Memory is ``O(list_size**2)`` per list (all pairs are formed at once).

    Args:
      scores: predicted scores, floating array ``[..., list_size]``.
      relevance: graded relevance, same shape (any real or integer dtype);
        negative values mark padding.
      margin: the score difference a pair should exceed (any real number).
      axis: the axis holding the lists.
      where: optional boolean mask, per item or per list (False: padding).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per list for "none".

    References:
      Jagerman, Qin, Wang, Bendersky & Najork, "Rax: Composable
      Learning-to-Rank using JAX", SIGIR 2022.
"""


@loss
def pairwise_hinge(scores: Array, relevance: Array, /, *, margin: float = 1.0, axis: int | tuple[int, ...] = -1,
                   where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Pairwise hinge loss: ``max(0, margin - (s_i - s_j))`` per ordered pair.

    At the kink the gradient is 0, as ``jax.nn.relu`` gives Rax.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]])
      >>> r = np.array([[1.0, 0.0, -1.0], [0.0, 0.0, 1.0]])  # -1: padding
      >>> np.round(lossapi.pairwise_hinge(s, r, reduction="none"), 4)
      array([0.  , 0.25])
    """
    margin = v.number("margin", margin)
    a, axis = _lists(scores, relevance, axis, reduction, where)
    return a.run(_pairwise_hinge, margin=margin, axis=axis)


def _pairwise_hinge(a: Prepared, scores: Array, relevance: Array, *, margin: Any, axis: int) -> Array:
    return _pairwise(a, scores, relevance, axis, lambda d: numerics.hinge(a.ops, margin - d, at_kink="zero"))


@loss
def pairwise_logistic(scores: Array, relevance: Array, /, *, margin: float = 0.0, axis: int | tuple[int, ...] = -1,
                      where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Pairwise logistic loss: ``log(1 + exp(margin - (s_i - s_j)))`` per ordered pair.

    With ``margin=0`` this is RankNet's loss, and equals :func:`ranknet`.
    Computed as a softplus, finite for any finite scores.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]])
      >>> r = np.array([[1.0, 0.0, -1.0], [0.0, 0.0, 1.0]])  # -1: padding
      >>> np.round(lossapi.pairwise_logistic(s, r, reduction="none"), 4)
      array([0.3133, 0.3937])
    """
    margin = v.number("margin", margin)
    a, axis = _lists(scores, relevance, axis, reduction, where)
    return a.run(_pairwise_logistic, margin=margin, axis=axis)


def _pairwise_logistic(a: Prepared, scores: Array, relevance: Array, *, margin: Any, axis: int) -> Array:
    return _pairwise(a, scores, relevance, axis, lambda d: a.ops.softplus(margin - d))


@loss
def pairwise_soft_zero_one(scores: Array, relevance: Array, /, *, margin: float = 0.0,
                           axis: int | tuple[int, ...] = -1, where: Array | None = None,
                           reduction: Reduction = "mean") -> Array:
    """Pairwise soft zero-one loss: ``sigmoid(margin - (s_i - s_j))`` per ordered pair.

    A smooth count of misordered pairs (each term lies in (0, 1)); the
    sigmoid is evaluated without overflow for any finite scores.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]])
      >>> r = np.array([[1.0, 0.0, -1.0], [0.0, 0.0, 1.0]])  # -1: padding
      >>> np.round(lossapi.pairwise_soft_zero_one(s, r, reduction="none"), 4)
      array([0.2689, 0.3232])
    """
    margin = v.number("margin", margin)
    a, axis = _lists(scores, relevance, axis, reduction, where)
    return a.run(_pairwise_soft_zero_one, margin=margin, axis=axis)


def _pairwise_soft_zero_one(a: Prepared, scores: Array, relevance: Array, *, margin: Any, axis: int) -> Array:
    return _pairwise(a, scores, relevance, axis, lambda d: a.ops.sigmoid(margin - d))


for _f in (pairwise_hinge, pairwise_logistic, pairwise_soft_zero_one):
    _head, _example = _f.__doc__.split("\n\n    Example:")  # type: ignore[union-attr]
    _f.__doc__ = _head + _PAIRWISE_DOC + "\n    Example:" + _example
del _f, _head, _example


def _top_k(k: Any) -> int | None:
    k = v.integer_or_none("k", k)
    if k is not None and k < 1:
        raise v.BadValue(f"k must be >= 1 or None, got {k}")
    return k


def _approx_ranks(ops: Any, s: Array, valid: Array, temperature: Any) -> Array:
    """Smooth ranks ``1 + sum_{j != i} sigmoid((s_j - s_i) / T)`` over the
    real items ``j``. The ``j == i`` term is ``sigmoid(0) = 1/2`` exactly
    (with zero gradient), so ``1/2 + sum_j`` needs no identity matrix."""
    xp = ops.xp
    d = xp.expand_dims(s, axis=-2) - xp.expand_dims(s, axis=-1)
    if not numerics.is_number(temperature, 1.0):
        d = d / temperature
    sig = ops.sigmoid(d)
    del d  # freed now: one [..., n, n] temporary fewer at the peak
    # Padded j: times 0 (sig is finite there: _last set padded scores to 0),
    # not a where, which makes XLA keep [..., n, n] temporaries for the gradient.
    return 0.5 + xp.sum(sig * xp.expand_dims(xp.astype(valid, sig.dtype), axis=-2), axis=-1)


def _gains(xp: Any, r: Array, valid: Array) -> Array:
    """DCG gains ``2**rel - 1`` as ``expm1(rel * ln 2)`` (accurate for small
    relevance); 0 at padding."""
    return xp.where(valid, xp.expm1(r * _LN2), xp.zeros_like(r))


def _positions(xp: Any, like: Array) -> Array:
    """1, 2, ..., n along the last axis, with ``like``'s dtype and device."""
    return xp.cumulative_sum(xp.ones_like(like), axis=-1)


def _ideal_dcg(xp: Any, gain: Array, pos: Array, k: int | None) -> Array:
    """DCG of the gains sorted descending (padding has gain 0), cut at k."""
    ideal = xp.sort(gain, axis=-1, descending=True) / xp.log2(1.0 + pos)
    if k is not None:
        ideal = xp.where(pos <= k, ideal, xp.zeros_like(ideal))
    return xp.sum(ideal, axis=-1)


_WEIGHTINGS = ("ndcg1", "ndcg2", "ndcg2++", "lambdarank")
_LAMBDA_EPS = 1e-10  # allRank's DEFAULT_EPS
_LOG_LAMBDA_EPS = math.log(_LAMBDA_EPS)


@loss
def lambda_loss(scores: Array, relevance: Array, /, *, weighting: str = "ndcg2", k: int | None = None,
                sigma: float = 1.0, mu: float = 10.0, axis: int | tuple[int, ...] = -1,
                where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """LambdaLoss (Wang et al. 2018), with allRank's weighting schemes.

    The real items are put in the order of the scores (highest first; tied
    scores keep their order along ``axis``) at positions ``1..n``, with
    ``D_i = log2(1 + i)``, ``G_i = (2**rel_i - 1) / maxDCG`` and ``maxDCG``
    the ideal DCG at ``k`` (at least ``1e-10``). Over the pairs ``(i, j)`` of
    positions ``<= k``, a list's loss is

    ``-sum_{i, j} log2(max(max(sigmoid(sigma (s_i - s_j)), eps) ** w_ij, eps))``

    with ``eps = 1e-10`` and ``w_ij`` by ``weighting``:

    * ``"ndcg1"``: ``G_i / D_i``, over all pairs of real items, ``i == j``
      and ties included (NDCG-Loss1);
    * ``"ndcg2"``: ``|1 / D_{|i-j|} - 1 / D_{|i-j|+1}| * |G_i - G_j|`` over the
      pairs with ``rel_i > rel_j`` (NDCG-Loss2);
    * ``"lambdarank"``: ``|1 / D_i - 1 / D_j| * |G_i - G_j|`` (the same pairs);
    * ``"ndcg2++"``: ``mu * ndcg2 + lambdarank`` (the same pairs).

    This is allRank's ``lambdaLoss`` (``reduction="sum"``,
    ``reduction_log="binary"``) for one list, its clamps included: a pair
    whose sigmoid is below ``1e-10`` contributes a constant and no gradient.
    Evaluated in log space (``w * log_sigmoid``), so nothing underflows
    before the clamps. The weights depend only on the relevance and the
    order, so only the sigmoid carries a gradient. Padded items take no
    position (allRank's padding sorts last). allRank's "mean" averages all
    pairs of the batch; lossapi's averages the per-list sums. A list with no
    relevant item has loss 0 (every weight is 0 or it has no pair).

    Memory is ``O(list_size**2)`` per list.

    Args:
      scores: predicted scores, floating array ``[..., list_size]``.
      relevance: graded relevance, same shape (any real or integer dtype);
        negative values mark padding.
      weighting: "ndcg1", "ndcg2", "ndcg2++" or "lambdarank".
      k: truncation rank (a positive int), or None for the whole list.
      sigma: positive scale of the score differences.
      mu: the weight of the NDCG-Loss2 term in "ndcg2++" (>= 0).
      axis: the axis holding the lists.
      where: optional boolean mask, per item or per list (False: padding).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per list for "none".

    References:
      Wang, Li, Golbandi, Bendersky & Najork, "The LambdaLoss Framework for
      Ranking Metric Optimization", CIKM 2018. allRank
      (``allrank/models/losses/lambdaLoss.py``).

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[0.5, 2.0, -1.0], [1.0, 0.0, 3.0]])
      >>> r = np.array([[2, 0, 1], [1, 0, -1]])  # -1: padding
      >>> np.round(lossapi.lambda_loss(s, r, reduction="none"), 4)
      array([0.9662, 0.1668])
    """
    weighting = v.choice("weighting", weighting, _WEIGHTINGS)
    k = _top_k(k)
    sigma = v.positive("sigma", sigma)
    mu = v.number("mu", mu, low=0.0)
    a, axis = _lists(scores, relevance, axis, reduction, where)
    return a.run(_lambda_loss, weighting=weighting, k=k, sigma=sigma, mu=mu, axis=axis)


def _lambda_loss(a: Prepared, scores: Array, relevance: Array, *, weighting: str, k: int | None, sigma: Any,
                 mu: Any, axis: int) -> Array:
    ops, xp = a.ops, a.xp
    s, r, valid = _last(a, scores, relevance, axis)
    zero = xp.zeros_like(s)
    # Score order with padding last: real scores (an -inf one raised to the
    # lowest finite value) before -inf padding; stable, so ties keep their
    # order along the axis.
    key = xp.where(valid, xp.maximum(s, xp.full_like(s, xp.finfo(s.dtype).min)), xp.full_like(s, -xp.inf))
    order = xp.argsort(key, axis=-1, descending=True, stable=True)
    s_o = ops.take_along_axis(s, order, axis=-1)
    r_o = ops.take_along_axis(r, order, axis=-1)
    v_o = r_o >= 0
    pos = _positions(xp, s)
    disc = xp.log2(1.0 + pos)  # D_i
    gain = _gains(xp, r, valid)
    max_dcg = xp.maximum(_ideal_dcg(xp, gain, pos, k), xp.full_like(gain[..., 0], _LAMBDA_EPS))
    g = xp.where(v_o, xp.expm1(r_o * _LN2), zero) / xp.expand_dims(max_dcg, axis=-1)  # G_i

    def col(x: Array) -> Array:
        return xp.expand_dims(x, axis=-1)

    def row(x: Array) -> Array:
        return xp.expand_dims(x, axis=-2)

    if weighting == "ndcg1":
        pair = col(v_o) & row(v_o)
        w = col(g / disc)  # [..., i, 1], broadcast over j below
    else:
        # rel_i > rel_j >= 0: a real j and a larger (hence real) rel_i.
        pair = (col(r_o) > row(r_o)) & row(v_o)
        dg = xp.abs(col(g) - row(g))
        # The position terms depend on i and j only: [n, n], not one per list.
        n = s.shape[-1]
        pos1 = xp.arange(1, n + 1, dtype=s.dtype, device=a.device)
        if weighting != "ndcg2":
            disc1 = xp.log2(1.0 + pos1)
            lambdarank = xp.abs(1.0 / col(disc1) - 1.0 / row(disc1)) * dg
        if weighting == "lambdarank":
            w = lambdarank
        else:
            # |1 / D_{|i-j|} - 1 / D_{|i-j|+1}| with D_m = log2(1 + m); 0 on the diagonal.
            delta = xp.abs(col(pos1) - row(pos1))
            off = delta > 0
            dsafe = xp.where(off, delta, xp.ones_like(delta))
            ndcg2 = xp.where(off, 1.0 / xp.log2(1.0 + dsafe) - 1.0 / xp.log2(2.0 + dsafe), xp.zeros_like(delta)) * dg
            w = ndcg2 if weighting == "ndcg2" else mu * ndcg2 + lambdarank
    if k is not None:
        top = pos <= k
        pair = pair & col(top) & row(top)
    # log(max(max(sigmoid(x), eps) ** w, eps)) = max(w * max(log_sigmoid(x), log eps), log eps):
    # allRank's two clamps in log space (w >= 0), so no power underflows.
    # The constants are [..., 1, 1] and broadcast: no list-by-list fill.
    log_eps = xp.full_like(s[..., :1, None], _LOG_LAMBDA_EPS)
    d = col(s_o) - row(s_o)
    if not numerics.is_number(sigma, 1.0):
        d = sigma * d
    ls = ops.log_sigmoid(d)
    del d  # freed now: one [..., n, n] temporary fewer at the peak
    ls = xp.where(ls >= log_eps, ls, log_eps)
    t = w * ls
    t = xp.where(t >= log_eps, t, log_eps)
    return -xp.sum(xp.where(pair, t, xp.zeros_like(log_eps)), axis=(-2, -1)) / _LN2


@loss
def approx_mrr(scores: Array, relevance: Array, /, *, temperature: float = 1.0, axis: int | tuple[int, ...] = -1,
               where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """ApproxMRR loss: ``1 - MRR`` with ranks smoothed by sigmoids.

    Ranks are approximated as in :func:`approx_ndcg`,
    ``pi_i = 1 + sum_{j != i} sigmoid((s_j - s_i) / temperature)`` over real
    items, and ``MRR = sum_i rel_i / pi_i / sum_i rel_i``: the reciprocal
    rank of the relevant item for one relevant item, a relevance-weighted
    mean of reciprocal ranks for several (TF-Ranking's ``ApproxMRRLoss``,
    which returns ``-MRR``: the same gradient). A list whose relevances are
    all 0 (or with no real item) has loss 0.

    Memory is ``O(list_size**2)`` per list.

    Args:
      scores: predicted scores, floating array ``[..., list_size]``.
      relevance: non-negative relevance (binary for MRR proper), same shape
        (any real or integer dtype); negative values mark padding.
      temperature: positive smoothing of the ranks; smaller is sharper.
      axis: the axis holding the lists.
      where: optional boolean mask, per item or per list (False: padding).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per list for "none".

    References:
      Qin, Liu & Li, "A General Approximation Framework for Direct
      Optimization of Information Retrieval Measures", Information
      Retrieval 13(4), 2010. Bruch, Zoghi, Bendersky & Najork, "Revisiting
      Approximate Metric Optimization in the Age of Deep Neural Networks",
      SIGIR 2019.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[3.0, 1.0, 2.0], [0.0, 1.0, 9.0]])
      >>> r = np.array([[1, 0, 0], [0, 1, -1]])  # -1: padding
      >>> np.round(lossapi.approx_mrr(s, r, reduction="none"), 4)
      array([0.2796, 0.2119])
    """
    temperature = v.positive("temperature", temperature)
    a, axis = _lists(scores, relevance, axis, reduction, where)
    return a.run(_approx_mrr, temperature=temperature, axis=axis)


def _approx_mrr(a: Prepared, scores: Array, relevance: Array, *, temperature: Any, axis: int) -> Array:
    ops, xp = a.ops, a.xp
    s, r, valid = _last(a, scores, relevance, axis)
    approx_rank = _approx_ranks(ops, s, valid, temperature)  # >= 1/2 everywhere, padding included
    rel = xp.where(valid, r, xp.zeros_like(r))
    total = xp.sum(rel, axis=-1)
    mrr = numerics.safe_ratio(ops, xp.sum(rel / approx_rank, axis=-1), total)
    return xp.where(total > 0, 1.0 - mrr, xp.zeros_like(mrr))


_SINKHORN_ITERS = 50  # allRank's sinkhorn_scaling defaults
_SINKHORN_TOL = 1e-6
_SINKHORN_EPS = 1e-10


@loss
def neural_ndcg(scores: Array, relevance: Array, /, *, temperature: float = 1.0, k: int | None = None,
                axis: int | tuple[int, ...] = -1, where: Array | None = None,
                reduction: Reduction = "mean") -> Array:
    """NeuralNDCG loss: ``1 - NDCG`` with the sort relaxed by NeuralSort.

    For a list of ``n`` real items, NeuralSort's relaxed permutation matrix
    has rows ``P[i, :] = softmax(((n + 1 - 2i) s - A 1) / temperature)``
    (``i = 1..n``, ``A[j, l] = |s_j - s_l|``); Sinkhorn scaling (columns,
    then rows, at most 50 rounds, until every row and column sums to 1
    within 1e-6) makes it doubly stochastic. The gains ``2**rel - 1`` are
    then sorted approximately, ``P @ gain``, and discounted by
    ``1 / log2(1 + i)`` up to ``k``: ``DCG / IDCG`` is NeuralNDCG and the loss
    is ``1 - NeuralNDCG``. A list whose IDCG is 0 (no item of positive
    relevance) has loss 0.

    This is allRank's deterministic ``neuralNDCG`` (``powered_relevancies``)
    up to two choices: allRank returns ``-NDCG`` (the same gradient) and
    averages over the lists with a positive IDCG, lossapi's "mean" over all
    lists; and each list stops its Sinkhorn rounds on its own (allRank stops
    when the whole batch has converged), so a list's loss does not depend on
    the rest of the batch. allRank adds ``1e-10`` to IDCG; lossapi does not.
    Padded items take no row and no column (allRank pads at the end).

    Memory is ``O(list_size**2)`` per list; the 50 Sinkhorn rounds are
    elementwise work on the ``[..., n, n]`` matrices.

    Args:
      scores: predicted scores, floating array ``[..., list_size]``.
      relevance: graded relevance, same shape (any real or integer dtype);
        negative values mark padding.
      temperature: positive NeuralSort temperature; smaller is sharper.
      k: truncation rank (a positive int), or None for the whole list.
      axis: the axis holding the lists.
      where: optional boolean mask, per item or per list (False: padding).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per list for "none".

    References:
      Pobrotyn & Bialobrzeski, "NeuralNDCG: Direct Optimisation of a Ranking
      Metric via Differentiable Relaxation of Sorting", 2021. Grover, Wang,
      Zweig & Ermon, "Stochastic Optimization of Sorting Networks via
      Continuous Relaxations", ICLR 2019.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[3.0, 1.0, 2.0], [0.0, 1.0, 9.0]])
      >>> r = np.array([[2, 0, 1], [1, 0, -1]])  # -1: padding
      >>> np.round(lossapi.neural_ndcg(s, r, reduction="none"), 4)
      array([0.0615, 0.2698])
    """
    temperature = v.positive("temperature", temperature)
    k = _top_k(k)
    a, axis = _lists(scores, relevance, axis, reduction, where)
    return a.run(_neural_ndcg, temperature=temperature, k=k, axis=axis)


def _neural_ndcg(a: Prepared, scores: Array, relevance: Array, *, temperature: Any, k: int | None,
                 axis: int) -> Array:
    ops, xp = a.ops, a.xp
    s, r, valid = _last(a, scores, relevance, axis)
    zero = xp.zeros_like(s)
    pos = _positions(xp, s)  # 1..n
    n_real = xp.sum(xp.astype(valid, s.dtype), axis=-1, keepdims=True)
    real_row = pos <= n_real  # positions 1..n_real are the rows of the real list
    real_col = xp.expand_dims(valid, axis=-2)
    live = xp.expand_dims(real_row, axis=-1) & real_col  # [..., position i, item j]
    # A 1: sum_l |s_j - s_l| over real l (ops.abs: subgradient 0 at ties).
    absdiff = ops.abs(xp.expand_dims(s, axis=-1) - xp.expand_dims(s, axis=-2))
    # (The fill values below broadcast from [..., 1, 1]: no list-by-list fill.)
    b = xp.sum(xp.where(real_col, absdiff, xp.zeros_like(absdiff[..., :1, :1])), axis=-1)
    coef = n_real + 1.0 - 2.0 * pos  # n + 1 - 2i for the real list's n
    logits = (xp.expand_dims(coef, axis=-1) * xp.expand_dims(s, axis=-2) - xp.expand_dims(b, axis=-2)) / temperature
    # Softmax over the real items of each row; padding enters the
    # log-sum-exp as half the lowest finite value (exp of it is 0).
    logits = xp.where(real_col, logits, xp.full_like(logits[..., :1, :1], xp.finfo(s.dtype).min / 2))
    lse = ops.logsumexp(logits, axis=-1, keepdims=True)
    p0 = xp.where(live, xp.exp(logits - lse), xp.zeros_like(logits[..., :1, :1]))
    real_row_2d = xp.expand_dims(real_row, axis=-1)
    eps = xp.full_like(p0[..., :1, :], _SINKHORN_EPS)
    one = xp.ones_like(eps)

    def sinkhorn_round(carry: tuple[Array, Array, Array], freeze: bool) -> tuple[Array, Array, Array]:
        p, done, col = carry  # col: p's column sums, [..., 1, n]
        # allRank's sums clamped at 1e-10; padded rows and columns (all 0)
        # are divided by 1, not by 1e-10: fifty divisions by 1e-10 would
        # overflow their (zero) gradient to inf and then NaN.
        q = p / xp.where(real_col, xp.maximum(col, eps), one)
        row = xp.maximum(xp.sum(q, axis=-1, keepdims=True), xp.matrix_transpose(eps))
        q = q / xp.where(real_row_2d, row, xp.matrix_transpose(one))
        # Lists already converged keep their p (freeze False: none has yet).
        p = xp.where(done, p, q) if freeze else q
        # Converged: every real row and column sums to 1 within the tolerance
        # (padded rows and columns are 0 and left out). The column sums are
        # the next round's too.
        col = xp.sum(p, axis=-2, keepdims=True)
        row_err = xp.where(real_row, xp.abs(xp.sum(p, axis=-1) - 1.0), zero)
        col_err = xp.where(valid, xp.abs(col[..., 0, :] - 1.0), zero)
        ok = (xp.max(row_err, axis=-1) < _SINKHORN_TOL) & (xp.max(col_err, axis=-1) < _SINKHORN_TOL)
        return p, done | xp.expand_dims(xp.expand_dims(ok, axis=-1), axis=-1), col

    def sinkhorn(_: Any, carry: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
        return sinkhorn_round(carry, True)

    start = (p0, xp.zeros_like(p0[..., :1, :1], dtype=xp.bool), xp.sum(p0, axis=-2, keepdims=True))
    carry = start
    # Where values can be read (eager NumPy, torch, JAX), stop once every
    # list has converged: the remaining rounds would change nothing; until
    # one list has, no list needs freezing. Elsewhere (traced, lazy) all
    # rounds run, frozen lists unchanged, as one compiled loop body where
    # the library has one (JAX's fori_loop).
    if ops.option_readable(p0):
        try:
            some_done = False
            for _ in range(_SINKHORN_ITERS):
                carry = sinkhorn_round(carry, some_done)
                if bool(xp.all(carry[1])):
                    break
                some_done = some_done or bool(xp.any(carry[1]))
        except RuntimeError:  # torch.func transforms: values cannot be read
            carry = ops.loop(_SINKHORN_ITERS, sinkhorn, start)
    else:
        carry = ops.loop(_SINKHORN_ITERS, sinkhorn, carry)
    p = carry[0]
    gain = _gains(xp, r, valid)
    approx_sorted = xp.sum(p * xp.expand_dims(gain, axis=-2), axis=-1)  # P @ gain, per position
    discount = 1.0 / xp.log2(1.0 + pos)
    if k is not None:
        discount = xp.where(pos <= k, discount, zero)
    dcg = xp.sum(approx_sorted * discount, axis=-1)
    idcg = _ideal_dcg(xp, gain, pos, k)
    has_gain = idcg > 0
    ndcg = numerics.safe_ratio(ops, dcg, idcg)
    return xp.where(has_gain, 1.0 - ndcg, xp.zeros_like(ndcg))
