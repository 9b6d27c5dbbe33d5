"""Embedding (metric-learning) losses: pairs, triplets, in-batch mining and
contrastive objectives over learned feature vectors.

Layout: every embedding lies along the **last axis**. Paired losses take
arrays of shape ``[..., D]`` (any number of leading axes, one pair per leading
index) and ``reduction="none"`` returns shape ``[...]``. Batch losses
(:func:`batch_triplet`, :func:`nt_xent`, :func:`circle`) take ``[..., N, D]``
with the batch on axis ``-2``; leading axes are independent batches. Per-pair
labels have the embeddings' shape without the last axis. See the user guide
(README, "Conventions") for what ``reduction`` does and how dtypes are handled.

Numerics: every Euclidean norm or distance is computed so that a zero vector
or a zero distance gives a finite value *and* a finite gradient (no NaN from
``sqrt`` at 0).
"""

from __future__ import annotations

import math

from ._common import cast_to, check_choice, check_number, check_reduction, native_loss, planned, reduce, setup
from .backends import resolve

__all__ = [
    "contrastive",
    "triplet",
    "batch_triplet",
    "cosine_embedding",
    "cosine_proximity",
    "nt_xent",
    "circle",
]

# torch.nn.functional.cosine_similarity's eps: each vector is divided by
# max(||x||, eps), so a zero vector has cosine 0 with everything.
_COS_EPS = 1e-8
# torch.nn.functional.cosine_embedding_loss's eps, added to each squared norm.
_COS_EMB_EPS = 1e-12


# --- helpers ------------------------------------------------------------------

def _relu(xp, x):
    # Explicit kink: subgradient 0 at x == 0 on every backend.
    return xp.where(x > 0, x, xp.zeros_like(x))


def _hinge(ops, x):
    """``max(0, x)`` with torch's ``clamp_min`` subgradient: 1 at ``x == 0``
    (the slope of the linear piece), 0 below.

    Written as ``x`` times a constant 0/1 mask built from ``sign`` and
    ``minimum``, not with a comparison and ``where``: XLA:CPU then fuses the
    hinge into the distance reductions and the final mean (no temporary)."""
    xp = ops.xp
    return x * ops.stop_gradient(xp.minimum(xp.sign(x) + 1.0, xp.ones_like(x)))


def _sqrt0(ops, s):
    """``sqrt(s)`` for ``s >= 0`` whose gradient is 0, not inf, at ``s == 0``.

    ``maximum(s, smallest_normal)`` keeps sqrt's argument positive (exact for
    every normal ``s``) and ``sign(s)`` (derivative 0) makes the value exactly
    0 at ``s == 0``; no comparison/``where``, so XLA:CPU fuses it into the sum
    of squares that produces ``s``."""
    xp = ops.xp
    return xp.sqrt(xp.maximum(s, xp.full_like(s, xp.finfo(s.dtype).smallest_normal))) * xp.sign(s)


def _check_bool(loss, name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{loss}: {name} must be bool, got {type(value).__name__}")
    return value


def _check_p(loss, p):
    return check_number(loss, "p", p, low=0.0, low_open=True)


def _check_ndim(loss, x, name, ndim):
    if x.ndim < ndim:
        what = "[..., D]" if ndim == 1 else "[..., N, D]"
        raise ValueError(f"{loss}: {name} must have shape {what} (at least {ndim} axes), got shape {tuple(x.shape)}")


def _per_pair(loss, ops, y, x, name, xname, dtype=None):
    """Check that ``y`` has ``x``'s shape without the last axis; cast if asked."""
    if not hasattr(y, "shape"):
        raise TypeError(f"{loss}: {name} must be an array, got {type(y).__name__}")
    want = tuple(x.shape[:-1])
    if tuple(y.shape) != want:
        raise ValueError(
            f"{loss}: {name} has shape {tuple(y.shape)} but {xname} has shape {tuple(x.shape)}; "
            f"{name} must have shape {want} ({xname}'s shape without the feature axis)"
        )
    return y if dtype is None else cast_to(loss, ops, y, dtype, name)


def _pnorm(ops, v, p, axis=-1):
    """``||v||_p`` along ``axis`` whose gradient is finite (0) at ``v == 0``."""
    xp = ops.xp
    if p == 2.0:
        return ops.norm(v, axis=axis)
    a = ops.abs(v)  # derivative 0 at 0 on every backend
    if p == 1.0:
        return xp.sum(a, axis=axis)
    if math.isinf(p):
        return xp.max(a, axis=axis)
    # Double where: the power and the root only see positive arguments, so
    # neither |v|**p (p < 1) nor s**(1/p) has an infinite derivative at 0.
    pos = a > 0
    ap = xp.where(pos, xp.where(pos, a, xp.ones_like(a)) ** p, xp.zeros_like(a))
    s = xp.sum(ap, axis=axis)
    spos = s > 0
    return xp.where(spos, xp.where(spos, s, xp.ones_like(s)) ** (1.0 / p), xp.zeros_like(s))


def _safe_sqrt(xp, x):
    # sqrt with gradient 0 (not inf) where x == 0: sqrt only sees x > 0.
    pos = x > 0
    return xp.where(pos, xp.sqrt(xp.where(pos, x, xp.ones_like(x))), xp.zeros_like(x))


def _unit(ops, x):
    # x / max(||x||, eps) (torch's cosine_similarity / normalize): a zero
    # vector maps to 0, and ops.norm has gradient 0 there, so all stays finite.
    xp = ops.xp
    n = ops.norm(x, axis=-1, keepdims=True)
    return x / xp.maximum(n, xp.full_like(n, _COS_EPS))


def _gram(ops, u):
    # ops.matmul: full float32 precision on every backend (JAX's GPU default
    # is not).
    return ops.matmul(u, ops.xp.matrix_transpose(u))


def _eye(xp, n, like):
    import array_api_compat

    i = xp.arange(n, device=array_api_compat.device(like))
    return i[:, None] == i[None, :]


def _masked_lse(ops, x, mask):
    """logsumexp of ``x`` over the last axis, only where ``mask``; 0 for an
    empty row. Returns ``(lse, any(mask))``."""
    xp = ops.xp
    # A large *finite* fill (not -inf): exp underflows to 0 and no inf - inf
    # or 0 * inf appears in the value or the gradient.
    fill = xp.full_like(x, -0.25 * xp.finfo(x.dtype).max)
    lse = ops.logsumexp(xp.where(mask, x, fill), axis=-1)
    has = xp.any(mask, axis=-1)
    return xp.where(has, lse, xp.zeros_like(lse)), has


def _masked_mean(ops, values, valid, reduction, out_dtype):
    """"mean" divides by the number of valid entries (at least 1), so a batch
    without any valid entry gives 0 with zero gradient."""
    xp = ops.xp
    count = xp.sum(xp.astype(valid, values.dtype))
    return reduce(ops, values, reduction, out_dtype, weights_sum=xp.maximum(count, xp.ones_like(count)))


def _take_last(ops, x, idx):
    return ops.take_along_axis(x, idx, axis=-1)[..., 0]


def _setup_batch(loss, embeddings, labels, reduction):
    check_reduction(loss, reduction)
    resolve(loss, embeddings, labels)  # one library for both, else TypeError
    ops, dt, emb = setup(loss, embeddings, names=("embeddings",), reduction=reduction)
    _check_ndim(loss, emb, "embeddings", 2)
    labels = _per_pair(loss, ops, labels, emb, "labels", "embeddings")
    return ops, dt, emb, labels


# --- pair and triplet losses --------------------------------------------------

def contrastive(x1, x2, similar, /, *, margin=1.0, reduction="mean"):
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
    name = "contrastive"
    margin = check_number(name, "margin", margin, low=0.0, low_open=True)
    check_reduction(name, reduction)
    resolve(name, x1, x2, similar)
    ops, dt, x1, x2 = setup(name, x1, x2, names=("x1", "x2"), reduction=reduction)
    xp = ops.xp
    _check_ndim(name, x1, "x1", 1)
    similar = _per_pair(name, ops, similar, x1, "similar", "x1", x1.dtype)
    r = x1 - x2
    sq = xp.sum(r * r, axis=-1)  # d**2 directly: exact and smooth at d == 0
    hinge = _relu(xp, margin - ops.norm(r, axis=-1))
    loss = 0.5 * (similar * sq + (1.0 - similar) * hinge * hinge)
    return reduce(ops, loss, reduction, dt)


@planned
def triplet(anchor, positive, negative, /, *, margin=1.0, p=2.0, eps=1e-6, swap=False, squared=False,
            reduction="mean"):
    """Triplet margin loss with torch's ``triplet_margin_loss`` semantics.

    Per triplet, ``max(0, d(a, p) - d(a, n) + margin)`` with torch's pairwise
    distance ``d(x, y) = ||x - y + eps||_p`` (eps is added to every component
    of the difference, as torch does). ``swap=True`` replaces ``d(a, n)`` by
    ``min(d(a, n), d(p, n))`` (Balntas et al.). ``squared=True`` squares both
    distances first, the form of the notes guide
    ``max(0, ||a-p||**2 - ||a-n||**2 + margin)`` (use ``eps=0`` for it
    exactly). The gradient is finite when ``anchor == positive``, also with
    ``eps=0`` (a zero distance contributes gradient 0).

    Subgradients follow torch: at the hinge's kink (``d(a, p) - d(a, n) +
    margin == 0``) the gradient is that of the linear piece (torch's
    ``clamp_min``), and with ``swap=True`` a tie ``d(a, n) == d(p, n)`` splits
    the gradient evenly between the two distances (torch's ``min``).

    Args:
      anchor, positive, negative: real floating arrays ``[..., D]``, equal shapes.
      margin: positive margin (torch rejects margin <= 0 too).
      p: norm degree, > 0; ``math.inf`` is the max norm.
      eps: non-negative shift added to the differences.
      swap: use the distance swap.
      squared: square the distances.
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
    """
    name = "triplet"
    margin = check_number(name, "margin", margin, low=0.0, low_open=True)
    p = _check_p(name, p)
    eps = check_number(name, "eps", eps, low=0.0)
    _check_bool(name, "swap", swap)
    _check_bool(name, "squared", squared)
    ops, dt, a, pos, neg = setup(name, anchor, positive, negative, names=("anchor", "positive", "negative"),
                                 reduction=reduction)
    xp = ops.xp
    _check_ndim(name, a, "anchor", 1)
    if p == 2.0 and not squared:
        fast = native_loss(ops, "triplet", dt, a, pos, neg, reduction, margin=margin, eps=eps, swap=swap)
        if fast is not None:
            return fast

    def dist(x, y):
        v = x - y + eps if eps else x - y
        if p == 2.0:
            # Sum of squares, then a sqrt that is safe at 0: one fused pass on XLA.
            sq = xp.sum(v * v, axis=-1)
            return sq if squared else _sqrt0(ops, sq)
        d = _pnorm(ops, v, p)
        return d * d if squared else d

    d_ap, d_an = dist(a, pos), dist(a, neg)
    if swap:
        # minimum splits the gradient evenly at a tie, as torch's min does.
        d_an = xp.minimum(d_an, dist(pos, neg))
    return reduce(ops, _hinge(ops, d_ap - d_an + margin), reduction, dt)


def _distance_matrix(ops, e, p, squared):
    """All pairwise distances ``[..., N, N]`` with an exactly zero diagonal
    and finite gradients at zero distance."""
    xp = ops.xp
    eye = _eye(xp, e.shape[-2], e)
    if p == 2.0:
        # Gram form ||x||^2 + ||y||^2 - 2 x.y: O(N^2) memory. Rounding can make
        # it slightly negative: clamp at 0; the diagonal is set to exactly 0.
        sq = xp.sum(e * e, axis=-1)
        d2 = sq[..., :, None] + sq[..., None, :] - 2.0 * _gram(ops, e)
        d2 = xp.where(eye | (d2 <= 0), xp.zeros_like(d2), d2)
        return d2 if squared else _safe_sqrt(xp, d2)
    # Other norms need the differences: O(N^2 D) memory.
    d = _pnorm(ops, e[..., :, None, :] - e[..., None, :, :], p)
    return d * d if squared else d


def batch_triplet(embeddings, labels, /, *, margin=1.0, mining="batch_hard", p=2.0, squared=False,
                  reduction="mean"):
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
    name = "batch_triplet"
    margin = check_number(name, "margin", margin, low=0.0, low_open=True)
    check_choice(name, "mining", mining, ("all", "batch_hard", "semi_hard"))
    p = _check_p(name, p)
    _check_bool(name, "squared", squared)
    ops, dt, e, labels = _setup_batch(name, embeddings, labels, reduction)
    xp = ops.xp
    d = _distance_matrix(ops, e, p, squared)
    same = labels[..., :, None] == labels[..., None, :]
    pos = same & ~_eye(xp, e.shape[-2], e)
    neg = ~same
    has_neg = xp.any(neg, axis=-1)
    below = xp.full_like(d, -1.0)  # fills never chosen by argmax (d >= 0)
    above = xp.full_like(d, xp.finfo(d.dtype).max)  # ... or by argmin
    if mining == "all":
        valid = pos[..., :, :, None] & neg[..., :, None, :]
        hinge = _relu(xp, d[..., :, :, None] - d[..., :, None, :] + margin)
        loss = xp.where(valid, hinge, xp.zeros_like(hinge))
    elif mining == "batch_hard":
        hardest_pos = _take_last(ops, d, xp.argmax(xp.where(pos, d, below), axis=-1, keepdims=True))
        hardest_neg = _take_last(ops, d, xp.argmin(xp.where(neg, d, above), axis=-1, keepdims=True))
        valid = xp.any(pos, axis=-1) & has_neg
        hinge = _relu(xp, hardest_pos - hardest_neg + margin)
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
        hinge = _relu(xp, d - d_neg + margin)
        loss = xp.where(valid, hinge, xp.zeros_like(hinge))
    return _masked_mean(ops, loss, valid, reduction, dt)


# --- cosine losses ------------------------------------------------------------

@planned
def cosine_embedding(x1, x2, target, /, *, margin=0.0, reduction="mean"):
    """Cosine embedding loss with torch's ``cosine_embedding_loss`` semantics.

    With ``cos = x1.x2 / sqrt((||x1||^2 + 1e-12)(||x2||^2 + 1e-12))`` (torch's
    eps and formula: as in torch, that product overflows when
    ``||x1|| ||x2|| > 1.8e19`` in float32, giving ``cos = 0``), per pair:
    ``1 - cos`` if ``target == 1``, ``max(0, cos - margin)`` if
    ``target == -1``, and 0 for any other target value (as torch). Zero
    vectors give ``cos = 0`` with a large but finite gradient (as torch). At
    the kink ``cos == margin`` the gradient is that of the linear piece
    (torch's ``clamp_min``).

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
    name = "cosine_embedding"
    margin = check_number(name, "margin", margin, low=-1.0, high=1.0)
    check_reduction(name, reduction)
    resolve(name, x1, x2, target)
    ops, dt, x1, x2 = setup(name, x1, x2, names=("x1", "x2"), reduction=reduction)
    xp = ops.xp
    _check_ndim(name, x1, "x1", 1)
    target = _per_pair(name, ops, target, x1, "target", "x1", x1.dtype)
    fast = native_loss(ops, "cosine_embedding", dt, x1, x2, target, reduction, margin=margin)
    if fast is not None:
        return fast
    dot = xp.sum(x1 * x2, axis=-1)
    # torch's sqrt(a * b) (not sqrt(a) * sqrt(b)), so the torch fast path and
    # this code agree everywhere, including where a * b overflows.
    s1 = xp.sum(x1 * x1, axis=-1) + _COS_EMB_EPS
    s2 = xp.sum(x2 * x2, axis=-1) + _COS_EMB_EPS
    cos = dot / xp.sqrt(s1 * s2)
    zero = xp.zeros_like(cos)
    loss = xp.where(target == 1, 1.0 - cos, xp.where(target == -1, _hinge(ops, cos - margin), zero))
    return reduce(ops, loss, reduction, dt)


@planned
def cosine_proximity(x1, x2, /, *, axis=-1, reduction="mean"):
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
    name = "cosine_proximity"
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{name}: axis must be an int, got {type(axis).__name__}")
    ops, dt, x1, x2 = setup(name, x1, x2, names=("x1", "x2"), reduction=reduction)
    xp = ops.xp
    if not -x1.ndim <= axis < x1.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for arrays with {x1.ndim} axes")
    fast = native_loss(ops, "cosine_proximity", dt, x1, x2, reduction, axis=axis)
    if fast is not None:
        return fast
    if axis % x1.ndim != x1.ndim - 1:
        x1, x2 = xp.moveaxis(x1, axis, -1), xp.moveaxis(x2, axis, -1)

    def clamped_norm(x):
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
    return reduce(ops, -xp.sum(x1 * (x2 * w[..., None]), axis=-1), reduction, dt)


# --- batch contrastive losses -------------------------------------------------

def nt_xent(z1, z2, /, *, temperature=0.5, reduction="mean"):
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
    name = "nt_xent"
    t = check_number(name, "temperature", temperature, low=0.0, low_open=True)
    ops, dt, z1, z2 = setup(name, z1, z2, names=("z1", "z2"), reduction=reduction)
    xp = ops.xp
    _check_ndim(name, z1, "z1", 2)
    u1, u2 = _unit(ops, z1), _unit(ops, z2)
    u = xp.concat([u1, u2], axis=-2)
    s = _gram(ops, u) / t
    # Self-similarity is excluded with a large finite negative (via where).
    lse, _ = _masked_lse(ops, s, ~_eye(xp, u.shape[-2], u))
    pos = xp.sum(u1 * u2, axis=-1) / t
    return reduce(ops, lse - xp.concat([pos, pos], axis=-1), reduction, dt)


def circle(embeddings, labels, /, *, margin=0.25, gamma=256.0, detach_weights=True, reduction="mean"):
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
    name = "circle"
    m = check_number(name, "margin", margin, low=0.0, high=1.0, high_open=True)
    gamma = check_number(name, "gamma", gamma, low=0.0, low_open=True)
    _check_bool(name, "detach_weights", detach_weights)
    ops, dt, e, labels = _setup_batch(name, embeddings, labels, reduction)
    xp = ops.xp
    u = _unit(ops, e)
    s = _gram(ops, u)
    same = labels[..., :, None] == labels[..., None, :]
    pos = same & ~_eye(xp, e.shape[-2], e)
    a_p = _relu(xp, 1.0 + m - s)
    a_n = _relu(xp, s + m)
    if detach_weights:
        a_p, a_n = ops.stop_gradient(a_p), ops.stop_gradient(a_n)
    lse_p, has_p = _masked_lse(ops, -gamma * a_p * (s - (1.0 - m)), pos)
    lse_n, has_n = _masked_lse(ops, gamma * a_n * (s - m), ~same)
    valid = has_p & has_n
    loss = xp.where(valid, ops.softplus(lse_p + lse_n), xp.zeros_like(lse_p))
    return _masked_mean(ops, loss, valid, reduction, dt)
