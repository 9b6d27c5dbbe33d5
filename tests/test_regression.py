"""Regression family: properties, peers, extremes and transforms.

Peers (torch.nn.functional, optax, through the one adapter per peer and loss
of conformance.peers) are independent references; the properties use
hypothesis on NumPy inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import lossapi
from conformance import peers

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
vec = arrays(np.float64, st.integers(1, 8), elements=finite)
NONNEG = ["mse", "mae", "huber", "smooth_l1", "log_cosh", "mape", "smape", "msle", "pinball"]


@pytest.mark.parametrize("name", NONNEG)
@settings(max_examples=40, deadline=None)
@given(p=vec, data=st.data())
def test_nonnegative_and_zero_at_target(name, p, data):
    t = data.draw(arrays(np.float64, p.shape, elements=finite))
    fn = getattr(lossapi, name)
    v = fn(p, t, reduction="none")
    assert np.all(v >= -1e-12) and np.all(np.isfinite(v))
    assert np.all(fn(t, t, reduction="none") <= 1e-12)


@pytest.mark.parametrize("name", ["mse", "mae", "log_cosh", "smape", "huber", "smooth_l1"])
@settings(max_examples=30, deadline=None)
@given(p=vec, data=st.data())
def test_symmetric(name, p, data):
    t = data.draw(arrays(np.float64, p.shape, elements=finite))
    fn = getattr(lossapi, name)
    np.testing.assert_allclose(fn(p, t, reduction="none"), fn(t, p, reduction="none"), rtol=1e-12, atol=0)


@settings(max_examples=60, deadline=None)
@given(r=finite, delta=st.floats(0.01, 100))
def test_huber_between_its_pieces(r, delta):
    """min(quadratic, linear) bounds: huber <= 0.5 r^2 and huber <= delta |r|,
    and huber >= the linear piece delta(|r| - delta/2)."""
    h = float(lossapi.huber(np.array([r]), np.array([0.0]), delta=delta))
    assert h <= 0.5 * r * r * (1 + 1e-12) + 1e-300
    assert h <= delta * abs(r) * (1 + 1e-12) + 1e-300
    assert h >= delta * (abs(r) - 0.5 * delta) - 1e-9 * max(1.0, abs(r) * delta)


@settings(max_examples=40, deadline=None)
@given(p=vec, q=st.floats(0.0, 1.0))
def test_pinball_half_is_half_mae(p, q):
    t = np.zeros_like(p)
    np.testing.assert_allclose(lossapi.pinball(p, t, quantile=0.5), 0.5 * np.mean(np.abs(p)), rtol=1e-12)
    assert float(lossapi.pinball(p, t, quantile=q)) >= 0


def test_huber_is_delta_times_smooth_l1():
    rng = np.random.default_rng(3)
    p, t = rng.normal(size=50) * 3, rng.normal(size=50)
    for d in (0.3, 1.0, 2.5):
        np.testing.assert_allclose(lossapi.huber(p, t, delta=d), d * lossapi.smooth_l1(p, t, beta=d), rtol=1e-12)


# --- guide section 1 worked example, against hand arithmetic -------------------
P, T = [2.5, 2.8, 4.2], [2.0, 3.0, 5.0]  # residuals 0.5, -0.2, -0.8


@pytest.mark.parametrize(
    "name,want",
    [
        ("mse", (0.25 + 0.04 + 0.64) / 3),
        ("mae", (0.5 + 0.2 + 0.8) / 3),
        ("smooth_l1", (0.125 + 0.02 + 0.32) / 3),
        ("log_cosh", (math.log(math.cosh(0.5)) + math.log(math.cosh(0.2)) + math.log(math.cosh(0.8))) / 3),
        ("mape", 100 * (0.5 / 2 + 0.2 / 3 + 0.8 / 5) / 3),
    ],
)
def test_guide_section_1(xp, name, want):
    out = getattr(lossapi, name)(xp.asarray(P, "float64"), xp.asarray(T, "float64"))
    assert abs(float(xp.to_numpy(out)) - want) < 1e-12


# --- torch peers --------------------------------------------------------------
_TORCH_PEERS = [
    ("mse", {}),
    ("mae", {}),
    ("huber", {"delta": 0.7}),
    ("smooth_l1", {"beta": 0.7}),
    ("smooth_l1", {"beta": 0.0}),
    ("poisson_nll", {}),
    ("poisson_nll", {"full": True}),
    ("poisson_nll", {"log_input": False}),
]


@pytest.mark.parametrize("name,kw", _TORCH_PEERS, ids=lambda v: str(v))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch(name, kw, reduction):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    if name == "poisson_nll":
        p = torch.rand(4, 6, generator=g, dtype=torch.float64) * 2 + (0.1 if not kw.get("log_input", True) else -1)
        t = torch.poisson(torch.full((4, 6), 3.0, dtype=torch.float64), generator=g)
    else:
        p = torch.randn(4, 6, generator=g, dtype=torch.float64) * 2
        t = torch.randn(4, 6, generator=g, dtype=torch.float64)
    a = p.clone().requires_grad_()
    b = p.clone().requires_grad_()
    ours = getattr(lossapi, name)(a, t, reduction=reduction, **kw)
    theirs = peers.bind("torch", name, reduction=reduction, **kw)(b, t)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("var_shape", [(4, 6), (4, 1), (4,)])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_matches_torch(var_shape, full):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(1)
    m = torch.randn(4, 6, generator=g, dtype=torch.float64)
    t = torch.randn(4, 6, generator=g, dtype=torch.float64)
    v = torch.rand(var_shape, generator=g, dtype=torch.float64)
    v[0] = 1e-9  # below eps: clamped in the value, gradient passes through
    va, vb = v.clone().requires_grad_(), v.clone().requires_grad_()
    ours = lossapi.gaussian_nll(m, t, va, full=full)
    theirs = peers.bind("torch", "gaussian_nll", full=full)(m, t, vb)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(va.grad, vb.grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["log_cosh", "huber"])
def test_matches_optax(name):
    pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(2)
    p, t = jnp.asarray(rng.normal(size=40) * 3), jnp.asarray(rng.normal(size=40))
    want = peers.bind("optax", name)(p, t)  # optax's per-element values, mean-reduced
    np.testing.assert_allclose(getattr(lossapi, name)(p, t), want, rtol=1e-12)


# --- extremes -------------------------------------------------------------------
def test_log_cosh_finite_for_huge_residuals(xp):
    p = xp.asarray(np.array([0.0, 89.0, -100.0, 1e30, -3e38]), "float32")
    t = xp.asarray(np.zeros(5), "float32")
    v = xp.to_numpy(lossapi.log_cosh(p, t, reduction="none"))
    assert np.all(np.isfinite(v))
    want = np.abs(np.array([0.0, 89.0, -100.0, 1e30, -3e38], dtype=np.float32).astype(np.float64)) - math.log(2)
    want[0] = 0.0
    np.testing.assert_allclose(v, want, rtol=1e-6)


def test_log_cosh_gradient_is_tanh(xp):
    if not xp.has_grad:
        pytest.skip("no autodiff")
    r = np.array([-200.0, -3.0, -1e-3, 0.0, 2.0, 95.0])
    (g,) = xp.grad(lambda p: lossapi.log_cosh(p, xp.asarray(np.zeros(6), "float32"), reduction="sum"),
                   [xp.asarray(r, "float32")], [0])
    np.testing.assert_allclose(g, np.tanh(r), rtol=1e-6, atol=1e-6)  # float32 gradient, scale 1


def test_mape_zero_target_is_finite_and_documented(xp):
    p = xp.asarray(np.array([1.0, 0.0, 2.0]), "float32")
    t = xp.asarray(np.array([0.0, 0.0, 2.0]), "float32")
    v = xp.to_numpy(lossapi.mape(p, t, reduction="none"))
    assert np.all(np.isfinite(v))
    # max(|t|, eps) denominator: 100 * 1 / 1.17e-6, then 0, then 0.
    np.testing.assert_allclose(v, [100 / np.float32(1.17e-6), 0.0, 0.0], rtol=1e-6)


def test_kink_subgradients_agree(xp):
    """d|r|/dr at 0 is 0; huber at |r| == delta has slope delta; pinball at 0
    takes the r >= 0 branch: the same on every backend."""
    if not xp.has_grad:
        pytest.skip("no autodiff")
    zero = xp.asarray(np.zeros(3), "float64")
    x = xp.asarray(np.array([0.0, 1.0, -1.0]), "float64")
    (g,) = xp.grad(lambda p: lossapi.mae(p, zero, reduction="sum"), [x], [0])
    np.testing.assert_array_equal(g, [0.0, 1.0, -1.0])
    (g,) = xp.grad(lambda p: lossapi.huber(p, zero, delta=1.0, reduction="sum"), [x], [0])
    np.testing.assert_array_equal(g, [0.0, 1.0, -1.0])
    (g,) = xp.grad(lambda p: lossapi.pinball(p, zero, quantile=0.3, reduction="sum"), [x], [0])
    np.testing.assert_allclose(g, [-0.3, 0.7, -0.3])


# --- transforms -----------------------------------------------------------------
def test_jax_vmap_and_grad():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(5)
    p, t = jnp.asarray(rng.normal(size=(3, 7))), jnp.asarray(rng.normal(size=(3, 7)))
    for name in NONNEG:
        fn = getattr(lossapi, name)
        per_row = jax.jit(jax.vmap(lambda a, b, fn=fn: fn(a, b)))(p, t)
        np.testing.assert_allclose(per_row, np.mean(np.asarray(fn(p, t, reduction="none")), axis=1), rtol=1e-12)
        g = jax.jit(jax.grad(lambda a, fn=fn: fn(a, t)))(p)
        assert np.all(np.isfinite(np.asarray(g)))


def test_torch_func_and_compile():
    torch = pytest.importorskip("torch")
    p = torch.randn(5, 3, dtype=torch.float64)
    t = torch.randn(5, 3, dtype=torch.float64)
    g = torch.func.grad(lambda a: lossapi.huber(a, t, delta=0.5))(p)
    r = p - t
    want = torch.where(r.abs() <= 0.5, r, 0.5 * r.sign()) / r.numel()
    torch.testing.assert_close(g, want)
    per_row = torch.func.vmap(lambda a, b: lossapi.mse(a, b))(p, t)
    torch.testing.assert_close(per_row, ((p - t) ** 2).mean(dim=1))
    compiled = torch.compile(lambda a, b: lossapi.log_cosh(a, b), backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(p, t), torch.log(torch.cosh(p - t)).mean())


# --- NumPy fast paths (blocked, in-place kernels) ---------------------------------
def _generic(monkeypatch, fn, *args, **kw):
    from lossapi.backends import resolve

    ops = resolve("probe", np.zeros(2))
    with monkeypatch.context() as m:
        m.setattr(ops, "kernels", {})
        return fn(*args, **kw)


_NUMPY_FAST = [
    ("mse", {}), ("mae", {}), ("mape", {}), ("mape", {"eps": 0.5}), ("msle", {}),
    ("pinball", {"quantile": 0.0}), ("pinball", {"quantile": 0.9}), ("pinball", {"quantile": 1.0}),
    ("poisson_nll", {}), ("poisson_nll", {"log_input": False}), ("poisson_nll", {"log_input": False, "eps": 0.0}),
]


@pytest.mark.parametrize("name,kw", _NUMPY_FAST, ids=str)
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_numpy_fast_path_several_blocks(name, kw, dtype, monkeypatch):
    """Inputs spanning several blocks (a partial last one), one of them not
    contiguous, with kinks, zeros, negatives and NaN: the blocked kernels give
    the generic code's values and dtype for every reduction."""
    from lossapi.backends import numpy as npb

    n = 2 * npb._BLOCK + 37
    rng = np.random.default_rng(11)
    p = rng.normal(size=n) * 2
    t = np.repeat(rng.normal(size=(n + 1) // 2) * 2, 2)[:n]  # equal neighbours: r == 0 below
    if name == "poisson_nll" and not kw.get("log_input", True):
        p, t = np.abs(p), np.round(np.abs(t))  # rates and counts, zeros included
    p[::5] = t[::5]  # r == 0: the kinks of mae, pinball
    p[1], t[2], t[3] = 0.0, 0.0, -1.0
    if name not in ("poisson_nll",):
        p[7], t[8] = np.nan, np.nan  # NaN propagates (msle: clipped to 0 like the generic where)
    p, t = p.astype(dtype), t.astype(dtype)
    t2 = np.asfortranarray(t[: n - 1].reshape(-1, 1).repeat(2, axis=1))[:, 0]  # a strided view
    fn = getattr(lossapi, name)
    tol = {"float64": 1e-12, "float32": 2e-6, "float16": 1e-3}[dtype]
    with np.errstate(all="ignore"):
        for args in ((p, t), (p[: n - 1], t2)):
            for reduction in ("mean", "sum", "none"):
                got = fn(*args, reduction=reduction, **kw)
                want = _generic(monkeypatch, fn, *args, reduction=reduction, **kw)
                assert got.dtype == want.dtype == np.dtype(dtype) and np.shape(got) == np.shape(want)
                np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


def test_numpy_fast_path_keeps_shape_and_inputs():
    rng = np.random.default_rng(12)
    p, t = np.abs(rng.normal(size=(3, 70000))), np.abs(rng.normal(size=(3, 70000)))
    p0, t0 = p.copy(), t.copy()
    for name, kw in _NUMPY_FAST:
        got = getattr(lossapi, name)(p, t, reduction="none", **kw)
        assert got.shape == (3, 70000)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(t, t0)


def test_msle_accurate_when_pred_near_target():
    """log1p((p - t) / (1 + t)) is log1p(p) - log1p(t) without cancellation:
    float64 reference from the exact log-ratio, log1p(d / (1 + t))."""
    t = np.array([1e-3, 1.0, 1e6])
    d = np.array([1e-12, 1e-9, 1e-4])
    want = np.log1p(d / (1 + t)) ** 2  # d exact in float64 for these values
    np.testing.assert_allclose(lossapi.msle(t + d, t, reduction="none"), want, rtol=1e-3)


def test_poisson_full_target_gradient_finite_at_zero():
    """full=True stays generic on torch: its kernel's Stirling term gives a NaN
    gradient for target == 0; here d/dt (exp(p) - t p) = -p for t <= 1."""
    torch = pytest.importorskip("torch")
    p = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64, requires_grad=True)
    lossapi.poisson_nll(p, t, full=True, reduction="sum").backward()
    torch.testing.assert_close(t.grad, -p)
