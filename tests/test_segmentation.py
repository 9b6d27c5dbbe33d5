"""Segmentation family: empty masks, identities between Dice, Jaccard and
Tversky, per-axis reductions against per-index loops, jax transforms."""

from __future__ import annotations

import numpy as np
import pytest

import lossapi

LOSSES = {
    "dice": lossapi.dice,
    "jaccard": lossapi.jaccard,
    "tversky": lossapi.tversky,
    "focal_tversky": lambda p, g, **k: lossapi.tversky(p, g, alpha=0.3, beta=0.7, gamma=0.75, **k),
}


def _counts(p, g):
    return np.sum(p * g), np.sum(p), np.sum(g)


def _dice_np(p, g, smooth=1e-6):
    i, sp, sg = _counts(p, g)
    return 1 - (2 * i + smooth) / (sp + sg + smooth)


def _jaccard_np(p, g, smooth=1e-6):
    i, sp, sg = _counts(p, g)
    return 1 - (i + smooth) / (sp + sg - i + smooth)


def _tversky_np(p, g, alpha=0.5, beta=0.5, gamma=1.0, smooth=1e-6):
    tp, fp, fn = np.sum(p * g), np.sum(p * (1 - g)), np.sum((1 - p) * g)
    return (1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)) ** gamma


def _masks(seed=0, shape=(2, 3, 4, 5)):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.02, 0.98, size=shape), (rng.uniform(size=shape) > 0.6).astype(np.float64)


# --- empty masks -------------------------------------------------------------------

@pytest.mark.parametrize("smooth", [1e-6, 0.0])
@pytest.mark.parametrize("name", list(LOSSES))
def test_empty_masks_give_zero_with_finite_gradient(xp, name, smooth):
    fn = LOSSES[name]
    z = xp.asarray(np.zeros((2, 3)))
    np.testing.assert_array_equal(xp.to_numpy(fn(z, z, smooth=smooth)), 0.0)
    if not xp.has_grad:
        return
    (g,) = xp.grad(lambda p, t: fn(p, t, smooth=smooth), [z, z], (0,))
    assert np.all(np.isfinite(g))
    # Analytic gradient of the smoothed formula at p = g = 0: d/dp_i of
    # (w * sum p) / (w * sum p + smooth) is w / smooth, with w the false-positive
    # weight (1 for Dice and Jaccard, alpha for Tversky); with smooth == 0 the
    # empty case is defined as 0 with gradient 0. (Focal: (.)**0.75 has slope inf
    # at 0, taken as 0.)
    w = {"dice": 1.0, "jaccard": 1.0, "tversky": 0.5, "focal_tversky": 0.0}[name]
    want = w / smooth if smooth else 0.0
    np.testing.assert_allclose(g, want, rtol=1e-9)


@pytest.mark.parametrize("name", list(LOSSES))
def test_empty_sample_among_others_per_sample(xp, name):
    # One empty sample (prediction and target all 0) next to a normal one,
    # smooth=0: the empty one is 0 (not NaN), the other matches the formula.
    fn = LOSSES[name]
    p = np.array([[0.0, 0.0, 0.0], [0.8, 0.3, 0.1]])
    g = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    P, G = xp.asarray(p), xp.asarray(g)
    got = xp.to_numpy(fn(P, G, smooth=0.0, axis=1, reduction="none"))
    ref = {"dice": _dice_np, "jaccard": _jaccard_np, "tversky": _tversky_np,
           "focal_tversky": lambda a, b, smooth: _tversky_np(a, b, 0.3, 0.7, 0.75, smooth)}[name]
    np.testing.assert_allclose(got, [0.0, ref(p[1], g[1], smooth=0.0)], rtol=1e-13)
    if xp.has_grad:
        (gr,) = xp.grad(lambda a, b: fn(a, b, smooth=0.0, axis=1, reduction="sum"), [P, G], (0,))
        assert np.all(np.isfinite(gr))
        np.testing.assert_array_equal(gr[0], 0.0)


@pytest.mark.parametrize("name", list(LOSSES))
def test_perfect_prediction_is_zero(xp, name):
    _, g = _masks(1)
    G = xp.asarray(g)
    np.testing.assert_array_equal(xp.to_numpy(LOSSES[name](G, G, axis=(1, 2, 3), reduction="none")), 0.0)
    if xp.has_grad:
        (gr,) = xp.grad(lambda a, b: LOSSES[name](a, b), [G, G], (0,))
        assert np.all(np.isfinite(gr))


# --- values and identities ---------------------------------------------------------

def test_guide_example_values(xp):
    # The reference guide's 2x2 example (sigmoid of its logits). Its printed
    # outputs (0.0735, 0.1367) do not follow from its own formulas; the
    # expected values here are recomputed in float64.
    logits = np.array([[2.0, -1.0], [-0.5, 3.0]])
    p = 1 / (1 + np.exp(-logits))
    g = np.array([[1.0, 0.0], [0.0, 1.0]])
    P, G = xp.asarray(p), xp.asarray(g)
    np.testing.assert_allclose(xp.to_numpy(lossapi.dice(P, G)), _dice_np(p, g), rtol=1e-12)
    np.testing.assert_allclose(xp.to_numpy(lossapi.jaccard(P, G)), _jaccard_np(p, g), rtol=1e-12)
    np.testing.assert_allclose(_dice_np(p, g), 0.181504, atol=1e-6)
    np.testing.assert_allclose(_jaccard_np(p, g), 0.307242, atol=1e-6)


@pytest.mark.parametrize("axis", [None, -1, (1, 2, 3), (0, 2)])
def test_tversky_identities(xp, axis):
    p, g = _masks(2)
    P, G = xp.asarray(p), xp.asarray(g)
    kw = {"axis": axis, "reduction": "none"}
    s = 0.25
    # alpha = beta = 1 is Jaccard with the same smooth.
    np.testing.assert_allclose(xp.to_numpy(lossapi.tversky(P, G, alpha=1.0, beta=1.0, smooth=s, **kw)),
                               xp.to_numpy(lossapi.jaccard(P, G, smooth=s, **kw)), rtol=1e-13)
    # alpha = beta = 0.5 is Dice with smooth doubled, and exactly Dice for smooth 0.
    np.testing.assert_allclose(xp.to_numpy(lossapi.tversky(P, G, smooth=s, **kw)),
                               xp.to_numpy(lossapi.dice(P, G, smooth=2 * s, **kw)), rtol=1e-13)
    np.testing.assert_allclose(xp.to_numpy(lossapi.tversky(P, G, smooth=0.0, **kw)),
                               xp.to_numpy(lossapi.dice(P, G, smooth=0.0, **kw)), rtol=1e-13)
    # The focal exponent is applied to the plain Tversky loss.
    plain = xp.to_numpy(lossapi.tversky(P, G, alpha=0.3, beta=0.7, **kw))
    np.testing.assert_allclose(xp.to_numpy(lossapi.tversky(P, G, alpha=0.3, beta=0.7, gamma=2.0, **kw)),
                               plain**2, rtol=1e-12)


def test_jaccard_at_least_dice(xp):
    p, g = _masks(3)
    P, G = xp.asarray(p), xp.asarray(g)
    d = xp.to_numpy(lossapi.dice(P, G, axis=(2, 3), reduction="none"))
    j = xp.to_numpy(lossapi.jaccard(P, G, axis=(2, 3), reduction="none"))
    assert np.all(j >= d) and np.all(d > 0)


# --- per-axis reductions ------------------------------------------------------------

@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky"])
def test_per_sample_and_class_against_loops(xp, name):
    p, g = _masks(4)
    n, c = p.shape[:2]
    ref = {"dice": _dice_np, "jaccard": _jaccard_np,
           "tversky": lambda a, b: _tversky_np(a, b, alpha=0.2, beta=0.8, gamma=1.5)}[name]
    kw = {"alpha": 0.2, "beta": 0.8, "gamma": 1.5} if name == "tversky" else {}
    want = np.array([[ref(p[i, j], g[i, j]) for j in range(c)] for i in range(n)])
    fn = getattr(lossapi, name)
    P, G = xp.asarray(p), xp.asarray(g)
    none = xp.to_numpy(fn(P, G, axis=(2, 3), reduction="none", **kw))
    assert none.shape == (n, c)
    np.testing.assert_allclose(none, want, rtol=1e-12)
    np.testing.assert_allclose(xp.to_numpy(fn(P, G, axis=(-1, -2), **kw)), want.mean(), rtol=1e-12)
    np.testing.assert_allclose(xp.to_numpy(fn(P, G, axis=[3, 2], reduction="sum", **kw)), want.sum(), rtol=1e-12)
    # Per class over the batch: axis (0, 2, 3).
    per_class = np.array([ref(p[:, j], g[:, j]) for j in range(c)])
    got = xp.to_numpy(fn(P, G, axis=(0, 2, 3), reduction="none", **kw))
    np.testing.assert_allclose(got, per_class, rtol=1e-12)


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky"])
def test_axis_none_is_global_for_every_reduction(xp, name):
    p, g = _masks(5)
    fn = getattr(lossapi, name)
    P, G = xp.asarray(p), xp.asarray(g)
    ref = {"dice": _dice_np, "jaccard": _jaccard_np, "tversky": _tversky_np}[name](p, g)
    for reduction in ("mean", "sum", "none"):
        got = xp.to_numpy(fn(P, G, reduction=reduction))
        assert got.shape == ()
        np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_integer_and_bool_targets(xp):
    p, g = _masks(6, (3, 4))
    P = xp.asarray(p)
    want = _dice_np(p, g)
    for t in (g.astype(np.int64), g.astype(bool)):
        got = lossapi.dice(P, xp.asarray(t))
        assert got.dtype == xp.dtype("float64")
        np.testing.assert_allclose(xp.to_numpy(got), want, rtol=1e-12)


def test_axis_errors(xp):
    P = xp.asarray(np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="jaccard: axis 2 is out of range"):
        lossapi.jaccard(P, P, axis=2)
    with pytest.raises(ValueError, match="dice: axis .* repeats"):
        lossapi.dice(P, P, axis=(1, -1))
    with pytest.raises(TypeError, match="tversky: axis must be"):
        lossapi.tversky(P, P, axis=1.0)


# --- jax transforms ------------------------------------------------------------------

def test_jax_jit_vmap_grad():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    p, g = _masks(7, (3, 2, 4))
    P, G = jnp.asarray(p), jnp.asarray(g)
    want = np.array([_tversky_np(p[i], g[i], 0.3, 0.7, 0.75) for i in range(3)])
    f = jax.jit(lambda a, b: lossapi.tversky(a, b, alpha=0.3, beta=0.7, gamma=0.75, axis=(1, 2), reduction="none"))
    np.testing.assert_allclose(np.asarray(f(P, G)), want, rtol=1e-6)
    # vmap of the global (axis=None) loss over the batch is the per-sample loss.
    v = jax.vmap(lambda a, b: lossapi.tversky(a, b, alpha=0.3, beta=0.7, gamma=0.75))(P, G)
    np.testing.assert_allclose(np.asarray(v), want, rtol=1e-6)
    # jit(grad) on empty masks stays finite.
    z = jnp.zeros((2, 3))
    gr = jax.jit(jax.grad(lambda a: lossapi.dice(a, z, smooth=0.0)))(z)
    assert np.all(np.asarray(gr) == 0.0)


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky"])
def test_near_perfect_float32_keeps_small_losses(xp, name):
    # Every pixel off by 2**-20 (exact in float32): FP + FN is summed per
    # pixel, so the tiny loss keeps float32 relative accuracy; 1 - ratio or
    # sum(p) - TP would lose it to cancellation.
    rng = np.random.default_rng(4)
    g = (rng.uniform(size=(4, 256)) > 0.5).astype(np.float64)
    eps = 2.0**-20
    p = np.where(g == 1, 1 - eps, eps)
    kw = {"alpha": 0.3, "beta": 0.3} if name == "tversky" else {}
    ref = {"dice": _dice_np, "jaccard": _jaccard_np, "tversky": _tversky_np}[name]
    want = ref(p, g, smooth=0.0, **kw)  # float64: 1 - ratio loses only ~1e-16 here
    got = float(xp.to_numpy(LOSSES[name](xp.asarray(p, "float32"), xp.asarray(g, "float32"), smooth=0.0, **kw)))
    assert want < 1e-5
    np.testing.assert_allclose(got, want, rtol=1e-5)
