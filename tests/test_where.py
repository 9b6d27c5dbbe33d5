"""``where=``: a boolean mask on every loss that takes one.

Every expected value comes from the float64 references of
``conformance/reference.py`` applied to what the mask keeps (the kept
elements, samples, features, pixels or embeddings), or from optax's own
``where=`` (jax). The rules:

* elementwise losses: the mask broadcasts to the first input's shape;
  "none" is 0 at masked elements, "sum" adds the kept ones, "mean" divides
  that by their number;
* losses over an axis: a mask of the per-sample shape drops whole samples;
  a mask of the input's shape drops elements from every reduction over the
  axis, and a sample with nothing left contributes 0 and leaves the mean;
* batch losses: one value per embedding; a masked embedding is neither an
  anchor nor a candidate;
* a mean over nothing is 0 with zero gradient (not NaN).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import lossapi
from conformance import reference as R

REDUCTIONS = ("mean", "sum", "none")
TOL = 1e-10


def _check(got, want, tol=TOL):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def _seed(name):
    return zlib.crc32(name.encode())


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _lse(z):
    m = np.max(z)
    return m + np.log(np.sum(np.exp(z - m)))


def _mask(rng, shape, p=0.6):
    """A random mask with at least one True and one False."""
    m = rng.uniform(size=shape) < p
    m.flat[0], m.flat[-1] = True, False
    return m


def _reduce(values, kept, reduction):
    """Masked reduction of per-value references: 0 where not kept; "mean"
    over the kept ones (0 when none is)."""
    values = np.where(kept, np.asarray(values, np.float64), 0.0)
    if reduction == "none":
        return values
    if reduction == "sum":
        return np.sum(values)
    n = int(np.sum(kept))
    return np.asarray(np.sum(values) / n if n else 0.0)


def _call(xp, name, arrays, where, reduction, **kwargs):
    args = [xp.asarray(a) for a in arrays]
    w = None if where is None else xp.asarray(where)
    kwargs = {k: xp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}  # class weights
    return getattr(lossapi, name)(*args, where=w, reduction=reduction, **kwargs)


# --- elementwise losses ----------------------------------------------------------
SHAPE = (4, 5)


def _boxes(rng, shape):
    xy = rng.uniform(0.0, 5.0, size=(*shape, 2))
    wh = rng.uniform(0.5, 3.0, size=(*shape, 2))
    return np.concatenate([xy, xy + wh], axis=-1)


def _elementwise_inputs(name, rng, shape=SHAPE):
    n = lambda: rng.normal(size=shape)  # noqa: E731
    sign = lambda: rng.choice([-1.0, 1.0], size=shape)  # noqa: E731
    if name in ("giou", "diou", "ciou"):
        b1 = _boxes(rng, shape)
        return (b1, b1 + rng.normal(scale=0.7, size=b1.shape)), {}
    if name == "mape":
        return (n(), rng.uniform(0.5, 2.0, size=shape) * sign()), {"eps": 1e-3}
    if name == "msle":
        return (rng.uniform(0.0, 3.0, size=shape), rng.uniform(0.0, 3.0, size=shape)), {}
    if name == "poisson_nll":
        return (n(), rng.poisson(2.0, size=shape).astype(np.float64)), {"full": True}
    if name == "gaussian_nll":
        return (n(), n(), rng.uniform(0.2, 2.0, size=shape)), {}
    if name == "binary_cross_entropy":
        return (rng.uniform(0.05, 0.95, size=shape), rng.uniform(size=shape)), {}
    if name == "binary_cross_entropy_with_logits":
        return (2 * n(), rng.uniform(size=shape)), {}
    if name == "binary_focal":
        return (2 * n(), (rng.uniform(size=shape) > 0.5).astype(np.float64)), {"gamma": 2.0, "alpha": 0.25}
    if name in ("hinge", "squared_hinge", "soft_margin"):
        return (2 * n(), sign()), {}
    if name == "margin_ranking":
        return (n(), n(), sign()), {"margin": 0.2}
    if name == "hinge_embedding":
        return (rng.uniform(0.0, 2.0, size=shape), sign()), {"margin": 1.2}
    if name == "huber":
        return (2 * n(), n()), {"delta": 0.7}
    if name == "smooth_l1":
        return (2 * n(), n()), {"beta": 0.5}
    if name == "pinball":
        return (n(), n()), {"quantile": 0.3}
    return (n(), n()), {}


ELEMENTWISE = ["mse", "mae", "huber", "smooth_l1", "log_cosh", "mape", "smape", "msle", "pinball", "poisson_nll",
               "gaussian_nll", "binary_cross_entropy", "binary_cross_entropy_with_logits", "binary_focal", "hinge",
               "squared_hinge", "soft_margin", "margin_ranking", "hinge_embedding", "giou", "diou", "ciou"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise(xp, name, reduction):
    rng = np.random.default_rng(_seed(name))
    arrays, kw = _elementwise_inputs(name, rng)
    m = _mask(rng, SHAPE)
    got = xp.to_numpy(_call(xp, name, arrays, m, reduction, **kw))
    ref = getattr(R, name)
    kept = ref(*(a[m] for a in arrays), reduction="none", **kw)
    full = np.zeros(SHAPE)
    full[m] = kept
    want = _reduce(full, m, reduction)
    _check(got, want)
    if reduction != "none":  # the same numbers as the reference on the kept elements alone
        _check(got, ref(*(a[m] for a in arrays), reduction=reduction, **kw))


@pytest.mark.parametrize("name", ["mse", "binary_cross_entropy_with_logits", "margin_ranking"])
def test_elementwise_broadcast_mask(xp, name):
    # A mask of a trailing sub-shape broadcasts to the first input's shape.
    rng = np.random.default_rng(5)
    arrays, kw = _elementwise_inputs(name, rng)
    col = np.array([True, False, True, True, False])
    m = np.broadcast_to(col, SHAPE)
    for reduction in REDUCTIONS:
        got = xp.to_numpy(_call(xp, name, arrays, col, reduction, **kw))
        full = np.zeros(SHAPE)
        full[m] = getattr(R, name)(*(a[m] for a in arrays), reduction="none", **kw)
        _check(got, _reduce(full, m, reduction))


def test_elementwise_with_weight(xp):
    # where= and an elementwise weight together: the weight of kept elements only.
    rng = np.random.default_rng(6)
    x, t = rng.normal(size=SHAPE), rng.uniform(size=SHAPE)
    w = rng.uniform(0.5, 2.0, size=SHAPE)
    m = _mask(rng, SHAPE)
    for reduction in REDUCTIONS:
        got = lossapi.binary_cross_entropy_with_logits(xp.asarray(x), xp.asarray(t), weight=xp.asarray(w),
                                                       where=xp.asarray(m), reduction=reduction)
        full = np.zeros(SHAPE)
        full[m] = R.binary_cross_entropy_with_logits(x[m], t[m], weight=w[m], reduction="none")
        _check(xp.to_numpy(got), _reduce(full, m, reduction))


# --- losses over an axis: a mask of the per-sample shape drops samples -------------
N, C = 6, 4


def _axis_inputs(name, rng):
    """(arrays, kwargs) of shape [N, C] (segmentation: [N, 3, 4] with axis (1, 2))."""
    z = rng.normal(size=(N, C)) * 1.5
    y = rng.integers(0, C, size=N)
    if name == "cross_entropy":
        return (z, y), {"weight": rng.uniform(0.5, 2.0, size=C)}
    if name == "cross_entropy_ignore":
        y = y.copy()
        y[2] = -1  # an ignored sample among the kept ones
        return (z, y), {"ignore_index": -1}
    if name == "cross_entropy_probs":
        return (z, _softmax(rng.normal(size=(N, C)))), {"label_smoothing": 0.1}
    if name == "nll":
        return (np.log(_softmax(z)), y), {"weight": rng.uniform(0.5, 2.0, size=C)}
    if name == "focal":
        return (z, y), {"gamma": 2.0, "alpha": rng.uniform(0.2, 1.0, size=C)}
    if name == "poly1":
        return (z, y), {"epsilon": 1.0}
    if name == "poly1_probs":
        return (z, _softmax(rng.normal(size=(N, C)))), {"epsilon": 0.5}
    if name in ("kl_divergence", "js_divergence"):
        return (_softmax(z), _softmax(rng.normal(size=(N, C)))), {}
    if name == "kl_divergence_log":
        return (np.log(_softmax(z)), np.log(_softmax(rng.normal(size=(N, C))))), {}
    if name in ("gaussian_kl", "cosine_proximity"):
        return (z, rng.normal(size=(N, C))), {}
    if name in ("dice", "jaccard", "tversky"):
        kw = {"axis": (1, 2), "smooth": 1e-3}
        if name == "tversky":
            kw.update(alpha=0.3, beta=0.7, gamma=0.75)
        return (rng.uniform(size=(N, 3, 4)), (rng.uniform(size=(N, 3, 4)) > 0.5).astype(np.float64)), kw
    if name in ("ranknet", "listnet", "listmle", "approx_ndcg"):
        r = rng.integers(0, 3, size=(N, C)).astype(np.float64)
        r[2, 1] = -1.0  # padding by relevance, alongside the mask
        return (z, r), ({"temperature": 0.7} if name == "approx_ndcg" else {})
    if name == "contrastive":
        return (z, rng.normal(size=(N, C)), (rng.uniform(size=N) > 0.5).astype(np.float64)), {"margin": 2.0}
    if name == "triplet":
        return (z, z + 0.5 * rng.normal(size=(N, C)), rng.normal(size=(N, C))), {"margin": 1.0, "swap": True}
    if name == "multiclass_hinge":
        return (z, y), {"margin": 0.8}
    if name == "multiclass_hinge_ww":
        return (z, y), {"form": "weston_watkins", "p": 2, "weight": rng.uniform(0.5, 2.0, size=C)}
    if name == "multilabel_margin":
        t = -np.ones((N, C), dtype=np.int64)
        for i in range(N):
            k = int(rng.integers(1, 3))
            t[i, :k] = rng.permutation(C)[:k]
        return (z, t), {}
    if name == "multilabel_soft_margin":
        return (z, (rng.uniform(size=(N, C)) > 0.5).astype(np.float64)), {}
    if name == "cosine_embedding":
        return (z, rng.normal(size=(N, C)), rng.choice([-1.0, 1.0], size=N)), {"margin": 0.1}
    raise AssertionError(name)


def _fn(name):
    """The lossapi name of a case (cases with a suffix pass other targets)."""
    return name.split("_ignore")[0].split("_probs")[0].split("_ww")[0]


AXIS_LOSSES = ["cross_entropy", "cross_entropy_ignore", "cross_entropy_probs", "nll", "focal", "poly1",
               "poly1_probs", "kl_divergence", "kl_divergence_log", "js_divergence", "gaussian_kl",
               "cosine_proximity", "dice", "jaccard", "tversky", "ranknet", "listnet", "listmle", "approx_ndcg",
               "contrastive", "cosine_embedding", "triplet", "multiclass_hinge", "multiclass_hinge_ww",
               "multilabel_margin", "multilabel_soft_margin"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", AXIS_LOSSES)
def test_per_sample_mask(xp, name, reduction):
    rng = np.random.default_rng(_seed(name))
    arrays, kw = _axis_inputs(name, rng)
    keep = np.array([True, False, True, True, False, True])
    fn = _fn(name)
    got = xp.to_numpy(_call(xp, fn, arrays, keep, reduction, **kw))
    ref = getattr(R, fn)
    if reduction == "none":
        full = np.zeros(N)
        full[keep] = ref(*(a[keep] for a in arrays), reduction="none", **kw)
        _check(got, full)
    else:  # the reference's own denominators (class weights, ignored labels) on the kept samples
        _check(got, ref(*(a[keep] for a in arrays), reduction=reduction, **kw))


def test_per_sample_mask_middle_axis(xp):
    # The class axis in the middle: the per-sample shape is the input's shape without it.
    rng = np.random.default_rng(8)
    p, q = _softmax(rng.normal(size=(3, 4, 5)), axis=1), _softmax(rng.normal(size=(3, 4, 5)), axis=1)
    keep = _mask(rng, (3, 5))
    per = R.kl_divergence(p, q, axis=1, reduction="none")
    for reduction in REDUCTIONS:
        got = lossapi.kl_divergence(xp.asarray(p), xp.asarray(q), axis=1, where=xp.asarray(keep),
                                    reduction=reduction)
        _check(xp.to_numpy(got), _reduce(per, keep, reduction))


# --- losses over an axis: a mask of the input's shape drops elements --------------


def _row(name, arrays, m, kw, i):
    """The reference loss of sample i on the elements m[i] keeps (None: the
    sample is dropped)."""
    mi = m[i]
    if not mi.any():
        return None
    if name == "cross_entropy_probs":
        z, q = arrays
        return R.cross_entropy(z[i][mi][None], q[i][mi][None], reduction="sum", **kw)
    if name == "poly1_probs":
        # Cross-entropy over the kept classes plus epsilon * sum_kept q (1 - p):
        # the masked classes leave the Poly-1 term's sum too (optax's
        # poly_loss_cross_entropy with where=; the targets' kept mass need not be 1).
        z, q = arrays
        zs, qs = z[i][mi], q[i][mi]
        p = _softmax(zs)
        return R.cross_entropy(zs[None], qs[None], reduction="sum") + kw["epsilon"] * np.sum(qs * (1.0 - p))
    if name in ("nll", "focal", "poly1", "multiclass_hinge", "multiclass_hinge_ww"):
        # A sample whose label's class is masked out is dropped; the others
        # see only the kept classes (the label re-indexed among them).
        x, y = arrays
        if not mi[y[i]]:
            return None
        label = np.array([int(np.sum(mi[:y[i]]))])
        kw = dict(kw)
        for key in ("weight", "alpha"):
            if key in kw:
                kw[key] = kw[key][mi]
        if name == "nll":  # log-probabilities as given: no renormalisation
            return R.nll(x[i][mi][None], label, reduction="sum", **kw)
        return getattr(R, _fn(name))(x[i][mi][None], label, reduction="sum", **kw)
    if name in ("kl_divergence", "kl_divergence_log", "js_divergence", "gaussian_kl", "cosine_proximity"):
        a, b = arrays
        return getattr(R, name)(a[i][mi], b[i][mi], reduction="sum")
    if name in ("contrastive", "cosine_embedding"):
        x1, x2, t = arrays
        return getattr(R, name)(x1[i][mi], x2[i][mi], t[i], reduction="sum", **kw)
    if name == "triplet":
        return R.triplet(*(a[i][mi] for a in arrays), reduction="sum", **kw)
    if name == "multilabel_soft_margin":  # the mean over the kept classes
        x, t = arrays
        return R.multilabel_soft_margin(x[i][mi][None], t[i][mi][None], reduction="sum")
    if name == "multilabel_margin":
        # A masked class is in no pair, as a target or as a non-target: the
        # reference on the kept classes (targets re-indexed among them), whose
        # mean divides by their number.
        x, t = arrays
        listed = []
        for c in t[i]:
            if c < 0:
                break
            listed.append(int(c))
        new = np.cumsum(mi) - 1
        sub = [int(new[c]) for c in listed if mi[c]]
        target = -np.ones(int(mi.sum()), dtype=np.int64)
        target[:len(sub)] = sub
        return R.multilabel_margin(x[i][mi][None], target[None], reduction="sum")
    raise AssertionError(name)


ELEMENT_LOSSES = ["cross_entropy_probs", "nll", "focal", "poly1", "poly1_probs", "multiclass_hinge",
                  "multiclass_hinge_ww", "kl_divergence", "kl_divergence_log", "js_divergence", "gaussian_kl",
                  "cosine_proximity", "contrastive", "cosine_embedding", "triplet", "multilabel_margin",
                  "multilabel_soft_margin"]


def _element_mask(rng, shape):
    m = rng.uniform(size=shape) < 0.7
    m[1, :] = False  # a sample with nothing left
    m[0, :] = True
    m[2, 0], m[2, 1] = True, False
    return m


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ELEMENT_LOSSES)
def test_element_mask(xp, name, reduction):
    rng = np.random.default_rng(_seed(name) + 1)
    arrays, kw = _axis_inputs(name, rng)
    if name in ("nll", "multiclass_hinge_ww"):
        kw = {k: v for k, v in kw.items() if k != "weight"}  # weighted means: covered by the per-sample test
    if name in ("nll", "focal", "poly1", "multiclass_hinge", "multiclass_hinge_ww"):
        arrays = (arrays[0], np.array([0, 1, 1, 3, 2, 0]))  # sample 2's label class is masked below
    m = _element_mask(rng, (N, C))
    got = xp.to_numpy(_call(xp, _fn(name), arrays, m, reduction, **kw))
    rows = [_row(name, arrays, m, kw, i) for i in range(N)]
    kept = np.array([r is not None for r in rows])
    values = np.array([0.0 if r is None else float(r) for r in rows])
    _check(got, _reduce(values, kept, reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_element_mask_cross_entropy_labels(xp, reduction):
    # Integer labels: the masked classes leave the softmax normaliser; the
    # label's own logit is used even where it is masked (optax's semantics).
    rng = np.random.default_rng(9)
    z, y = rng.normal(size=(N, C)) * 2, np.array([0, 1, 1, 3, 2, 0])
    m = _element_mask(rng, (N, C))
    assert not m[2, y[2]]
    got = xp.to_numpy(_call(xp, "cross_entropy", (z, y), m, reduction))
    kept = m.any(axis=1)
    values = np.array([(_lse(z[i][m[i]]) - z[i, y[i]]) if kept[i] else 0.0 for i in range(N)])
    _check(got, _reduce(values, kept, reduction))


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky"])
def test_element_mask_segmentation(xp, name):
    # Masked pixels leave every sum: the reference with both maps zeroed there.
    rng = np.random.default_rng(10)
    (p, g), kw = _axis_inputs(name, rng)
    m = rng.uniform(size=p.shape) < 0.6
    m[1] = False  # an image with no pixel left
    per = getattr(R, name)(p * m, g * m, reduction="none", **kw)
    for reduction in REDUCTIONS:
        got = _call(xp, name, (p, g), m, reduction, **kw)
        _check(xp.to_numpy(got), _reduce(per, m.any(axis=(1, 2)), reduction))
    # axis=None: one overlap over all kept pixels.
    kw.pop("axis")
    got = _call(xp, name, (p, g), m, "mean", **kw)
    _check(xp.to_numpy(got), getattr(R, name)(p * m, g * m, **kw))


@pytest.mark.parametrize("name", ["ranknet", "listnet", "listmle", "approx_ndcg"])
def test_element_mask_ranking(xp, name):
    # A masked position is padding: the reference with relevance -1 there.
    rng = np.random.default_rng(11)
    (s, r), kw = _axis_inputs(name, rng)
    m = _element_mask(rng, (N, C))
    per = getattr(R, name)(s, np.where(m, r, -1.0), reduction="none", **kw)
    for reduction in REDUCTIONS:
        got = _call(xp, name, (s, r), m, reduction, **kw)
        _check(xp.to_numpy(got), _reduce(per, m.any(axis=1), reduction))


# --- peers: optax's where= (jax) ------------------------------------------------------


@pytest.fixture
def jnp():
    pytest.importorskip("optax")
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jnp


def test_optax_softmax_cross_entropy(jnp):
    import optax

    rng = np.random.default_rng(12)
    z, q = rng.normal(size=(N, C)) * 2, _softmax(rng.normal(size=(N, C)))
    m = _element_mask(rng, (N, C))
    m[1, 0] = True  # optax's value of an empty row is not lossapi's (dropped): keep one element
    got = lossapi.cross_entropy(jnp.asarray(z), jnp.asarray(q), where=jnp.asarray(m), reduction="none")
    want = optax.losses.softmax_cross_entropy(jnp.asarray(z), jnp.asarray(q), where=jnp.asarray(m))
    _check(got, want)
    keep = np.array([True, False, True, True, False, True])  # per sample
    got = lossapi.cross_entropy(jnp.asarray(z), jnp.asarray(q), where=jnp.asarray(keep), reduction="none")
    _check(got, np.where(keep, optax.losses.softmax_cross_entropy(jnp.asarray(z), jnp.asarray(q)), 0.0))


def test_optax_softmax_cross_entropy_with_integer_labels(jnp):
    import optax

    rng = np.random.default_rng(13)
    z, y = rng.normal(size=(N, C)) * 2, np.array([0, 1, 1, 3, 2, 0])
    m = _element_mask(rng, (N, C))
    m[1, 2] = True
    assert not m[2, y[2]]  # optax then uses the label's own logit
    got = lossapi.cross_entropy(jnp.asarray(z), jnp.asarray(y), where=jnp.asarray(m), reduction="none")
    want = optax.losses.softmax_cross_entropy_with_integer_labels(jnp.asarray(z), jnp.asarray(y), where=jnp.asarray(m))
    _check(got, want)


def test_optax_kl_divergence(jnp):
    import optax

    rng = np.random.default_rng(14)
    p, q = _softmax(rng.normal(size=(N, C))), _softmax(rng.normal(size=(N, C)))
    m = _element_mask(rng, (N, C))
    m[1, 3] = True
    mj = jnp.asarray(m)
    got = lossapi.kl_divergence(jnp.asarray(p), jnp.asarray(q), where=mj, reduction="none")
    _check(got, optax.losses.kl_divergence(jnp.log(jnp.asarray(q)), jnp.asarray(p), where=mj))
    got = lossapi.kl_divergence_log(jnp.log(jnp.asarray(p)), jnp.log(jnp.asarray(q)), where=mj, reduction="none")
    _check(got, optax.losses.kl_divergence_with_log_targets(jnp.log(jnp.asarray(q)), jnp.log(jnp.asarray(p)), where=mj))


def test_optax_cosine_similarity(jnp):
    import optax

    rng = np.random.default_rng(15)
    x1, x2 = rng.normal(size=(N, C)), rng.normal(size=(N, C))
    m = _element_mask(rng, (N, C))
    m[1, 1] = True
    mj = jnp.asarray(m)
    got = lossapi.cosine_proximity(jnp.asarray(x1), jnp.asarray(x2), where=mj, reduction="none")
    # optax clips the squared norm at epsilon; lossapi the norm at 1e-8 (same here: no tiny vector).
    _check(got, -optax.losses.cosine_similarity(jnp.asarray(x1), jnp.asarray(x2), epsilon=1e-16, where=mj))


def test_optax_poly_loss_cross_entropy(jnp):
    import optax

    rng = np.random.default_rng(16)
    z, q = rng.normal(size=(N, C)), np.eye(C)[rng.integers(0, C, size=N)]
    m = _element_mask(rng, (N, C))
    m[1, 0] = True
    got = lossapi.poly1(jnp.asarray(z), jnp.asarray(q), epsilon=2.0, where=jnp.asarray(m), reduction="none")
    _check(got, optax.losses.poly_loss_cross_entropy(jnp.asarray(z), jnp.asarray(q), epsilon=2.0, where=jnp.asarray(m)))


# --- batch losses: one value per embedding ---------------------------------------------
B, NB, D = 2, 6, 3


def _batch_inputs(rng):
    e = rng.normal(size=(B, NB, D))
    lab = np.array([[0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1]])
    keep = np.array([[True, True, False, True, True, False], [False, True, True, True, True, True]])
    return e, lab, keep


def _scatter(vals, idx, shape):
    out = np.zeros(shape)
    out[np.ix_(*[idx] * len(shape))] = vals
    return out


@pytest.mark.parametrize("mining", ["batch_hard", "all", "semi_hard"])
def test_batch_triplet(xp, mining):
    rng = np.random.default_rng(17)
    e, lab, keep = _batch_inputs(rng)
    rank = {"batch_hard": 1, "all": 3, "semi_hard": 2}[mining]
    per, total, count = [], 0.0, 0
    for b in range(B):
        idx = np.flatnonzero(keep[b])
        v, c = R._batch_triplet_one(e[b][idx], lab[b][idx], 0.5, mining, 2.0, False)
        per.append(_scatter(v, idx, (NB,) * rank))
        total, count = total + float(np.sum(v)), count + c
    for reduction, want in (("none", np.stack(per)), ("sum", total), ("mean", total / max(count, 1))):
        got = lossapi.batch_triplet(xp.asarray(e), xp.asarray(lab), margin=0.5, mining=mining,
                                    where=xp.asarray(keep), reduction=reduction)
        _check(xp.to_numpy(got), want)


def test_circle(xp):
    rng = np.random.default_rng(18)
    e, lab, keep = _batch_inputs(rng)
    per, total, count = [], 0.0, 0
    for b in range(B):
        idx = np.flatnonzero(keep[b])
        v, c = R._circle_one(e[b][idx], lab[b][idx], 0.25, 8.0)
        per.append(_scatter(v, idx, (NB,)))
        total, count = total + float(np.sum(v)), count + c
    for reduction, want in (("none", np.stack(per)), ("sum", total), ("mean", total / max(count, 1))):
        got = lossapi.circle(xp.asarray(e), xp.asarray(lab), gamma=8.0, where=xp.asarray(keep), reduction=reduction)
        _check(xp.to_numpy(got), want)


def test_nt_xent(xp):
    # A masked pair i leaves both views: the reference on the batch without it.
    rng = np.random.default_rng(19)
    z1, _, keep = _batch_inputs(rng)
    z2 = z1 + 0.3 * rng.normal(size=z1.shape)
    per, total, count = [], 0.0, 0
    for b in range(B):
        idx = np.flatnonzero(keep[b])
        v, c = R._nt_xent_one(z1[b][idx], z2[b][idx], 0.5)
        full = np.zeros(2 * NB)
        full[np.concatenate([idx, idx + NB])] = v
        per.append(full)
        total, count = total + float(np.sum(v)), count + c
    for reduction, want in (("none", np.stack(per)), ("sum", total), ("mean", total / count)):
        got = lossapi.nt_xent(xp.asarray(z1), xp.asarray(z2), where=xp.asarray(keep), reduction=reduction)
        _check(xp.to_numpy(got), want)


@pytest.mark.parametrize("name", ["batch_triplet", "circle", "nt_xent"])
def test_batch_loss_element_mask_is_value_error(xp, name):
    rng = np.random.default_rng(20)
    e, lab, keep = _batch_inputs(rng)
    second = e if name == "nt_xent" else lab
    w = np.ones(e.shape, dtype=bool)
    with pytest.raises(ValueError, match=rf"^{name}: where has shape \(2, 6, 3\); a batch loss takes one value per"):
        getattr(lossapi, name)(xp.asarray(e), xp.asarray(second), where=xp.asarray(w))


def test_box_loss_element_mask_is_value_error(xp):
    rng = np.random.default_rng(21)
    b = _boxes(rng, (3,))
    with pytest.raises(ValueError, match=r"^giou: where has shape \(3, 4\); it takes one value per box pair"):
        lossapi.giou(xp.asarray(b), xp.asarray(b), where=xp.asarray(np.ones((3, 4), dtype=bool)))


# --- vae_loss ----------------------------------------------------------------------------


def test_vae_loss_drops_samples(xp):
    rng = np.random.default_rng(22)
    recon, x = rng.uniform(0.05, 0.95, size=(5, 2, 3)), rng.uniform(size=(5, 2, 3))
    mu, lv = rng.normal(size=(5, 4)), rng.normal(scale=0.5, size=(5, 4))
    keep = np.array([True, False, True, True, False])
    for reduction in REDUCTIONS:
        got = lossapi.vae_loss(*(xp.asarray(a) for a in (recon, x, mu, lv)), beta=0.5, where=xp.asarray(keep),
                               reduction=reduction)
        if reduction == "none":
            want = [np.where(keep, v, 0.0) for v in R.vae_loss(recon, x, mu, lv, beta=0.5, reduction="none")]
        else:
            want = R.vae_loss(recon[keep], x[keep], mu[keep], lv[keep], beta=0.5, reduction=reduction)
        assert len(got) == 3
        for g, w in zip(got, want):
            _check(xp.to_numpy(g), w)


def test_vae_loss_element_mask(xp):
    # A mask of x's shape leaves masked elements out of the reconstruction
    # sum; the KL term is per sample; a sample with no element left is dropped.
    rng = np.random.default_rng(31)
    recon, x = rng.uniform(0.05, 0.95, size=(4, 2, 3)), rng.uniform(size=(4, 2, 3))
    mu, lv = rng.normal(size=(4, 2)), rng.normal(scale=0.5, size=(4, 2))
    m = rng.uniform(size=x.shape) < 0.6
    m[1] = False
    m[0, 0, 0] = True
    kept = m.any(axis=(1, 2))
    rec = np.array([R.binary_cross_entropy(recon[i][m[i]], x[i][m[i]], reduction="sum") if kept[i] else 0.0
                    for i in range(4)])
    kl = R.gaussian_kl(mu, lv, reduction="none")
    for reduction in REDUCTIONS:
        got = lossapi.vae_loss(*(xp.asarray(a) for a in (recon, x, mu, lv)), beta=2.0, where=xp.asarray(m),
                               reduction=reduction)
        for g, w in zip(got, (rec + 2.0 * kl, rec, kl)):
            _check(xp.to_numpy(g), _reduce(w, kept, reduction))


# --- nothing left: 0, not NaN ----------------------------------------------------------


def _empty_cases(rng):
    z, y = rng.normal(size=(N, C)), rng.integers(0, C, size=N)
    e, lab, _ = _batch_inputs(rng)
    return [
        ("huber", (z, rng.normal(size=(N, C))), np.zeros((N, C), bool), {}),
        ("cross_entropy", (z, y), np.zeros(N, bool), {}),
        ("cross_entropy", (z, _softmax(z)), np.zeros((N, C), bool), {}),
        ("nll", (np.log(_softmax(z)), y), np.zeros((N, C), bool), {}),
        ("dice", (_softmax(z), (z > 0).astype(np.float64)), np.zeros((N, C), bool), {"axis": 1}),
        ("listnet", (z, y.astype(np.float64)[:, None] * np.ones(C)), np.zeros((N, C), bool), {}),
        ("batch_triplet", (e, lab), np.zeros((B, NB), bool), {}),
        ("nt_xent", (e, e + 0.1), np.zeros((B, NB), bool), {}),
        ("giou", (_boxes(rng, (N,)), _boxes(rng, (N,))), np.zeros(N, bool), {}),
    ]


def test_nothing_left_mean_is_zero(xp):
    rng = np.random.default_rng(23)
    for name, arrays, m, kw in _empty_cases(rng):
        fn = getattr(lossapi, name)

        def f(*args, fn=fn, m=m, kw=kw):
            return fn(*args, where=xp.asarray(m), **kw)

        args = [xp.asarray(a) for a in arrays]
        got = xp.to_numpy(f(*args))
        assert got.shape == () and got == 0.0, (name, got)
        got = xp.to_numpy(fn(*args, where=xp.asarray(m), reduction="none", **kw))
        assert np.all(got == 0.0), name
        if xp.has_grad:
            g = xp.grad(f, args, [0])[0]
            assert np.all(g == 0.0), (name, g)
        if xp.name == "jax":  # and under jax.jit (xp.run compiles)
            assert xp.to_numpy(xp.run(f, args)) == 0.0, name


def test_all_ignored_cross_entropy_is_still_nan(xp):
    # Without where=, torch's semantics stay: every label ignored -> NaN mean.
    z = np.array([[1.0, 2.0, 0.5], [0.2, 0.1, 1.5]])
    with np.errstate(invalid="ignore", divide="ignore"):
        got = xp.to_numpy(lossapi.cross_entropy(xp.asarray(z), xp.asarray(np.array([-1, -1])), ignore_index=-1))
    assert np.isnan(got)
    # ... while a mask that drops those samples gives 0.
    got = lossapi.cross_entropy(xp.asarray(z), xp.asarray(np.array([-1, -1])), ignore_index=-1,
                                where=xp.asarray(np.array([False, False])))
    assert xp.to_numpy(got) == 0.0


def test_torch_nothing_left_backward():
    torch = pytest.importorskip("torch")
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    out = lossapi.cross_entropy(z, torch.tensor([0, 1, 2, 0]), where=torch.zeros(4, dtype=torch.bool))
    out.backward()
    assert out.item() == 0.0 and torch.all(z.grad == 0)


# --- jax.jit and jax.vmap -----------------------------------------------------------------


def test_jit_masks(jnp):
    import jax

    rng = np.random.default_rng(24)
    z, y = rng.normal(size=(N, C)), np.array([0, 1, 1, 3, 2, 0])
    m = _element_mask(rng, (N, C))
    kept = m.any(axis=1)
    values = np.array([(_lse(z[i][m[i]]) - z[i, y[i]]) if kept[i] else 0.0 for i in range(N)])
    f = jax.jit(lambda a, b, w: lossapi.cross_entropy(a, b, where=w))
    _check(f(jnp.asarray(z), jnp.asarray(y), jnp.asarray(m)), _reduce(values, kept, "mean"))
    # elementwise
    t = rng.normal(size=(N, C))
    g = jax.jit(lambda a, b, w: lossapi.huber(a, b, where=w, reduction="sum"))
    _check(g(jnp.asarray(z), jnp.asarray(t), jnp.asarray(m)), R.huber(z[m], t[m], reduction="sum"))
    # batch
    e, lab, keep = _batch_inputs(rng)
    h = jax.jit(lambda a, b, w: lossapi.batch_triplet(a, b, where=w, reduction="sum"))
    want = sum(float(np.sum(R._batch_triplet_one(e[b][keep[b]], lab[b][keep[b]], 1.0, "batch_hard", 2.0, False)[0]))
               for b in range(B))
    _check(h(jnp.asarray(e), jnp.asarray(lab), jnp.asarray(keep)), want)


def test_vmap_over_masks(jnp):
    import jax

    rng = np.random.default_rng(25)
    p, q = _softmax(rng.normal(size=(N, C))), _softmax(rng.normal(size=(N, C)))
    ms = np.stack([_element_mask(rng, (N, C)) for _ in range(3)] + [np.zeros((N, C), bool)])
    f = jax.vmap(lambda w: lossapi.js_divergence(jnp.asarray(p), jnp.asarray(q), where=w))
    got = f(jnp.asarray(ms))
    want = []
    for m in ms:
        kept = m.any(axis=1)
        vals = [R.js_divergence(p[i][m[i]], q[i][m[i]], reduction="sum") if kept[i] else 0.0 for i in range(N)]
        want.append(_reduce(np.array(vals), kept, "mean"))
    _check(got, np.array(want))
    # per-sample masks of an elementwise loss, vmapped and jitted
    x, t = rng.normal(size=(N,)), rng.normal(size=(N,))
    ks = rng.uniform(size=(5, N)) < 0.5
    g = jax.jit(jax.vmap(lambda w: lossapi.mae(jnp.asarray(x), jnp.asarray(t), where=w)))
    _check(g(jnp.asarray(ks)), [_reduce(np.abs(x - t), k, "mean") for k in ks])


# --- gradients ----------------------------------------------------------------------------


def _fd(f, x, h=1e-6):
    """Central finite differences of the scalar f at x (float64)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp_, xm = x.copy(), x.copy()
        xp_[idx] += h
        xm[idx] -= h
        g[idx] = (float(f(xp_)) - float(f(xm))) / (2 * h)
    return g


def _grad_cases(rng):
    z, t = rng.normal(size=(N, C)), rng.normal(size=(N, C))
    q = _softmax(rng.normal(size=(N, C)))
    p2 = _softmax(rng.normal(size=(N, C)))
    m = _element_mask(rng, (N, C))
    keep = np.array([True, False, True, True, False, True])
    seg_p, seg_g = rng.uniform(0.1, 0.9, size=(N, 3, 4)), (rng.uniform(size=(N, 3, 4)) > 0.5).astype(np.float64)
    seg_m = rng.uniform(size=(N, 3, 4)) < 0.6

    def rows(fn, a, b, mask):
        kept = mask.any(axis=1)
        return _reduce(np.array([fn(a[i][mask[i]], b[i][mask[i]]) if kept[i] else 0.0 for i in range(N)]),
                       kept, "mean")

    return [
        ("huber", z, t, m, {"delta": 0.7}, lambda a: R.huber(a[m], t[m], delta=0.7), m),
        ("cross_entropy", z, q, m, {},
         lambda a: rows(lambda u, v: R.cross_entropy(u[None], v[None]), a, q, m), m),
        ("cross_entropy", z, q, keep, {}, lambda a: R.cross_entropy(a[keep], q[keep]), keep[:, None]),
        ("kl_divergence", p2, q, m, {}, lambda a: rows(lambda u, v: R.kl_divergence(u, v), a, q, m), m),
        ("cosine_proximity", z, t, m, {}, lambda a: rows(lambda u, v: R.cosine_proximity(u, v), a, t, m), m),
        ("dice", seg_p, seg_g, seg_m, {"axis": (1, 2)},
         lambda a: _reduce(R.dice(a * seg_m, seg_g * seg_m, axis=(1, 2), reduction="none"),
                           seg_m.any(axis=(1, 2)), "mean"), seg_m),
        ("listnet", z, np.round(2 * q), m, {},
         lambda a: _reduce(R.listnet(a, np.where(m, np.round(2 * q), -1.0), reduction="none"), m.any(axis=1),
                           "mean"), m),
    ]


def test_gradients(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    rng = np.random.default_rng(26)
    for name, a, b, m, kw, ref, kept in _grad_cases(rng):
        fn = getattr(lossapi, name)
        w = xp.asarray(m)
        (g,) = xp.grad(lambda u, v, fn=fn, w=w, kw=kw: fn(u, v, where=w, **kw), [xp.asarray(a), xp.asarray(b)], [0])
        np.testing.assert_allclose(g, _fd(ref, a), rtol=1e-6, atol=1e-8, err_msg=name)
        # exactly 0 at what the mask drops
        assert np.all(g[~np.broadcast_to(kept, g.shape)] == 0.0), name


def test_batch_gradient(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    rng = np.random.default_rng(27)
    e, lab, keep = _batch_inputs(rng)

    def ref(x):
        total = count = 0
        for b in range(B):
            v, c = R._circle_one(x[b][keep[b]], lab[b][keep[b]], 0.25, 4.0)
            total, count = total + np.sum(v), count + c
        return total / max(count, 1)

    (g,) = xp.grad(lambda u, v: lossapi.circle(u, v, gamma=4.0, detach_weights=False, where=xp.asarray(keep)),
                   [xp.asarray(e), xp.asarray(lab)], [0])
    np.testing.assert_allclose(g, _fd(ref, e), rtol=1e-6, atol=1e-8)
    assert np.all(g[~keep] == 0.0)


# --- bad masks ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mse", "cross_entropy", "kl_divergence", "dice", "listnet", "contrastive",
                                  "batch_triplet", "giou", "vae_loss"])
def test_bad_masks(xp, name):
    rng = np.random.default_rng(28)
    z = rng.normal(size=(N, C))
    arrays = {
        "mse": (z, z), "cross_entropy": (z, rng.integers(0, C, size=N)), "kl_divergence": (_softmax(z), _softmax(z)),
        "dice": (_softmax(z), _softmax(z)), "listnet": (z, z), "contrastive": (z, z, np.ones(N)),
        "batch_triplet": (z, np.arange(N) % 2), "giou": (_boxes(rng, (N,)), _boxes(rng, (N,))),
        "vae_loss": (_softmax(z), _softmax(z), z, z),
    }[name]
    args = [xp.asarray(a) for a in arrays]
    fn = getattr(lossapi, name)
    shape = (N,)
    for bad in (np.ones(shape, dtype=np.int64), np.ones(shape, dtype=np.float64)):
        with pytest.raises(TypeError, match=rf"^{name}: where must be a boolean array, got dtype"):
            fn(*args, where=xp.asarray(bad))
    with pytest.raises(ValueError, match=rf"^{name}: where has shape \(5,\)"):
        fn(*args, where=xp.asarray(np.ones(5, dtype=bool)))
    with pytest.raises(ValueError, match=rf"^{name}: where has shape \(2, {N}, {C}\)"):
        fn(*args, where=xp.asarray(np.ones((2, N, C), dtype=bool)))


def test_per_sample_shape_is_preferred_when_ambiguous(xp):
    # A [C] mask on [N, C] inputs with N == C is the per-sample mask (documented in masks()).
    rng = np.random.default_rng(29)
    p, q = _softmax(rng.normal(size=(4, 4))), _softmax(rng.normal(size=(4, 4)))
    keep = np.array([True, False, True, True])
    got = lossapi.kl_divergence(xp.asarray(p), xp.asarray(q), where=xp.asarray(keep), reduction="none")
    _check(xp.to_numpy(got), np.where(keep, R.kl_divergence(p, q, reduction="none"), 0.0))



@pytest.mark.parametrize("name", ["mse", "cross_entropy", "giou"])
def test_where_not_an_array(xp, name):
    # A Python list is not a mask: the TypeError names where (not "different array libraries").
    z = np.abs(np.random.default_rng(30).normal(size=(N, C)))
    second = np.zeros(N, dtype=np.int64) if name == "cross_entropy" else z
    with pytest.raises(TypeError, match=rf"^{name}: where must be an array, got list"):
        getattr(lossapi, name)(xp.asarray(z), xp.asarray(second), where=[True] * N)
