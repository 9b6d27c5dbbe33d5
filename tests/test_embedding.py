"""Embedding-family tests beyond the checklist: torch cross-checks, mining
against loop references, degenerate batches, zero vectors and duplicates,
jax.jit, the circle loss's detached gradient, and error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from cases_embedding import _circle_inputs

import lossapi
from conformance import peers
from conformance import reference as R
from conformance.gradcheck import check_grad, fd_gradient, finite_grads

REDUCTIONS = ("mean", "sum", "none")


def _np(xp, out):
    return xp.to_numpy(out).astype(np.float64)


def _torch64(*arrays):
    torch = pytest.importorskip("torch")
    return [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]


def _torch_peer(loss, **options):
    """torch's ``loss`` with lossapi's options (the one adapter, conformance.peers)."""
    pytest.importorskip("torch")
    return peers.bind("torch", loss, **options)


def _need_grad(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")


# --- torch cross-checks ---------------------------------------------------------

@pytest.mark.parametrize("opts", [
    {},
    {"p": 1.0},
    {"p": 3.0, "margin": 0.5},
    {"swap": True},
    {"swap": True, "p": 1.0, "eps": 1e-3},
    {"eps": 0.0, "margin": 2.0},
    {"p": math.inf},
], ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_triplet_matches_torch(xp, opts):
    rng = np.random.default_rng(3)
    a, p, n = (rng.normal(size=(7, 5)) for _ in range(3))
    n[0] = a[0]  # a zero-distance negative
    ta, tp, tn = _torch64(a, p, n)
    for reduction in REDUCTIONS:
        got = lossapi.triplet(xp.asarray(a), xp.asarray(p), xp.asarray(n), reduction=reduction, **opts)
        want = _torch_peer("triplet", reduction=reduction, **opts)(ta, tp, tn).numpy()
        np.testing.assert_allclose(_np(xp, got), want, rtol=1e-10, atol=1e-12, err_msg=reduction)


def test_triplet_gradient_matches_torch_at_equal_anchor_positive(xp):
    """anchor == positive exactly: torch's eps keeps d(a, p) > 0; both give
    the same finite gradient."""
    _need_grad(xp)
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    a, n = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)) * 0.3
    p = a.copy()
    grads = xp.grad(lambda *t: lossapi.triplet(*t, margin=2.0, reduction="sum"),
                    [xp.asarray(a), xp.asarray(p), xp.asarray(n)], (0, 1, 2))
    ts = [t.requires_grad_() for t in _torch64(a, p, n)]
    want = torch.autograd.grad(_torch_peer("triplet", margin=2.0, reduction="sum")(*ts), ts)
    for g, w in zip(grads, want):
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-8, atol=1e-10)


def test_triplet_eps0_equal_anchor_positive_gradient(xp):
    """eps=0 and anchor == positive: d(a, p) = 0 contributes gradient 0 (our
    subgradient); the negative term is the ordinary (a - n)/||a - n||."""
    _need_grad(xp)
    rng = np.random.default_rng(5)
    a, n = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    margin = 10.0  # every hinge active
    ga, gp, gn = xp.grad(lambda *t: lossapi.triplet(*t, margin=margin, eps=0.0, reduction="sum"),
                         [xp.asarray(a), xp.asarray(a.copy()), xp.asarray(n)], (0, 1, 2))
    unit = (a - n) / np.linalg.norm(a - n, axis=1, keepdims=True)
    np.testing.assert_allclose(ga, -unit, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gp, 0.0, atol=0)
    np.testing.assert_allclose(gn, unit, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("margin", [-0.5, 0.0, 0.5])
def test_cosine_embedding_matches_torch(xp, margin):
    rng = np.random.default_rng(6)
    x1, x2 = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    x1[1] = 0.0  # zero vectors: torch's eps keeps cos = 0
    x2[2] = 0.0
    target = np.array([1, -1, 1, -1, 1, -1, -1, 1], dtype=np.float64)
    tx1, tx2, tt = _torch64(x1, x2, target)
    for reduction in REDUCTIONS:
        got = lossapi.cosine_embedding(xp.asarray(x1), xp.asarray(x2), xp.asarray(target), margin=margin,
                                       reduction=reduction)
        want = _torch_peer("cosine_embedding", margin=margin, reduction=reduction)(tx1, tx2, tt).numpy()
        np.testing.assert_allclose(_np(xp, got), want, rtol=1e-10, atol=1e-12, err_msg=reduction)


def test_cosine_embedding_other_targets_give_zero_like_torch(xp):
    rng = np.random.default_rng(7)
    x1, x2 = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    target = np.array([1.0, 0.0, 2.0, -1.0])
    want = _torch_peer("cosine_embedding", margin=-1.0, reduction="none")(*_torch64(x1, x2, target)).numpy()
    got = lossapi.cosine_embedding(xp.asarray(x1), xp.asarray(x2), xp.asarray(target), margin=-1.0, reduction="none")
    np.testing.assert_allclose(_np(xp, got), want, rtol=1e-12)
    assert want[1] == 0 and want[2] == 0


def test_cosine_embedding_zero_vector_gradient_matches_torch(xp):
    _need_grad(xp)
    torch = pytest.importorskip("torch")
    x1 = np.zeros((2, 3))
    x2 = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    t = np.array([1.0, -1.0])
    g1, g2 = xp.grad(lambda a, b, c: lossapi.cosine_embedding(a, b, c, margin=-0.5),
                     [xp.asarray(x1), xp.asarray(x2), xp.asarray(t)], (0, 1))
    ts = _torch64(x1, x2, t)
    ts[0].requires_grad_()
    ts[1].requires_grad_()
    w1, w2 = torch.autograd.grad(_torch_peer("cosine_embedding", margin=-0.5)(*ts), ts[:2])
    assert np.all(np.isfinite(g1)) and np.all(np.isfinite(g2))
    np.testing.assert_allclose(g1, w1.numpy(), rtol=1e-8)
    np.testing.assert_allclose(g2, w2.numpy(), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("similar_dtype", ["bool", "int64", "float64"])
def test_contrastive_matches_torch_pairwise_distance_formula(xp, similar_dtype):
    """The notes guide's ContrastiveLoss formula with F.pairwise_distance (eps=0),
    label y = 0 for similar, i.e. y = 1 - similar."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    x1 = rng.normal(size=(9, 4))
    x2 = x1 + rng.normal(size=(9, 4)) * 0.4
    similar = (np.arange(9) % 3 == 0).astype(similar_dtype)
    tx1, tx2 = _torch64(x1, x2)
    y = 1.0 - torch.from_numpy(similar.astype(np.float64))
    d = F.pairwise_distance(tx1, tx2, p=2, eps=0.0)
    per_pair = (1 - y) * 0.5 * d**2 + y * 0.5 * F.relu(1.2 - d) ** 2
    for reduction in REDUCTIONS:
        want = {"mean": per_pair.mean(), "sum": per_pair.sum(), "none": per_pair}[reduction].numpy()
        got = lossapi.contrastive(xp.asarray(x1), xp.asarray(x2), xp.asarray(similar), margin=1.2, reduction=reduction)
        np.testing.assert_allclose(_np(xp, got), want, rtol=1e-10, atol=1e-12, err_msg=reduction)


def test_cosine_proximity_matches_torch(xp):
    rng = np.random.default_rng(9)
    x1, x2 = rng.normal(size=(3, 6, 2)), rng.normal(size=(3, 6, 2))
    x1[0, :, 0] = 0.0  # zero vector along axis 1
    x2[1, :, 1] = 1e-10  # tiny vector: torch clamps its norm at 1e-8
    want = _torch_peer("cosine_proximity", axis=1, reduction="none")(*_torch64(x1, x2)).numpy()
    got = lossapi.cosine_proximity(xp.asarray(x1), xp.asarray(x2), axis=1, reduction="none")
    np.testing.assert_allclose(_np(xp, got), want, rtol=1e-10, atol=1e-12)


def test_nt_xent_matches_torch_cross_entropy(xp):
    """SimCLR's usual torch formulation: masked similarity logits and
    F.cross_entropy with the other view as the class."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(10)
    z1, z2 = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    t = 0.2
    z = F.normalize(torch.cat(_torch64(z1, z2)), dim=1)
    logits = (z @ z.T / t).masked_fill(torch.eye(12, dtype=torch.bool), float("-inf"))
    target = (torch.arange(12) + 6) % 12
    want = F.cross_entropy(logits, target, reduction="none").numpy()
    got = lossapi.nt_xent(xp.asarray(z1), xp.asarray(z2), temperature=t, reduction="none")
    np.testing.assert_allclose(_np(xp, got), want, rtol=1e-10, atol=1e-12)
    got_mean = lossapi.nt_xent(xp.asarray(z1), xp.asarray(z2), temperature=t)
    np.testing.assert_allclose(_np(xp, got_mean), want.mean(), rtol=1e-10)


# --- independent NumPy references ------------------------------------------------

def test_nt_xent_hand_computed(xp):
    # Two orthogonal samples, identical views, T = 1: each anchor sees
    # logits {1 (positive), 0, 0}: loss = log(2 + e) - 1.
    z = np.array([[2.0, 0.0], [0.0, 3.0]])
    got = lossapi.nt_xent(xp.asarray(z), xp.asarray(z * 5.0), temperature=1.0, reduction="none")
    np.testing.assert_allclose(_np(xp, got), np.full(4, math.log(2 + math.e) - 1), rtol=1e-12)


def test_nt_xent_vs_numpy_reference_random(xp):
    rng = np.random.default_rng(11)
    z1, z2 = rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 5, 4))
    for t in (0.05, 0.5, 2.0):
        got = lossapi.nt_xent(xp.asarray(z1), xp.asarray(z2), temperature=t, reduction="none")
        np.testing.assert_allclose(_np(xp, got), R.nt_xent(z1, z2, reduction="none", temperature=t), rtol=1e-10)


@pytest.mark.parametrize("mining", ["all", "batch_hard", "semi_hard"])
@pytest.mark.parametrize("p,squared", [(2.0, False), (2.0, True), (1.0, False), (math.inf, False), (3.0, True)])
def test_batch_triplet_vs_loop_reference(xp, mining, p, squared):
    rng = np.random.default_rng(12)
    labels = np.array([3, 1, 3, 1, 1, 7, 7, 9, 3])  # 9 is a singleton
    e = rng.normal(size=(9, 3))
    for reduction in REDUCTIONS:
        got = lossapi.batch_triplet(xp.asarray(e), xp.asarray(labels), mining=mining, p=p, squared=squared,
                                    margin=0.7, reduction=reduction)
        want = R.batch_triplet(e, labels, reduction=reduction, margin=0.7, mining=mining, p=p, squared=squared)
        np.testing.assert_allclose(_np(xp, got), want, rtol=1e-9, atol=1e-9, err_msg=reduction)


def test_batch_triplet_semi_hard_fallback(xp):
    """Anchor 0's negative (at distance 1) is nearer than its positive (at 3):
    no semi-hard negative, so the farthest negative of the anchor is used."""
    e = np.array([[0.0], [3.0], [1.0], [-2.0]])
    labels = np.array([0, 0, 1, 1])
    got = _np(xp, lossapi.batch_triplet(xp.asarray(e), xp.asarray(labels), mining="semi_hard", margin=0.5,
                                        reduction="none"))
    # (a=0, p=1): d_ap = 3, negatives at 1 and 2, none farther: farthest (2) -> 3 - 2 + 0.5
    assert got[0, 1] == pytest.approx(1.5, rel=1e-12)
    # (a=1, p=0): d_ap = 3, negatives at 2 and 5: nearest farther is 5 -> 0
    assert got[1, 0] == 0.0
    want, _ = R._batch_triplet_one(e, labels, 0.5, "semi_hard", 2.0, False)  # (values, count)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_batch_hard_hand_computed(xp):
    e = np.array([[0.0, 0.0], [0.0, 1.0], [2.0, 0.0], [2.0, 0.5]])
    got = lossapi.batch_triplet(xp.asarray(e), xp.asarray(np.array([0, 1, 0, 1])), reduction="none")
    s = math.sqrt(4.25)
    np.testing.assert_allclose(_np(xp, got), [2.0, s, 2.5, s + 0.5], rtol=1e-12)


def test_circle_vs_loop_reference_large_gamma(xp):
    """gamma = 256 (the default) with far-apart positives: logits in the
    hundreds, still finite and exact (log-space on both sides)."""
    rng = np.random.default_rng(13)
    e = rng.normal(size=(10, 3))
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 3, 0])
    for reduction in REDUCTIONS:
        got = _np(xp, lossapi.circle(xp.asarray(e), xp.asarray(labels), reduction=reduction))
        want = R.circle(e, labels, reduction=reduction)
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert np.max(R.circle(e, labels, reduction="none")) > 50  # exp(x) would be huge here


def _circle_frozen(e, lab, e0, m=0.25, gamma=32.0):
    """Circle loss value where the weights a_p, a_n come from e0 (constants)."""
    def sims(x):
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        return u @ u.T
    s, s0 = sims(e), sims(e0)
    total = 0.0
    for i in range(len(e)):
        P = [j for j in range(len(e)) if j != i and lab[j] == lab[i]]
        N = [k for k in range(len(e)) if lab[k] != lab[i]]
        if P and N:
            lp = [-gamma * max(0.0, 1 + m - s0[i, j]) * (s[i, j] - 1 + m) for j in P]
            ln = [gamma * max(0.0, s0[i, k] + m) * (s[i, k] - m) for k in N]
            total += np.logaddexp(0.0, np.logaddexp.reduce(lp) + np.logaddexp.reduce(ln))
    return total


def test_circle_detached_gradient(xp):
    """Default detach_weights=True: the gradient treats a_p, a_n as constants,
    i.e. equals finite differences of the loss with frozen weights."""
    _need_grad(xp)
    e, lab = _circle_inputs([0, 0, 1, 1, 1, 2])(np.random.default_rng(14))
    (g,) = xp.grad(lambda x, y: lossapi.circle(x, y, gamma=32.0, reduction="sum"),
                   [xp.asarray(e), xp.asarray(lab)], (0,))
    kind, want = fd_gradient(lambda x: _circle_frozen(x, lab, e), e)
    assert kind == "full"
    np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-7)
    (g_full,) = xp.grad(lambda x, y: lossapi.circle(x, y, gamma=32.0, detach_weights=False, reduction="sum"),
                        [xp.asarray(e), xp.asarray(lab)], (0,))
    assert np.max(np.abs(g_full - g)) > 1e-3  # the option changes the gradient


# --- degenerate batches: no valid triplet / pair ----------------------------------

@pytest.mark.parametrize("labels", [[4, 4, 4, 4], [0, 1, 2, 3]], ids=["no_negatives", "no_positives"])
@pytest.mark.parametrize("loss", ["all", "batch_hard", "semi_hard", "circle"])
def test_no_valid_triplet_is_zero_with_zero_gradient(xp, labels, loss):
    rng = np.random.default_rng(15)
    e = rng.normal(size=(4, 3))
    lab = np.array(labels)

    def fn(x, y, reduction="mean"):
        if loss == "circle":
            return lossapi.circle(x, y, reduction=reduction)
        return lossapi.batch_triplet(x, y, mining=loss, reduction=reduction)

    for reduction in REDUCTIONS:
        out = _np(xp, fn(xp.asarray(e), xp.asarray(lab), reduction))
        assert np.all(out == 0.0), (reduction, out)
    if xp.has_grad:
        (g,) = xp.grad(fn, [xp.asarray(e), xp.asarray(lab)], (0,))
        assert np.all(g == 0.0)


# --- zero vectors and duplicates: finite values and gradients --------------------

@pytest.mark.parametrize("p,squared", [(2.0, False), (2.0, True), (1.0, False), (3.0, False), (0.5, False)])
@pytest.mark.parametrize("mining", ["all", "batch_hard", "semi_hard"])
def test_batch_triplet_duplicates_and_zero_rows(xp, mining, p, squared):
    e = np.array([[0.5, -1.0], [0.5, -1.0], [0.0, 0.0], [0.0, 0.0], [1.0, 2.0], [0.5, -1.0]])
    labels = np.array([0, 0, 1, 1, 0, 1])  # rows 0/1 duplicate positives, 0/5 duplicate negatives
    out = _np(xp, lossapi.batch_triplet(xp.asarray(e), xp.asarray(labels), mining=mining, p=p, squared=squared,
                                        reduction="none"))
    want = R.batch_triplet(e, labels, reduction="none", mining=mining, p=p, squared=squared)
    np.testing.assert_allclose(out, want, rtol=1e-7, atol=1e-7)
    if xp.has_grad:
        finite_grads(xp, lambda x, y: lossapi.batch_triplet(x, y, mining=mining, p=p, squared=squared),
                      [e, labels], (0,))


def test_pair_losses_zero_distance_and_zero_vectors(xp):
    _need_grad(xp)
    x = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]])
    y = x.copy()
    # contrastive at d == 0: value 0.5 m^2 for a dissimilar pair, 0 for a similar
    # one; gradient 0 for both (our subgradient at d == 0).
    sim = np.array([True, False])
    out = _np(xp, lossapi.contrastive(xp.asarray(x), xp.asarray(y), xp.asarray(sim), margin=2.0, reduction="none"))
    np.testing.assert_allclose(out, R.contrastive(x, y, sim, reduction="none", margin=2.0), rtol=1e-12)
    g1, g2 = finite_grads(xp, lambda a, b, s: lossapi.contrastive(a, b, s, margin=2.0), [x, y, sim], (0, 1))
    assert np.all(g1 == 0) and np.all(g2 == 0)
    for eps in (0.0, 1e-6):
        for p in (1.0, 2.0, 3.0):
            out = _np(xp, lossapi.triplet(xp.asarray(x), xp.asarray(y), xp.asarray(np.zeros_like(x)), eps=eps, p=p,
                                          reduction="none"))
            np.testing.assert_allclose(out, R.triplet(x, y, np.zeros_like(x), reduction="none", eps=eps, p=p), rtol=1e-9)
            finite_grads(xp, lambda a, b, c, e=eps, q=p: lossapi.triplet(a, b, c, eps=e, p=q, swap=True),
                          [x, y, np.zeros_like(x)], (0, 1, 2))
    finite_grads(xp, lambda a, b: lossapi.cosine_proximity(a, b), [x, np.zeros_like(x)], (0, 1))
    t = np.array([1, -1])
    out = _np(xp, lossapi.cosine_embedding(xp.asarray(x), xp.asarray(np.zeros_like(x)), xp.asarray(t),
                                           reduction="none"))
    np.testing.assert_allclose(out, R.cosine_embedding(x, np.zeros_like(x), t, reduction="none"), rtol=1e-12)
    finite_grads(xp, lambda a, b, c: lossapi.cosine_embedding(a, b, c), [x, np.zeros_like(x), t], (0, 1))


def test_nt_xent_and_circle_zero_vectors_and_duplicates(xp):
    z1 = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])
    z2 = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])
    out = _np(xp, lossapi.nt_xent(xp.asarray(z1), xp.asarray(z2), temperature=0.1, reduction="none"))
    np.testing.assert_allclose(out, R.nt_xent(z1, z2, reduction="none", temperature=0.1), rtol=1e-10)
    labels = np.array([0, 0, 1, 1])
    out = _np(xp, lossapi.circle(xp.asarray(z1), xp.asarray(labels), reduction="none"))
    np.testing.assert_allclose(out, R.circle(z1, labels, reduction="none"), rtol=1e-10)
    if xp.has_grad:
        finite_grads(xp, lambda a, b: lossapi.nt_xent(a, b, temperature=0.1), [z1, z2], (0, 1))
        for detach in (True, False):
            finite_grads(xp, lambda a, b, d=detach: lossapi.circle(a, b, detach_weights=d), [z1, labels], (0,))


# --- jax.jit -------------------------------------------------------------------

@pytest.mark.parametrize("mining", ["all", "batch_hard", "semi_hard"])
def test_batch_triplet_under_jax_jit_and_grad(mining):
    jax = pytest.importorskip("jax")
    from harness import Backend, Harness

    h = Harness(Backend.JAX)  # enables float64
    rng = np.random.default_rng(16)
    e, labels = rng.normal(size=(7, 3)), np.array([0, 1, 0, 1, 2, 2, 0])
    f = jax.jit(lambda x, y: lossapi.batch_triplet(x, y, mining=mining, margin=0.8))
    got = float(f(h.asarray(e), h.asarray(labels)))
    assert got == pytest.approx(float(R.batch_triplet(e, labels, reduction="mean", margin=0.8, mining=mining)), rel=1e-10)
    g = jax.jit(jax.grad(lambda x, y: lossapi.batch_triplet(x, y, mining=mining, margin=0.8)))(
        h.asarray(e), h.asarray(labels))
    eager = jax.grad(lambda x, y: lossapi.batch_triplet(x, y, mining=mining, margin=0.8))(
        h.asarray(e), h.asarray(labels))
    np.testing.assert_allclose(np.asarray(g), np.asarray(eager), rtol=1e-10, atol=1e-12)
    # vmap over a leading batch axis equals the [..., N, D] form
    e2 = np.stack([e, e[::-1]])
    lab2 = np.stack([labels, labels[::-1]])
    vm = jax.jit(jax.vmap(lambda x, y: lossapi.batch_triplet(x, y, mining=mining, margin=0.8, reduction="sum")))
    want = [float(R.batch_triplet(e2[i], lab2[i], reduction="sum", margin=0.8, mining=mining)) for i in range(2)]
    np.testing.assert_allclose(np.asarray(vm(h.asarray(e2), h.asarray(lab2))), want, rtol=1e-10)


def test_nt_xent_under_jax_jit():
    jax = pytest.importorskip("jax")
    from harness import Backend, Harness

    h = Harness(Backend.JAX)
    rng = np.random.default_rng(17)
    z1, z2 = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    f = jax.jit(lambda a, b: lossapi.nt_xent(a, b, temperature=0.3, reduction="none"))
    np.testing.assert_allclose(np.asarray(f(h.asarray(z1), h.asarray(z2))),
                               R.nt_xent(z1, z2, reduction="none", temperature=0.3), rtol=1e-10)
    g = jax.jit(jax.grad(lambda a, b: lossapi.nt_xent(a, b, temperature=0.3), argnums=(0, 1)))(
        h.asarray(z1), h.asarray(z2))
    assert all(np.all(np.isfinite(np.asarray(x))) for x in g)


# --- conventions at kinks, ties and tiny vectors (torch's), fast vs generic ---------

@pytest.fixture(params=["default", "generic"])
def path(request, xp, monkeypatch):
    """'default' runs whatever the backend picks (torch: its fast path),
    'generic' the array-API code with every fast path switched off."""
    if request.param == "generic":
        from lossapi.backends import resolve

        monkeypatch.setattr(resolve("probe", xp.asarray(np.zeros(2))), "kernels", {})
    return request.param


def test_triplet_hinge_kink_gradient_is_the_linear_piece(xp, path):
    """h = d(a, p) - d(a, n) + margin == 0 exactly: torch's clamp_min passes
    the gradient of the linear piece (not 0)."""
    _need_grad(xp)
    a, p, n = np.array([[0.0, 0.0]]), np.array([[0.0, 1.0]]), np.array([[0.0, 2.0]])  # d_ap 1, d_an 2
    out = _np(xp, lossapi.triplet(xp.asarray(a), xp.asarray(p), xp.asarray(n), eps=0.0, reduction="sum"))
    assert out == 0.0
    ga, gp, gn = xp.grad(lambda *t: lossapi.triplet(*t, eps=0.0, reduction="sum"),
                         [xp.asarray(a), xp.asarray(p), xp.asarray(n)], (0, 1, 2))
    # d/dp ||a - p|| = (p - a)/1, d/dn -||a - n|| = (a - n)/2 ... as unit vectors:
    np.testing.assert_allclose(ga, [[0.0, 0.0]], atol=1e-15)
    np.testing.assert_allclose(gp, [[0.0, 1.0]], atol=1e-15)
    np.testing.assert_allclose(gn, [[0.0, -1.0]], atol=1e-15)


def test_triplet_swap_tie_splits_the_gradient(xp, path):
    """d(a, n) == d(p, n) with swap=True: half the gradient to each (torch's min)."""
    _need_grad(xp)
    torch = pytest.importorskip("torch")
    a, p, n = np.array([[0.0, 0.0]]), np.array([[2.0, 0.0]]), np.array([[1.0, 0.0]])
    grads = xp.grad(lambda *t: lossapi.triplet(*t, eps=0.0, swap=True, reduction="sum"),
                    [xp.asarray(a), xp.asarray(p), xp.asarray(n)], (0, 1, 2))
    for g, w in zip(grads, [[[-0.5, 0.0]], [[0.5, 0.0]], [[0.0, 0.0]]]):  # by hand
        np.testing.assert_allclose(g, w, atol=1e-15)
    ts = [t.requires_grad_() for t in _torch64(a, p, n)]
    want = torch.autograd.grad(_torch_peer("triplet", eps=0.0, swap=True, reduction="sum")(*ts), ts)
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g, w.numpy(), atol=1e-15)


def test_cosine_embedding_kink_gradient_is_the_linear_piece(xp, path):
    """target -1 and cos == margin exactly: the gradient is d cos (clamp_min)."""
    _need_grad(xp)
    torch = pytest.importorskip("torch")
    x1, x2, t = np.array([[1.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([-1.0])
    margin = float(3.0 / np.sqrt((1.0 + 1e-12) * (25.0 + 1e-12)))  # cos, with torch's formula
    out = _np(xp, lossapi.cosine_embedding(xp.asarray(x1), xp.asarray(x2), xp.asarray(t), margin=margin))
    assert out == 0.0
    g1, g2 = xp.grad(lambda a, b, c: lossapi.cosine_embedding(a, b, c, margin=margin),
                     [xp.asarray(x1), xp.asarray(x2), xp.asarray(t)], (0, 1))
    np.testing.assert_allclose(g1, [[0.0, 0.8]], atol=1e-10)  # x2/|x2| - cos x1, by hand
    np.testing.assert_allclose(g2, [[0.128, -0.096]], atol=1e-10)  # (x1 - cos x2/|x2|)/|x2|
    # torch 2.13's F.cosine_embedding_loss (clamp_min) agrees; torch 2.14
    # changed clamp_min to give 0 at the kink, lossapi keeps the slope.
    if tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) < (2, 14):
        ts = [t_.requires_grad_() for t_ in _torch64(x1, x2)] + _torch64(t)
        want = torch.autograd.grad(_torch_peer("cosine_embedding", margin=margin)(*ts), ts[:2])
        np.testing.assert_allclose(g1, want[0].numpy(), atol=1e-12)
        np.testing.assert_allclose(g2, want[1].numpy(), atol=1e-12)


def test_cosine_proximity_tiny_and_zero_vectors_gradient_match_torch(xp, path):
    """Below 1e-8 torch clamps the norm without differentiating the clamp; a
    zero vector has gradient y / (1e-8 |y|)."""
    _need_grad(xp)
    torch = pytest.importorskip("torch")
    x1 = np.array([[1e-9, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, -1.0], [3e-9, -4e-9, 1e-10]])
    x2 = np.array([[1.0, 1.0, 0.5], [1.0, -2.0, 3.0], [1e-10, 0.0, 0.0], [2.0, 1.0, -1.0]])
    got = _np(xp, lossapi.cosine_proximity(xp.asarray(x1), xp.asarray(x2), reduction="none"))
    ts = [t.requires_grad_() for t in _torch64(x1, x2)]
    ref = _torch_peer("cosine_proximity", reduction="none")(*ts)
    np.testing.assert_allclose(got, ref.detach().numpy(), rtol=1e-10)
    want = torch.autograd.grad(ref.sum(), ts)
    grads = xp.grad(lambda a, b: lossapi.cosine_proximity(a, b, reduction="sum"), [xp.asarray(x1), xp.asarray(x2)],
                    (0, 1))
    for g, w in zip(grads, want):
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-9, atol=1e-6)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # NumPy/dask report it
def test_cosine_embedding_product_overflow_like_torch(xp, path):
    """torch's sqrt(|x1|^2 |x2|^2): in float32 the product overflows past
    |x1||x2| ~ 1.8e19 and cos reads 0; lossapi keeps torch's formula."""
    x = np.full((2, 4), 3e9)  # |x|^2 = 3.6e19, product 1.3e39 > float32 max; dot 3.6e19 finite
    t = np.array([1.0, -1.0])
    want = _torch_peer("cosine_embedding", reduction="none")(*[v.float() for v in _torch64(x, x, t)]).numpy()
    got = _np(xp, lossapi.cosine_embedding(xp.asarray(x, "float32"), xp.asarray(x, "float32"),
                                           xp.asarray(t, "float32"), reduction="none"))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(want, [1.0, 0.0])


def test_nt_xent_under_jax_jit_2n_512_float32():
    """2N = 512 rows in float32 under jax.jit (optax.ntxent returns wrong values
    there on XLA:CPU, from 2N = 256): value vs a float64 NumPy reference and a
    directional derivative vs central differences of that reference."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from harness import Backend, Harness

    Harness(Backend.JAX)
    rng = np.random.default_rng(18)
    z1, z2 = rng.normal(size=(256, 16)), rng.normal(size=(256, 16))
    t = 0.5

    def ref(a, b):  # float64, vectorised (the loop reference is slow at this size)
        z = np.concatenate([a, b])
        z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-8)
        s = z @ z.T / t
        np.fill_diagonal(s, -np.inf)
        top = s.max(axis=1)
        lse = top + np.log(np.exp(s - top[:, None]).sum(axis=1))
        n = a.shape[0]
        pos = np.concatenate([np.arange(n, 2 * n), np.arange(n)])
        return np.mean(lse - s[np.arange(2 * n), pos])

    f = jax.jit(lambda a, b: lossapi.nt_xent(a, b, temperature=t))
    a32, b32 = jnp.asarray(z1, jnp.float32), jnp.asarray(z2, jnp.float32)
    np.testing.assert_allclose(float(f(a32, b32)), ref(z1, z2), rtol=2e-5)
    np.testing.assert_allclose(float(ref(z1[:5], z2[:5])), float(R.nt_xent(z1[:5], z2[:5], reduction="mean", temperature=t)), rtol=1e-12)
    g1, g2 = jax.jit(jax.grad(lambda a, b: lossapi.nt_xent(a, b, temperature=t), argnums=(0, 1)))(a32, b32)
    # Both inputs as one [2N, D] array: derivatives along random directions (full_max=0).
    n = z1.shape[0]
    fd = fd_gradient(lambda z: ref(z[:n], z[n:]), np.concatenate([z1, z2]), full_max=0, rng=rng)
    assert fd[0] == "dirs"
    ok, why = check_grad(np.concatenate([np.asarray(g1, np.float64), np.asarray(g2, np.float64)]), fd,
                         rtol=1e-3, atol=0.0)
    assert ok, why


# --- errors --------------------------------------------------------------------

def test_error_messages(xp):
    a = xp.asarray(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"contrastive: similar has shape \(3,\) but x1 has shape \(4, 3\)"):
        lossapi.contrastive(a, a, xp.asarray(np.ones(3)))
    with pytest.raises(ValueError, match=r"cosine_embedding: target has shape \(4, 1\)"):
        lossapi.cosine_embedding(a, a, xp.asarray(np.ones((4, 1))))
    with pytest.raises(ValueError, match=r"batch_triplet: labels has shape \(4, 1\)"):
        lossapi.batch_triplet(a, xp.asarray(np.zeros((4, 1), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"batch_triplet: embeddings must have shape \[\.\.\., N, D\]"):
        lossapi.batch_triplet(xp.asarray(np.ones(3)), xp.asarray(np.zeros((), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"nt_xent: z1 must have shape \[\.\.\., N, D\]"):
        lossapi.nt_xent(xp.asarray(np.ones(3)), xp.asarray(np.ones(3)))
    with pytest.raises(ValueError, match=r"triplet: anchor must have shape \[\.\.\., D\]"):
        lossapi.triplet(xp.asarray(np.ones(())), xp.asarray(np.ones(())), xp.asarray(np.ones(())))
    with pytest.raises(ValueError, match="circle: mining|batch_triplet: mining must be one of"):
        lossapi.batch_triplet(a, xp.asarray(np.zeros(4, dtype=np.int64)), mining="hardest")
    with pytest.raises(ValueError, match="triplet: p must be > 0"):
        lossapi.triplet(a, a, a, p=0)


def test_mixed_libraries_rejected():
    torch = pytest.importorskip("torch")
    e = torch.ones((4, 3), dtype=torch.float64)
    with pytest.raises(TypeError, match="batch_triplet: inputs come from different array libraries"):
        lossapi.batch_triplet(e, np.zeros(4, dtype=np.int64))
    with pytest.raises(TypeError, match="contrastive: inputs come from different array libraries"):
        lossapi.contrastive(e, e, np.ones(4))
