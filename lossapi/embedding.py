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

from collections.abc import Callable
from typing import Any, Literal

from ._core import numerics
from ._core import validate as v
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
                  squared: bool = False, where: Array | None = None,
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

    Args:
      embeddings: real floating array ``[..., N, D]``.
      labels: ``[..., N]`` class labels of any dtype that supports ``==``.
      margin: positive margin.
      mining: "all", "batch_hard" or "semi_hard".
      p: norm degree, > 0 (``math.inf`` allowed).
      squared: use squared distances.
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
    a, labels, w = _prepare_batch(embeddings, labels, reduction, where)
    return a.run(_batch_triplet, labels=labels, margin=margin, mining=mining, p=p, squared=squared, keep=w)


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
def nt_xent(z1: Array, z2: Array, /, *, temperature: float = 0.5, where: Array | None = None,
            reduction: Reduction = "mean") -> Array:
    """NT-Xent (normalized temperature-scaled cross-entropy), SimCLR's InfoNCE.

    ``z1[i]`` and ``z2[i]`` are two views of sample ``i``. The ``2N`` vectors
    are L2-normalised (each divided by ``max(||z||, 1e-8)``) and
    ``s[i, j] = cos(z_i, z_j) / temperature``. For each of the ``2N`` anchors,
    the positive is its other view and the candidates are all other ``2N - 1``
    vectors (self-similarity excluded)::

        loss_i = -s[i, pos(i)] + logsumexp_{j != i} s[i, j]

    Args:
      z1, z2: real floating arrays ``[..., N, D]``, equal shapes (batch on
        axis -2, features last; leading axes are independent batches).
      temperature: positive temperature.
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
    a = prepare(z1, z2, reduction=reduction, extra=(v.array_or_none("where", where),))
    v.min_ndim(a.arrays[0], "z1", 2, "[..., N, D]")
    return a.run(_nt_xent, temperature=t, keep=_batch_mask(a, where))


def _nt_xent(a: Prepared, z1: Array, z2: Array, *, temperature: float, keep: Array | None) -> Any:
    ops, xp = a.ops, a.xp
    t = temperature
    u1, u2 = _unit(ops, z1), _unit(ops, z2)
    u = xp.concat([u1, u2], axis=-2)
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
