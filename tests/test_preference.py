"""Preference family: each DPO form and SimPO against their formulas with
analytic gradients, TRL's and Liger's published formulas (as facts, written
here in torch), ORPO's stability as log-probabilities approach 0, and
sequence_log_probs against a float64 log-softmax; where= masks, jax
transforms, half precision and bad options. Float64 references:
conformance/reference.py."""

from __future__ import annotations

import numpy as np
import pytest

import lossapi
from conformance import reference as R

TOL = 1e-12


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))  # no overflow, accurate where it is tiny


def _grad_backend(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")


def _dpo_inputs(seed=0, shape=(8,)):
    rng = np.random.default_rng(seed)
    return tuple(-rng.uniform(5.0, 40.0, size=shape) for _ in range(4))


def _avg(seed=0, shape=(8,), low=0.05, high=3.0):
    rng = np.random.default_rng(seed)
    return -rng.uniform(low, high, size=shape), -rng.uniform(low, high, size=shape)


@pytest.fixture
def jax():
    """jax with float64 (the harness's set-up), or a skip."""
    from harness import Harness

    Harness("jax")
    import jax

    return jax


# --- dpo ------------------------------------------------------------------------


def _dpo_dh(h, beta, form, ls):
    """d loss / d h of each form, differentiated by hand."""
    z = beta * h
    if form == "sigmoid":
        return -beta * ((1 - ls) * _sigmoid(-z) - ls * _sigmoid(z))
    if form == "hinge":
        return np.where(1.0 - z > 0, -beta, 0.0)
    if form == "ipo":
        return 2.0 * (h - 1.0 / (2.0 * beta))
    return -beta * ((1 - ls) * _sigmoid(-z) + ls * _sigmoid(z)) / (1 - 2 * ls)


DPO_SETTINGS = [("sigmoid", 0.1, 0.0), ("sigmoid", 0.5, 0.25), ("sigmoid", 0.2, 0.5), ("hinge", 0.1, 0.0),
                ("hinge", 2.0, 0.0), ("ipo", 0.1, 0.0), ("ipo", 1.5, 0.0), ("robust", 0.1, 0.1),
                ("robust", 0.3, 0.4), ("robust", 0.1, 0.0)]


@pytest.mark.parametrize("form,beta,ls", DPO_SETTINGS)
def test_dpo_value_and_gradient_match_the_formula(xp, form, beta, ls):
    _grad_backend(xp)
    inputs = _dpo_inputs(1)
    pc, pr, rc, rr = inputs
    h = (pc - rc) - (pr - rr)
    if form == "hinge":  # off the kink
        assert np.all(np.abs(1.0 - beta * h) > 1e-3)
    kw = {"beta": beta, "form": form, "label_smoothing": ls}
    arrays = [xp.asarray(a, "float64") for a in inputs]
    for reduction in ("none", "sum", "mean"):
        got = xp.to_numpy(lossapi.dpo(*arrays, reduction=reduction, **kw))
        np.testing.assert_allclose(got, R.dpo(*inputs, reduction=reduction, **kw), rtol=TOL, atol=TOL)
    grads = xp.grad(lambda *a: lossapi.dpo(*a, reduction="sum", **kw), arrays, (0, 1, 2, 3))
    dh = _dpo_dh(h, beta, form, ls)
    for g, sign in zip(grads, (1.0, -1.0, -1.0, 1.0)):  # dh/d(pc, pr, rc, rr)
        np.testing.assert_allclose(g, sign * dh, rtol=1e-10, atol=1e-12)


def test_dpo_matches_trl_formulas_in_torch():
    """TRL's DPOTrainer.dpo_loss, written with torch.nn.functional.logsigmoid
    and relu (the published formulas, as facts)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    pc, pr, rc, rr = (torch.from_numpy(a) for a in _dpo_inputs(2, (3, 4)))
    logits = (pc - pr) - (rc - rr)  # TRL's pi_logratios - ref_logratios
    beta, ls = 0.2, 0.15
    trl = {
        "sigmoid": -F.logsigmoid(beta * logits) * (1 - ls) - F.logsigmoid(-beta * logits) * ls,
        "robust": (-F.logsigmoid(beta * logits) * (1 - ls) + F.logsigmoid(-beta * logits) * ls) / (1 - 2 * ls),
        "hinge": torch.relu(1 - beta * logits),
        "ipo": (logits - 1 / (2 * beta)) ** 2,
    }
    for form, want in trl.items():
        got = lossapi.dpo(pc, pr, rc, rr, beta=beta, form=form, label_smoothing=ls if form in ("sigmoid", "robust")
                          else 0.0, reduction="none")
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_dpo_label_smoothing_properties():
    pc, pr, rc, rr = _dpo_inputs(3)
    h = (pc - rc) - (pr - rr)
    # ls = 0.5: the loss no longer knows which response was chosen.
    a = lossapi.dpo(pc, pr, rc, rr, label_smoothing=0.5, reduction="none")
    b = lossapi.dpo(pr, pc, rr, rc, label_smoothing=0.5, reduction="none")
    np.testing.assert_allclose(a, b, rtol=TOL)
    # The robust loss is an unbiased estimate: its expectation under flips at
    # rate ls is the clean loss -log sigmoid(beta h).
    ls, beta = 0.3, 0.2
    keep = lossapi.dpo(pc, pr, rc, rr, beta=beta, form="robust", label_smoothing=ls, reduction="none")
    flip = lossapi.dpo(pr, pc, rr, rc, beta=beta, form="robust", label_smoothing=ls, reduction="none")
    np.testing.assert_allclose((1 - ls) * keep + ls * flip, np.logaddexp(0.0, -beta * h), rtol=1e-10)


@pytest.mark.parametrize("form,ls", [("sigmoid", 0.0), ("sigmoid", 0.2), ("robust", 0.2), ("hinge", 0.0),
                                     ("ipo", 0.0)])
def test_dpo_extreme_margins_are_finite(xp, form, ls):
    _grad_backend(xp)
    big = np.array([-1e4, -1.0, 0.0, 1.0, 1e4])
    zeros = np.zeros_like(big)
    arrays = [xp.asarray(a, "float32") for a in (big, zeros, zeros, zeros)]
    out = xp.to_numpy(lossapi.dpo(*arrays, beta=1.0, form=form, label_smoothing=ls, reduction="none"))
    want = R.dpo(big, zeros, zeros, zeros, beta=1.0, form=form, label_smoothing=ls, reduction="none")
    np.testing.assert_allclose(out, want, rtol=1e-5)
    g = xp.grad(lambda *a: lossapi.dpo(*a, beta=1.0, form=form, label_smoothing=ls, reduction="sum"),
                arrays, (0,))[0]
    assert np.all(np.isfinite(g)), g


@pytest.mark.parametrize("opts,match", [
    ({"form": "kto_pair"}, "dpo: form must be one of 'sigmoid', 'hinge', 'ipo', 'robust'"),
    ({"beta": 0.0}, "dpo: beta must be > 0"),
    ({"beta": -0.1}, "dpo: beta must be > 0"),
    ({"label_smoothing": -0.01}, "dpo: label_smoothing must be >= 0"),
    ({"label_smoothing": 0.51}, "dpo: label_smoothing must be <= 0.5"),
    ({"form": "robust", "label_smoothing": 0.5}, "dpo: label_smoothing must be < 0.5"),
    ({"form": "hinge", "label_smoothing": 0.1}, "dpo: label_smoothing applies to the 'sigmoid' and 'robust'"),
    ({"form": "ipo", "label_smoothing": 0.1}, "dpo: label_smoothing applies to the 'sigmoid' and 'robust'"),
])
def test_dpo_bad_options(opts, match):
    with pytest.raises(ValueError, match=match):
        lossapi.dpo(*_dpo_inputs(), **opts)


def test_dpo_shape_mismatch_and_types():
    pc, pr, rc, rr = _dpo_inputs()
    with pytest.raises(ValueError, match="dpo: policy_chosen has shape .* but reference_rejected has shape"):
        lossapi.dpo(pc, pr, rc, rr[:3])
    with pytest.raises(TypeError, match="dpo: beta must be a real number"):
        lossapi.dpo(pc, pr, rc, rr, beta="0.1")


# --- simpo ----------------------------------------------------------------------


@pytest.mark.parametrize("beta,gamma", [(2.0, 0.5), (10.0, 0.0), (2.5, 1.4)])
def test_simpo_value_and_gradient(xp, beta, gamma):
    _grad_backend(xp)
    c, r = _avg(4)
    arrays = [xp.asarray(a, "float64") for a in (c, r)]
    got = xp.to_numpy(lossapi.simpo(*arrays, beta=beta, gamma=gamma, reduction="none"))
    np.testing.assert_allclose(got, R.simpo(c, r, beta=beta, gamma=gamma, reduction="none"), rtol=TOL)
    gc, gr = xp.grad(lambda *a: lossapi.simpo(*a, beta=beta, gamma=gamma, reduction="sum"), arrays, (0, 1))
    d = -beta * _sigmoid(-(beta * (c - r) - gamma))
    np.testing.assert_allclose(gc, d, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gr, -d, rtol=1e-10, atol=1e-14)


def test_simpo_gamma_is_the_margin_as_trl_and_liger_write_it():
    """Liger: logsigmoid(beta (c - r) - gamma); TRL's CPOTrainer (simpo):
    logits = (c - r) - gamma / beta, loss -logsigmoid(beta * logits)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    c, r = (torch.from_numpy(a) for a in _avg(5))
    beta, gamma = 2.5, 0.8
    liger = -F.logsigmoid(beta * (c - r) - gamma)
    trl = -F.logsigmoid(beta * ((c - r) - gamma / beta))
    got = lossapi.simpo(c, r, beta=beta, gamma=gamma, reduction="none")
    torch.testing.assert_close(got, liger, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got, trl, rtol=1e-12, atol=1e-12)


# --- orpo -----------------------------------------------------------------------


def _orpo_grads(c, r, beta):
    """d loss / d(chosen, rejected) by hand: d log odds(x)/dx = 1 / (1 - e^x)."""
    lo = (c - np.log(-np.expm1(c))) - (r - np.log(-np.expm1(r)))
    s = -beta * _sigmoid(-lo)
    return s / -np.expm1(c), -s / -np.expm1(r)


NEAR_ZERO = np.array([-1e-7, -1e-30, -1e-300, -1e-12, -0.5, -3.0, -1e-7, -20.0])
NEAR_ZERO_R = np.array([-2.0, -0.7, -1.0, -1e-30, -1e-7, -1e-12, -1e-7, -1e-300])


def test_orpo_near_zero_values_and_gradients_float64(xp):
    _grad_backend(xp)
    beta = 0.1
    arrays = [xp.asarray(a, "float64") for a in (NEAR_ZERO, NEAR_ZERO_R)]
    got = xp.to_numpy(lossapi.orpo(*arrays, beta=beta, reduction="none"))
    want = R.orpo(NEAR_ZERO, NEAR_ZERO_R, beta=beta, reduction="none")
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    gc, gr = xp.grad(lambda *a: lossapi.orpo(*a, beta=beta, reduction="sum"), arrays, (0, 1))
    wc, wr = _orpo_grads(NEAR_ZERO, NEAR_ZERO_R, beta)
    assert np.all(np.isfinite(gc)) and np.all(np.isfinite(gr))
    np.testing.assert_allclose(gc, wc, rtol=1e-10)
    np.testing.assert_allclose(gr, wr, rtol=1e-10)


def test_orpo_near_zero_float32(xp):
    _grad_backend(xp)
    c = np.array([-1e-7, -1e-30, -0.5, -1e-20], dtype=np.float32)
    r = np.array([-1.0, -0.5, -1e-7, -1e-20], dtype=np.float32)
    arrays = [xp.asarray(a, "float32") for a in (c, r)]
    got = xp.to_numpy(lossapi.orpo(*arrays, reduction="none"))
    want = R.orpo(c.astype(np.float64), r.astype(np.float64), reduction="none")
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7)
    gc, gr = xp.grad(lambda *a: lossapi.orpo(*a, reduction="sum"), arrays, (0, 1))
    wc, wr = _orpo_grads(c.astype(np.float64), r.astype(np.float64), 0.1)
    np.testing.assert_allclose(gc, wc, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(gr, wr, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_orpo_at_zero_is_clamped_with_zero_gradient(xp, dtype):
    """A log-probability of 0 (p rounds to 1) counts as -2 * smallest_normal,
    with gradient 0 with respect to that input (documented)."""
    _grad_backend(xp)
    tiny = np.finfo(dtype).smallest_normal
    c = np.array([0.0, -0.5, 0.0, -0.0, -tiny])
    r = np.array([-0.5, 0.0, 0.0, -1.0, -1.0])
    arrays = [xp.asarray(a, dtype) for a in (c, r)]
    got = xp.to_numpy(lossapi.orpo(*arrays, reduction="none"))
    raised = lambda x: np.where(x < -2 * tiny, x, -2 * tiny)  # noqa: E731
    want = R.orpo(raised(c), raised(r), reduction="none")
    # atol: XLA on the CPU flushes float32's subnormal results to 0
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12, atol=tiny)
    assert got[1] > 5.0 and got[0] < 1e-30  # rejected certain: large; chosen certain: ~0
    gc, gr = xp.grad(lambda *a: lossapi.orpo(*a, reduction="sum"), arrays, (0, 1))
    assert np.all(np.isfinite(gc)) and np.all(np.isfinite(gr))
    assert gc[0] == 0 and gr[1] == 0 and gc[2] == 0 and gr[2] == 0 and gc[3] == 0 and gc[4] == 0


def test_orpo_positive_log_probs():
    c, r = _avg(6)
    c[2] = 0.25
    with pytest.raises(ValueError, match=r"orpo: chosen must hold log-probabilities \(<= 0\), got 0.25"):
        lossapi.orpo(c, r)
    # Masked out, it is neither checked nor counted.
    keep = np.ones(c.shape, bool)
    keep[2] = False
    got = lossapi.orpo(c, r, where=keep, reduction="sum")
    np.testing.assert_allclose(got, R.orpo(c[keep], r[keep], reduction="sum"), rtol=TOL)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="orpo: rejected must hold log-probabilities"):
        lossapi.orpo(torch.from_numpy(r), torch.from_numpy(c))


def test_orpo_positive_log_probs_give_nan_under_jit(jax):
    jnp = jax.numpy
    c, r = _avg(7)
    c[1] = 0.5
    out = jax.jit(lambda a, b: lossapi.orpo(a, b, reduction="none"))(jnp.asarray(c), jnp.asarray(r))
    out = np.asarray(out)
    assert np.isnan(out[1]) and np.all(np.isfinite(np.delete(out, 1)))


def test_orpo_matches_trl_formula_in_torch():
    """TRL's ORPOTrainer.odds_ratio_loss: log_odds = (c - r) - (log1p(-exp(c))
    - log1p(-exp(r))), loss beta * logsigmoid(log_odds) subtracted."""
    torch = pytest.importorskip("torch")
    c, r = (torch.from_numpy(a) for a in _avg(8))
    log_odds = (c - r) - (torch.log1p(-torch.exp(c)) - torch.log1p(-torch.exp(r)))
    want = -0.2 * torch.nn.functional.logsigmoid(log_odds)
    torch.testing.assert_close(lossapi.orpo(c, r, beta=0.2, reduction="none"), want, rtol=1e-12, atol=1e-12)


# --- sequence_log_probs ------------------------------------------------------------


def _tokens(seed=0, shape=(3, 6), vocab=11, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(*shape, vocab)) * scale, rng.integers(0, vocab, size=shape).astype(np.int64)


def _seq_grad(logits, labels, counted, average):
    """d/dlogits of the per-sequence sums (or means): onehot(y) - softmax at counted tokens."""
    e = np.exp(logits - logits.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    onehot = np.zeros_like(p)
    safe = np.where(counted, labels, 0)
    np.put_along_axis(onehot, safe[..., None], 1.0, axis=-1)
    g = (onehot - p) * counted[..., None]
    if average:
        n = counted.sum(-1, keepdims=True)
        g = g / np.maximum(n, 1)[..., None]
    return g


@pytest.mark.parametrize("shape", [(5,), (3, 6), (2, 3, 4)], ids=["T", "BT", "ABT"])
@pytest.mark.parametrize("average", [False, True])
def test_sequence_log_probs_values(xp, shape, average):
    logits, labels = _tokens(1, shape)
    got = xp.to_numpy(lossapi.sequence_log_probs(xp.asarray(logits, "float64"), xp.asarray(labels),
                                                 average=average))
    want = R.sequence_log_probs(logits, labels, average=average)
    assert got.shape == shape[:-1]
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("average", [False, True])
def test_sequence_log_probs_ignore_index_where_and_gradient(xp, average):
    _grad_backend(xp)
    logits, labels = _tokens(2, (4, 7))
    labels[0, :3] = -100
    labels[3, :] = -100  # nothing counted
    rng = np.random.default_rng(3)
    where = rng.uniform(size=labels.shape) < 0.7
    where[1, :] = False  # nothing counted
    counted = (labels != -100) & where
    kw = {"ignore_index": -100, "average": average}
    z = xp.asarray(logits, "float64")
    out = xp.to_numpy(lossapi.sequence_log_probs(z, xp.asarray(labels), where=xp.asarray(where), **kw))
    want = R.sequence_log_probs(logits, labels, where=where, **kw)
    np.testing.assert_allclose(out, want, rtol=TOL, atol=TOL)
    assert out[3] == 0 and out[1] == 0
    g = xp.grad(lambda a: xp.sum(lossapi.sequence_log_probs(a, xp.asarray(labels), where=xp.asarray(where), **kw)),
                [z], (0,))[0]
    np.testing.assert_allclose(g, _seq_grad(logits, labels, counted, average), rtol=1e-10, atol=1e-12)


def test_sequence_log_probs_broadcast_mask_and_causal_shift():
    logits, labels = _tokens(4, (3, 8))
    # A per-position mask [T] broadcasts over the batch (not over the vocabulary).
    mask = np.arange(8) >= 3
    got = lossapi.sequence_log_probs(logits, labels, where=mask)
    np.testing.assert_allclose(got, R.sequence_log_probs(logits[:, 3:], labels[:, 3:]), rtol=TOL)
    # The caller aligns a causal model's logits with the next tokens.
    got = lossapi.sequence_log_probs(logits[:, :-1], labels[:, 1:])
    np.testing.assert_allclose(got, R.sequence_log_probs(logits[:, :-1], labels[:, 1:]), rtol=TOL)


def test_sequence_log_probs_takes_no_log_softmax(monkeypatch):
    """Gather and log-sum-exp only: no [..., T, V] log-softmax."""
    from lossapi import backends

    logits, labels = _tokens(5)
    lossapi.sequence_log_probs(logits, labels)  # the Ops of this call exists now

    def refuse(*a, **k):
        raise AssertionError("log_softmax called")

    for ops in list(backends._CACHE.values()):
        monkeypatch.setattr(ops, "log_softmax", refuse)
    got = lossapi.sequence_log_probs(logits, labels, average=True)
    np.testing.assert_allclose(got, R.sequence_log_probs(logits, labels, average=True), rtol=TOL)


def test_sequence_log_probs_extreme_logits(xp):
    _grad_backend(xp)
    logits, labels = _tokens(6, (2, 5), scale=1.0)
    logits[0, 0, :] = 1e4
    logits[0, 1, labels[0, 1]] = -1e4
    logits[1, 2, :] = -1e4
    z = xp.asarray(logits, "float32")
    out = xp.to_numpy(lossapi.sequence_log_probs(z, xp.asarray(labels)))
    # float32 holds -1e4 + 2.4 to 1e-3: the atol is that rounding
    np.testing.assert_allclose(out, R.sequence_log_probs(logits, labels), rtol=1e-5, atol=2e-3)
    g = xp.grad(lambda a: xp.sum(lossapi.sequence_log_probs(a, xp.asarray(labels))), [z], (0,))[0]
    assert np.all(np.isfinite(g))


def test_sequence_log_probs_bad_input():
    logits, labels = _tokens(7)
    bad = labels.copy()
    bad[1, 2] = 11
    with pytest.raises(ValueError, match=r"sequence_log_probs: labels contains class label 11, which is outside"):
        lossapi.sequence_log_probs(logits, bad)
    bad[1, 2] = -100  # ignored: fine
    lossapi.sequence_log_probs(logits, bad, ignore_index=-100)
    with pytest.raises(ValueError, match=r"sequence_log_probs: logits must have shape \[\.\.\., T, V\]"):
        lossapi.sequence_log_probs(logits[0, 0], labels[0, 0])
    with pytest.raises(ValueError, match="sequence_log_probs: .*labels .* have shape"):
        lossapi.sequence_log_probs(logits, labels[:, :-1])
    with pytest.raises(TypeError, match="sequence_log_probs: labels must hold integer class labels"):
        lossapi.sequence_log_probs(logits, labels.astype(np.float64))
    with pytest.raises(ValueError, match="sequence_log_probs: where has shape"):
        lossapi.sequence_log_probs(logits, labels, where=np.ones(11, bool))
    with pytest.raises(TypeError, match="sequence_log_probs: where must be a boolean array"):
        lossapi.sequence_log_probs(logits, labels, where=np.ones(labels.shape))
    with pytest.raises(TypeError, match="sequence_log_probs: average must be bool"):
        lossapi.sequence_log_probs(logits, labels, average=1)
    with pytest.raises(TypeError, match="sequence_log_probs"):
        lossapi.sequence_log_probs(logits, labels, reduction="mean")


# --- where= ---------------------------------------------------------------------


def _masked(values, kept, reduction):
    values = np.where(kept, values, 0.0)
    if reduction == "none":
        return values
    if reduction == "sum":
        return np.sum(values)
    return np.sum(values) / max(int(np.sum(kept)), 1)


PAIR_LOSSES = [
    ("dpo", 4, {"beta": 0.2, "form": "sigmoid", "label_smoothing": 0.1}),
    ("dpo", 4, {"form": "ipo"}),
    ("simpo", 2, {}),
    ("orpo", 2, {"beta": 0.3}),
]


@pytest.mark.parametrize("name,n,kw", PAIR_LOSSES, ids=lambda x: x if isinstance(x, str) else "")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_where_masks_pairs(xp, name, n, kw, reduction):
    rng = np.random.default_rng(9)
    inputs = tuple(-rng.uniform(0.05, 3.0, size=(3, 4)) for _ in range(n))
    fn, ref = getattr(lossapi, name), getattr(R, name)
    values = ref(*inputs, reduction="none", **kw)
    arrays = [xp.asarray(a, "float64") for a in inputs]
    for mask in (rng.uniform(size=(3, 4)) < 0.5, np.array([True, False, True, True]), np.zeros((3, 1), bool)):
        kept = np.broadcast_to(mask, (3, 4))
        got = xp.to_numpy(fn(*arrays, where=xp.asarray(mask), reduction=reduction, **kw))
        np.testing.assert_allclose(got, _masked(values, kept, reduction), rtol=TOL, atol=TOL)
    if xp.has_grad:
        mask = np.array([True, False, True, False])
        g = xp.grad(lambda *a: fn(*a, where=xp.asarray(mask), reduction="mean", **kw), arrays, (0,))[0]
        assert np.all(g[:, ~mask] == 0) and np.all(np.isfinite(g))


# --- jax transforms, half precision, array options -----------------------------------


def test_jax_jit_vmap_grad(jax):
    jnp = jax.numpy
    pc, pr, rc, rr = _dpo_inputs(10, (3, 5))
    per_row = jax.jit(jax.vmap(lambda *a: lossapi.dpo(*a, beta=0.3)))(*map(jnp.asarray, (pc, pr, rc, rr)))
    np.testing.assert_allclose(per_row, R.dpo(pc, pr, rc, rr, beta=0.3, reduction="none").mean(axis=1), rtol=1e-12)
    # beta as a traced 0-d array, differentiated
    g = jax.jit(jax.grad(lambda b: lossapi.dpo(*map(jnp.asarray, (pc, pr, rc, rr)), beta=b)))(jnp.asarray(0.3))
    h = (pc - rc) - (pr - rr)
    np.testing.assert_allclose(g, np.mean(-h * _sigmoid(-0.3 * h)), rtol=1e-10)
    c, r = _avg(11, (4, 3))
    for name in ("simpo", "orpo"):
        fn, ref = getattr(lossapi, name), getattr(R, name)
        got = jax.jit(jax.vmap(lambda a, b, fn=fn: fn(a, b, reduction="sum")))(jnp.asarray(c), jnp.asarray(r))
        np.testing.assert_allclose(got, ref(c, r, reduction="none").sum(axis=1), rtol=1e-12)
    logits, labels = _tokens(12, (4, 6))
    labels[1, :2] = -100

    def f(z, y):
        return lossapi.sequence_log_probs(z, y, ignore_index=-100, average=True)

    got = jax.jit(jax.vmap(f))(jnp.asarray(logits), jnp.asarray(labels))
    np.testing.assert_allclose(got, R.sequence_log_probs(logits, labels, ignore_index=-100, average=True),
                               rtol=1e-12)
    g = jax.jit(jax.grad(lambda z: jnp.sum(f(z, jnp.asarray(labels)))))(jnp.asarray(logits))
    counted = labels != -100
    np.testing.assert_allclose(g, _seq_grad(logits, labels, counted, True), rtol=1e-10, atol=1e-12)


def test_half_precision(xp):
    halves = xp.half_dtypes()
    if not halves:
        pytest.skip(f"{xp.name} has no half-precision floating dtype")
    c, r = _avg(13, (6,), low=1e-4, high=2.0)
    c[0] = -1e-4  # a near-certain chosen response, representable in float16
    pc, pr, rc, rr = _dpo_inputs(13, (6,))
    logits, labels = _tokens(13, (2, 5), scale=8.0)
    for dtype in halves:
        tol = 2e-2 if dtype == "bfloat16" else 4e-3

        def check(out, want, dtype=dtype, tol=tol):
            assert out.dtype == xp.dtype(dtype)
            got = xp.to_numpy(out).astype(np.float64)
            assert np.all(np.isfinite(got))
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)

        rd = lambda a, dtype=dtype: xp.to_numpy(xp.asarray(a, dtype)).astype(np.float64)  # noqa: E731
        check(lossapi.orpo(xp.asarray(c, dtype), xp.asarray(r, dtype), reduction="none"),
              R.orpo(rd(c), rd(r), reduction="none"))
        check(lossapi.simpo(xp.asarray(c, dtype), xp.asarray(r, dtype), reduction="none"),
              R.simpo(rd(c), rd(r), reduction="none"))
        check(lossapi.dpo(*(xp.asarray(a, dtype) for a in (pc, pr, rc, rr)), form="robust", label_smoothing=0.2),
              R.dpo(rd(pc), rd(pr), rd(rc), rd(rr), form="robust", label_smoothing=0.2))
        want = R.sequence_log_probs(rd(logits), labels)
        out = lossapi.sequence_log_probs(xp.asarray(logits, dtype), xp.asarray(labels))
        assert out.dtype == xp.dtype(dtype)
        np.testing.assert_allclose(xp.to_numpy(out).astype(np.float64), want, rtol=tol)


def test_torch_learnable_beta_and_label_smoothing():
    torch = pytest.importorskip("torch")
    pc, pr, rc, rr = (torch.from_numpy(a) for a in _dpo_inputs(14))
    beta = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    ls = torch.tensor(0.1, dtype=torch.float64)
    out = lossapi.dpo(pc, pr, rc, rr, beta=beta, label_smoothing=ls, form="robust")
    np.testing.assert_allclose(out.detach().numpy(), R.dpo(*(a.numpy() for a in (pc, pr, rc, rr)), beta=0.2,
                                                           form="robust", label_smoothing=0.1), rtol=1e-12)
    out.backward()
    assert torch.isfinite(beta.grad)
    with pytest.raises(ValueError, match="dpo: label_smoothing must be < 0.5"):
        lossapi.dpo(pc, pr, rc, rr, form="robust", label_smoothing=torch.tensor(0.5, dtype=torch.float64))
