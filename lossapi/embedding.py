"""Embedding (metric-learning) losses: pairs, triplets, in-batch mining and
contrastive objectives over learned feature vectors.

Layout: every embedding lies along the **last axis**. Paired losses take
arrays of shape ``[..., D]`` (any number of leading axes, one pair per leading
index) and ``reduction="none"`` returns shape ``[...]``. Batch losses
(:func:`batch_triplet`, :func:`nt_xent`, :func:`circle`) take ``[..., N, D]``
with the batch on axis ``-2``; leading axes are independent batches. Per-pair
labels have the embeddings' shape without the last axis. :func:`hinge_embedding`
takes distances already computed, elementwise (any shape, one value per
element). See the user guide (README, "Conventions") for what ``reduction``
does and how dtypes are handled.

``where=``: paired losses take one boolean per pair (``[...]``) or per
feature (``[..., D]``: a masked feature is left out of every distance, norm
and dot product; for ``triplet(distance=...)`` it is set to 0 before the
call); batch losses take one per embedding (``[..., N]``: a masked
embedding is neither an anchor nor a candidate); :func:`cosine_proximity`
also takes a tuple ``axis``.

Numerics: every Euclidean norm or distance is computed so that a zero vector
or a zero distance gives a finite value *and* a finite gradient (no NaN from
``sqrt`` at 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from ._core import numerics
from ._core import validate as v
from ._core.blocks import blocks, from_front, to_front
from ._core.loss import loss
from ._core.prepare import Prepared, masks, prepare
from ._core.reduce import Mean
from ._core.types import Array, Reduction

__all__ = [
    "contrastive",
    "triplet",
    "batch_triplet",
    "cosine_embedding",
    "cosine_proximity",
    "nt_xent",
    "circle",
    "hinge_embedding",
    "supcon",
    "arcface",
    "cosface",
    "multi_similarity",
    "proxy_anchor",
]

# torch.nn.functional.cosine_similarity's eps: each vector is divided by
# max(||x||, eps), so a zero vector has cosine 0 with everything.
_COS_EPS = 1e-8
# torch.nn.functional.cosine_embedding_loss's eps, added to each squared norm.
# ATen's constant is the C float 1e-12, so float64 inputs see float32(1e-12)
# (float32 inputs see the same value either way).
_COS_EMB_EPS = 9.999999960041972e-13


# --- helpers ------------------------------------------------------------------

def _unit(ops: Any, x: Array) -> Array:
    # x / max(||x||, eps) (torch's cosine_similarity / normalize): a zero
    # vector maps to 0, and ops.norm has gradient 0 there, so all stays finite.
    xp = ops.xp
    n = ops.norm(x, axis=-1, keepdims=True)
    return x / xp.maximum(n, xp.full_like(n, _COS_EPS))


def _gram(ops: Any, u: Array) -> Array:
    # ops.matmul: full float32 precision on every backend (JAX's GPU default
    # is not).
    return ops.matmul(u, ops.xp.matrix_transpose(u))


def _eye(a: Prepared, n: int) -> Array:
    i = a.xp.arange(n, device=a.device)
    return i[:, None] == i[None, :]


def _masked_mean(values: Array, valid: Array, xp: Any) -> Mean:
    """"mean" divides by the number of valid entries (at least 1), so a batch
    without any valid entry gives 0 with zero gradient."""
    return Mean(values, xp.astype(valid, values.dtype), empty_zero=True)


def _take_last(ops: Any, x: Array, idx: Array) -> Array:
    return ops.take_along_axis(x, idx, axis=-1)[..., 0]


def _prepare_batch(embeddings: Array, labels: Array, reduction: str, where: Any) -> tuple[Prepared, Any, Any]:
    """The batch losses' embeddings ``[..., N, D]`` and their ``[..., N]``
    labels (any dtype that supports ``==``: checked, never cast), and the
    ``where=`` mask, one value per embedding."""
    a = prepare(embeddings, reduction=reduction, extra=(labels, v.array_or_none("where", where)))
    v.min_ndim(a.arrays[0], "embeddings", 2, "[..., N, D]")
    v.array("labels", labels)
    labels = a.ops.own(labels)
    v.per_pair(labels, a.arrays[0], ("labels", "embeddings"))
    return a, labels, _batch_mask(a, where)


def _batch_mask(a: Prepared, where: Any) -> Any:
    """A batch loss's ``where=``: one boolean per embedding (``[..., N]``). A
    masked embedding is neither an anchor nor a candidate; the math applies
    it (the values are per anchor or per triple, not per embedding)."""
    e = a.arrays[0]
    element, keep = masks(a.ops, where, tuple(e.shape), (e.ndim - 1,))
    if element is not None:
        raise v.BadValue(f"where has shape {tuple(where.shape)}; a batch loss takes one value per embedding, "
                         f"shape {tuple(e.shape[:-1])}")
    return keep


def _pair_mask(w: Any) -> Any:
    """``[..., N, N]``: both members of a pair are kept (None: no mask)."""
    return None if w is None else w[..., :, None] & w[..., None, :]


# --- pair and triplet losses --------------------------------------------------

def _pairs(x1: Array, x2: Array, y: Array, y_name: str, reduction: str, where: Any) -> Prepared:
    """Two ``[..., D]`` embeddings of equal shapes and one value per pair;
    ``where=`` per pair ``[...]`` or per feature ``[..., D]`` (a masked
    feature is left out of every distance and dot product)."""
    a = prepare(x1, x2, y, reduction=reduction, same_shape=False, extra=(v.array_or_none("where", where),))
    x1, x2, y = a.arrays
    v.same_shape(x1, x2, ("x1", "x2"))
    v.min_ndim(x1, "x1", 1, "[..., D]")
    v.per_pair(y, x1, (y_name, "x1"))
    return a.masked(where)


def _features(a: Prepared, *xs: Array) -> tuple[Array, ...]:
    """The arrays with the features ``where=`` masks set to 0 (so every sum
    over the feature axis leaves them out)."""
    if a.where is None:
        return xs
    xp = a.xp
    return tuple(xp.where(a.where, x, xp.zeros_like(x)) for x in xs)


@loss
def contrastive(x1: Array, x2: Array, similar: Array, /, *, margin: float = 1.0,
                where: Array | None = None,
                reduction: Reduction = "mean") -> Array:
    """Contrastive loss for pairs of embeddings (Hadsell et al.).

    **``similar`` is 1 (or True) for SIMILAR pairs.** The guides write the
    loss with a label ``y = 0`` for similar pairs; ``similar = 1 - y``. With
    ``d = ||x1 - x2||_2`` (no eps), per pair::

        similar * 0.5 * d**2  +  (1 - similar) * 0.5 * max(0, margin - d)**2

    Values of ``similar`` between 0 and 1 interpolate linearly.
    The gradient is finite at ``d == 0`` (0 for the dissimilar term there).

    Args:
      x1: embeddings, real floating array ``[..., D]``.
      x2: embeddings, same shape as ``x1``.
      similar: ``[...]`` (``x1``'s shape without the last axis); bool, integer
        or floating; 1/True = similar pair, 0/False = dissimilar pair.
      margin: positive distance beyond which dissimilar pairs cost nothing.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per pair (shape ``[...]``) for "none".

    References:
      Hadsell, Chopra & LeCun, "Dimensionality Reduction by Learning an
      Invariant Mapping", 2006.

    Example:
      >>> import numpy as np, lossapi
      >>> x1 = np.array([[0.0, 0.0], [0.0, 0.0]])
      >>> x2 = np.array([[3.0, 4.0], [0.3, 0.4]])
      >>> lossapi.contrastive(x1, x2, np.array([True, False]), reduction="none")
      array([12.5  ,  0.125])
    """
    margin = v.positive("margin", margin)
    return _pairs(x1, x2, similar, "similar", reduction, where).run(_contrastive, margin=margin)


def _contrastive(a: Prepared, x1: Array, x2: Array, similar: Array, *, margin: float) -> Array:
    ops, xp = a.ops, a.xp
    (r,) = _features(a, x1 - x2)
    sq = xp.sum(r * r, axis=-1)  # d**2 directly: exact and smooth at d == 0
    hinge = numerics.hinge(ops, margin - ops.norm(r, axis=-1), at_kink="zero")
    return 0.5 * (similar * sq + (1.0 - similar) * hinge * hinge)


@loss
def triplet(anchor: Array, positive: Array, negative: Array, /, *, margin: float = 1.0, p: float = 2.0,
            eps: float = 1e-6, swap: bool = False, squared: bool = False,
            distance: Callable[[Array, Array], Array] | None = None, where: Array | None = None,
            reduction: Reduction = "mean") -> Array:
    """Triplet margin loss with torch's ``triplet_margin_loss`` semantics.

    Per triplet, ``max(0, d(a, p) - d(a, n) + margin)`` with torch's pairwise
    distance ``d(x, y) = ||x - y + eps||_p`` (eps is added to every component
    of the difference, as torch does). ``swap=True`` replaces ``d(a, n)`` by
    ``min(d(a, n), d(p, n))`` (Balntas et al.). ``squared=True`` squares both
    distances first, the form of the notes guide
    ``max(0, ||a-p||**2 - ||a-n||**2 + margin)`` (use ``eps=0`` for it
    exactly). The gradient is finite when ``anchor == positive``, also with
    ``eps=0`` (a zero distance contributes gradient 0).

    Subgradients are lossapi's, on every backend and torch version: at the
    hinge's kink (``d(a, p) - d(a, n) + margin == 0``) the gradient is that of
    the linear piece (torch 2.13's ``clamp_min``; torch 2.14 gives 0), and with ``swap=True`` a tie ``d(a, n) == d(p, n)`` splits
    the gradient evenly between the two distances (torch's ``min``).

    ``distance`` replaces the p-norm distance by any function, as torch's
    ``triplet_margin_with_distance_loss(distance_function=...)``:
    ``distance(x, y)`` gets two ``[..., D]`` arrays of the caller's library in
    the compute dtype (float32 for half-precision inputs) and must return a
    real floating array of shape ``[...]``, one distance per pair of vectors
    (anything else is a ``ValueError`` / ``TypeError``); it must be
    differentiable by the caller's framework for gradients, and traceable
    for ``jax.jit``. ``p``, ``eps`` and ``squared`` shape the built-in
    distance only: giving ``distance`` with any of them changed is a
    ``ValueError`` (write the choice into ``distance``). ``margin``,
    ``swap`` and the kink rules above apply as for the built-in distance.

    Args:
      anchor, positive, negative: real floating arrays ``[..., D]``, equal shapes.
      margin: positive margin (torch rejects margin <= 0 too).
      p: norm degree, > 0; ``math.inf`` is the max norm.
      eps: non-negative shift added to the differences.
      swap: use the distance swap.
      squared: square the distances.
      distance: None (the p-norm distance above), or a callable
        ``(x, y) -> [...]`` distance.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or shape ``[...]`` (one value per triplet) for "none".

    References:
      Schroff, Kalenichenko & Philbin, "FaceNet", 2015; Balntas et al.,
      "Learning local feature descriptors with triplets and shallow
      convolutional neural networks", 2016.

    Example:
      >>> import numpy as np, lossapi
      >>> a, p, n = np.array([[0.0, 0.0]]), np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])
      >>> round(float(lossapi.triplet(a, p, n, margin=0.5, eps=0.0)), 6)
      0.5
      >>> l1 = lambda x, y: np.sum(np.abs(x - y), axis=-1)
      >>> round(float(lossapi.triplet(a, p, n, margin=0.5, distance=l1)), 6)
      0.5
    """
    margin = v.positive("margin", margin)
    p = v.static_number("p", p, "it selects the norm", low=0.0, low_open=True)
    eps = v.number("eps", eps, low=0.0)
    swap = v.flag("swap", swap)
    squared = v.flag("squared", squared)
    if distance is not None:
        if not callable(distance):
            raise v.BadType(f"distance must be None or a callable (x, y) -> one distance per vector, "
                            f"got {type(distance).__name__}")
        builtin = (("p", p, 2.0), ("eps", eps, 1e-6), ("squared", squared, False))
        changed = [f"{k}={val!r}" for k, val, default in builtin if v.is_array(val) or val != default]
        if changed:
            raise v.BadValue(f"{', '.join(changed)} cannot be combined with distance: p, eps and squared shape the "
                             "built-in p-norm distance, which distance replaces (write them into distance)")
    a = prepare(anchor, positive, negative, reduction=reduction, extra=(v.array_or_none("where", where),))
    v.min_ndim(a.arrays[0], "anchor", 1, "[..., D]")
    a = a.masked(where)  # per triplet [...] or per feature [..., D]
    return a.run(_triplet, margin=margin, p=p, eps=eps, swap=swap, squared=squared, distance=distance)


def _distance(a: Prepared, distance: Callable[[Array, Array], Array], x: Array, y: Array) -> Array:
    """The caller's ``distance(x, y)``, checked: one real floating value per
    vector, of the inputs' library (cast to the compute dtype)."""
    d = distance(x, y)
    want = tuple(x.shape[:-1])
    if not v.is_array(d):
        raise v.BadType(f"distance must return an array of shape {want}, got {type(d).__name__}")
    try:
        d = a.ops.own(d)
        kind = a.ops.kind(d.dtype)
    except (TypeError, ValueError):
        raise v.BadType(f"distance must return an array of the inputs' library, got "
                        f"{type(d).__module__}.{type(d).__qualname__}") from None
    if tuple(d.shape) != want:
        raise v.BadValue(f"distance must return one value per vector, shape {want} (the inputs' shape "
                         f"{tuple(x.shape)} without the feature axis), got shape {tuple(d.shape)}")
    if kind != "f":
        raise v.BadType(f"distance must return real floating values, got dtype {d.dtype}")
    return d if d.dtype == a.dtype else a.xp.astype(d, a.dtype)


def _triplet(a: Prepared, anchor: Array, positive: Array, negative: Array, *, margin: float, p: float,
             eps: float, swap: bool, squared: bool, distance: Callable[[Array, Array], Array] | None) -> Array:
    ops, xp = a.ops, a.xp

    def dist(x: Array, y: Array) -> Array:
        if distance is not None:
            return _distance(a, distance, *_features(a, x, y))
        v = x - y if numerics.is_number(eps, 0.0) else x - y + eps
        (v,) = _features(a, v)  # a masked feature adds nothing to the distance
        if p == 2.0:
            # Sum of squares, then a sqrt that is safe at 0: one fused pass on XLA.
            sq = xp.sum(v * v, axis=-1)
            return sq if squared else numerics.safe_sqrt(ops, sq)
        d = numerics.pnorm(ops, v, p)
        return d * d if squared else d

    d_ap, d_an = dist(anchor, positive), dist(anchor, negative)
    if swap:
        # minimum splits the gradient evenly at a tie, as torch's min does.
        d_an = xp.minimum(d_an, dist(positive, negative))
    return numerics.hinge(ops, d_ap - d_an + margin, at_kink="slope")


def _distance_matrix(a: Prepared, e: Array, p: float, squared: bool) -> Array:
    """All pairwise distances ``[..., N, N]`` with an exactly zero diagonal
    and finite gradients at zero distance."""
    ops, xp = a.ops, a.xp
    eye = _eye(a, e.shape[-2])
    if p == 2.0:
        # Gram form ||x||^2 + ||y||^2 - 2 x.y: O(N^2) memory. Rounding can make
        # it slightly negative: clamp at 0; the diagonal is set to exactly 0.
        sq = xp.sum(e * e, axis=-1)
        d2 = sq[..., :, None] + sq[..., None, :] - 2.0 * _gram(ops, e)
        d2 = xp.where(eye | (d2 <= 0), xp.zeros_like(d2), d2)
        return d2 if squared else numerics.sqrt_or_zero(ops, d2)
    # Other norms need the differences: O(N^2 D) memory.
    d = numerics.pnorm(ops, e[..., :, None, :] - e[..., None, :, :], p)
    return d * d if squared else d


@loss
def batch_triplet(embeddings: Array, labels: Array, /, *, margin: float = 1.0,
                  mining: Literal["all", "batch_hard", "semi_hard"] = "batch_hard", p: float = 2.0,
                  squared: bool = False, chunk_size: int | None = None, where: Array | None = None,
                  reduction: Reduction = "mean") -> Array:
    """Triplet loss with online mining inside a labelled batch.

    Distances ``D[i, j] = ||e_i - e_j||_p`` (squared with ``squared=True``) for
    every pair of the batch; positives of anchor ``a`` are the *other* samples
    with its label, negatives the samples with another label. The hinge is
    ``max(0, d_ap - d_an + margin)``. ``mining``:

    * ``"all"``: every valid triplet ``(a, p, n)``. "mean" is the plain mean
      over all valid triplets (zero-loss ones included; Hermans et al.'s
      "batch all" variant averaging over non-zero triplets is not the
      default). "none" returns ``[..., N, N, N]`` indexed ``[a, p, n]``, 0
      where the triplet is not valid.
    * ``"batch_hard"`` (Hermans et al.): per anchor, the farthest positive and
      the nearest negative. "mean" averages over anchors that have at least
      one positive and one negative; "none" returns ``[..., N]`` (0 for
      anchors without both).
    * ``"semi_hard"`` (FaceNet): per anchor-positive pair, the nearest
      negative *farther* than the positive; when the anchor has no such
      negative, its farthest negative is used (as TensorFlow's
      ``triplet_semihard_loss`` does). "mean" averages over anchor-positive
      pairs whose anchor has a negative; "none" returns ``[..., N, N]``
      indexed ``[a, p]``, 0 where ``(a, p)`` is not such a pair.

    A batch without any valid triplet gives 0 with zero gradient (finite).
    The selected positive/negative is an index (argmax/argmin, first on ties),
    so every backend gives the same subgradient. Fully vectorised and static
    in shape: usable under ``jax.jit``/``vmap``. Memory is O(N^2) for
    ``"batch_hard"`` with ``p=2``, O(N^3) for ``"all"``/``"semi_hard"``, and
    O(N^2 D) for the distances when ``p != 2``. With ``p=2`` distances come
    from the Gram matrix (fast, O(N^2) memory) and are accurate to about
    ``sqrt(machine eps) * ||e||`` for near-duplicate embeddings.

    ``chunk_size`` (``mining="batch_hard"`` only): mine ``chunk_size``
    anchors at a time (their ``[..., chunk, N]`` distances, without gradient)
    and then compute each anchor's two selected distances directly from the
    gathered embeddings, so peak memory is O(N * chunk_size + N * D) in the
    forward and the backward, rather than O(N^2) (pml#547). Same mining and
    values as ``chunk_size=None`` up to rounding: the selected distances are
    computed as ``||e_a - e_p||`` (exact near duplicates), not from the Gram
    matrix.

    Args:
      embeddings: real floating array ``[..., N, D]``.
      labels: ``[..., N]`` class labels of any dtype that supports ``==``.
      margin: positive margin.
      mining: "all", "batch_hard" or "semi_hard".
      p: norm degree, > 0 (``math.inf`` allowed).
      squared: use squared distances.
      chunk_size: None, or the number of anchors mined at a time (a positive
        int; ``mining="batch_hard"`` only).
      where: optional boolean mask ``[..., N]``: a masked embedding is
        neither an anchor nor a candidate.
      reduction: "mean", "sum" or "none" (shapes above).

    Returns:
      A scalar array, or the per-anchor / per-pair / per-triplet array above.

    References:
      Schroff, Kalenichenko & Philbin, "FaceNet: A Unified Embedding for Face
      Recognition and Clustering", 2015. Hermans, Beyer & Leibe, "In Defense
      of the Triplet Loss for Person Re-Identification", 2017.

    Example:
      >>> import numpy as np, lossapi
      >>> e = np.array([[0.0, 0.0], [0.0, 1.0], [2.0, 0.0], [2.0, 0.5]])
      >>> round(float(lossapi.batch_triplet(e, np.array([0, 0, 1, 1]), margin=1.0)), 6)
      0.0
      >>> round(float(lossapi.batch_triplet(e, np.array([0, 1, 0, 1]), margin=1.0)), 6)
      2.280776
    """
    margin = v.positive("margin", margin)
    v.choice("mining", mining, ("all", "batch_hard", "semi_hard"))
    p = v.static_number("p", p, "it selects the norm", low=0.0, low_open=True)
    squared = v.flag("squared", squared)
    chunk = _chunk_size(chunk_size)
    if chunk is not None and mining != "batch_hard":
        raise v.BadValue(f"chunk_size is supported with mining='batch_hard' only, got mining={mining!r}")
    a, labels, w = _prepare_batch(embeddings, labels, reduction, where)
    if chunk is not None:
        return a.run(_batch_hard_blocks, labels=labels, margin=margin, p=p, squared=squared, keep=w, chunk=chunk)
    return a.run(_batch_triplet, labels=labels, margin=margin, mining=mining, p=p, squared=squared, keep=w)


def _batch_hard_blocks(a: Prepared, e: Array, *, labels: Array, margin: float, p: float, squared: bool,
                       keep: Array | None, chunk: int) -> Mean:
    """batch_hard mining ``chunk`` anchors at a time, on distances without
    gradient (the unchunked path's formula, so the same choices), then the
    hinge on the selected pairs' distances, computed from gathered rows. The
    blocks run in the backend's loop (:func:`_core.blocks.blocks`), which
    keeps only the picks ``[..., N]`` between blocks."""
    ops, xp = a.ops, a.xp
    n = e.shape[-2]
    c = ops.stop_gradient(e)
    sq = xp.sum(c * c, axis=-1)
    anchors = _Anchors(a, c, sq, labels, keep)
    idx = xp.arange(1, device=a.device).dtype  # the default integer dtype, argmax's

    def block(lo: Any, size: int, carry: tuple) -> tuple:
        cb, sqb, lb, kb = anchors.rows(lo, size)
        i, j = lo + xp.arange(size, device=a.device)[:, None], xp.arange(n, device=a.device)[None, :]
        if p == 2.0:
            d2 = sqb[..., :, None] + sq[..., None, :] - 2.0 * ops.matmul(cb, xp.matrix_transpose(c))
            d2 = xp.where((i == j) | (d2 <= 0), xp.zeros_like(d2), d2)
            d = d2 if squared else numerics.sqrt_or_zero(ops, d2)
        else:
            d = numerics.pnorm(ops, cb[..., :, None, :] - c[..., None, :, :], p)
            d = d * d if squared else d
        same = lb[..., :, None] == labels[..., None, :]
        pos, neg = same & (i != j), ~same
        if keep is not None:
            both = kb[..., :, None] & keep[..., None, :]
            pos, neg = pos & both, neg & both
        picks = (xp.argmax(xp.where(pos, d, xp.full_like(d, -1.0)), axis=-1),
                 xp.argmin(xp.where(neg, d, xp.full_like(d, xp.finfo(d.dtype).max)), axis=-1),
                 xp.any(pos, axis=-1) & xp.any(neg, axis=-1))
        return tuple(anchors.add(buf, lo, xp.astype(x, idx)) for buf, x in zip(carry, picks))

    # three buffers (add_rows accumulates in place on NumPy and torch)
    bufs = tuple(xp.zeros((n, *e.shape[:-2]), dtype=idx, device=a.device) for _ in range(3))
    pick_p, pick_n, ok = (anchors.back(x) for x in blocks(ops, n, chunk, block, bufs))

    def dist(pick: Array) -> Array:
        other = ops.take_along_axis(e, xp.broadcast_to(pick[..., None], tuple(e.shape)), axis=-2)
        r = e - other
        if p == 2.0:
            d2 = xp.sum(r * r, axis=-1)
            return d2 if squared else numerics.sqrt_or_zero(ops, d2)
        d = numerics.pnorm(ops, r, p)
        return d * d if squared else d

    ok = ok != 0
    hinge = numerics.hinge(ops, dist(pick_p) - dist(pick_n) + margin, at_kink="zero")
    return _masked_mean(xp.where(ok, hinge, xp.zeros_like(hinge)), ok, xp)


def _batch_triplet(a: Prepared, e: Array, *, labels: Array, margin: float, mining: str, p: float,
                   squared: bool, keep: Array | None) -> Mean:
    ops, xp = a.ops, a.xp
    d = _distance_matrix(a, e, p, squared)
    same = labels[..., :, None] == labels[..., None, :]
    pos = same & ~_eye(a, e.shape[-2])
    neg = ~same
    if keep is not None:
        both = _pair_mask(keep)
        pos, neg = pos & both, neg & both
    has_neg = xp.any(neg, axis=-1)
    below = xp.full_like(d, -1.0)  # fills never chosen by argmax (d >= 0)
    above = xp.full_like(d, xp.finfo(d.dtype).max)  # ... or by argmin
    if mining == "all":
        valid = pos[..., :, :, None] & neg[..., :, None, :]
        hinge = numerics.hinge(ops, d[..., :, :, None] - d[..., :, None, :] + margin, at_kink="zero")
        loss = xp.where(valid, hinge, xp.zeros_like(hinge))
    elif mining == "batch_hard":
        hardest_pos = _take_last(ops, d, xp.argmax(xp.where(pos, d, below), axis=-1, keepdims=True))
        hardest_neg = _take_last(ops, d, xp.argmin(xp.where(neg, d, above), axis=-1, keepdims=True))
        valid = xp.any(pos, axis=-1) & has_neg
        hinge = numerics.hinge(ops, hardest_pos - hardest_neg + margin, at_kink="zero")
        loss = xp.where(valid, hinge, xp.zeros_like(hinge))
    else:  # semi_hard
        shape = tuple(d.shape) + (d.shape[-1],)
        d_an = xp.broadcast_to(d[..., :, None, :], shape)  # [a, p, n] -> d[a, n]
        cand = neg[..., :, None, :] & (d_an > d[..., :, :, None])
        nearest = _take_last(ops, d_an, xp.argmin(xp.where(cand, d_an, xp.full_like(d_an, xp.finfo(d.dtype).max)),
                                                  axis=-1, keepdims=True))
        farthest = _take_last(ops, d, xp.argmax(xp.where(neg, d, below), axis=-1, keepdims=True))
        d_neg = xp.where(xp.any(cand, axis=-1), nearest, farthest[..., :, None])
        valid = pos & has_neg[..., :, None]
        hinge = numerics.hinge(ops, d - d_neg + margin, at_kink="zero")
        loss = xp.where(valid, hinge, xp.zeros_like(hinge))
    return _masked_mean(loss, valid, xp)


# --- cosine losses ------------------------------------------------------------

@loss
def cosine_embedding(x1: Array, x2: Array, target: Array, /, *, margin: float = 0.0,
                     where: Array | None = None,
                     reduction: Reduction = "mean") -> Array:
    """Cosine embedding loss with torch's ``cosine_embedding_loss`` semantics.

    With ``cos = x1.x2 / sqrt((||x1||^2 + 1e-12)(||x2||^2 + 1e-12))`` (torch's
    eps and formula: as in torch, that product overflows when
    ``||x1|| ||x2|| > 1.8e19`` in float32, giving ``cos = 0``), per pair:
    ``1 - cos`` if ``target == 1``, ``max(0, cos - margin)`` if
    ``target == -1``, and 0 for any other target value (as torch). Zero
    vectors give ``cos = 0`` with a large but finite gradient (as torch). At
    the kink ``cos == margin`` the gradient is that of the linear piece
    (torch 2.13's ``clamp_min``; torch 2.14 gives 0), on every backend.

    Args:
      x1, x2: real floating arrays ``[..., D]``, equal shapes.
      target: ``[...]`` (``x1``'s shape without the last axis), values +1/-1.
      margin: in [-1, 1]; dissimilar pairs with ``cos <= margin`` cost nothing.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per pair (shape ``[...]``) for "none".

    Example:
      >>> import numpy as np, lossapi
      >>> x1 = np.array([[1.0, 0.0], [1.0, 0.0]])
      >>> x2 = np.array([[0.0, 2.0], [1.0, 1.0]])
      >>> lossapi.cosine_embedding(x1, x2, np.array([1, -1]), margin=0.5, reduction="none").round(6)
      array([1.      , 0.207107])
    """
    margin = v.number("margin", margin, low=-1.0, high=1.0)
    return _pairs(x1, x2, target, "target", reduction, where).run(_cosine_embedding, margin=margin)


def _cosine_embedding(a: Prepared, x1: Array, x2: Array, target: Array, *, margin: float) -> Array:
    ops, xp = a.ops, a.xp
    x1, x2 = _features(a, x1, x2)
    dot = xp.sum(x1 * x2, axis=-1)
    # torch's sqrt(a * b) (not sqrt(a) * sqrt(b)), so the torch fast path and
    # this code agree everywhere, including where a * b overflows.
    s1 = xp.sum(x1 * x1, axis=-1) + _COS_EMB_EPS
    s2 = xp.sum(x2 * x2, axis=-1) + _COS_EMB_EPS
    cos = dot / xp.sqrt(s1 * s2)
    zero = xp.zeros_like(cos)
    return xp.where(target == 1, 1.0 - cos,
                    xp.where(target == -1, numerics.hinge(ops, cos - margin, at_kink="slope"), zero))


@loss
def cosine_proximity(x1: Array, x2: Array, /, *, axis: int | tuple[int, ...] = -1, where: Array | None = None,
                     reduction: Reduction = "mean") -> Array:
    """Negative cosine similarity, ``-cos(x1, x2)`` along ``axis``.

    The reference guide's cosine proximity loss; equal to
    ``-torch.nn.functional.cosine_similarity(x1, x2, dim=axis)``, which divides
    each vector by ``max(||x||, 1e-8)``: a zero vector gives 0 with a finite
    gradient. As in torch, the clamp of a norm below 1e-8 is not
    differentiated (the gradient flows through ``||x||`` as if unclamped), which
    changes the gradient only for vectors shorter than 1e-8. Values lie in
    [-1, 1]; add 1 for the ``1 - cos`` variant.

    Args:
      x1, x2: real floating arrays of equal shapes.
      axis: the feature axis (an int).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or ``x1``'s shape without ``axis`` for "none".

    Example:
      >>> import numpy as np, lossapi
      >>> lossapi.cosine_proximity(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[2.0, 0.0], [-1.0, 0.0]]),
      ...                          reduction="none").round(6)
      array([-1.      ,  0.707107])
    """
    a = prepare(x1, x2, reduction=reduction, where=where, axis=axis, what="arrays")
    return a.run(_cosine_proximity, axis=a.axis)


def _cosine_proximity(a: Prepared, x1: Array, x2: Array, *, axis: int) -> Array:
    ops, xp = a.ops, a.xp
    x1, x2 = _features(a, x1, x2)
    if axis != x1.ndim - 1:
        x1, x2 = xp.moveaxis(x1, axis, -1), xp.moveaxis(x2, axis, -1)

    def clamped_norm(x: Array) -> Array:
        # Value max(||x||, eps), gradient that of ||x|| (torch's un-differentiated
        # clamp). sqrt(max(s, smallest normal)) has gradient 0, not NaN, at
        # x == 0; its value there (< 1e-19) is clamped to eps anyway.
        s = xp.sum(x * x, axis=-1)
        n = xp.sqrt(xp.maximum(s, xp.full_like(s, xp.finfo(s.dtype).smallest_normal)))
        return n + ops.stop_gradient(xp.maximum(n, xp.full_like(n, _COS_EPS)) - n)

    # sum(x1 * (x2 * w)) with w = 1/(c1 c2) broadcast over the feature axis:
    # XLA:CPU fuses the norms, the product and the mean into one row-wise pass
    # (x1.x2 * w as three separate reductions runs ~1.6x slower there; this
    # association ~10% faster than (x1 * x2) * w), and no [..., D] temporary
    # is kept for the backward.
    w = (1.0 / clamped_norm(x1)) / clamped_norm(x2)  # not 1/(c1 c2): that product may overflow
    return -xp.sum(x1 * (x2 * w[..., None]), axis=-1)


# --- batch contrastive losses -------------------------------------------------

@loss
def nt_xent(z1: Array, z2: Array, /, *, temperature: float = 0.5, chunk_size: int | None = None,
            where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """NT-Xent (normalized temperature-scaled cross-entropy), SimCLR's InfoNCE.

    ``z1[i]`` and ``z2[i]`` are two views of sample ``i``. The ``2N`` vectors
    are L2-normalised (each divided by ``max(||z||, 1e-8)``) and
    ``s[i, j] = cos(z_i, z_j) / temperature``. For each of the ``2N`` anchors,
    the positive is its other view and the candidates are all other ``2N - 1``
    vectors (self-similarity excluded)::

        loss_i = -s[i, pos(i)] + logsumexp_{j != i} s[i, j]

    ``chunk_size``: None computes the ``[..., 2N, 2N]`` similarities at once;
    an int processes that many anchors at a time, forward and backward, so
    peak memory is O(N * chunk_size) rather than O(N^2), with the same values
    and gradients (to rounding; pml#547).

    Args:
      z1, z2: real floating arrays ``[..., N, D]``, equal shapes (batch on
        axis -2, features last; leading axes are independent batches).
      temperature: positive temperature.
      chunk_size: None, or the number of anchors per block (a positive int).
      where: optional boolean mask ``[..., N]`` (one value per pair of views).
      reduction: "mean" (over the ``2N`` anchors), "sum" or "none".

    Returns:
      A scalar array, or shape ``[..., 2N]`` for "none": anchors from ``z1``
      first, then those from ``z2``.

    References:
      Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive
      Learning of Visual Representations", 2020. van den Oord, Li & Vinyals,
      "Representation Learning with Contrastive Predictive Coding", 2018.

    Example:
      >>> import numpy as np, lossapi
      >>> z = np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(lossapi.nt_xent(z, z, temperature=1.0)), 6)
      0.551445
    """
    t = v.positive("temperature", temperature)
    chunk = _chunk_size(chunk_size)
    a = prepare(z1, z2, reduction=reduction, extra=(v.array_or_none("where", where),))
    v.min_ndim(a.arrays[0], "z1", 2, "[..., N, D]")
    return a.run(_nt_xent, temperature=t, keep=_batch_mask(a, where), chunk=chunk)


def _nt_xent(a: Prepared, z1: Array, z2: Array, *, temperature: float, keep: Array | None,
             chunk: int | None) -> Any:
    ops, xp = a.ops, a.xp
    t = temperature
    u1, u2 = _unit(ops, z1), _unit(ops, z2)
    u = xp.concat([u1, u2], axis=-2)
    if chunk is not None:
        both = None if keep is None else xp.concat([keep, keep], axis=-1)
        out = _Blocks(a, chunk, pairs=True)(_scaled(a, u, t), None, both)
        return out if both is None else _masked_mean(xp.where(both, out, xp.zeros_like(out)), both, xp)
    s = _gram(ops, u) / t
    # Self-similarity is excluded with a large finite negative (via where).
    others = ~_eye(a, u.shape[-2])
    if keep is not None:  # a masked pair is neither an anchor nor a negative
        both = xp.concat([keep, keep], axis=-1)
        others = others & _pair_mask(both)
    lse, _ = numerics.masked_logsumexp(ops, s, others, axis=-1)
    pos = xp.sum(u1 * u2, axis=-1) / t
    out = lse - xp.concat([pos, pos], axis=-1)
    if keep is None:
        return out
    return _masked_mean(xp.where(both, out, xp.zeros_like(out)), both, xp)


@loss
def circle(embeddings: Array, labels: Array, /, *, margin: float = 0.25, gamma: float = 256.0,
           detach_weights: bool = True, where: Array | None = None,
           reduction: Reduction = "mean") -> Array:
    """Circle loss (Sun et al. 2020), pair-wise label form over a batch.

    ``s`` is the cosine similarity between batch members (vectors divided by
    ``max(||e||, 1e-8)``). For each anchor, with ``s_p`` over its positives
    (other samples with its label) and ``s_n`` over its negatives::

        loss = log(1 + sum_n exp(gamma a_n (s_n - m)) * sum_p exp(-gamma a_p (s_p - 1 + m)))
        a_p = max(0, 1 + m - s_p),  a_n = max(0, s_n + m)

    computed as ``softplus(logsumexp_n + logsumexp_p)`` (stable for the large
    ``gamma``). "mean" averages over anchors with at least one positive and
    one negative; other anchors give 0 (also for "none", shape ``[..., N]``),
    and a batch without any gives 0 with zero gradient.

    Args:
      embeddings: real floating array ``[..., N, D]``.
      labels: ``[..., N]`` class labels of any dtype that supports ``==``.
      margin: relaxation ``m`` in [0, 1).
      gamma: positive scale.
      detach_weights: treat the weights ``a_p``, ``a_n`` as constants for the
        gradient (True, as the paper's code does); False differentiates
        through them (the gradient of the value as written).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per anchor (shape ``[..., N]``) for "none".

    References:
      Sun et al., "Circle Loss: A Unified Perspective of Pair Similarity
      Optimization", CVPR 2020.

    Example:
      >>> import numpy as np, lossapi
      >>> e = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
      >>> round(float(lossapi.circle(e, np.array([0, 0, 1, 1]), gamma=16.0)), 6)
      0.301441
    """
    m = v.number("margin", margin, low=0.0, high=1.0, high_open=True)
    gamma = v.positive("gamma", gamma)
    detach_weights = v.flag("detach_weights", detach_weights)
    a, labels, w = _prepare_batch(embeddings, labels, reduction, where)
    return a.run(_circle, labels=labels, margin=m, gamma=gamma, detach_weights=detach_weights, keep=w)


def _circle(a: Prepared, e: Array, *, labels: Array, margin: float, gamma: float, detach_weights: bool,
            keep: Array | None) -> Mean:
    ops, xp = a.ops, a.xp
    m = margin
    u = _unit(ops, e)
    s = _gram(ops, u)
    same = labels[..., :, None] == labels[..., None, :]
    pos = same & ~_eye(a, e.shape[-2])
    diff = ~same
    if keep is not None:
        both = _pair_mask(keep)
        pos, diff = pos & both, diff & both
    a_p = numerics.hinge(ops, 1.0 + m - s, at_kink="zero")
    a_n = numerics.hinge(ops, s + m, at_kink="zero")
    if detach_weights:
        a_p, a_n = ops.stop_gradient(a_p), ops.stop_gradient(a_n)
    lse_p, has_p = numerics.masked_logsumexp(ops, -gamma * a_p * (s - (1.0 - m)), pos, axis=-1)
    lse_n, has_n = numerics.masked_logsumexp(ops, gamma * a_n * (s - m), diff, axis=-1)
    valid = has_p & has_n
    loss = xp.where(valid, ops.softplus(lse_p + lse_n), xp.zeros_like(lse_p))
    return _masked_mean(loss, valid, xp)


# --- hinge embedding (distances in) ---------------------------------------------

@loss
def hinge_embedding(x: Array, target: Array, /, *, margin: float = 1.0, where: Array | None = None,
                    reduction: Reduction = "mean") -> Array:
    """Hinge embedding loss with torch's ``hinge_embedding_loss`` semantics.

    Elementwise on ``x`` (typically a distance between two embeddings, such
    as an L1 pairwise distance) with a target of +1 (similar) or -1
    (dissimilar)::

        loss = x                    where target == 1
        loss = max(0, margin - x)   where target == -1

    Other target values get both terms, ``x + max(0, margin - x)``, exactly
    as torch computes it (its kernel adds the two masked terms, each masked
    by ``target != -1`` and ``target != 1``); convert {0, 1} labels with
    ``2 * t - 1``. At the kink ``x == margin`` (target -1) the gradient is
    that of the linear piece, -1 (torch 2.13's ``clamp_min``; torch 2.14
    gives 0), on every backend and torch version, as :func:`triplet` and
    :func:`cosine_embedding`.

    Unlike this module's paired losses, the inputs are not vectors: ``x`` and
    ``target`` have equal shapes of any rank and ``reduction="none"`` returns
    one value per element.

    Args:
      x: floating array of any shape.
      target: +1 / -1 targets (any real or integer dtype), ``x``'s shape.
      margin: the margin (any real number, as in torch).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or an array of ``x``'s shape for "none".

    Example:
      >>> import numpy as np, lossapi
      >>> x, t = np.array([0.5, 2.0, 0.25, -1.0]), np.array([1, -1, -1, -1])
      >>> lossapi.hinge_embedding(x, t, reduction="none")
      array([0.5 , 0.  , 0.75, 2.  ])
    """
    margin = v.number("margin", margin)
    return prepare(x, target, reduction=reduction, where=where).run(_hinge_embedding, margin=margin)


def _hinge_embedding(a: Prepared, x: Array, target: Array, *, margin: float) -> Array:
    xp = a.xp
    zero = xp.zeros_like(x)
    # torch's composition and order: the margin term where target != 1 plus x where target != -1.
    hinge = numerics.hinge(a.ops, margin - x, at_kink="slope")
    return xp.where(target != 1, hinge, zero) + xp.where(target != -1, x, zero)


# --- supervised contrastive, margin softmax and proxy losses --------------------

def _class_labels(a: Prepared, labels: Array, num_classes: int, want: tuple, name: str = "labels") -> Prepared:
    """Integer class labels of shape ``want``, in ``[0, num_classes)`` (a
    value check, run where values can be read)."""
    v.array(name, labels)
    if a.ops.kind(labels.dtype) != "i":
        raise v.BadType(f"{name} must be integer class labels, got dtype {labels.dtype}")
    if tuple(labels.shape) != want:
        raise v.BadValue(f"{name} has shape {tuple(labels.shape)}; it must have shape {want} (embeddings' shape "
                         "without the feature axis)")
    return a._replace(checks=(*a.checks, v.label_range(labels, num_classes, None, name)))


@loss
def supcon(embeddings: Array, labels: Array, /, *, temperature: float = 0.1, chunk_size: int | None = None,
           where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Supervised contrastive loss (Khosla et al. 2020, the ``L_out`` form).

    The embeddings are L2-normalised (each divided by ``max(||e||, 1e-8)``)
    and ``s[i, j] = cos(e_i, e_j) / temperature``. For anchor ``i`` with
    positives ``P(i)`` (the *other* samples with its label) and candidates
    ``A(i)`` (every other sample)::

        loss_i = -1/|P(i)| sum_{p in P(i)} (s[i, p] - logsumexp_{a in A(i)} s[i, a])

    An anchor without positives gives 0 and leaves the mean: "mean" divides
    by the number of anchors with at least one positive (a batch without any
    gives 0 with zero gradient). Unlike the paper's reference code, the loss
    is not multiplied by ``temperature / base_temperature``. Several views
    of one sample are rows with the same label.

    ``chunk_size``: None computes the ``[..., N, N]`` similarities at once; an
    int processes that many anchors at a time, forward and backward, so peak
    memory is O(N * chunk_size) rather than O(N^2), with the same values and
    gradients (to rounding).

    Args:
      embeddings: real floating array ``[..., N, D]`` (leading axes are
        independent batches).
      labels: ``[..., N]`` class labels of any dtype that supports ``==``.
      temperature: positive temperature.
      chunk_size: None, or the number of anchors per block (a positive int).
      where: optional boolean mask ``[..., N]``: a masked embedding is
        neither an anchor nor a candidate.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per anchor (shape ``[..., N]``) for "none".

    References:
      Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020.

    Example:
      >>> import numpy as np, lossapi
      >>> e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
      >>> round(float(lossapi.supcon(e, np.array([0, 0, 1]), temperature=1.0)), 6)
      0.313262
    """
    t = v.positive("temperature", temperature)
    chunk = _chunk_size(chunk_size)
    a, labels, w = _prepare_batch(embeddings, labels, reduction, where)
    return a.run(_supcon, labels=labels, temperature=t, keep=w, chunk=chunk)


def _supcon(a: Prepared, e: Array, *, labels: Array, temperature: Any, keep: Array | None,
            chunk: int | None) -> Mean:
    ops, xp = a.ops, a.xp
    u = _unit(ops, e)
    if chunk is not None:
        loss = _Blocks(a, chunk, pairs=False)(_scaled(a, u, temperature), labels, keep)
        return _masked_mean(loss, _has_positive(a, labels, keep, chunk), xp)
    s = _gram(ops, u) / temperature
    others = ~_eye(a, e.shape[-2])
    if keep is not None:
        others = others & _pair_mask(keep)
    pos = (labels[..., :, None] == labels[..., None, :]) & others
    lse, _ = numerics.masked_logsumexp(ops, s, others, axis=-1)
    npos = xp.sum(xp.astype(pos, s.dtype), axis=-1)
    has = npos > 0
    # mean over positives of (lse - s_ip) = lse - mean_p s_ip; the masked sum
    # never sees a non-positive (a where, not a multiplication by 0).
    mean_pos = xp.sum(xp.where(pos, s, xp.zeros_like(s)), axis=-1) / xp.where(has, npos, xp.ones_like(npos))
    loss = xp.where(has, lse - mean_pos, xp.zeros_like(lse))
    return _masked_mean(loss, has, xp)


def _margin_softmax(embeddings: Array, weight: Array, labels: Array, reduction: str, where: Any,
                    sub_centers: int) -> Prepared:
    """Embeddings ``[..., D]``, class weights ``[C * K, D]`` and integer
    labels ``[...]`` in ``[0, C)``; ``where=`` one value per embedding."""
    a = prepare(embeddings, weight, reduction=reduction, same_shape=False,
                extra=(labels, v.array_or_none("where", where)))
    e, w = a.arrays
    v.min_ndim(e, "embeddings", 1, "[..., D]")
    if w.ndim != 2 or w.shape[1] != e.shape[-1]:
        raise v.BadValue(f"weight must have shape [C * sub_centers, D] with D = {e.shape[-1]} (embeddings' last "
                         f"axis), got shape {tuple(w.shape)}")
    if w.shape[0] % sub_centers:
        raise v.BadValue(f"weight has {w.shape[0]} rows, which is not a multiple of sub_centers={sub_centers}")
    labels = a.ops.own(labels)
    a = _class_labels(a, labels, w.shape[0] // sub_centers, tuple(e.shape[:-1]))
    keep = None if where is None else _batch_mask(a, where)
    return a._replace(arrays=(e, w, labels), keep=keep)


def _class_cosines(a: Prepared, e: Array, w: Array, sub_centers: int) -> Array:
    """``cos(e, w_c)`` ``[..., C]``; with sub-centres, the largest over each
    class's ``K`` rows (``weight[c * K + k]``), picked by index (argmax,
    first on ties) so every backend gives the same subgradient."""
    ops, xp = a.ops, a.xp
    cos = ops.matmul(_unit(ops, e), xp.matrix_transpose(_unit(ops, w)))
    if sub_centers == 1:
        return cos
    cos = xp.reshape(cos, (*cos.shape[:-1], cos.shape[-1] // sub_centers, sub_centers))
    return _take_last(ops, cos, xp.argmax(cos, axis=-1, keepdims=True))


def _margin_ce(a: Prepared, cos: Array, labels: Array, target: Callable[[Array], Array], scale: Any) -> Array:
    """Cross-entropy of ``scale * cos`` with the label's cosine replaced by
    ``target(cos_y)``."""
    ops, xp = a.ops, a.xp
    y = labels[..., None]
    t = target(_take_last(ops, cos, y))  # a gather, not a masked sum over the classes
    logits = xp.where(y == xp.arange(cos.shape[-1], device=a.device), t[..., None], cos) * scale
    # -log_softmax at the label (= logsumexp - scale * t): one fused kernel in
    # torch, where logsumexp is several passes over [..., C] (about 2x slower).
    return -_take_last(ops, ops.log_softmax(logits, axis=-1), y)


@loss
def arcface(embeddings: Array, weight: Array, labels: Array, /, *, scale: float = 64.0, margin: float = 0.5,
            sub_centers: int = 1, where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """ArcFace: additive angular margin softmax (Deng et al. 2019).

    Embeddings and class weights are L2-normalised (each divided by
    ``max(||x||, 1e-8)``); ``cos_j = cos(theta_j)`` is the cosine between an
    embedding and class ``j``'s weight. The label's logit gets the angular
    margin ``m``::

        loss = -log(exp(s cos(theta_y + m)) / (exp(s cos(theta_y + m)) + sum_{j != y} exp(s cos_j)))

    ``cos(theta + m)`` is computed as ``cos(theta) cos(m) - sin(theta) sin(m)``
    with ``sin(theta) = sqrt(1 - cos^2)`` (0 where rounding makes
    ``cos^2 >= 1``, with gradient 0 there): never ``acos``, so values and
    gradients stay finite at ``cos(theta) = +-1`` (identical or opposite
    vectors). As pytorch-metric-learning's ``ArcFaceLoss`` (and the paper's
    formula), no "easy margin" or ``theta + m > pi`` fallback is applied:
    for ``theta > pi - m`` the target logit is ``cos(theta + m)``, which
    rises again (insightface's code replaces it there by ``cos - m sin m``).
    PML takes ``margin`` in degrees (28.6 ~ 0.5 rad) and clamps ``acos``'s
    argument to ``+-(1 - 1e-7)``; here ``margin`` is in radians, unclamped.
    Half-precision inputs are computed in float32 (pml#209).

    ``sub_centers=K`` (sub-center ArcFace, Deng et al. 2020): ``weight`` holds
    ``K`` rows per class, ``weight[c * K + k]``, and ``cos_c`` is the largest
    cosine over class ``c``'s sub-centres (PML's ``SubCenterArcFaceLoss``
    layout).

    Args:
      embeddings: real floating array ``[..., D]``.
      weight: class weights ``[C * sub_centers, D]``.
      labels: integer class labels ``[...]`` in ``[0, C)``.
      scale: positive scale ``s``.
      margin: angular margin ``m`` in radians, in ``[0, pi]``.
      sub_centers: positive int ``K``.
      where: optional boolean mask ``[...]``, one value per embedding.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per embedding (shape ``[...]``) for "none".

    References:
      Deng, Guo, Xue & Zafeiriou, "ArcFace: Additive Angular Margin Loss for
      Deep Face Recognition", CVPR 2019; Deng et al., "Sub-center ArcFace",
      ECCV 2020.

    Example:
      >>> import numpy as np, lossapi
      >>> w = np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(lossapi.arcface(np.array([[1.0, 0.0]]), w, np.array([0]), scale=2.0)), 6)
      0.159461
    """
    s = v.positive("scale", scale)
    m = v.number("margin", margin, low=0.0, high=math.pi)
    k = _sub_centers(sub_centers)
    a = _margin_softmax(embeddings, weight, labels, reduction, where, k)
    return a.run(_arcface, scale=s, margin=m, sub_centers=k)


def _sub_centers(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise v.BadType(f"sub_centers must be a positive int, got {type(k).__name__}")
    if k < 1:
        raise v.BadValue(f"sub_centers must be a positive int, got {k}")
    return k


def _arcface(a: Prepared, e: Array, w: Array, labels: Array, *, scale: Any, margin: Any, sub_centers: int) -> Array:
    ops, xp = a.ops, a.xp
    cos_m, sin_m = (f(margin) for f in ((xp.cos, xp.sin) if v.is_array(margin) else (math.cos, math.sin)))

    def target(c: Array) -> Array:
        # cos(t + m) = cos t cos m - sin t sin m; sin t = sqrt(1 - c^2) with a
        # double where, so the gradient is finite (0 through sin) at c = +-1.
        return c * cos_m - numerics.sqrt_or_zero(ops, 1.0 - c * c) * sin_m

    return _margin_ce(a, _class_cosines(a, e, w, sub_centers), labels, target, scale)


@loss
def cosface(embeddings: Array, weight: Array, labels: Array, /, *, scale: float = 64.0, margin: float = 0.35,
            where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """CosFace: additive cosine margin softmax (Wang et al. 2018).

    As :func:`arcface`, with the label's logit ``s (cos(theta_y) - m)``::

        loss = -log(exp(s (cos_y - m)) / (exp(s (cos_y - m)) + sum_{j != y} exp(s cos_j)))

    pytorch-metric-learning's ``CosFaceLoss`` semantics (its defaults too);
    embeddings and weights L2-normalised (``max(||x||, 1e-8)``); half-precision
    inputs computed in float32.

    Args:
      embeddings: real floating array ``[..., D]``.
      weight: class weights ``[C, D]``.
      labels: integer class labels ``[...]`` in ``[0, C)``.
      scale: positive scale ``s``.
      margin: cosine margin ``m`` (any real number; 0 is the normalised softmax).
      where: optional boolean mask ``[...]``, one value per embedding.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per embedding (shape ``[...]``) for "none".

    References:
      Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face
      Recognition", CVPR 2018.

    Example:
      >>> import numpy as np, lossapi
      >>> w = np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(lossapi.cosface(np.array([[1.0, 0.0]]), w, np.array([0]), scale=2.0, margin=0.5)), 6)
      0.313262
    """
    s = v.positive("scale", scale)
    m = v.number("margin", margin)
    a = _margin_softmax(embeddings, weight, labels, reduction, where, 1)
    return a.run(_cosface, scale=s, margin=m)


def _cosface(a: Prepared, e: Array, w: Array, labels: Array, *, scale: Any, margin: Any) -> Array:
    return _margin_ce(a, _class_cosines(a, e, w, 1), labels, lambda c: c - margin, scale)


@loss
def multi_similarity(embeddings: Array, labels: Array, /, *, alpha: float = 2.0, beta: float = 50.0,
                     base: float = 0.5, epsilon: float = 0.1, where: Array | None = None,
                     reduction: Reduction = "mean") -> Array:
    """Multi-similarity loss with its pair mining (Wang et al. 2019).

    ``s`` is the cosine similarity (vectors divided by ``max(||e||, 1e-8)``).
    Mining, per anchor ``i`` (pytorch-metric-learning's
    ``MultiSimilarityMiner``): a positive ``p`` (another sample with ``i``'s
    label) is kept if ``s_ip - epsilon < max_n s_in`` (the hardest
    negative), a negative ``n`` if ``s_in + epsilon > min_p s_ip`` (the
    hardest positive). The loss (PML's ``MultiSimilarityLoss``) over the
    kept pairs::

        loss_i = 1/alpha log(1 + sum_p exp(-alpha (s_ip - base)))
               + 1/beta  log(1 + sum_n exp(beta (s_in - base)))

    An anchor without kept pairs gives 0; "mean" averages over all (kept)
    anchors, as PML's mean reducer. The mining is a selection: no gradient
    flows through it.

    Args:
      embeddings: real floating array ``[..., N, D]``.
      labels: ``[..., N]`` class labels of any dtype that supports ``==``.
      alpha, beta: positive scales of the positive and negative terms.
      base: the similarity margin ``lambda``.
      epsilon: the mining margin (non-negative).
      where: optional boolean mask ``[..., N]``: a masked embedding is
        neither an anchor nor a candidate.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or one value per anchor (shape ``[..., N]``) for "none".

    References:
      Wang, Han, Huang, Dong & Scott, "Multi-Similarity Loss with General Pair
      Weighting for Deep Metric Learning", CVPR 2019.

    Example:
      >>> import numpy as np, lossapi
      >>> e = np.array([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [0.0, 1.0]])
      >>> round(float(lossapi.multi_similarity(e, np.array([0, 0, 1, 1]))), 6)
      0.679073
    """
    alpha, beta = v.positive("alpha", alpha), v.positive("beta", beta)
    base = v.number("base", base)
    epsilon = v.number("epsilon", epsilon, low=0.0)
    a, labels, w = _prepare_batch(embeddings, labels, reduction, where)
    return a.run(_multi_similarity, labels=labels, alpha=alpha, beta=beta, base=base, epsilon=epsilon, keep=w)


def _multi_similarity(a: Prepared, e: Array, *, labels: Array, alpha: Any, beta: Any, base: Any, epsilon: Any,
                      keep: Array | None) -> Any:
    ops, xp = a.ops, a.xp
    s = _gram(ops, _unit(ops, e))
    same = labels[..., :, None] == labels[..., None, :]
    pos, neg = same & ~_eye(a, e.shape[-2]), ~same
    if keep is not None:
        both = _pair_mask(keep)
        pos, neg = pos & both, neg & both
    # Mining: comparisons only (no gradient); a large finite fill stands for
    # "no positive" / "no negative" and selects nothing.
    big = xp.finfo(s.dtype).max
    hardest_pos = xp.min(xp.where(pos, s, xp.full_like(s, big)), axis=-1, keepdims=True)
    hardest_neg = xp.max(xp.where(neg, s, xp.full_like(s, -big)), axis=-1, keepdims=True)
    pos = pos & (s - epsilon < hardest_neg)
    neg = neg & (s + epsilon > hardest_pos)
    lse_p, has_p = numerics.masked_logsumexp(ops, -alpha * (s - base), pos, axis=-1)
    lse_n, has_n = numerics.masked_logsumexp(ops, beta * (s - base), neg, axis=-1)
    zero = xp.zeros_like(lse_p)
    # log(1 + sum exp(x)) = softplus(logsumexp x); 0 for an empty sum.
    loss = xp.where(has_p, ops.softplus(lse_p), zero) / alpha + xp.where(has_n, ops.softplus(lse_n), zero) / beta
    if keep is None:
        return loss
    return _masked_mean(loss, keep, xp)


@loss
def proxy_anchor(embeddings: Array, proxies: Array, labels: Array, /, *, alpha: float = 32.0, margin: float = 0.1,
                 where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Proxy-anchor loss (Kim et al. 2020), pytorch-metric-learning's semantics.

    ``s(x, p)`` is the cosine similarity between an embedding and a proxy
    (both divided by ``max(||v||, 1e-8)``). With ``X+_p`` the batch's
    embeddings of proxy ``p``'s class, ``X-_p`` the others, ``P+`` the
    proxies with at least one embedding in the batch and ``C`` the number of
    proxies, per batch::

        loss = 1/|P+| sum_{p in P+} log(1 + sum_{x in X+_p} exp(-alpha (s(x, p) - margin)))
             + 1/C    sum_p        log(1 + sum_{x in X-_p} exp(alpha (s(x, p) + margin)))

    The loss is one value per batch, a sum of per-proxy shares
    ``pos_p / |P+| + neg_p / C``: "none" returns these shares (shape
    ``[..., C]``, summing to each batch's loss); "mean" averages the batch
    losses over the leading axes (the plain loss for a single batch) and
    "sum" adds them. A batch without any kept embedding gives 0.

    Args:
      embeddings: real floating array ``[..., N, D]``.
      proxies: ``[C, D]``, one (learnable) proxy per class.
      labels: integer class labels ``[..., N]`` in ``[0, C)``.
      alpha: positive scale.
      margin: the margin ``delta``.
      where: optional boolean mask ``[..., N]``: a masked embedding is left
        out of every sum (and of ``P+``).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or the per-proxy shares ``[..., C]`` for "none".

    References:
      Kim, Kim, Cho & Kwak, "Proxy Anchor Loss for Deep Metric Learning",
      CVPR 2020.

    Example:
      >>> import numpy as np, lossapi
      >>> p = np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> e = np.array([[1.0, 0.0], [0.0, 1.0]])
      >>> round(float(lossapi.proxy_anchor(e, p, np.array([0, 1]), alpha=4.0)), 6)
      0.939972
    """
    alpha = v.positive("alpha", alpha)
    margin = v.number("margin", margin)
    a = prepare(embeddings, proxies, reduction=reduction, same_shape=False,
                extra=(labels, v.array_or_none("where", where)))
    e, p = a.arrays
    v.min_ndim(e, "embeddings", 2, "[..., N, D]")
    if p.ndim != 2 or p.shape[1] != e.shape[-1]:
        raise v.BadValue(f"proxies must have shape [C, D] with D = {e.shape[-1]} (embeddings' last axis), got "
                         f"shape {tuple(p.shape)}")
    labels = a.ops.own(labels)
    a = _class_labels(a, labels, p.shape[0], tuple(e.shape[:-1]))
    return a.run(_proxy_anchor, labels=labels, alpha=alpha, margin=margin, keep=_batch_mask(a, where))


def _proxy_anchor(a: Prepared, e: Array, p: Array, *, labels: Array, alpha: Any, margin: Any,
                  keep: Array | None) -> Mean:
    ops, xp = a.ops, a.xp
    num = p.shape[0]
    cos = ops.matmul(_unit(ops, e), xp.matrix_transpose(_unit(ops, p)))  # [..., N, C]
    onehot = labels[..., None] == xp.arange(num, device=a.device)
    other = ~onehot
    if keep is not None:
        onehot, other = onehot & keep[..., None], other & keep[..., None]
    lse_p, has_p = numerics.masked_logsumexp(ops, -alpha * (cos - margin), onehot, axis=-2)  # [..., C]
    lse_n, has_n = numerics.masked_logsumexp(ops, alpha * (cos + margin), other, axis=-2)
    zero = xp.zeros_like(lse_p)
    pos, neg = xp.where(has_p, ops.softplus(lse_p), zero), xp.where(has_n, ops.softplus(lse_n), zero)
    n_pos = xp.sum(xp.astype(has_p, pos.dtype), axis=-1, keepdims=True)
    share = pos / xp.maximum(n_pos, xp.ones_like(n_pos)) + neg / num
    # "mean": each batch's loss (the sum of its C shares) averaged over batches.
    return Mean(share, xp.full_like(share, 1.0 / num))


# --- anchors in blocks (chunk_size=) ------------------------------------------------

def _chunk_size(chunk_size: Any) -> int | None:
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise v.BadType(f"chunk_size must be a positive int or None, got {type(chunk_size).__name__}")
    if chunk_size < 1:
        raise v.BadValue(f"chunk_size must be a positive int or None, got {chunk_size}")
    return chunk_size


class _Anchors:
    """Per-anchor arrays (``[..., N, D]`` rows, ``[..., N]`` values) sliced
    ``size`` anchors at a time from a possibly traced ``lo``: each is held with
    its anchor axis first, where the backend's ``rows`` / ``add_rows``
    primitives slice (a view on torch; no copy without leading axes)."""

    def __init__(self, a: Prepared, rows: Any, *values: Any):
        self.ops, self.xp = a.ops, a.xp
        self.axes = (-2, *(-1 for _ in values))
        self.front = tuple(None if x is None else to_front(a.xp, x, ax) for x, ax in zip((rows, *values), self.axes))

    def rows(self, lo: Any, size: int) -> tuple[Any, ...]:
        """The block's rows ``[..., size, D]``, then each value ``[..., size]``
        (None for None)."""
        ops, xp = self.ops, self.xp
        return tuple(None if x is None else from_front(xp, ops.rows(x, lo, size), ax)
                     for x, ax in zip(self.front, self.axes))

    def add(self, buf: Array, lo: Any, x: Array, axis: int = -1) -> Array:
        """``buf`` (anchor axis first) with a block's ``x`` added at ``lo``."""
        return self.ops.add_rows(buf, lo, to_front(self.xp, x, axis))

    def back(self, buf: Array, axis: int = -1) -> Array:
        return from_front(self.xp, buf, axis)


def _has_positive(a: Prepared, labels: Array, keep: Any, chunk: int) -> Array:
    """``[..., N]``: which anchors have a positive (another kept sample with
    their label), ``chunk`` anchors at a time (booleans only)."""
    xp = a.xp
    n = labels.shape[-1]
    anchors = _Anchors(a, None, labels, keep)
    idx = xp.arange(1, device=a.device).dtype

    def block(lo: Any, size: int, acc: Array) -> Array:
        _, lb, kb = anchors.rows(lo, size)
        i, j = lo + xp.arange(size, device=a.device)[:, None], xp.arange(n, device=a.device)[None, :]
        pos = (i != j) & (lb[..., :, None] == labels[..., None, :])
        if keep is not None:
            pos = pos & kb[..., :, None] & keep[..., None, :]
        return anchors.add(acc, lo, xp.astype(xp.any(pos, axis=-1), idx))

    acc = blocks(a.ops, n, chunk, block, xp.zeros((n, *labels.shape[:-1]), dtype=idx, device=a.device))
    return anchors.back(acc) != 0


class _Blocks:
    """The softmax contrastive core of :func:`supcon` and :func:`nt_xent`,
    ``chunk`` anchors at a time (pml#547).

    For scaled unit vectors ``w [..., M, D]`` (``s = w w^T`` is the similarity
    over the temperature), per anchor ``i`` with candidates ``A(i)`` and
    positives ``P(i)``: ``loss_i = logsumexp_{A(i)} s_i - mean_{P(i)} s_i``
    (0 without positives). Only a ``[..., chunk, M]`` block of ``s`` exists at
    a time: the forward keeps no block, and the backward (the backend's
    ``custom_vjp``) recomputes each block and turns it into
    ``G = g (softmax_{A(i)}(s_i) - P_i / |P(i)|)``, then
    ``dw = G w + G^T w`` accumulated block by block. The blocks run in the
    backend's loop (:func:`_core.blocks.blocks`: ``lax.fori_loop`` on JAX),
    so peak memory is O(M * chunk + M * D) in the forward and the backward,
    compiled or not."""

    def __init__(self, a: Prepared, chunk: int, pairs: bool):
        self.a, self.ops, self.chunk, self.pairs, self.device = a, a.ops, chunk, pairs, a.device

    def _block(self, w: Array, labels: Any, keep: Any, anchors: _Anchors, lo: Any, size: int) -> tuple[Any, ...]:
        ops, xp = self.ops, self.ops.xp
        m = w.shape[-2]
        wb, lb, kb, gb = anchors.rows(lo, size)
        s = ops.matmul(wb, xp.matrix_transpose(w))  # [..., b, M]
        i = lo + xp.arange(size, device=self.device)[:, None]
        j = xp.arange(m, device=self.device)[None, :]
        others = i != j
        if keep is not None:
            others = others & kb[..., :, None] & keep[..., None, :]
        if self.pairs:  # nt_xent: the other view of the same sample
            pos = others & (j == (i + m // 2) % m)
        else:
            pos = others & (lb[..., :, None] == labels[..., None, :])
        lse, _ = numerics.masked_logsumexp(ops, s, others, axis=-1)
        npos = xp.sum(xp.astype(pos, s.dtype), axis=-1)
        has = npos > 0
        npos = xp.where(has, npos, xp.ones_like(npos))
        # the unchunked path's form: the masked sum never sees a non-positive
        loss = xp.where(has, lse - xp.sum(xp.where(pos, s, xp.zeros_like(s)), axis=-1) / npos, xp.zeros_like(lse))
        return wb, gb, s, others, pos, npos, has, lse, loss

    def primal(self, w: Array, labels: Any, keep: Any) -> Array:
        xp, m = self.ops.xp, w.shape[-2]
        anchors = _Anchors(self.a, w, labels, keep, None)

        def block(lo: Any, size: int, out: Array) -> Array:
            return anchors.add(out, lo, self._block(w, labels, keep, anchors, lo, size)[-1])

        out = xp.zeros((m, *w.shape[:-2]), dtype=w.dtype, device=self.device)
        return anchors.back(blocks(self.ops, m, self.chunk, block, out))

    def fwd(self, w: Array, labels: Any, keep: Any) -> tuple[Array, tuple]:
        return self.primal(w, labels, keep), ()

    def bwd(self, args: tuple, res: tuple, g: Array) -> tuple:
        ops, xp = self.ops, self.ops.xp
        w, labels, keep = args
        g = g if g.dtype == w.dtype else xp.astype(g, w.dtype)
        anchors = _Anchors(self.a, w, labels, keep, g)

        def block(lo: Any, size: int, carry: tuple) -> tuple:
            cols, rows = carry
            wb, gb, s, others, pos, npos, has, lse, _ = self._block(w, labels, keep, anchors, lo, size)
            soft = xp.where(others, xp.exp(s - lse[..., None]), xp.zeros_like(s))
            soft = xp.where(pos, soft - 1.0 / npos[..., None], soft)  # softmax - P_i / |P(i)|
            grad = xp.where(has[..., None], gb[..., :, None] * soft, xp.zeros_like(s))
            return cols + ops.matmul(xp.matrix_transpose(grad), wb), anchors.add(rows, lo, ops.matmul(grad, w), -2)

        rows = xp.zeros((w.shape[-2], *w.shape[:-2], w.shape[-1]), dtype=w.dtype, device=self.device)
        cols, rows = blocks(ops, w.shape[-2], self.chunk, block, (xp.zeros_like(w), rows))
        return (cols + anchors.back(rows, -2),)

    def __call__(self, w: Array, labels: Any, keep: Any) -> Array:
        return self.ops.custom_vjp(self.primal, self.fwd, self.bwd, (w, labels, keep), 1)


def _scaled(a: Prepared, u: Array, temperature: Any) -> Array:
    """``u / sqrt(temperature)``: its Gram matrix is ``u u^T / temperature``."""
    root = a.xp.sqrt(temperature) if v.is_array(temperature) else math.sqrt(temperature)
    return u / root
