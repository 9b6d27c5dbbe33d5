"""Metric-learning losses beyond the checklist (issue 14, section 1): supcon,
arcface / cosface (sub-centres), multi_similarity, proxy_anchor, and the
chunked anchors (``chunk_size``) of supcon, nt_xent and batch_triplet.

Every expected value comes from the float64 loop references in
conformance/reference.py (written from the papers / pytorch-metric-learning's
semantics), or from lossapi's own unchunked path for the chunked one (whose
values are themselves checked against the references by the checklist)."""

from __future__ import annotations

import numpy as np
import pytest

import lossapi
from conformance import reference as R

REDUCTIONS = ("mean", "sum", "none")


def _np(xp, out):
    return xp.to_numpy(out).astype(np.float64)


def _need_grad(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")


def _reduce(per, count, reduction):
    if reduction == "none":
        return per
    return np.sum(per) / max(count, 1) if reduction == "mean" else np.sum(per)


def _batch(seed, lead=2, n=7, dim=4, classes=3):
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(lead, n, dim))
    lab = rng.integers(0, classes, size=(lead, n))
    keep = rng.uniform(size=(lead, n)) < 0.7
    keep[:, 0] = True
    return e, lab, keep


# --- where= masks ---------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_supcon_where(xp, reduction):
    e, lab, keep = _batch(0)
    per, count = zip(*(R._supcon_one(e[b], lab[b], 0.3, keep[b]) for b in range(len(e))))
    want = _reduce(np.stack(per), sum(count), reduction)
    got = lossapi.supcon(xp.asarray(e), xp.asarray(lab), temperature=0.3, where=xp.asarray(keep), reduction=reduction)
    np.testing.assert_allclose(_np(xp, got), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multi_similarity_where(xp, reduction):
    e, lab, keep = _batch(1, n=8)
    per, count = zip(*(R._multi_similarity_one(e[b], lab[b], 2.0, 50.0, 0.5, 0.1, keep[b]) for b in range(len(e))))
    want = _reduce(np.stack(per), sum(count), reduction)
    got = lossapi.multi_similarity(xp.asarray(e), xp.asarray(lab), where=xp.asarray(keep), reduction=reduction)
    np.testing.assert_allclose(_np(xp, got), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_proxy_anchor_where(xp, reduction):
    e, lab, keep = _batch(2, n=6, classes=4)
    proxies = np.random.default_rng(3).normal(size=(4, 4))
    shares = np.stack([R._proxy_anchor_one(e[b], proxies, lab[b], 16.0, 0.1, keep[b]) for b in range(len(e))])
    want = shares if reduction == "none" else np.sum(shares) / (len(e) if reduction == "mean" else 1)
    got = lossapi.proxy_anchor(xp.asarray(e), xp.asarray(proxies), xp.asarray(lab), alpha=16.0,
                               where=xp.asarray(keep), reduction=reduction)
    np.testing.assert_allclose(_np(xp, got), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["arcface", "cosface"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_softmax_where(xp, name, reduction):
    e, lab, keep = _batch(4, classes=3)
    w = np.random.default_rng(5).normal(size=(3, 4))
    per = np.where(keep, getattr(R, name)(e, w, lab, scale=8.0, reduction="none"), 0.0)
    want = _reduce(per, int(np.sum(keep)), reduction)
    got = getattr(lossapi, name)(xp.asarray(e), xp.asarray(w), xp.asarray(lab), scale=8.0, where=xp.asarray(keep),
                                 reduction=reduction)
    np.testing.assert_allclose(_np(xp, got), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["supcon", "multi_similarity", "proxy_anchor", "arcface", "cosface"])
def test_everything_masked_is_zero_with_zero_gradient(xp, name):
    e, lab, _ = _batch(6)
    keep = np.zeros(lab.shape, bool)
    w = np.random.default_rng(7).normal(size=(3, 4))
    extra = (w,) if name in ("proxy_anchor", "arcface", "cosface") else ()

    def f(x, *rest):
        return getattr(lossapi, name)(x, *rest, xp.asarray(lab), where=xp.asarray(keep))

    args = [xp.asarray(e), *(xp.asarray(a) for a in extra)]
    assert _np(xp, f(*args)) == 0.0
    if xp.has_grad:
        for g in xp.grad(f, args, tuple(range(len(args)))):
            np.testing.assert_array_equal(g, 0.0)


def test_element_mask_is_value_error(xp):
    e, lab, _ = _batch(8)
    w = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"^arcface: where has shape \(2, 7, 4\)"):
        lossapi.arcface(xp.asarray(e), xp.asarray(w), xp.asarray(lab), where=xp.asarray(np.ones(e.shape, bool)))


# --- anchors without positives, single-class batches --------------------------------

def test_supcon_anchor_without_positives_leaves_the_mean(xp):
    rng = np.random.default_rng(9)
    e, lab = rng.normal(size=(6, 3)), np.array([0, 0, 1, 2, 2, 3])  # anchors 2 and 5: no positive
    per = _np(xp, lossapi.supcon(xp.asarray(e), xp.asarray(lab), reduction="none"))
    want, count = R._supcon_one(e, lab, 0.1)
    assert count == 4 and per[2] == 0.0 and per[5] == 0.0
    np.testing.assert_allclose(per, want, rtol=1e-10)
    mean = _np(xp, lossapi.supcon(xp.asarray(e), xp.asarray(lab)))
    np.testing.assert_allclose(mean, np.sum(want) / 4, rtol=1e-10)


@pytest.mark.parametrize("name", ["supcon", "multi_similarity"])
def test_no_positive_anywhere_is_zero_with_zero_gradient(xp, name):
    e = np.random.default_rng(10).normal(size=(5, 3))
    lab = np.arange(5)

    def f(x):
        return getattr(lossapi, name)(x, xp.asarray(lab))

    assert _np(xp, f(xp.asarray(e))) == 0.0
    if xp.has_grad:
        (g,) = xp.grad(f, [xp.asarray(e)], (0,))
        np.testing.assert_array_equal(g, 0.0)


def test_single_class_batch(xp):
    rng = np.random.default_rng(11)
    e, lab = rng.normal(size=(5, 3)), np.zeros(5, np.int64)
    proxies = rng.normal(size=(3, 3))
    got = lossapi.supcon(xp.asarray(e), xp.asarray(lab), reduction="none")
    np.testing.assert_allclose(_np(xp, got), R.supcon(e, lab, reduction="none"), rtol=1e-10)
    # multi_similarity: no negative, so the miner keeps nothing
    assert _np(xp, lossapi.multi_similarity(xp.asarray(e), xp.asarray(lab))) == 0.0
    got = lossapi.proxy_anchor(xp.asarray(e), xp.asarray(proxies), xp.asarray(lab), reduction="none")
    np.testing.assert_allclose(_np(xp, got), R.proxy_anchor(e, proxies, lab, reduction="none"), rtol=1e-10)
    assert _np(xp, lossapi.batch_triplet(xp.asarray(e), xp.asarray(lab), chunk_size=2)) == 0.0


# --- ArcFace / CosFace ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_arcface_at_cos_plus_minus_one_has_finite_gradients(xp, dtype):
    """Identical (cos = 1) and opposite (cos = -1) embedding/weight pairs:
    finite values equal to the reference and finite gradients."""
    w = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.5]])
    e = np.array([[3.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -2.0]])
    lab = np.array([0, 1, 2, 2])
    for opts in [{}, {"scale": 4.0, "margin": 0.3}, {"sub_centers": 1, "margin": 0.0}]:
        args = [xp.asarray(e, dtype), xp.asarray(w, dtype)]

        def f(x, y, opts=opts):
            return lossapi.arcface(x, y, xp.asarray(lab), reduction="sum", **opts)

        got = _np(xp, f(*args))
        want = R.arcface(e, w, lab, reduction="sum", **opts)
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-10)
        if xp.has_grad:
            for g in xp.grad(f, args, (0, 1)):
                assert np.all(np.isfinite(g)), (opts, g)


def test_arcface_half_precision_computes_in_float32(xp):
    """pml#209: float16 / bfloat16 inputs at the default scale 64 (logits up
    to 64, exp(64) overflows float16): finite, close to the reference on the
    rounded inputs, finite gradients (identical vectors included)."""
    halves = xp.half_dtypes()
    if not halves:
        pytest.skip(f"{xp.name} has no half-precision dtype")
    rng = np.random.default_rng(12)
    w = rng.normal(size=(4, 8))
    e = rng.normal(size=(6, 8))
    e[0] = w[1]
    lab = np.array([1, 0, 2, 3, 1, 0])
    for dtype in halves:
        args = [xp.asarray(e, dtype), xp.asarray(w, dtype)]
        for name in ("arcface", "cosface"):
            out = getattr(lossapi, name)(*args, xp.asarray(lab))
            assert out.dtype == xp.dtype(dtype)
            got = xp.to_numpy(out).astype(np.float64)
            rounded = [xp.to_numpy(a).astype(np.float64) for a in args]
            want = getattr(R, name)(*rounded, lab)
            np.testing.assert_allclose(got, want, rtol=2e-2)
            if xp.has_grad:
                for g in xp.grad(lambda x, y, n=name: getattr(lossapi, n)(x, y, xp.asarray(lab)), args, (0, 1)):
                    assert np.all(np.isfinite(np.asarray(g, dtype=np.float64)))


def test_arcface_sub_centers_of_copies_equal_one_center(xp):
    rng = np.random.default_rng(13)
    e, w, lab = rng.normal(size=(5, 4)), rng.normal(size=(3, 4)), np.array([0, 1, 2, 1, 0])
    one = lossapi.arcface(xp.asarray(e), xp.asarray(w), xp.asarray(lab), reduction="none")
    three = lossapi.arcface(xp.asarray(e), xp.asarray(np.repeat(w, 3, axis=0)), xp.asarray(lab), sub_centers=3,
                            reduction="none")
    np.testing.assert_allclose(_np(xp, three), _np(xp, one), rtol=1e-12)


def test_arcface_zero_margin_is_cosface_zero_margin(xp):
    rng = np.random.default_rng(14)
    e, w, lab = rng.normal(size=(5, 4)), rng.normal(size=(3, 4)), np.array([0, 1, 2, 1, 0])
    a = lossapi.arcface(xp.asarray(e), xp.asarray(w), xp.asarray(lab), margin=0.0, reduction="none")
    c = lossapi.cosface(xp.asarray(e), xp.asarray(w), xp.asarray(lab), margin=0.0, reduction="none")
    np.testing.assert_allclose(_np(xp, a), _np(xp, c), rtol=1e-12)


def test_margin_softmax_bad_input(xp):
    e, w, lab = np.ones((3, 4)), np.ones((2, 4)), np.array([0, 1, 1])
    with pytest.raises(ValueError, match=r"^arcface: weight must have shape \[C \* sub_centers, D\]"):
        lossapi.arcface(xp.asarray(e), xp.asarray(np.ones((2, 3))), xp.asarray(lab))
    with pytest.raises(TypeError, match="^cosface: labels must be integer class labels"):
        lossapi.cosface(xp.asarray(e), xp.asarray(w), xp.asarray(lab.astype(np.float64)))
    with pytest.raises(ValueError, match="^proxy_anchor: proxies must have shape"):
        lossapi.proxy_anchor(xp.asarray(e), xp.asarray(np.ones((2, 5))), xp.asarray(lab))
    if xp.name in ("numpy", "torch"):  # label values are read where the backend can read them
        with pytest.raises(ValueError, match=r"labels contains class label 2, which is outside \[0, 2\)"):
            lossapi.arcface(xp.asarray(e), xp.asarray(w), xp.asarray(np.array([0, 2, 1])))


# --- chunk_size -----------------------------------------------------------------------

CHUNKS = [3, 16]  # N = 7 (14 anchors for nt_xent): 3 divides neither; 16 is one block


def _chunk_call(name, xp, e, lab, z2, keep, chunk, reduction, **opts):
    w = None if keep is None else xp.asarray(keep)
    if name == "nt_xent":
        return lossapi.nt_xent(e, xp.asarray(z2), chunk_size=chunk, where=w, reduction=reduction, **opts)
    return getattr(lossapi, name)(e, xp.asarray(lab), chunk_size=chunk, where=w, reduction=reduction, **opts)


@pytest.mark.parametrize("name,opts", [
    ("supcon", {"temperature": 0.5}), ("nt_xent", {}),
    ("batch_triplet", {}), ("batch_triplet", {"p": 1.0, "squared": True}),
], ids=lambda x: x if isinstance(x, str) else "-".join(f"{k}={v}" for k, v in x.items()) or "default")
@pytest.mark.parametrize("masked", [False, True], ids=["all", "where"])
def test_chunk_size_same_values_and_gradients(xp, name, opts, masked):
    e, lab, keep = _batch(15)
    z2 = e + 0.3 * np.random.default_rng(16).normal(size=e.shape)
    keep = keep if masked else None
    for chunk in CHUNKS:
        for reduction in REDUCTIONS:
            want = _np(xp, _chunk_call(name, xp, xp.asarray(e), lab, z2, keep, None, reduction, **opts))
            got = _np(xp, _chunk_call(name, xp, xp.asarray(e), lab, z2, keep, chunk, reduction, **opts))
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13, err_msg=f"{chunk} {reduction}")
        if xp.has_grad and chunk == CHUNKS[0]:
            (g0,), (g1,) = (xp.grad(lambda x, c=c: _chunk_call(name, xp, x, lab, z2, keep, c, "mean", **opts),
                                    [xp.asarray(e)], (0,)) for c in (None, chunk))
            np.testing.assert_allclose(g1, g0, rtol=1e-10, atol=1e-12, err_msg=str(chunk))


def test_chunked_nt_xent_gradient_of_both_views(xp):
    _need_grad(xp)
    e, _, keep = _batch(17)
    z2 = e + 0.3 * np.random.default_rng(18).normal(size=e.shape)
    args = [xp.asarray(e), xp.asarray(z2)]
    w = xp.asarray(keep)
    g0, g1 = (xp.grad(lambda a, b, c=c: lossapi.nt_xent(a, b, chunk_size=c, where=w, reduction="sum"), args, (0, 1))
              for c in (None, 5))
    for x, y in zip(g0, g1):
        np.testing.assert_allclose(y, x, rtol=1e-10, atol=1e-12)


def test_chunk_size_float32(xp):
    e, lab, _ = _batch(19)
    for name in ("supcon", "nt_xent", "batch_triplet"):
        want = _np(xp, _chunk_call(name, xp, xp.asarray(e, "float32"), lab, e[::-1].copy(), None, None, "none"))
        got = _np(xp, _chunk_call(name, xp, xp.asarray(e, "float32"), lab, e[::-1].copy(), None, 3, "none"))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)


def test_chunk_size_bad_values(xp):
    e, lab, _ = _batch(20)
    x, y = xp.asarray(e), xp.asarray(lab)
    with pytest.raises(ValueError, match="^supcon: chunk_size must be a positive int or None, got 0"):
        lossapi.supcon(x, y, chunk_size=0)
    with pytest.raises(TypeError, match="^nt_xent: chunk_size must be a positive int or None, got float"):
        lossapi.nt_xent(x, x, chunk_size=2.0)
    with pytest.raises(ValueError, match="^batch_triplet: chunk_size is supported with mining='batch_hard' only"):
        lossapi.batch_triplet(x, y, mining="all", chunk_size=2)


# --- jax: jit, vmap, grad --------------------------------------------------------------

@pytest.fixture
def jax64():
    jax = pytest.importorskip("jax")
    from harness import Backend, Harness

    Harness(Backend.JAX).setup()
    return jax


def test_jax_jit_and_grad_chunked(jax64):
    jax, jnp = jax64, jax64.numpy
    e, lab, keep = _batch(21)
    z2 = e + 0.3 * np.random.default_rng(22).normal(size=e.shape)
    x, y, w, z = jnp.asarray(e), jnp.asarray(lab), jnp.asarray(keep), jnp.asarray(z2)
    calls = {
        "supcon": lambda a, c: lossapi.supcon(a, y, chunk_size=c, where=w),
        "nt_xent": lambda a, c: lossapi.nt_xent(a, z, chunk_size=c, where=w),
        "batch_triplet": lambda a, c: lossapi.batch_triplet(a, y, chunk_size=c, where=w),
    }
    for name, f in calls.items():
        # chunked == unchunked, both under jit (eager jax is test_checklist's)
        want, gwant = jax.jit(lambda a, f=f: f(a, None))(x), jax.jit(jax.grad(lambda a, f=f: f(a, None)))(x)
        got = jax.jit(lambda a, f=f: f(a, 3))(x)
        ggot = jax.jit(jax.grad(lambda a, f=f: f(a, 3)))(x)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(np.asarray(ggot), np.asarray(gwant), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", ["supcon", "nt_xent", "batch_triplet"])
def test_jax_chunked_compiled_memory(name):
    # The blocks run in lax.fori_loop, so the compiled forward+backward holds
    # a few [chunk, N] blocks at a time. One [N, N] float32 matrix, what the
    # unchunked path needs at least, is N / chunk = 16 blocks; a Python loop
    # over the blocks (unrolled under jit) kept about 37 alive at N = 16384.
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    n, d, chunk = 2048, 32, 128
    if name == "nt_xent":
        args, argnums = [jax.ShapeDtypeStruct((n // 2, d), jnp.float32)] * 2, (0, 1)
    else:
        args, argnums = [jax.ShapeDtypeStruct((n, d), jnp.float32), jax.ShapeDtypeStruct((n,), jnp.int32)], (0,)
    step = jax.value_and_grad(lambda *a: getattr(lossapi, name)(*a, chunk_size=chunk), argnums=argnums)
    temp = jax.jit(step).lower(*args).compile().memory_analysis().temp_size_in_bytes
    block = n * chunk * 4
    assert temp < 6 * block, f"{name}: {temp / block:.1f} blocks of [{chunk}, {n}] float32"


def test_jax_jit_new_losses(jax64):
    jax, jnp = jax64, jax64.numpy
    e, lab, keep = _batch(23, classes=3)
    w9 = np.random.default_rng(24).normal(size=(9, 4))
    x, y, m, wj = jnp.asarray(e), jnp.asarray(lab), jnp.asarray(keep), jnp.asarray(w9)
    calls = [
        lambda a: lossapi.supcon(a, y, where=m),
        lambda a: lossapi.multi_similarity(a, y, where=m),
        lambda a: lossapi.proxy_anchor(a, wj[:3], y, where=m),
        lambda a: lossapi.arcface(a, wj, y, sub_centers=3, where=m),
        lambda a: lossapi.cosface(a, wj[:3], y),
    ]
    for f in calls:
        np.testing.assert_allclose(np.asarray(jax.jit(f)(x)), np.asarray(f(x)), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(f))(x)), np.asarray(jax.grad(f)(x)), rtol=1e-10,
                                   atol=1e-12)


def test_jax_vmap_equals_leading_axes(jax64):
    jax, jnp = jax64, jax64.numpy
    e, lab, _ = _batch(25, lead=3)
    w = np.random.default_rng(26).normal(size=(3, 4))
    x, y, wj = jnp.asarray(e), jnp.asarray(lab), jnp.asarray(w)
    calls = {
        "supcon_chunked": lambda a, b: lossapi.supcon(a, b, chunk_size=2, reduction="none"),
        "nt_xent_chunked": lambda a, b: lossapi.nt_xent(a, a[..., ::-1, :], chunk_size=3, reduction="none"),
        "multi_similarity": lambda a, b: lossapi.multi_similarity(a, b, reduction="none"),
        "proxy_anchor": lambda a, b: lossapi.proxy_anchor(a, wj, b, reduction="none"),
        "arcface": lambda a, b: lossapi.arcface(a, wj, b, reduction="none"),
    }
    for name, f in calls.items():  # vmap == leading axes, both under jit
        np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(f))(x, y)), np.asarray(jax.jit(f)(x, y)), rtol=1e-12,
                                   err_msg=name)
    # vmap of the chunked gradient equals the gradient over leading axes
    g = jax.jit(jax.vmap(jax.grad(lambda a, b: lossapi.supcon(a, b, chunk_size=3, reduction="sum"))))(x, y)
    want = jax.jit(jax.grad(lambda a: lossapi.supcon(a, y, reduction="sum")))(x)
    np.testing.assert_allclose(np.asarray(g), np.asarray(want), rtol=1e-10, atol=1e-12)
