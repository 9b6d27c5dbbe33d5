"""Distillation family (issue 13, section 3): ``distill_kl``, ``generalized_jsd``, ``tvd``.

Expected values come from torch (``F.kl_div`` on ``F.log_softmax`` with
``log_target=True``: values and gradients; GKD's published generalized JSD
written with torch ops) and from the float64 references of
``conformance/reference.py`` applied to what a mask or ``ignore_index``
keeps. Then: "mean" per position, not per element (deit#61), jax.jit /
vmap / grad, half precision, saturated and -inf logits, bad options.
"""

from __future__ import annotations

import numpy as np
import pytest

import lossapi
from conformance import gradcheck
from conformance import reference as R

REDUCTIONS = ("mean", "sum", "none")
LOSSES = ("distill_kl", "generalized_jsd", "tvd")


def _logits(seed, shape, scale=2.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * scale, rng.normal(size=shape) * scale


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _check(got, want, tol=1e-10):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def _masked_reduce(values, kept, reduction):
    """0 where not kept; "mean" over the kept values (0 when none is)."""
    values = np.where(kept, values, 0.0)
    if reduction == "none":
        return values
    if reduction == "sum":
        return np.sum(values)
    n = int(np.sum(kept))
    return np.asarray(np.sum(values) / n if n else 0.0)


def _torch():
    return pytest.importorskip("torch")


# --- torch: F.kl_div on log-softmaxes (the usual KD recipe) ------------------------------

def _torch_kd(F, s, t, T, direction, reduction):
    ls, lt = F.log_softmax(s / T, dim=-1), F.log_softmax(t / T, dim=-1)
    inp, target = (ls, lt) if direction == "forward" else (lt, ls)  # kl_div(input, target) = KL(target || input)
    if reduction == "mean":
        return T * T * F.kl_div(inp, target, log_target=True, reduction="batchmean")
    per = T * T * F.kl_div(inp, target, log_target=True, reduction="none").sum(-1)
    return per.sum() if reduction == "sum" else per


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("direction", ["forward", "reverse"])
@pytest.mark.parametrize("T", [1.0, 2.0, 0.5])
def test_distill_kl_matches_torch(T, direction, reduction):
    torch = _torch()
    F = torch.nn.functional
    s, t = _logits(0, (8, 11))
    s1, t1, s2, t2 = (torch.tensor(a, requires_grad=True) for a in (s, t, s, t))
    want = _torch_kd(F, s1, t1, T, direction, reduction)
    got = lossapi.distill_kl(s2, t2, temperature=T, direction=direction, reduction=reduction)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # Gradients flow into the student and the teacher alike.
    g_want = torch.autograd.grad(want.sum(), (s1, t1))
    g_got = torch.autograd.grad(got.sum(), (s2, t2))
    for a, b in zip(g_got, g_want):
        assert float(a.abs().max()) > 0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_distill_kl_teacher_detached_by_the_caller():
    torch = _torch()
    s, t = (torch.tensor(a) for a in _logits(1, (4, 5)))
    s.requires_grad_(True)
    t.requires_grad_(True)
    out = lossapi.distill_kl(s, t.detach(), temperature=2.0)
    (g,) = torch.autograd.grad(out, (s,))
    assert out.requires_grad and float(g.abs().max()) > 0


def test_mean_is_per_position_not_per_element():
    """[B, T, V]: "mean" divides by B * T (batchmean over positions); dividing
    by the element count (F.kl_div's "mean", deit#61) is V times smaller."""
    torch = _torch()
    F = torch.nn.functional
    B, L, V, T = 3, 4, 50, 2.0
    s, t = (torch.tensor(a) for a in _logits(2, (B, L, V)))
    got = lossapi.distill_kl(s, t, temperature=T)
    ls, lt = F.log_softmax(s / T, dim=-1), F.log_softmax(t / T, dim=-1)
    per_position = T * T * F.kl_div(ls, lt, log_target=True, reduction="none").sum(-1)
    torch.testing.assert_close(got, per_position.sum() / (B * L), rtol=1e-12, atol=0)
    # F.kl_div's reduction="mean" (deprecated with a warning): the mean over all elements
    elementwise = T * T * F.kl_div(ls, lt, log_target=True, reduction="none").mean()
    torch.testing.assert_close(got, elementwise * V, rtol=1e-12, atol=0)
    assert not torch.allclose(got, elementwise)
    # torch's "batchmean" on the 3-D input divides by B only.
    assert not torch.allclose(got, T * T * F.kl_div(ls, lt, log_target=True, reduction="batchmean"))


@pytest.mark.parametrize("name", LOSSES)
def test_token_level_mean_on_every_backend(xp, name):
    B, L, V = 2, 5, 9
    s, t = _logits(3, (B, L, V))
    got = getattr(lossapi, name)(xp.asarray(s), xp.asarray(t), reduction="mean")
    want = getattr(R, name)(s.reshape(-1, V), t.reshape(-1, V), reduction="none").mean()
    _check(xp.to_numpy(got), want)


# --- generalized JSD: GKD / TRL's formula, its limits -----------------------------------

@pytest.mark.parametrize("beta,T", [(0.5, 1.0), (0.3, 2.0), (0.9, 0.7)])
def test_generalized_jsd_matches_the_gkd_formula_in_torch(beta, T):
    """TRL's generalized_jsd_loss (and Liger's jsd) for 0 < beta < 1: the
    mixture M = beta P_t + (1 - beta) P_s in log space, beta KL(P_t || M) +
    (1 - beta) KL(P_s || M) from F.kl_div, temperature dividing the logits
    only; per position, "mean" over positions."""
    torch = _torch()
    F = torch.nn.functional
    s, t = _logits(4, (2, 3, 7))
    s1, t1, s2, t2 = (torch.tensor(a, requires_grad=True) for a in (s, t, s, t))
    ls, lt = F.log_softmax(s1 / T, dim=-1), F.log_softmax(t1 / T, dim=-1)
    b = torch.tensor(beta, dtype=torch.float64)
    lm = torch.logsumexp(torch.stack([ls + torch.log1p(-b), lt + torch.log(b)]), dim=0)
    per = (beta * F.kl_div(lm, lt, reduction="none", log_target=True)
           + (1 - beta) * F.kl_div(lm, ls, reduction="none", log_target=True)).sum(-1)
    got = lossapi.generalized_jsd(s2, t2, beta=beta, temperature=T, reduction="none")
    torch.testing.assert_close(got, per, rtol=1e-12, atol=1e-13)
    g_want = torch.autograd.grad(per.mean(), (s1, t1))
    g_got = torch.autograd.grad(lossapi.generalized_jsd(s2, t2, beta=beta, temperature=T), (s2, t2))
    for a, c in zip(g_got, g_want):
        torch.testing.assert_close(a, c, rtol=1e-10, atol=1e-13)


def test_generalized_jsd_half_is_jensen_shannon(xp):
    s, t = _logits(5, (6, 8))
    got = lossapi.generalized_jsd(xp.asarray(s), xp.asarray(t), beta=0.5, reduction="none")
    _check(xp.to_numpy(got), R.js_divergence(_softmax(t), _softmax(s), reduction="none"))


def test_generalized_jsd_limits_are_forward_and_reverse_kl():
    """JSD_beta / beta -> KL(P_t || P_s) as beta -> 0 and JSD_beta / (1 - beta)
    -> KL(P_s || P_t) as beta -> 1 (what TRL and Liger substitute at 0 and 1)."""
    s, t = _logits(6, (5, 6))
    eps = 1e-6
    for beta, direction in ((eps, "forward"), (1.0 - eps, "reverse")):
        got = lossapi.generalized_jsd(s, t, beta=beta, temperature=2.0, reduction="none") / eps
        want = R.distill_kl(s, t, temperature=2.0, direction=direction, reduction="none") / 4.0  # no T**2
        np.testing.assert_allclose(got, want, rtol=1e-4)


def test_tvd_identities(xp):
    """0.5 sum |P - Q| = sum max(P - Q, 0) = max over events |P(A) - Q(A)|; symmetric; in [0, 1]."""
    p, q = _logits(7, (4, 5), scale=3.0)
    P, Q = _softmax(p), _softmax(q)
    got = xp.to_numpy(lossapi.tvd(xp.asarray(p), xp.asarray(q), reduction="none"))
    _check(got, np.maximum(P - Q, 0.0).sum(-1))
    events = [np.array([(k >> j) & 1 for j in range(5)], bool) for k in range(32)]
    _check(got, np.max([np.abs((P - Q)[:, e].sum(-1)) for e in events], axis=0))
    _check(xp.to_numpy(lossapi.tvd(xp.asarray(q), xp.asarray(p), reduction="none")), got)


# --- ignore_index with labels --------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_ignore_index_skips_positions(xp, direction, reduction):
    B, L, V = 3, 5, 6
    s, t = _logits(8, (B, L, V))
    rng = np.random.default_rng(8)
    y = rng.integers(0, V, size=(B, L))
    y[0, :2] = y[2, 3:] = -100
    kept = y != -100
    got = lossapi.distill_kl(xp.asarray(s), xp.asarray(t), temperature=1.5, direction=direction,
                             labels=xp.asarray(y), ignore_index=-100, reduction=reduction)
    per = np.zeros((B, L))
    per[kept] = R.distill_kl(s[kept], t[kept], temperature=1.5, direction=direction, reduction="none")
    _check(xp.to_numpy(got), _masked_reduce(per, kept, reduction))


def test_ignored_positions_get_zero_gradient(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    s, t = _logits(9, (2, 4, 5))
    y = np.array([[1, -100, 3, 0], [-100, -100, 2, 4]])
    gs, gt = xp.grad(lambda a, b: lossapi.distill_kl(a, b, labels=xp.asarray(y), ignore_index=-100),
                     [xp.asarray(s), xp.asarray(t)], (0, 1))
    for g in (gs, gt):
        assert np.all(g[y == -100] == 0) and np.all(np.abs(g[y != -100]).sum(-1) > 0)
    # Against finite differences of the reference (mean over the 5 kept positions).
    fd = gradcheck.fd_partial(lambda a: R.distill_kl(a, t, labels=y, ignore_index=-100), [s], 0)
    ok, why = gradcheck.check_grad(gs, fd, 1e-6, 1e-8)
    assert ok, why


def test_all_positions_ignored_is_zero_with_zero_gradient(xp):
    s, t = _logits(10, (2, 3, 4))
    y = np.full((2, 3), -100)
    got = lossapi.distill_kl(xp.asarray(s), xp.asarray(t), labels=xp.asarray(y), ignore_index=-100)
    _check(xp.to_numpy(got), 0.0)
    if xp.has_grad:
        (g,) = xp.grad(lambda a: lossapi.distill_kl(a, xp.asarray(t), labels=xp.asarray(y), ignore_index=-100),
                       [xp.asarray(s)], (0,))
        assert np.all(g == 0)


# --- where= --------------------------------------------------------------------------------

def _mask(rng, shape, p=0.6):
    m = rng.uniform(size=shape) < p
    m.flat[0], m.flat[-1] = True, False
    return m


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_where_per_sample(xp, name, reduction):
    s, t = _logits(11, (3, 4, 6))
    keep = _mask(np.random.default_rng(11), (3, 4))
    got = getattr(lossapi, name)(xp.asarray(s), xp.asarray(t), where=xp.asarray(keep), reduction=reduction)
    per = getattr(R, name)(s, t, reduction="none")
    _check(xp.to_numpy(got), _masked_reduce(per, keep, reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_where_per_class_leaves_both_softmaxes(xp, name, reduction):
    """A masked class leaves both distributions: the value is the reference
    on the kept classes of each row; a row with nothing left gives 0 and
    leaves the mean."""
    N, C = 6, 7
    s, t = _logits(12, (N, C))
    m = _mask(np.random.default_rng(12), (N, C))
    m[2] = False  # nothing left in row 2
    opts = {"distill_kl": {"temperature": 2.0}, "generalized_jsd": {"beta": 0.3}, "tvd": {}}[name]
    got = getattr(lossapi, name)(xp.asarray(s), xp.asarray(t), where=xp.asarray(m), reduction=reduction, **opts)
    kept = m.any(-1)
    per = np.array([getattr(R, name)(s[i][m[i]], t[i][m[i]], reduction="sum", **opts) if kept[i] else 0.0
                    for i in range(N)])
    _check(xp.to_numpy(got), _masked_reduce(per, kept, reduction))


@pytest.mark.parametrize("name", LOSSES)
def test_where_vocabulary_mask_broadcasts(xp, name):
    """A [V] mask (e.g. tokens the student cannot emit) applies to every position."""
    s, t = _logits(13, (2, 3, 6))
    vocab = np.array([True, False, True, True, False, True])
    got = getattr(lossapi, name)(xp.asarray(s), xp.asarray(t), where=xp.asarray(vocab), reduction="none")
    _check(xp.to_numpy(got), getattr(R, name)(s[..., vocab], t[..., vocab], reduction="none"))


def test_where_with_ignore_index(xp):
    s, t = _logits(14, (2, 4, 5))
    y = np.array([[0, -100, 2, 1], [3, 3, -100, 4]])
    keep = np.array([[True, True, False, True], [True, False, True, True]])
    got = lossapi.distill_kl(xp.asarray(s), xp.asarray(t), where=xp.asarray(keep), labels=xp.asarray(y),
                             ignore_index=-100, reduction="mean")
    both = keep & (y != -100)
    per = R.distill_kl(s, t, reduction="none")
    _check(xp.to_numpy(got), per[both].mean())


def test_tuple_axes(xp):
    s, t = _logits(15, (3, 4, 5))
    y = np.array([1, -1, 2])
    got = lossapi.distill_kl(xp.asarray(s), xp.asarray(t), axis=(1, 2), labels=xp.asarray(y), ignore_index=-1,
                             temperature=2.0, reduction="none")
    want = R.distill_kl(s.reshape(3, -1), t.reshape(3, -1), temperature=2.0, labels=y, ignore_index=-1,
                        reduction="none")
    _check(xp.to_numpy(got), want)
    for name in ("generalized_jsd", "tvd"):
        got = getattr(lossapi, name)(xp.asarray(s), xp.asarray(t), axis=(0, 2), reduction="none")
        flat = lambda a: np.moveaxis(a, 1, 0).reshape(4, -1)  # noqa: E731
        _check(xp.to_numpy(got), getattr(R, name)(flat(s), flat(t), reduction="none"))


# --- jax: jit, vmap, grad; 0-d array options -----------------------------------------------

@pytest.mark.parametrize("name", LOSSES)
def test_jax_jit_vmap_grad(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    s, t = _logits(16, (4, 3, 6))
    opts = {"distill_kl": {"temperature": 2.0, "direction": "reverse"}, "generalized_jsd": {"beta": 0.2},
            "tvd": {}}[name]
    fn, ref = getattr(lossapi, name), getattr(R, name)
    per = jax.jit(jax.vmap(lambda a, b: fn(a, b, reduction="none", **opts)))(jnp.asarray(s), jnp.asarray(t))
    _check(per, ref(s, t, reduction="none", **opts))
    grads = jax.jit(jax.grad(lambda a, b: fn(a, b, **opts), argnums=(0, 1)))(jnp.asarray(s), jnp.asarray(t))
    for i, g in enumerate(grads):
        fd = gradcheck.fd_partial(lambda a, b: ref(a, b, **opts), [s, t], i)
        ok, why = gradcheck.check_grad(np.asarray(g), fd, 1e-6, 1e-8)
        assert ok, f"input {i}: {why}"


def test_jax_labels_under_jit_and_array_options():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    s, t = _logits(17, (2, 5, 4))
    y = np.array([[0, -100, 1, 2, -100], [3, 3, -100, 0, 1]])
    f = jax.jit(lambda a, b, lab, T: lossapi.distill_kl(a, b, temperature=T, labels=lab, ignore_index=-100))
    got = f(jnp.asarray(s), jnp.asarray(t), jnp.asarray(y), jnp.asarray(1.7))
    _check(got, R.distill_kl(s, t, temperature=1.7, labels=y, ignore_index=-100))
    # d/dT of the loss (a learnable temperature) against finite differences.
    dT = jax.grad(lambda T: lossapi.distill_kl(jnp.asarray(s), jnp.asarray(t), temperature=T))(jnp.asarray(1.7))
    h = 1e-6
    fd = (R.distill_kl(s, t, temperature=1.7 + h) - R.distill_kl(s, t, temperature=1.7 - h)) / (2 * h)
    np.testing.assert_allclose(float(dT), fd, rtol=1e-6)
    g = jax.jit(lambda b: lossapi.generalized_jsd(jnp.asarray(s), jnp.asarray(t), beta=b))
    _check(g(jnp.asarray(0.25)), R.generalized_jsd(s, t, beta=0.25))


def test_torch_array_options():
    torch = _torch()
    s, t = (torch.tensor(a) for a in _logits(18, (3, 6)))
    T = torch.tensor(2.5, requires_grad=True)
    got = lossapi.distill_kl(s, t, temperature=T)
    _check(got.detach(), R.distill_kl(s.numpy(), t.numpy(), temperature=2.5))
    (g,) = torch.autograd.grad(got, (T,))
    assert np.isfinite(float(g))
    _check(lossapi.generalized_jsd(s, t, beta=torch.tensor(0.7, dtype=torch.float64)), R.generalized_jsd(s.numpy(), t.numpy(), beta=0.7))
    with pytest.raises(ValueError, match="distill_kl: temperature must be > 0"):
        lossapi.distill_kl(s, t, temperature=torch.tensor(0.0))
    with pytest.raises(ValueError, match="generalized_jsd: beta must be < 1"):
        lossapi.generalized_jsd(s, t, beta=torch.tensor(1.0))


# --- half precision ------------------------------------------------------------------------

def _round_bfloat16(a):
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


@pytest.mark.parametrize("name", LOSSES)
def test_half_precision_token_level(xp, name):
    halves = xp.half_dtypes()
    if not halves:
        pytest.skip(f"{xp.name} has no half-precision floating dtype")
    s, t = _logits(19, (2, 6, 33), scale=4.0)
    y = np.arange(12).reshape(2, 6) % 5 - 1  # some -1 (ignored)
    for dtype in halves:
        opts = {"labels": xp.asarray(y), "ignore_index": -1, "temperature": 2.0} if name == "distill_kl" else {}
        out = getattr(lossapi, name)(xp.asarray(s, dtype), xp.asarray(t, dtype), **opts)
        assert out.dtype == xp.dtype(dtype)
        rs, rt = ((_round_bfloat16(a) if dtype == "bfloat16" else a.astype(dtype).astype(np.float64)) for a in (s, t))
        ropts = {"labels": y, "ignore_index": -1, "temperature": 2.0} if name == "distill_kl" else {}
        want = float(getattr(R, name)(rs, rt, **ropts))
        got = float(xp.to_numpy(out))
        tol = 2e-2 if dtype == "bfloat16" else 4e-3
        assert abs(got - want) <= tol * max(1.0, abs(want)), (dtype, got, want)


# --- extreme logits ------------------------------------------------------------------------

_EXTREME_S = np.array([[1e4, -1e4, 0.0, 5.0], [0.0, 0.0, 0.0, 0.0], [-1e4, 1e4, 1e4, -1e4]])
_EXTREME_T = np.array([[-1e4, 1e4, 0.0, 5.0], [1e4, -1e4, 0.0, 0.0], [-1e4, 1e4, 1e4, -1e4]])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,opts", [("distill_kl", {"temperature": 1.0}), ("distill_kl", {"temperature": 0.5}),
                                       ("distill_kl", {"direction": "reverse", "temperature": 3.0}),
                                       ("generalized_jsd", {"beta": 0.5}), ("generalized_jsd", {"beta": 0.1}),
                                       ("tvd", {})])
def test_saturated_logits_finite_values_and_gradients(xp, name, opts, dtype):
    fn = getattr(lossapi, name)
    s, t = _EXTREME_S, _EXTREME_T
    got = xp.to_numpy(fn(xp.asarray(s, dtype), xp.asarray(t, dtype), reduction="none", **opts))
    want = getattr(R, name)(s, t, reduction="none", **opts)
    assert np.all(np.isfinite(got))
    tol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    if xp.has_grad:
        for g in xp.grad(lambda a, b: fn(a, b, **opts), [xp.asarray(s, dtype), xp.asarray(t, dtype)], (0, 1)):
            assert np.all(np.isfinite(g)), g


@pytest.mark.parametrize("name", LOSSES)
def test_minus_inf_logits_are_probability_zero(xp, name):
    """A -inf logit (an excluded class) in either input: finite value, equal
    to the reference (p = 0 there), finite gradients."""
    fn = getattr(lossapi, name)
    s = np.array([[1.0, -np.inf, 0.5, 2.0], [0.3, 0.1, -np.inf, -np.inf]])
    t = np.array([[0.5, -np.inf, 1.5, 0.0], [2.0, -1.0, -np.inf, -np.inf]])
    got = xp.to_numpy(fn(xp.asarray(s), xp.asarray(t), reduction="none"))
    _check(got, getattr(R, name)(s, t, reduction="none"))
    if xp.has_grad:
        for g in xp.grad(lambda a, b: fn(a, b), [xp.asarray(s), xp.asarray(t)], (0, 1)):
            assert np.all(np.isfinite(g)) and np.all(g[np.isneginf(s) & np.isneginf(t)] == 0)


def test_tvd_subgradient_zero_at_equal_inputs(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    p = _logits(20, (3, 5))[0]
    gp, gq = xp.grad(lambda a, b: lossapi.tvd(a, b), [xp.asarray(p), xp.asarray(p.copy())], (0, 1))
    assert np.all(gp == 0) and np.all(gq == 0)
    _check(xp.to_numpy(lossapi.tvd(xp.asarray(p), xp.asarray(p))), 0.0)


# --- bad input -----------------------------------------------------------------------------

def test_bad_options_say_what_is_wrong():
    s, t = _logits(21, (2, 3, 4))
    y = np.zeros((2, 3), dtype=np.int64)
    cases = [
        (lambda: lossapi.distill_kl(s, t, temperature=0.0), ValueError, r"distill_kl: temperature must be > 0, got 0"),
        (lambda: lossapi.distill_kl(s, t, temperature=-2), ValueError, r"distill_kl: temperature must be > 0"),
        (lambda: lossapi.distill_kl(s, t, temperature="2"), TypeError, r"distill_kl: temperature must be a real"),
        (lambda: lossapi.distill_kl(s, t, direction="backward"), ValueError,
         r"distill_kl: direction must be one of 'forward', 'reverse'; got 'backward'"),
        (lambda: lossapi.distill_kl(s, t, ignore_index=-100), ValueError, r"distill_kl: ignore_index needs labels"),
        (lambda: lossapi.distill_kl(s, t, labels=y), ValueError, r"distill_kl: labels .* pass ignore_index"),
        (lambda: lossapi.distill_kl(s, t, labels=y.astype(np.float64), ignore_index=-100), TypeError,
         r"distill_kl: labels must be an integer array, got dtype float64"),
        (lambda: lossapi.distill_kl(s, t, labels=y[:, :2], ignore_index=-100), ValueError,
         r"distill_kl: labels has shape \(2, 2\); it must have the per-position shape \(2, 3\)"),
        (lambda: lossapi.distill_kl(s, t, labels=[[0, 0, 0]] * 2, ignore_index=-100), TypeError,
         r"distill_kl: labels must be an array, got list"),
        (lambda: lossapi.distill_kl(s, t, labels=y, ignore_index=1.5), TypeError,
         r"distill_kl: ignore_index must be an int or None"),
        (lambda: lossapi.distill_kl(s, t[:, :2]), ValueError,
         r"distill_kl: student_logits has shape \(2, 3, 4\) but teacher_logits has shape \(2, 2, 4\)"),
        (lambda: lossapi.distill_kl(s, t, axis=3), ValueError, r"distill_kl: axis 3 is out of range for logits"),
        (lambda: lossapi.generalized_jsd(s, t, beta=0.0), ValueError, r"generalized_jsd: beta must be > 0, got 0"),
        (lambda: lossapi.generalized_jsd(s, t, beta=1.0), ValueError, r"generalized_jsd: beta must be < 1, got 1"),
        (lambda: lossapi.generalized_jsd(s, t, temperature=0.0), ValueError, r"generalized_jsd: temperature must be > 0"),
        (lambda: lossapi.tvd(s, t, where=np.ones((3,), dtype=bool)), ValueError, r"tvd: where has shape \(3,\)"),
        (lambda: lossapi.tvd(s.astype(np.int64), t), TypeError, r"tvd: p_logits must be a real floating-point array"),
    ]
    for call, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            call()
