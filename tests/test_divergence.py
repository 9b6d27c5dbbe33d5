"""Divergence family: torch cross-checks (argument order!), edge cases of
KL/JS on zeros and disjoint supports, the Gaussian KL and the VAE loss of the
notes guide (section 15) against independent references."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import lossapi
from conformance import peers


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _pq(seed=0, shape=(4, 5)):
    rng = np.random.default_rng(seed)
    return _softmax(rng.normal(size=shape)), _softmax(rng.normal(size=shape))


def _kl_np(p, q, axis=-1):
    # Independent float64 reference with 0 log 0 = 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return t.sum(axis=axis)


# --- torch cross-checks --------------------------------------------------------

@pytest.mark.parametrize("reduction", ["batchmean", "sum"])
def test_kl_matches_torch_kl_div_reversed_arguments(reduction):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    p, q = (torch.from_numpy(a) for a in _pq())
    # torch's kl_div(input=log q, target=p) is KL(p || q).
    want = F.kl_div(q.log(), p, reduction=reduction)
    got = lossapi.kl_divergence(p, q, reduction="mean" if reduction == "batchmean" else "sum")
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # In torch's own argument order the value is the other divergence.
    assert not torch.allclose(lossapi.kl_divergence(q, p), F.kl_div(q.log(), p, reduction="batchmean"))


def test_kl_none_matches_torch_row_sums():
    torch = pytest.importorskip("torch")
    p, q = (torch.from_numpy(a) for a in _pq())
    want = peers.bind("torch", "kl_divergence", reduction="none")(p, q)
    torch.testing.assert_close(lossapi.kl_divergence(p, q, reduction="none"), want)


def test_kl_log_matches_torch_log_target():
    torch = pytest.importorskip("torch")
    p, q = _pq(1)
    log_p = torch.from_numpy(np.log(p)).requires_grad_(True)
    log_q = torch.from_numpy(np.log(q)).requires_grad_(True)
    want = peers.bind("torch", "kl_divergence_log")(log_p, log_q)  # F.kl_div(log_q, log_p, log_target=True)
    got = lossapi.kl_divergence_log(log_p, log_q)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    g_want = torch.autograd.grad(want, (log_p, log_q))
    g_got = torch.autograd.grad(got, (log_p, log_q))
    for a, b in zip(g_got, g_want):
        torch.testing.assert_close(a, b)
    # Same value as the probability form with torch's non-log target.
    torch.testing.assert_close(
        lossapi.kl_divergence(torch.from_numpy(p), torch.from_numpy(q)),
        peers.bind("torch", "kl_divergence")(torch.from_numpy(p), torch.from_numpy(q)),
    )


def test_kl_gradient_wrt_q_matches_torch():
    torch = pytest.importorskip("torch")
    p, q = _pq(2)
    p = torch.from_numpy(p)
    q1 = torch.from_numpy(q).requires_grad_(True)
    q2 = torch.from_numpy(q).requires_grad_(True)
    (g1,) = torch.autograd.grad(lossapi.kl_divergence(p, q1), q1)
    (g2,) = torch.autograd.grad(peers.bind("torch", "kl_divergence")(p, q2), q2)
    torch.testing.assert_close(g1, g2)


def test_gaussian_kl_matches_torch_distributions():
    torch = pytest.importorskip("torch")
    from torch.distributions import Normal, kl_divergence

    rng = np.random.default_rng(3)
    mu, lv = torch.from_numpy(rng.normal(size=(5, 4))), torch.from_numpy(rng.normal(size=(5, 4)))
    per_sample = kl_divergence(Normal(mu, torch.exp(0.5 * lv)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(lossapi.gaussian_kl(mu, lv, reduction="none"), per_sample)
    torch.testing.assert_close(lossapi.gaussian_kl(mu, lv), per_sample.mean())


def _notes_vae_loss_torch(recon_x, x, mu, log_var, beta, reconstruction):
    # The notes' VAELoss.forward (section 15), with torch's own functions.
    F = pytest.importorskip("torch").nn.functional
    if reconstruction == "bce":
        recon_loss = F.binary_cross_entropy(recon_x, x, reduction="sum") / x.size(0)
    else:
        recon_loss = F.mse_loss(recon_x, x, reduction="sum") / x.size(0)
    kl_loss = -0.5 * (1 + log_var - mu**2 - log_var.exp()).sum() / x.size(0)
    return recon_loss + beta * kl_loss, recon_loss, kl_loss


@pytest.mark.parametrize("reconstruction", ["bce", "mse"])
def test_vae_loss_matches_notes_guide_in_torch(reconstruction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    recon = torch.sigmoid(torch.from_numpy(rng.normal(size=(6, 20))))
    x = torch.sigmoid(torch.from_numpy(rng.normal(size=(6, 20))))
    mu, lv = torch.from_numpy(rng.normal(size=(6, 3))), torch.from_numpy(rng.normal(size=(6, 3)))
    want = _notes_vae_loss_torch(recon, x, mu, lv, 0.5, reconstruction)
    got = lossapi.vae_loss(recon, x, mu, lv, beta=0.5, reconstruction=reconstruction)
    assert isinstance(got, lossapi.divergence.VAELoss)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_vae_bce_clamps_like_torch_at_0_and_1():
    torch = pytest.importorskip("torch")
    recon = torch.tensor([[0.0, 1.0, 0.3, 1.0], [0.0, 0.5, 1e-60, 1.0]], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.25, 1.0, 0.5]], dtype=torch.float64)
    mu = torch.zeros(2, 1, dtype=torch.float64)
    want = torch.nn.functional.binary_cross_entropy(recon, x, reduction="sum") / 2
    r = recon.clone().requires_grad_(True)
    got = lossapi.vae_loss(r, x, mu, mu).reconstruction
    torch.testing.assert_close(got, want)
    (g,) = torch.autograd.grad(got, r)
    assert torch.isfinite(g).all()


def test_vae_bce_gradient_equals_binary_cross_entropy_float32(xp):
    # vae_loss's reconstruction is binary_cross_entropy summed per sample: the
    # same clamped logs, so the same finite gradient, also where p is 0, 1 or
    # subnormal (1e-40: 1/p overflows float32, the clamped curve's slope 0 is
    # used) and where 1 - p is tiny.
    if not xp.has_grad:
        pytest.skip("no autodiff")
    probs = np.array([0.0, 1e-40, 1e-30, 1 - 1e-7, 1.0], dtype=np.float32)
    n = probs.size
    recon = np.stack([probs, probs], axis=1)  # column 0 against x = 1, column 1 against x = 0
    x = np.tile(np.array([1.0, 0.0], np.float32), (n, 1))
    z = np.zeros((n, 1), np.float32)
    R, X, Z = xp.asarray(recon, "float32"), xp.asarray(x, "float32"), xp.asarray(z, "float32")

    def vae(r, t):
        return lossapi.vae_loss(r, t, Z, Z).total  # kl == 0: total is the mean per-sample reconstruction

    def bce(r, t):
        return lossapi.binary_cross_entropy(r, t, reduction="sum") / n

    (g_vae,) = xp.grad(vae, [R, X], (0,))
    assert g_vae.dtype == np.float32
    assert np.all(np.isfinite(g_vae)), g_vae
    (g_bce,) = xp.grad(bce, [R, X], (0,))
    np.testing.assert_allclose(g_vae, g_bce, rtol=1e-6, atol=0)
    # The value against float64 NumPy on the float32 inputs as the backend
    # sees them (XLA on CPU treats subnormals as zero).
    seen = np.where(xp.to_numpy(R > 0), recon.astype(np.float64), 0.0)
    with np.errstate(divide="ignore"):
        ref = -(x * np.maximum(np.log(seen), -100.0) + (1 - x) * np.maximum(np.log1p(-seen), -100.0))
    want = ref.sum() / n
    np.testing.assert_allclose(float(xp.to_numpy(vae(R, X))), want, rtol=1e-6)
    np.testing.assert_allclose(float(xp.to_numpy(bce(R, X))), want, rtol=1e-6)


# --- KL edge cases, every backend -----------------------------------------------

def test_kl_zeros_in_p_finite_value_and_gradient(xp):
    p = np.array([[0.0, 0.25, 0.75], [0.5, 0.0, 0.5]])
    q = np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    P, Q = xp.asarray(p, "float64"), xp.asarray(q, "float64")
    got = xp.to_numpy(lossapi.kl_divergence(P, Q, reduction="none"))
    np.testing.assert_allclose(got, _kl_np(p, q), rtol=1e-13)
    if not xp.has_grad:
        return
    gp, gq = xp.grad(lambda a, b: lossapi.kl_divergence(a, b, reduction="sum"), [P, Q], (0, 1))
    assert np.all(np.isfinite(gp)) and np.all(np.isfinite(gq))
    # d/dq = -p/q (0 where p == 0); d/dp = log p + 1 - log q, taken as 0 at p == 0.
    np.testing.assert_allclose(gq, -p / q, rtol=1e-13)
    with np.errstate(divide="ignore"):
        want_gp = np.where(p > 0, np.log(p) + 1 - np.log(q), 0.0)
    np.testing.assert_allclose(gp, want_gp, rtol=1e-13, atol=1e-15)


def test_kl_zero_where_q_and_p_both_zero(xp):
    # p == q == 0 in one entry: the term is 0, not NaN.
    p = np.array([0.0, 0.4, 0.6])
    q = np.array([0.0, 0.5, 0.5])
    got = float(xp.to_numpy(lossapi.kl_divergence(xp.asarray(p), xp.asarray(q))))
    np.testing.assert_allclose(got, _kl_np(p, q), rtol=1e-13)


def test_kl_identical_is_zero(xp):
    p, _ = _pq(5)
    P = xp.asarray(p, "float32")
    got = xp.to_numpy(lossapi.kl_divergence(P, P, reduction="none"))
    np.testing.assert_array_equal(got, np.zeros(4, np.float32))
    lp = xp.asarray(np.log(p), "float64")
    np.testing.assert_array_equal(xp.to_numpy(lossapi.kl_divergence_log(lp, lp)), 0.0)


def test_kl_q_zero_where_p_positive_is_inf(xp):
    # Documented: the true divergence is +inf and nothing is clipped.
    p = np.array([[0.5, 0.5], [0.5, 0.5]])
    q = np.array([[1.0, 0.0], [0.5, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy-based backends warn on log(0)
        got = xp.to_numpy(lossapi.kl_divergence(xp.asarray(p), xp.asarray(q), reduction="none"))
    assert got[0] == np.inf and got[1] == 0.0


def test_kl_log_with_minus_inf_log_p(xp):
    p = np.array([[0.0, 0.3, 0.7], [0.2, 0.8, 0.0]])
    q = np.array([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]])
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    LP, LQ = xp.asarray(lp, "float64"), xp.asarray(np.log(q), "float64")
    got = xp.to_numpy(lossapi.kl_divergence_log(LP, LQ, reduction="none"))
    np.testing.assert_allclose(got, _kl_np(p, q), rtol=1e-13)
    if xp.has_grad:
        gp, gq = xp.grad(lambda a, b: lossapi.kl_divergence_log(a, b, reduction="sum"), [LP, LQ], (0, 1))
        assert np.all(np.isfinite(gp)) and np.all(np.isfinite(gq))
        np.testing.assert_allclose(gq, -p, rtol=1e-13)  # d/dlog_q = -p
        # d/dlog_p = p * (log p - log q + 1), 0 where p == 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            want = np.where(p > 0, p * (np.log(p) - np.log(q) + 1), 0.0)
        np.testing.assert_allclose(gp, want, rtol=1e-12, atol=1e-15)


def test_kl_log_nan_propagates(xp):
    lp = xp.asarray(np.array([np.nan, np.log(0.5)]), "float64")
    lq = xp.asarray(np.log(np.array([0.5, 0.5])), "float64")
    assert np.isnan(xp.to_numpy(lossapi.kl_divergence_log(lp, lq)))


def test_kl_reduction_none_shape_and_mean(xp):
    rng = np.random.default_rng(6)
    p = _softmax(rng.normal(size=(2, 4, 3)), axis=1)
    q = _softmax(rng.normal(size=(2, 4, 3)), axis=1)
    P, Q = xp.asarray(p), xp.asarray(q)
    none = xp.to_numpy(lossapi.kl_divergence(P, Q, axis=1, reduction="none"))
    assert none.shape == (2, 3)
    np.testing.assert_allclose(none, _kl_np(p, q, axis=1), rtol=1e-12)
    np.testing.assert_allclose(xp.to_numpy(lossapi.kl_divergence(P, Q, axis=-2)), none.mean(), rtol=1e-12)


# --- JS ------------------------------------------------------------------------

def test_js_bounded_symmetric(xp):
    rng = np.random.default_rng(7)
    p = _softmax(rng.normal(size=(50, 4)) * 4)
    q = _softmax(rng.normal(size=(50, 4)) * 4)
    P, Q = xp.asarray(p), xp.asarray(q)
    js = xp.to_numpy(lossapi.js_divergence(P, Q, reduction="none"))
    m = (p + q) / 2
    np.testing.assert_allclose(js, 0.5 * _kl_np(p, m) + 0.5 * _kl_np(q, m), rtol=1e-12)
    assert np.all(js >= 0) and np.all(js <= math.log(2))
    np.testing.assert_allclose(xp.to_numpy(lossapi.js_divergence(Q, P, reduction="none")), js, rtol=1e-13)


def test_js_disjoint_supports_is_log2_with_finite_gradient(xp):
    p = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    q = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    P, Q = xp.asarray(p), xp.asarray(q)
    got = xp.to_numpy(lossapi.js_divergence(P, Q, reduction="none"))
    np.testing.assert_allclose(got, [math.log(2), math.log(2)], rtol=1e-14)
    if xp.has_grad:
        gp, gq = xp.grad(lambda a, b: lossapi.js_divergence(a, b, reduction="sum"), [P, Q], (0, 1))
        assert np.all(np.isfinite(gp)) and np.all(np.isfinite(gq))
        # Where p > 0 and q == 0: d/dp = 0.5 log(p / m) = 0.5 log 2. Where
        # p == 0 < q: d(p log p)/dp is taken as 0 and -0.5 q log m contributes
        # -0.5 * q / m * dm/dp = -0.5 * 2 * 0.5 = -0.5.
        want = np.where(p > 0, 0.5 * math.log(2), -0.5)
        np.testing.assert_allclose(gp, want, rtol=1e-13)


def test_js_identical_is_zero(xp):
    p, _ = _pq(8)
    P = xp.asarray(p)
    np.testing.assert_allclose(xp.to_numpy(lossapi.js_divergence(P, P, reduction="none")), 0.0, atol=1e-16)


# --- Gaussian KL ------------------------------------------------------------------

def test_gaussian_kl_notes_formula(xp):
    rng = np.random.default_rng(9)
    mu, lv = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    # The notes' closed form: (1/2) sum_j (mu^2 + sigma^2 - log sigma^2 - 1), then / batch.
    sigma2 = np.exp(lv)
    per = 0.5 * np.sum(mu**2 + sigma2 - np.log(sigma2) - 1, axis=1)
    M, L = xp.asarray(mu), xp.asarray(lv)
    np.testing.assert_allclose(xp.to_numpy(lossapi.gaussian_kl(M, L, reduction="none")), per, rtol=1e-12)
    np.testing.assert_allclose(xp.to_numpy(lossapi.gaussian_kl(M, L)), per.sum() / 6, rtol=1e-12)
    np.testing.assert_allclose(xp.to_numpy(lossapi.gaussian_kl(M, L, reduction="sum")), per.sum(), rtol=1e-12)


def test_gaussian_kl_accurate_for_small_log_var(xp):
    # exp(v) - v - 1 cancels catastrophically in float32 for small v; the
    # exact value is ~ v^2/2 + v^3/6 per element (times 0.5).
    v = np.full((2, 3), 1e-3)
    want = 0.5 * (np.expm1(v) - v).sum(axis=1)
    got = xp.to_numpy(lossapi.gaussian_kl(xp.asarray(np.zeros((2, 3)), "float32"), xp.asarray(v, "float32"),
                                          reduction="none"))
    np.testing.assert_allclose(got, want, rtol=1e-3)


def test_gaussian_kl_standard_normal_is_zero(xp):
    z = xp.asarray(np.zeros((3, 2)))
    np.testing.assert_array_equal(xp.to_numpy(lossapi.gaussian_kl(z, z, reduction="none")), 0.0)


# --- VAE ---------------------------------------------------------------------------

def _vae_np(recon, x, mu, lv, beta):
    n = recon.shape[0]
    r = recon.reshape(n, -1)
    t = x.reshape(n, -1)
    rec = -np.sum(t * np.log(r) + (1 - t) * np.log(1 - r), axis=1)
    kl = -0.5 * np.sum(1 + lv - mu**2 - np.exp(lv), axis=1)
    return rec + beta * kl, rec, kl


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_vae_components(xp, reduction):
    rng = np.random.default_rng(10)
    recon = rng.uniform(0.05, 0.95, size=(3, 2, 4))
    x = rng.uniform(size=(3, 2, 4))
    mu, lv = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    out = lossapi.vae_loss(*(xp.asarray(a) for a in (recon, x, mu, lv)), beta=4.0, reduction=reduction)
    assert out._fields == ("total", "reconstruction", "kl")
    for got, want in zip(out, _vae_np(recon, x, mu, lv, 4.0)):
        if reduction == "mean":
            want = want.sum() / 3
        elif reduction == "sum":
            want = want.sum()
        got = xp.to_numpy(got)
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_vae_out_of_range_recon_is_nan(xp):
    recon = np.array([[1.5, 0.5], [0.5, 0.5]])
    x = np.array([[1.0, 0.0], [1.0, 0.0]])
    z = np.zeros((2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy-based backends warn on log(-0.5)
        out = lossapi.vae_loss(*(xp.asarray(a) for a in (recon, x, z, z)), reduction="none")
        rec = xp.to_numpy(out.reconstruction)
    assert np.isnan(rec[0]) and np.isfinite(rec[1])


def test_vae_shape_errors(xp):
    a = xp.asarray(np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="vae_loss: recon has shape .* batch size"):
        lossapi.vae_loss(a, a, xp.asarray(np.zeros((3, 2))), xp.asarray(np.zeros((3, 2))))
    with pytest.raises(ValueError, match="vae_loss: mu has shape"):
        lossapi.vae_loss(a, a, xp.asarray(np.zeros((2, 2))), xp.asarray(np.zeros((2, 3))))


# --- jax transforms ----------------------------------------------------------------

def test_jax_jit_and_vmap():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)  # float64 inputs: compare at float64 precision
    jnp = jax.numpy
    p, q = _pq(11)
    P, Q = jnp.asarray(p), jnp.asarray(q)
    jitted = jax.jit(lambda a, b: lossapi.kl_divergence(a, b, axis=0, reduction="none"))(P, Q)
    np.testing.assert_allclose(np.asarray(jitted), _kl_np(p, q, axis=0), rtol=1e-6)
    per_row = jax.vmap(lambda a, b: lossapi.js_divergence(a, b))(P, Q)
    m = (p + q) / 2
    np.testing.assert_allclose(np.asarray(per_row), 0.5 * _kl_np(p, m) + 0.5 * _kl_np(q, m), rtol=1e-6)
    rng = np.random.default_rng(12)
    args = (rng.uniform(0.1, 0.9, (3, 4)), rng.uniform(size=(3, 4)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2)))
    out = jax.jit(lambda *a: lossapi.vae_loss(*a, beta=2.0))(*(jnp.asarray(a) for a in args))
    want = [w.sum() / 3 for w in _vae_np(*args, 2.0)]
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-6)


# --- torch fast paths at the edges -------------------------------------------------

def _torch_fast_and_generic(monkeypatch, fn, arrays, reduction="sum", **kw):
    """Value and gradients of ``fn`` through torch's fast path and through the generic code."""
    torch = pytest.importorskip("torch")
    from lossapi.backends import resolve

    ops = resolve("probe", torch.zeros(2, dtype=torch.float64))
    assert fn.__name__ in ops.kernels
    out = []
    for generic in (False, True):
        xs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
        with monkeypatch.context() as m:
            if generic:
                m.setattr(ops, "kernels", {})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                v = fn(*xs, reduction=reduction, **kw)
        out.append((v.detach().numpy(), [g.numpy() for g in torch.autograd.grad(v.sum(), xs)]))
    return out


def test_torch_kl_fast_path_equals_generic_at_zeros(monkeypatch):
    # p == 0 (with q > 0 and with q == 0): term 0, gradients 0; q == 0 < p: +inf.
    p = np.array([[0.0, 0.25, 0.75], [0.0, 0.4, 0.6], [0.5, 0.5, 0.0]])
    q = np.array([[0.2, 0.3, 0.5], [0.0, 0.5, 0.5], [0.5, 0.25, 0.25]])
    (va, ga), (vb, gb) = _torch_fast_and_generic(monkeypatch, lossapi.kl_divergence, [p, q],
                                                 reduction="none")
    np.testing.assert_allclose(va, _kl_np(p, q), rtol=1e-13)
    np.testing.assert_allclose(va, vb, rtol=1e-13)
    for a, b in zip(ga, gb):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    inf_p, inf_q = np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]])
    (va, ga), (vb, gb) = _torch_fast_and_generic(monkeypatch, lossapi.kl_divergence, [inf_p, inf_q])
    assert va == np.inf and vb == np.inf
    np.testing.assert_array_equal(ga[0], gb[0])
    np.testing.assert_array_equal(ga[1], gb[1])


def test_torch_kl_log_fast_path_equals_generic_at_minus_inf(monkeypatch):
    # log_p == -inf with finite log_q and with log_q == -inf too: term 0,
    # gradients 0; NaN propagates.
    with np.errstate(divide="ignore"):
        lp = np.log(np.array([[0.0, 0.3, 0.7], [0.0, 0.5, 0.5], [0.2, 0.8, 0.0]]))
        lq = np.log(np.array([[0.1, 0.6, 0.3], [0.0, 0.5, 0.5], [0.5, 0.25, 0.25]]))
    (va, ga), (vb, gb) = _torch_fast_and_generic(monkeypatch, lossapi.kl_divergence_log, [lp, lq], reduction="none")
    np.testing.assert_allclose(va, _kl_np(np.exp(lp), np.exp(lq)), rtol=1e-13)
    np.testing.assert_allclose(va, vb, rtol=1e-13)
    for a, b in zip(ga, gb):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    nan_lp = np.array([[np.nan, np.log(0.5)]])
    (va, _), (vb, _) = _torch_fast_and_generic(monkeypatch, lossapi.kl_divergence_log, [nan_lp, np.log([[0.5, 0.5]])])
    assert np.isnan(va) and np.isnan(vb)


@pytest.mark.parametrize("name", ["kl_divergence", "kl_divergence_log"])
def test_torch_func_grad_and_vmap(monkeypatch, name):
    torch = pytest.importorskip("torch")
    fn = getattr(lossapi, name)
    p, q = _pq(13)
    if name == "kl_divergence_log":
        p, q = np.log(p), np.log(q)
    P, Q = torch.tensor(p), torch.tensor(q)
    # Reference gradients: F.kl_div (torch's own kernel, reversed arguments;
    # p > 0 everywhere here) differentiated by torch.autograd.
    P1, Q1 = P.clone().requires_grad_(True), Q.clone().requires_grad_(True)
    if name == "kl_divergence":
        ref = torch.nn.functional.kl_div(Q1.log(), P1, reduction="sum")
    else:
        ref = torch.nn.functional.kl_div(Q1, P1, reduction="sum", log_target=True)
    want = torch.autograd.grad(ref, (P1, Q1))
    got = torch.func.grad(lambda a, b: fn(a, b, reduction="sum"), argnums=(0, 1))(P, Q)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-14)
    rows = torch.func.vmap(lambda a, b: fn(a, b))(P, Q)
    torch.testing.assert_close(rows, fn(P, Q, reduction="none"), rtol=1e-13, atol=0)
    per_row_grad = torch.func.vmap(torch.func.grad(lambda a, b: fn(a, b), argnums=1))(P, Q)
    torch.testing.assert_close(per_row_grad, want[1], rtol=1e-12, atol=1e-14)
