"""A tuple of axes: losses that reduce over a distribution, a feature vector
or a list take ``axis=(i, j, ...)`` and reduce over all of them at once, as
if those axes were moved to the end (in the order given) and flattened into
one. Every expected value is the float64 reference of
``conformance/reference.py`` applied to the flattened inputs with
``axis=-1`` (and optax's ``softmax_cross_entropy(axis=(1, 2))``)."""

from __future__ import annotations

import numpy as np
import pytest

import lossapi
from conformance import reference as R

TOL = 1e-10
SHAPE = (3, 4, 5)
REDUCTIONS = ("mean", "sum", "none")


def _check(got, want, tol=TOL):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def _flat(x, axes):
    """``x`` with ``axes`` moved to the end in the order given and flattened."""
    axes = tuple(a % x.ndim for a in axes)
    rest = [i for i in range(x.ndim) if i not in axes]
    y = np.transpose(x, (*rest, *axes))
    return y.reshape(*(x.shape[i] for i in rest), -1)


def _softmax_over(z, axes):
    e = np.exp(z - z.max(axis=axes, keepdims=True))
    return e / e.sum(axis=axes, keepdims=True)


def _inputs(name, rng, axes=(1, 2)):
    z = rng.normal(size=SHAPE) * 1.5
    if name in ("cross_entropy", "poly1"):
        return z, _softmax_over(rng.normal(size=SHAPE), axes)
    if name in ("kl_divergence", "js_divergence"):
        return _softmax_over(z, axes), _softmax_over(rng.normal(size=SHAPE), axes)
    if name == "kl_divergence_log":
        return np.log(_softmax_over(z, axes)), np.log(_softmax_over(rng.normal(size=SHAPE), axes))
    if name in ("gaussian_kl", "cosine_proximity"):
        return z, rng.normal(size=SHAPE)
    if name in ("listnet", "ranknet", "listmle", "approx_ndcg"):
        r = rng.integers(0, 3, size=SHAPE).astype(np.float64)
        r[0, 1, 2] = -1.0  # padding
        return z, r
    raise AssertionError(name)


LOSSES = ["cross_entropy", "poly1", "kl_divergence", "kl_divergence_log", "js_divergence", "gaussian_kl",
          "cosine_proximity", "listnet", "ranknet", "listmle", "approx_ndcg"]
AXES = [(1, 2), (2, 1), (-1, -2), (0, 2)]


@pytest.mark.parametrize("axes", AXES, ids=str)
@pytest.mark.parametrize("name", LOSSES)
def test_tuple_axis(xp, name, axes):
    rng = np.random.default_rng(sum(map(ord, name)))
    a, b = _inputs(name, rng, axes)
    rest = tuple(n for i, n in enumerate(SHAPE) if i not in tuple(x % 3 for x in axes))
    for reduction in REDUCTIONS:
        got = xp.to_numpy(getattr(lossapi, name)(xp.asarray(a), xp.asarray(b), axis=axes, reduction=reduction))
        want = getattr(R, name)(_flat(a, axes), _flat(b, axes), axis=-1, reduction=reduction)
        if reduction == "none":
            assert got.shape == rest
        _check(got, want)


def test_all_axes(xp):
    # Every axis of a 2-D input: one distribution, a 0-d result.
    rng = np.random.default_rng(1)
    p, q = _softmax_over(rng.normal(size=(3, 4)), (0, 1)), _softmax_over(rng.normal(size=(3, 4)), (0, 1))
    got = lossapi.kl_divergence(xp.asarray(p), xp.asarray(q), axis=(0, 1), reduction="none")
    _check(xp.to_numpy(got), R.kl_divergence(p.ravel(), q.ravel(), reduction="none"))


def test_optax_softmax_cross_entropy_tuple_axis():
    optax = pytest.importorskip("optax")
    import jax

    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    rng = np.random.default_rng(2)
    z, q = _inputs("cross_entropy", rng)
    got = lossapi.cross_entropy(jnp.asarray(z), jnp.asarray(q), axis=(1, 2), reduction="none")
    _check(got, optax.losses.softmax_cross_entropy(jnp.asarray(z), jnp.asarray(q), axis=(1, 2)))
    got = jax.jit(lambda a, b: lossapi.cross_entropy(a, b, axis=(1, 2), reduction="none"))(jnp.asarray(z),
                                                                                          jnp.asarray(q))
    _check(got, optax.losses.softmax_cross_entropy(jnp.asarray(z), jnp.asarray(q), axis=(1, 2)))


def test_jit_tuple_axis():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    rng = np.random.default_rng(3)
    s, r = _inputs("listnet", rng)
    f = jax.jit(lambda a, b: lossapi.listnet(a, b, axis=(0, 2), reduction="none"))
    _check(f(jnp.asarray(s), jnp.asarray(r)), R.listnet(_flat(s, (0, 2)), _flat(r, (0, 2)), reduction="none"))
    p, q = _inputs("js_divergence", rng)
    g = jax.jit(jax.vmap(lambda a, b: lossapi.js_divergence(a, b, axis=(0, 1))))
    _check(g(jnp.asarray(p), jnp.asarray(q)), R.js_divergence(_flat(p, (1, 2)), _flat(q, (1, 2)), reduction="none"))


# --- masks with a tuple of axes --------------------------------------------------------------


def test_tuple_axis_with_per_sample_where(xp):
    rng = np.random.default_rng(4)
    p, q = _inputs("kl_divergence", rng)
    keep = np.array([True, False, True])
    per = R.kl_divergence(_flat(p, (1, 2)), _flat(q, (1, 2)), reduction="none")
    for reduction in REDUCTIONS:
        got = lossapi.kl_divergence(xp.asarray(p), xp.asarray(q), axis=(1, 2), where=xp.asarray(keep),
                                    reduction=reduction)
        want = np.where(keep, per, 0.0) if reduction == "none" else (
            np.sum(per[keep]) if reduction == "sum" else np.mean(per[keep]))
        _check(xp.to_numpy(got), want)


@pytest.mark.parametrize("name", ["cross_entropy", "kl_divergence", "cosine_proximity", "listnet"])
def test_tuple_axis_with_element_where(xp, name):
    # The mask has the input's shape and is flattened with it.
    rng = np.random.default_rng(5)
    a, b = _inputs(name, rng, (2, 1))
    m = rng.uniform(size=SHAPE) < 0.6
    m[1] = False  # a sample with nothing left
    fa, fb, fm = _flat(a, (2, 1)), _flat(b, (2, 1)), _flat(m, (2, 1))
    kept = fm.any(axis=-1)
    if name == "listnet":
        vals = R.listnet(fa, np.where(fm, fb, -1.0), reduction="none")
    else:
        vals = np.array([getattr(R, name)(fa[i][fm[i]][None], fb[i][fm[i]][None], reduction="sum") if kept[i]
                         else 0.0 for i in range(SHAPE[0])])
    got = getattr(lossapi, name)(xp.asarray(a), xp.asarray(b), axis=(2, 1), where=xp.asarray(m), reduction="none")
    _check(xp.to_numpy(got), np.where(kept, vals, 0.0))
    got = getattr(lossapi, name)(xp.asarray(a), xp.asarray(b), axis=(2, 1), where=xp.asarray(m))
    _check(xp.to_numpy(got), np.sum(np.where(kept, vals, 0.0)) / np.sum(kept))


# --- gradients ----------------------------------------------------------------------------------


def _fd(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[idx] += h
        lo[idx] -= h
        g[idx] = (float(f(hi)) - float(f(lo))) / (2 * h)
    return g


@pytest.mark.parametrize("name", ["cross_entropy", "kl_divergence", "cosine_proximity", "gaussian_kl"])
def test_tuple_axis_gradient(xp, name):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    rng = np.random.default_rng(6)
    a, b = _inputs(name, rng, (0, 2))
    (g,) = xp.grad(lambda u, v: getattr(lossapi, name)(u, v, axis=(0, 2)), [xp.asarray(a), xp.asarray(b)], [0])

    def ref(x):
        return getattr(R, name)(_flat(x, (0, 2)), _flat(b, (0, 2)), axis=-1)

    np.testing.assert_allclose(g, _fd(ref, a), rtol=1e-6, atol=1e-9)


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cross_entropy", "poly1", "nll", "focal", "multiclass_hinge"])
def test_integer_labels_with_tuple_axis_is_value_error(xp, name):
    z = xp.asarray(np.random.default_rng(7).normal(size=SHAPE))
    y = xp.asarray(np.zeros((3,), dtype=np.int64))
    # Losses that also take probabilities say that a tuple needs them; the
    # others (labels only) say that labels have one class axis.
    why = "which needs probability targets" if name in ("cross_entropy", "poly1") else "but integer class labels"
    with pytest.raises(ValueError, match=rf"^{name}: axis \(1, 2\) is a tuple of axes, {why}"):
        getattr(lossapi, name)(z, y, axis=(1, 2))


def test_probability_targets_of_another_shape(xp):
    z = xp.asarray(np.zeros(SHAPE))
    with pytest.raises(ValueError, match=r"^cross_entropy: logits has shape \(3, 4, 5\) but target has shape "
                                         r"\(3, 20\); probability targets must have the shape of logits"):
        lossapi.cross_entropy(z, xp.asarray(np.full((3, 20), 0.05)), axis=(1, 2))


@pytest.mark.parametrize("name", ["kl_divergence", "cross_entropy", "cosine_proximity", "listnet"])
def test_bad_tuples(xp, name):
    rng = np.random.default_rng(8)
    a, b = (xp.asarray(x) for x in _inputs(name, rng))
    fn = getattr(lossapi, name)
    for axes in ((1, 1), (1, -2), (0, 2, 2)):
        with pytest.raises(ValueError, match=rf"^{name}: axis \({axes[0]}, .* repeats an axis"):
            fn(a, b, axis=axes)
    with pytest.raises(ValueError, match=rf"^{name}: axis must be an int or a non-empty tuple of ints, got \(\)"):
        fn(a, b, axis=())
    with pytest.raises(ValueError, match=rf"^{name}: axis 3 is out of range"):
        fn(a, b, axis=(1, 3))
    with pytest.raises(TypeError, match=rf"^{name}: axis must be"):
        fn(a, b, axis=(1.0, 2))


def test_list_of_axes_is_a_tuple(xp):
    rng = np.random.default_rng(9)
    p, q = _inputs("js_divergence", rng)
    got = lossapi.js_divergence(xp.asarray(p), xp.asarray(q), axis=[1, 2], reduction="none")
    _check(xp.to_numpy(got), R.js_divergence(_flat(p, (1, 2)), _flat(q, (1, 2)), reduction="none"))
