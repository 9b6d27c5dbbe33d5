"""Classification family: peers (torch.nn.functional, optax, a torchvision-style
focal reference), extreme inputs, ignored samples, transforms (jax.jit/vmap,
torch.func, torch.compile) and error messages.

Peer values are computed separately from lossapi, in float64, through the one
adapter per peer and loss (conformance.peers)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lossapi
from conformance import peers
from conformance.gradcheck import fd_partial

# --- helpers ---------------------------------------------------------------------


def _torch():
    torch = pytest.importorskip("torch")
    return torch, torch.nn.functional


def _peer(lib, loss, args, reduction="mean", **options):
    """The peer's float64 value of ``loss`` on NumPy ``args`` (the one adapter
    per peer and loss, conformance.peers; NumPy option arrays converted)."""
    pytest.importorskip(lib)
    return peers.value_np(lib, loss, list(args), options, reduction)


def _t(a):
    import torch

    return torch.from_numpy(np.array(a))


def _close(got, want, tol=1e-10):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64),
                               rtol=tol, atol=tol)


def _int_data(seed=0, n=7, c=6, ignore=None, shape=None):
    rng = np.random.default_rng(seed)
    shape = shape or (n, c)
    z = rng.normal(size=shape) * 2
    lshape = shape[:1] + shape[2:]
    y = rng.integers(0, shape[1], size=lshape)
    if ignore is not None:
        y.reshape(-1)[::3] = ignore
    w = rng.uniform(0.2, 3.0, size=shape[1])
    return z, y, w


def _probs_target(seed, shape, axis=1):
    rng = np.random.default_rng(seed)
    raw = rng.uniform(0.05, 1.0, size=shape)
    return raw / raw.sum(axis=axis, keepdims=True)


def _need_grad(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")


# --- torch.nn.functional cross-checks ------------------------------------------------

CE_COMBOS = {
    "plain": {},
    "weight": {"weight": True},
    "ignore": {"ignore_index": -100},
    "ignore_in_range": {"ignore_index": 1},
    "smooth": {"label_smoothing": 0.2},
    "weight_ignore": {"weight": True, "ignore_index": -100},
    "weight_smooth": {"weight": True, "label_smoothing": 0.1},
    "ignore_smooth": {"ignore_index": -100, "label_smoothing": 0.25},
    "weight_ignore_smooth": {"weight": True, "ignore_index": 2, "label_smoothing": 0.3},
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("combo", list(CE_COMBOS), ids=list(CE_COMBOS))
def test_cross_entropy_labels_match_torch(xp, combo, reduction):
    opts = CE_COMBOS[combo]
    ii, ls = opts.get("ignore_index"), opts.get("label_smoothing", 0.0)
    z, y, w = _int_data(ignore=ii)
    w = w if opts.get("weight") else None
    want = _peer("torch", "cross_entropy", [z, y], reduction, weight=w, ignore_index=ii, label_smoothing=ls)
    got = lossapi.cross_entropy(xp.asarray(z), xp.asarray(y), weight=None if w is None else xp.asarray(w),
                                ignore_index=ii, label_smoothing=ls, reduction=reduction)
    _close(xp.to_numpy(got), want)


@pytest.mark.parametrize("combo", ["plain", "weight_ignore_smooth", "ignore_smooth"])
def test_cross_entropy_spatial_axis1_matches_torch(xp, combo):
    opts = CE_COMBOS[combo]
    ii, ls = opts.get("ignore_index"), opts.get("label_smoothing", 0.0)
    z, y, w = _int_data(seed=3, ignore=ii, shape=(3, 4, 2, 5))
    w = w if opts.get("weight") else None
    for reduction in ("mean", "none"):
        want = _peer("torch", "cross_entropy", [z, y], reduction, axis=1, weight=w, ignore_index=ii,
                     label_smoothing=ls)
        got = lossapi.cross_entropy(xp.asarray(z), xp.asarray(y), axis=1, weight=None if w is None else xp.asarray(w),
                                    ignore_index=ii, label_smoothing=ls, reduction=reduction)
        _close(xp.to_numpy(got), want)
        # The default last class axis is the same loss with the classes moved there.
        got_last = lossapi.cross_entropy(xp.asarray(np.moveaxis(z, 1, -1)), xp.asarray(y),
                                         weight=None if w is None else xp.asarray(w), ignore_index=ii,
                                         label_smoothing=ls, reduction=reduction)
        _close(xp.to_numpy(got_last), want)


@pytest.mark.parametrize("ls", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probabilities_match_torch(xp, ls, weighted, reduction):
    z, _, w = _int_data(seed=4, shape=(5, 4, 3))
    q = _probs_target(5, z.shape)
    w = w if weighted else None
    want = _peer("torch", "cross_entropy", [z, q], reduction, axis=1, weight=w, label_smoothing=ls)
    got = lossapi.cross_entropy(xp.asarray(z), xp.asarray(q), axis=1, weight=None if w is None else xp.asarray(w),
                                label_smoothing=ls, reduction=reduction)
    _close(xp.to_numpy(got), want)


@pytest.mark.parametrize("combo", ["plain", "weight_ignore_smooth", "ignore_smooth", "weight"])
def test_cross_entropy_gradient_matches_torch(xp, combo):
    _need_grad(xp)
    _torch()
    opts = CE_COMBOS[combo]
    ii, ls = opts.get("ignore_index"), opts.get("label_smoothing", 0.0)
    z, y, w = _int_data(seed=6, ignore=ii)
    w = w if opts.get("weight") else None
    zt = _t(z).requires_grad_(True)
    peers.bind("torch", "cross_entropy", weight=None if w is None else _t(w), ignore_index=ii,
               label_smoothing=ls)(zt, _t(y)).backward()
    wa = None if w is None else xp.asarray(w)
    (g,) = xp.grad(lambda a, b: lossapi.cross_entropy(a, b, weight=wa, ignore_index=ii, label_smoothing=ls),
                   [xp.asarray(z), xp.asarray(y)], (0,))
    _close(g, zt.grad.numpy())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("opts", [{}, {"ignore_index": -100}, {"weight": True, "ignore_index": 0}],
                         ids=["plain", "ignore", "weight_ignore_in_range"])
def test_nll_matches_torch(xp, opts, reduction):
    ii = opts.get("ignore_index")
    z, y, w = _int_data(seed=7, ignore=ii, shape=(4, 5, 3))
    lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    w = w if opts.get("weight") else None
    want = _peer("torch", "nll", [lp, y], reduction, axis=1, weight=w, ignore_index=ii)
    got = lossapi.nll(xp.asarray(lp), xp.asarray(y), axis=1, weight=None if w is None else xp.asarray(w),
                      ignore_index=ii, reduction=reduction)
    _close(xp.to_numpy(got), want)
    # cross_entropy is nll of log_softmax.
    ce = lossapi.cross_entropy(xp.asarray(z), xp.asarray(y), axis=1, weight=None if w is None else xp.asarray(w),
                               ignore_index=ii, reduction=reduction)
    _close(xp.to_numpy(ce), want)


@pytest.mark.parametrize("weight_shape", [None, (5,), (3, 1), (3, 5)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_matches_torch(xp, weight_shape, reduction):
    rng = np.random.default_rng(8)
    p = rng.uniform(0, 1, size=(3, 5))
    p[0, :4] = [0.0, 1.0, 0.0, 1.0]  # exact 0 and 1: torch clamps each log at -100
    t = rng.uniform(0, 1, size=(3, 5))
    t[0, :4] = [1.0, 0.0, 0.0, 1.0]
    w = None if weight_shape is None else rng.uniform(0.5, 2, size=weight_shape)
    want = _peer("torch", "binary_cross_entropy", [p, t], reduction, weight=w)
    got = lossapi.binary_cross_entropy(xp.asarray(p), xp.asarray(t), weight=None if w is None else xp.asarray(w),
                                       reduction=reduction)
    _close(xp.to_numpy(got), want)


def test_bce_gradient_matches_torch_inside_0_1(xp):
    _need_grad(xp)
    _torch()
    rng = np.random.default_rng(9)
    p, t = rng.uniform(0.01, 0.99, size=(4, 3)), rng.uniform(0, 1, size=(4, 3))
    pt = _t(p).requires_grad_(True)
    peers.bind("torch", "binary_cross_entropy", reduction="sum")(pt, _t(t)).backward()
    (g,) = xp.grad(lambda a, b: lossapi.binary_cross_entropy(a, b, reduction="sum"),
                   [xp.asarray(p), xp.asarray(t)], (0,))
    _close(g, pt.grad.numpy())


@pytest.mark.parametrize("opts", [{}, {"weight": (4, 1)}, {"pos_weight": (3,)}, {"weight": (3,), "pos_weight": (3,)},
                                  {"pos_weight": (4, 3)}], ids=["plain", "weight", "pos_weight", "both", "pw_full"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_logits_matches_torch(xp, opts, reduction):
    rng = np.random.default_rng(10)
    x = rng.normal(size=(4, 3)) * 3
    x[0] = [1e4, -1e4, 30.0]
    t = rng.uniform(0, 1, size=(4, 3))
    t[0] = [1.0, 1.0, 0.0]
    arr = {k: rng.uniform(0.5, 3.0, size=s) for k, s in opts.items()}
    want = _peer("torch", "binary_cross_entropy_with_logits", [x, t], reduction, **arr)
    got = lossapi.binary_cross_entropy_with_logits(xp.asarray(x), xp.asarray(t), reduction=reduction,
                                                   **{k: xp.asarray(v) for k, v in arr.items()})
    _close(xp.to_numpy(got), want)
    if xp.has_grad:
        xt = _t(x).requires_grad_(True)
        peer = peers.bind("torch", "binary_cross_entropy_with_logits", reduction="sum",
                          **{k: _t(v) for k, v in arr.items()})
        peer(xt, _t(t)).backward()
        (g,) = xp.grad(lambda a, b: lossapi.binary_cross_entropy_with_logits(
            a, b, reduction="sum", **{k: xp.asarray(v) for k, v in arr.items()}), [xp.asarray(x), xp.asarray(t)], (0,))
        _close(g, xt.grad.numpy())


@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_weston_watkins_is_c_times_torch_multi_margin(xp, margin):
    rng = np.random.default_rng(11)
    s, y = rng.normal(size=(6, 4)), rng.integers(0, 4, size=6)
    # The peer adapter: C (= 4) times F.multi_margin_loss(p=1), which divides the sum by C.
    want = _peer("torch", "multiclass_hinge", [s, y], "none", margin=margin, form="weston_watkins")
    got = lossapi.multiclass_hinge(xp.asarray(s), xp.asarray(y), margin=margin, form="weston_watkins",
                                   reduction="none")
    _close(xp.to_numpy(got), want)
    # Classes on axis 0 (and a third axis) give the same per-sample values.
    got0 = lossapi.multiclass_hinge(xp.asarray(np.ascontiguousarray(s.T)), xp.asarray(y), margin=margin, axis=0,
                                    form="weston_watkins", reduction="none")
    _close(xp.to_numpy(got0), want)


# --- optax cross-checks ----------------------------------------------------------------


def test_cross_entropy_matches_optax(xp):
    z, y, _ = _int_data(seed=12)
    want = _peer("optax", "cross_entropy", [z, y], "none")
    _close(xp.to_numpy(lossapi.cross_entropy(xp.asarray(z), xp.asarray(y), reduction="none")), want)
    q = _probs_target(13, z.shape)
    want = _peer("optax", "cross_entropy", [z, q], "none")
    _close(xp.to_numpy(lossapi.cross_entropy(xp.asarray(z), xp.asarray(q), reduction="none")), want)


def test_bce_logits_matches_optax(xp):
    rng = np.random.default_rng(14)
    x, t = rng.normal(size=(5, 3)) * 4, rng.uniform(0, 1, size=(5, 3))
    want = _peer("optax", "binary_cross_entropy_with_logits", [x, t], "none")
    got = lossapi.binary_cross_entropy_with_logits(xp.asarray(x), xp.asarray(t), reduction="none")
    _close(xp.to_numpy(got), want)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("soft", [False, True])
def test_binary_focal_matches_optax(xp, gamma, alpha, soft):
    rng = np.random.default_rng(15)
    x = rng.normal(size=(6, 3)) * 3
    t = rng.uniform(0, 1, size=(6, 3)) if soft else rng.integers(0, 2, size=(6, 3)).astype(np.float64)
    want = _peer("optax", "binary_focal", [x, t], "none", gamma=gamma, alpha=alpha)
    got = lossapi.binary_focal(xp.asarray(x), xp.asarray(t), gamma=gamma, alpha=alpha, reduction="none")
    _close(xp.to_numpy(got), want)


def test_hinge_matches_optax(xp):
    rng = np.random.default_rng(16)
    s, t = rng.normal(size=(4, 5)), rng.choice([-1.0, 1.0], size=(4, 5))
    want = _peer("optax", "hinge", [s, t], "none")
    _close(xp.to_numpy(lossapi.hinge(xp.asarray(s), xp.asarray(t), reduction="none")), want)


def test_crammer_singer_matches_optax(xp):
    rng = np.random.default_rng(17)
    s, y = rng.normal(size=(8, 5)), rng.integers(0, 5, size=8)
    want = _peer("optax", "multiclass_hinge", [s, y], "none", form="crammer_singer")
    got = lossapi.multiclass_hinge(xp.asarray(s), xp.asarray(y), form="crammer_singer", reduction="none")
    _close(xp.to_numpy(got), want)


@pytest.mark.parametrize("epsilon", [1.0, 2.0, -0.5])
def test_poly1_matches_optax(xp, epsilon):
    z, y, _ = _int_data(seed=18)
    want = _peer("optax", "poly1", [z, np.eye(z.shape[1])[y]], "none", epsilon=epsilon)  # one-hot target
    got = lossapi.poly1(xp.asarray(z), xp.asarray(y), epsilon=epsilon, reduction="none")
    _close(xp.to_numpy(got), want)
    q = _probs_target(19, z.shape)
    want = _peer("optax", "poly1", [z, q], "none", epsilon=epsilon)
    got = lossapi.poly1(xp.asarray(z), xp.asarray(q), epsilon=epsilon, reduction="none")
    _close(xp.to_numpy(got), want)


# --- torchvision-style focal reference --------------------------------------------------


def _torchvision_style_focal(x, t, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss's definition written out in float64
    NumPy (torchvision is not a test dependency); reduction "none"."""
    p = 1.0 / (1.0 + np.exp(-x))
    ce = np.logaddexp(0.0, x) - t * x  # BCE with logits
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [-1.0, 0.25, 0.9])
def test_binary_focal_matches_torchvision_definition(xp, gamma, alpha):
    rng = np.random.default_rng(20)
    x = rng.normal(size=(5, 4)) * 3
    t = rng.integers(0, 2, size=(5, 4)).astype(np.float64)
    t[0] = [0.2, 0.5, 0.7, 1.0]  # soft targets follow the same formula
    want = _torchvision_style_focal(x, t, alpha, gamma)
    got = lossapi.binary_focal(xp.asarray(x), xp.asarray(t), gamma=gamma, alpha=None if alpha < 0 else alpha,
                               reduction="none")
    _close(xp.to_numpy(got), want)


# --- gamma = 0 is cross-entropy ------------------------------------------------------------


def test_binary_focal_gamma0_is_bce_with_logits(xp):
    rng = np.random.default_rng(21)
    x, t = xp.asarray(rng.normal(size=(4, 6)) * 3), xp.asarray(rng.uniform(0, 1, size=(4, 6)))
    a = lossapi.binary_focal(x, t, gamma=0.0, reduction="none")
    b = lossapi.binary_cross_entropy_with_logits(x, t, reduction="none")
    _close(xp.to_numpy(a), xp.to_numpy(b), 1e-12)


def test_focal_gamma0_is_cross_entropy(xp):
    z, y, w = _int_data(seed=22, ignore=-100)
    z, y, w = xp.asarray(z), xp.asarray(y), xp.asarray(w)
    for reduction in ("mean", "sum", "none"):
        a = lossapi.focal(z, y, gamma=0.0, ignore_index=-100, reduction=reduction)
        b = lossapi.cross_entropy(z, y, ignore_index=-100, reduction=reduction)
        _close(xp.to_numpy(a), xp.to_numpy(b), 1e-12)
    for reduction in ("sum", "none"):  # alpha = class weights (the means differ by design: see focal's doc)
        a = lossapi.focal(z, y, gamma=0.0, alpha=w, ignore_index=-100, reduction=reduction)
        b = lossapi.cross_entropy(z, y, weight=w, ignore_index=-100, reduction=reduction)
        _close(xp.to_numpy(a), xp.to_numpy(b), 1e-12)


def test_poly1_epsilon0_is_cross_entropy_and_onehot_agrees(xp):
    z, y, w = _int_data(seed=23)
    Z, Y, W = xp.asarray(z), xp.asarray(y), xp.asarray(w)
    for opts in ({}, {"weight": W, "label_smoothing": 0.2}):
        a = lossapi.poly1(Z, Y, epsilon=0.0, **opts)
        _close(xp.to_numpy(a), xp.to_numpy(lossapi.cross_entropy(Z, Y, **opts)), 1e-12)
    onehot = xp.asarray(np.eye(z.shape[1])[y])
    for opts in ({}, {"weight": W}, {"label_smoothing": 0.2}):
        a = lossapi.poly1(Z, Y, epsilon=1.5, reduction="none", **opts)
        b = lossapi.poly1(Z, onehot, epsilon=1.5, reduction="none", **opts)
        _close(xp.to_numpy(a), xp.to_numpy(b), 1e-12)


# --- extreme inputs: finite values and gradients ------------------------------------------

BIG = 1e4


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_logits_extreme_logits(xp, dtype):
    x = np.array([BIG, -BIG, BIG, -BIG, 0.0])
    t = np.array([1.0, 1.0, 0.0, 0.0, 0.5])
    pw = np.array([2.0, 2.0, 2.0, 2.0, 2.0])
    X, T, PW = xp.asarray(x, dtype), xp.asarray(t, dtype), xp.asarray(pw, dtype)
    got = xp.to_numpy(lossapi.binary_cross_entropy_with_logits(X, T, pos_weight=PW, reduction="none"))
    _close(got, [0.0, 2 * BIG, BIG, 0.0, 1.5 * math.log(2)], 1e-6)
    if xp.has_grad:
        (g,) = xp.grad(lambda a, b: lossapi.binary_cross_entropy_with_logits(a, b, pos_weight=PW, reduction="sum"),
                       [X, T], (0,))
        # w * (sigmoid(x) (1 - t + pw t) - pw t)
        _close(g, [0.0, -2.0, 1.0, 0.0, 0.5 * 1.5 - 1.0], 1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_probs_exactly_0_and_1(xp, dtype):
    p, t = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    P, T = xp.asarray(p, dtype), xp.asarray(t, dtype)
    got = xp.to_numpy(lossapi.binary_cross_entropy(P, T, reduction="none"))
    _close(got, [100.0, 100.0, 0.0, 0.0, math.log(2)], 1e-6)
    if xp.has_grad:
        (g,) = xp.grad(lambda a, b: lossapi.binary_cross_entropy(a, b, reduction="sum"), [P, T], (0,))
        # clamped logs: zero slope; unclamped: -t/p + (1-t)/(1-p)
        _close(g, [0.0, 0.0, 1.0, -1.0, -2.0], 1e-6)


def test_bce_probs_subnormal_float32_gradient_finite(xp):
    _need_grad(xp)
    p = xp.asarray(np.array([1e-40, 1e-30, 3e-39], dtype=np.float32))
    t = xp.asarray(np.array([1.0, 1.0, 1.0], dtype=np.float32))
    v = xp.to_numpy(lossapi.binary_cross_entropy(p, t, reduction="none"))
    want = -np.log(np.array([1e-40, 1e-30, 3e-39], dtype=np.float32).astype(np.float64))
    if xp.name == "jax":  # XLA on CPU flushes subnormals to zero: p = 0, the clamped 100
        want[[0, 2]] = 100.0
    _close(v, want, 1e-5)
    (g,) = xp.grad(lambda a, b: lossapi.binary_cross_entropy(a, b, reduction="sum"), [p, t], (0,))
    assert np.all(np.isfinite(g))
    _close(g[1], -1e30, 1e-5)


def test_bce_probs_outside_0_1(xp):
    p = xp.asarray(np.array([-0.5, 0.3, 1.5]))
    t = xp.asarray(np.array([1.0, 1.0, 0.0]))
    if xp.name == "torch":  # torch's kernel checks the range: the error names the loss and the argument
        with pytest.raises(ValueError, match=r"binary_cross_entropy: probs must hold probabilities in \[0, 1\]"):
            lossapi.binary_cross_entropy(p, t, reduction="none")
        return
    got = xp.to_numpy(lossapi.binary_cross_entropy(p, t, reduction="none"))
    assert np.isnan(got[0]) and np.isnan(got[2])
    _close(got[1], -math.log(0.3), 1e-12)


def test_bce_torch_gradient_against_float64_formula():
    """The torch fast path supplies its own backward: check it where torch's
    built-in backward (p (1 - p) floored at 1e-12) would differ."""
    torch = pytest.importorskip("torch")
    p64 = np.array([0.0, 1e-300, 1e-30, 1e-13, 0.3, 1.0 - 1e-13, 1.0])
    t64 = np.array([1.0, 0.5, 1.0, 0.25, 0.7, 0.0, 0.6])
    p = torch.tensor(p64, requires_grad=True)
    t = torch.tensor(t64, requires_grad=True)
    lossapi.binary_cross_entropy(p, t, reduction="sum").backward()
    # d/dp of -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)): each
    # clamped term has slope 0 (log(1e-300) < -100 is clamped too).
    lp = np.maximum(np.log(np.where(p64 > 0, p64, 1.0)), -100.0)
    lp[p64 == 0] = -100.0
    lq = np.maximum(np.log1p(-np.where(p64 < 1, p64, 0.0)), -100.0)
    lq[p64 == 1] = -100.0
    dlp = np.where(np.log(np.maximum(p64, 1e-320)) > -100.0, 1.0 / np.maximum(p64, 1e-300), 0.0)
    dlq = np.where(p64 < 1, 1.0 / np.maximum(1.0 - p64, 1e-300), 0.0)
    np.testing.assert_allclose(p.grad.numpy(), -t64 * dlp + (1.0 - t64) * dlq, rtol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), -(lp - lq), rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_focal_saturated_logits(xp, gamma, dtype):
    x = np.array([BIG, -BIG, BIG, -BIG, 60.0, -60.0])
    t = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    X, T = xp.asarray(x, dtype), xp.asarray(t, dtype)
    got = xp.to_numpy(lossapi.binary_focal(X, T, gamma=gamma, alpha=0.25, reduction="none"))
    # right: 0; wrong by BIG: ce = BIG and (1 - p_t) = 1
    _close(got, [0.0, 0.25 * BIG, 0.75 * BIG, 0.0, 0.0, 0.0], 1e-6)
    if xp.has_grad:
        (g,) = xp.grad(lambda a, b: lossapi.binary_focal(a, b, gamma=gamma, alpha=0.25, reduction="sum"), [X, T], (0,))
        assert np.all(np.isfinite(g)), g
        _close(g, [0.0, -0.25, 0.75, 0.0, 0.0, 0.0], 1e-6)


def _focal_grad_reference(z, y, gamma):
    """d/dz of -(1 - p_y)^gamma log p_y, float64, from the chain rule:
    dL/da = gamma e^a a (1-p)^(gamma-1) - (1-p)^gamma with a = log p_y, and
    da/dz_k = [k == y] - p_k. Evaluated with expm1 for 1 - p_y."""
    g = np.zeros_like(z)
    for i, row in enumerate(z):
        m = row.max()
        lse = m + np.log(np.sum(np.exp(row - m)))
        a = row[y[i]] - lse
        u = -np.expm1(a)
        p = np.exp(row - lse)
        dl_da = gamma * np.exp(a) * a * u ** (gamma - 1) - u**gamma
        g[i] = dl_da * ((np.arange(len(row)) == y[i]) - p)
    return g


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_gradient_near_certain_predictions(xp, gamma):
    """p_y within 1e-6..1e-12 of 1 (where (1-p)^gamma has an infinite
    derivative for gamma < 1): autodiff matches the chain rule."""
    _need_grad(xp)
    z = np.array([[14.0, 0.0, 0.0], [0.0, 20.0, -3.0], [25.0, 1.0, 0.5], [1.0, 2.0, 0.5]])
    y = np.array([0, 1, 0, 1])
    (g,) = xp.grad(lambda a, b: lossapi.focal(a, b, gamma=gamma, reduction="sum"), [xp.asarray(z), xp.asarray(y)],
                   (0,))
    want = _focal_grad_reference(z, y, gamma)
    # log p_y from any log_softmax carries an absolute error ~1e-16, i.e. a
    # relative one ~1e-5 where 1 - p_y ~ 1e-11: hence rtol, and atol=0 so
    # the tiny entries are still compared.
    np.testing.assert_allclose(g, want, rtol=1e-4, atol=0)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_focal_saturated_logits(xp, gamma, dtype):
    z = np.array([[BIG, 0.0, -BIG], [BIG, 0.0, -BIG], [40.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 2, 0, 1])
    Z, Y = xp.asarray(z, dtype), xp.asarray(y)
    got = xp.to_numpy(lossapi.focal(Z, Y, gamma=gamma, reduction="none"))
    # certain and right: 0; certain and wrong by 2 BIG: factor 1; uniform: (2/3)^gamma log 3
    _close(got, [0.0, 2 * BIG, 0.0, (2 / 3) ** gamma * math.log(3)], 1e-5)
    if xp.has_grad:
        (g,) = xp.grad(lambda a, b: lossapi.focal(a, b, gamma=gamma, reduction="sum"), [Z, Y], (0,))
        assert np.all(np.isfinite(g)), g
        _close(g[:3], [[0, 0, 0], [1, 0, -1], [0, 0, 0]], 1e-6)


@pytest.mark.parametrize("fn", ["cross_entropy", "poly1", "multiclass_hinge"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multiclass_extreme_logits_finite(xp, fn, dtype):
    z = np.array([[BIG, -BIG, 0.0], [-BIG, BIG, 0.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 0, 2])
    Z, Y = xp.asarray(z, dtype), xp.asarray(y)
    f = getattr(lossapi, fn)
    got = xp.to_numpy(f(Z, Y, reduction="none"))
    assert np.all(np.isfinite(got))
    if fn == "cross_entropy":
        _close(got, [0.0, 2 * BIG, math.log(3)], 1e-6)
    if xp.has_grad:
        (g,) = xp.grad(lambda a, b: f(a, b, reduction="sum"), [Z, Y], (0,))
        assert np.all(np.isfinite(g)), g


# --- ignored samples -----------------------------------------------------------------------


@pytest.mark.parametrize("fn", ["cross_entropy", "nll", "focal", "poly1"])
def test_ignored_samples_have_zero_loss_and_gradient(xp, fn):
    z, y, _ = _int_data(seed=24, ignore=-100)
    ignored = y == -100
    f = getattr(lossapi, fn)
    kw = {"ignore_index": -100}
    if fn in ("cross_entropy", "poly1"):
        kw["label_smoothing"] = 0.1
    Z, Y = xp.asarray(z), xp.asarray(y)
    per = xp.to_numpy(f(Z, Y, reduction="none", **kw))
    assert np.all(per[ignored] == 0) and np.all(per[~ignored] != 0)
    # The mean is over the non-ignored samples.
    _close(xp.to_numpy(f(Z, Y, **kw)), per[~ignored].mean(), 1e-12)
    if xp.has_grad:
        (g,) = xp.grad(lambda a, b: f(a, b, **kw), [Z, Y], (0,))
        assert np.all(g[ignored] == 0)
        assert np.all(np.abs(g[~ignored]).sum(axis=1) > 0)


def test_all_ignored_mean_is_nan_like_torch(xp):
    z = xp.asarray(np.zeros((2, 3)))
    y = xp.asarray(np.array([-100, -100]))
    with np.errstate(invalid="ignore"):
        got = xp.to_numpy(lossapi.cross_entropy(z, y, ignore_index=-100))
        assert np.isnan(got)
        assert float(xp.to_numpy(lossapi.cross_entropy(z, y, ignore_index=-100, reduction="sum"))) == 0.0


# --- transforms ----------------------------------------------------------------------------


def test_jax_jit_and_vmap_with_ignore_index():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(25)
    z = rng.normal(size=(3, 5, 4))
    y = rng.integers(0, 4, size=(3, 5))
    y[:, 0] = -100
    y[2] = -100
    y[2, 3] = 1
    f = lambda a, b: lossapi.cross_entropy(a, b, ignore_index=-100, label_smoothing=0.1)  # noqa: E731
    want = [float(f(z[i], y[i])) for i in range(3)]
    got = jax.jit(jax.vmap(f))(jnp.asarray(z), jnp.asarray(y))
    _close(np.asarray(got), want, 1e-12)
    g = jax.jit(jax.vmap(jax.grad(f)))(jnp.asarray(z), jnp.asarray(y))
    assert np.all(np.asarray(g)[y == -100] == 0) and np.all(np.isfinite(np.asarray(g)))
    # Under jit, labels cannot be checked: an out-of-range label makes the loss NaN, not a wrong number.
    bad = jnp.asarray(np.array([0, 1, 9, 2, 3]))
    assert np.isnan(float(jax.jit(lossapi.cross_entropy)(jnp.asarray(z[0]), bad)))
    assert np.isnan(float(jax.jit(lossapi.focal)(jnp.asarray(z[0]), bad)))


def test_torch_func_grad_and_vmap():
    torch, F = _torch()
    z, y, w = _int_data(seed=26, ignore=-100)
    Z, Y, W = _t(z), _t(y), _t(w)
    t = _t(np.random.default_rng(0).integers(0, 2, size=z.shape).astype(np.float64))
    pairs = [
        (lambda a: lossapi.cross_entropy(a, Y, weight=W, ignore_index=-100, label_smoothing=0.2),
         lambda a: F.cross_entropy(a, Y, weight=W, ignore_index=-100, label_smoothing=0.2)),
        (lambda a: lossapi.focal(a, Y, gamma=0.0, ignore_index=-100),
         lambda a: F.cross_entropy(a, Y, ignore_index=-100)),
        (lambda a: lossapi.binary_focal(a, t, gamma=0.0), lambda a: F.binary_cross_entropy_with_logits(a, t)),
    ]
    for fn, ref in pairs:
        _close(torch.func.grad(fn)(Z).numpy(), torch.func.grad(ref)(Z).numpy(), 1e-12)
    zz = _t(np.stack([z, z[::-1]]))
    yy = _t(np.stack([y, y[::-1]]))
    got = torch.func.vmap(lambda a, b: lossapi.cross_entropy(a, b, ignore_index=-100))(zz, yy)
    want = torch.stack([F.cross_entropy(zz[i], yy[i]) for i in range(2)])
    _close(got.numpy(), want.numpy(), 1e-12)


def test_torch_compile_fullgraph():
    torch, F = _torch()
    z, y, _ = _int_data(seed=27, ignore=-100)
    Z, Y = _t(z), _t(y)
    for fn in (lambda a, b: lossapi.cross_entropy(a, b, ignore_index=-100, label_smoothing=0.1),
               lambda a, b: lossapi.focal(a, b, gamma=0.5, ignore_index=-100)):
        compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)
        _close(compiled(Z, Y).numpy(), fn(Z, Y).numpy(), 1e-12)


# --- labels and dtypes -----------------------------------------------------------------------


@pytest.mark.parametrize("label_dtype", ["int32", "uint8", "int16"])
def test_label_dtypes(xp, label_dtype):
    z, y, _ = _int_data(seed=28)
    want = xp.to_numpy(lossapi.cross_entropy(xp.asarray(z), xp.asarray(y)))
    yl = xp.asarray(y.astype(label_dtype))
    for fn in ("cross_entropy", "focal", "poly1", "multiclass_hinge"):
        out = getattr(lossapi, fn)(xp.asarray(z), yl)
        assert np.isfinite(xp.to_numpy(out))
    _close(xp.to_numpy(lossapi.cross_entropy(xp.asarray(z), yl)), want, 1e-12)


def test_one_dimensional_logits_single_sample(xp):
    z = np.array([1.0, 2.0, 0.5])
    got = lossapi.cross_entropy(xp.asarray(z), xp.asarray(np.array(1)), reduction="none")
    assert tuple(got.shape) == ()
    _close(xp.to_numpy(got), np.log(np.exp(z).sum()) - 2.0, 1e-12)


def test_guide_examples_corrected():
    """The reference guide prints 0.4067 (and 1.4067) for its CE example and
    0.0061 for its focal example; the definitions give these values."""
    z = np.array([[1.0, 2.0, 0.5], [0.2, 0.1, 1.5]])
    lse = np.log(np.exp(z).sum(axis=1))
    _close(lossapi.cross_entropy(z, np.array([1, 2])), np.mean(lse - [2.0, 1.5]), 1e-12)
    x, y = np.array([2.2, -2.2, 1.38]), np.array([1.0, 0.0, 1.0])
    p = 1 / (1 + np.exp(-x))
    pt = np.where(y == 1, p, 1 - p)
    _close(lossapi.binary_focal(x, y), np.mean(-(1 - pt) ** 2 * np.log(pt)), 1e-12)
    assert abs(float(lossapi.binary_focal(x, y)) - 0.0061) > 1e-3


def test_hinge_zero_one_targets_are_used_as_given():
    # A 0 target is not converted: max(0, 1 - 0 * s) = 1 whatever the score.
    s = np.array([5.0, -5.0])
    _close(lossapi.hinge(s, np.array([0.0, 0.0]), reduction="none"), [1.0, 1.0], 0)
    _close(lossapi.hinge(s, 2 * np.array([1.0, 0.0]) - 1, reduction="none"), [0.0, 0.0], 0)


# --- errors ------------------------------------------------------------------------------------

_EAGER = ("numpy", "array_api_strict", "torch")


@pytest.mark.parametrize("fn", ["cross_entropy", "nll", "focal", "poly1", "multiclass_hinge"])
@pytest.mark.parametrize("bad", [5, -1])
def test_out_of_range_labels(xp, fn, bad):
    z, y, _ = _int_data(seed=29, c=5)
    y[2] = bad
    f = getattr(lossapi, fn)
    Z, Y = xp.asarray(z), xp.asarray(y)
    if xp.name in _EAGER:
        with pytest.raises(ValueError, match=rf"{fn}: target contains class label {bad}, which is outside \[0, 5\)"):
            f(Z, Y)
    else:  # values cannot be read without computing (dask) or tracing (jax): NaN, never a wrong number
        per = xp.to_numpy(f(Z, Y, reduction="none"))
        assert np.isnan(per[2]) and np.all(np.isfinite(np.delete(per, 2)))


def test_out_of_range_with_ignore_index_message(xp):
    if xp.name not in _EAGER:
        pytest.skip("values are checked eagerly only on host backends")
    z, y, _ = _int_data(seed=30, c=5, ignore=-100)
    y[1] = 7
    with pytest.raises(ValueError, match="label 7, which is outside \\[0, 5\\) and is not ignore_index=-100"):
        lossapi.cross_entropy(xp.asarray(z), xp.asarray(y), ignore_index=-100)
    # -100 without ignore_index is out of range (torch ignores -100 by default; lossapi does not).
    y[1] = 0
    with pytest.raises(ValueError, match="label -100"):
        lossapi.cross_entropy(xp.asarray(z), xp.asarray(y))


def test_target_shape_and_dtype_errors(xp):
    z, y, _ = _int_data(seed=31, n=4, c=3)
    Z = xp.asarray(z)
    with pytest.raises(ValueError, match=r"cross_entropy: logits has shape \(4, 3\).*labels.*shape \(5,\)"):
        lossapi.cross_entropy(Z, xp.asarray(np.zeros(5, dtype=np.int64)))
    with pytest.raises(ValueError, match=r"probability targets must have the shape of logits"):
        lossapi.cross_entropy(Z, xp.asarray(np.full((4, 2), 0.5)))
    with pytest.raises(TypeError, match=r"cross_entropy: target of shape \(4,\) has dtype .*must be integers"):
        lossapi.cross_entropy(Z, xp.asarray(y.astype(np.float64)))
    with pytest.raises(TypeError, match="focal: target must hold integer class labels"):
        lossapi.focal(Z, xp.asarray(np.full((4, 3), 1 / 3)))
    with pytest.raises(TypeError, match="multiclass_hinge: target must hold integer class labels"):
        lossapi.multiclass_hinge(Z, xp.asarray(y > 0))
    with pytest.raises(ValueError, match="nll: axis 2 is out of range"):
        lossapi.nll(Z, xp.asarray(y), axis=2)
    with pytest.raises(ValueError, match="cross_entropy: ignore_index applies to integer class labels only"):
        lossapi.cross_entropy(Z, xp.asarray(np.full((4, 3), 1 / 3)), ignore_index=-100)
    with pytest.raises(TypeError, match="cross_entropy: logits must be a real floating-point array"):
        lossapi.cross_entropy(xp.asarray(y), xp.asarray(y))
    with pytest.raises(ValueError, match="cross_entropy: logits must have a class axis"):
        lossapi.cross_entropy(xp.asarray(np.float64(1.0)), xp.asarray(np.int64(0)))


def test_weight_errors(xp):
    z, y, _ = _int_data(seed=32, n=4, c=3)
    Z, Y = xp.asarray(z), xp.asarray(y)
    for fn, name in [(lossapi.cross_entropy, "weight"), (lossapi.nll, "weight"), (lossapi.poly1, "weight"),
                     (lossapi.focal, "alpha")]:
        with pytest.raises(ValueError, match=rf"{fn.__name__}: {name} must have shape \(3,\).*got shape \(4,\)"):
            fn(Z, Y, **{name: xp.asarray(np.ones(4))})
        with pytest.raises(ValueError, match=rf"{name} must have shape \(3,\).*got shape \(1, 3\)"):
            fn(Z, Y, **{name: xp.asarray(np.ones((1, 3)))})
        with pytest.raises(TypeError, match=rf"{fn.__name__}: {name} must be an array"):
            fn(Z, Y, **{name: [1.0, 1.0, 1.0]})
    p, t = xp.asarray(np.full((4, 3), 0.5)), xp.asarray(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: weight has shape \(4,\), which does not broadcast"):
        lossapi.binary_cross_entropy(p, t, weight=xp.asarray(np.ones(4)))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: pos_weight has shape \(2,\)"):
        lossapi.binary_cross_entropy_with_logits(p, t, pos_weight=xp.asarray(np.ones(2)))
    with pytest.raises(ValueError, match=r"weight has shape \(2, 4, 3\), which does not broadcast"):
        lossapi.binary_cross_entropy_with_logits(p, t, weight=xp.asarray(np.ones((2, 4, 3))))


def test_mixed_libraries_error():
    torch, _ = _torch()
    z, y, w = _int_data(seed=33)
    with pytest.raises(TypeError, match="cross_entropy: inputs come from different array libraries"):
        lossapi.cross_entropy(_t(z), _t(y), weight=w)


@pytest.mark.parametrize("call, match", [
    (lambda z, y: lossapi.focal(z, y, gamma=-1.0), "focal: gamma must be >= 0, got -1"),
    (lambda z, y: lossapi.binary_focal(z, z, gamma=-0.5), "binary_focal: gamma must be >= 0"),
    (lambda z, y: lossapi.binary_focal(z, z, alpha=1.5), "binary_focal: alpha must be <= 1"),
    (lambda z, y: lossapi.binary_focal(z, z, alpha=float("nan")), "binary_focal: alpha must not be NaN"),
    (lambda z, y: lossapi.multiclass_hinge(z, y, margin=-0.1), "multiclass_hinge: margin must be >= 0"),
    (lambda z, y: lossapi.multiclass_hinge(z, y, form="Crammer-Singer"), "multiclass_hinge: form must be one of"),
    (lambda z, y: lossapi.poly1(z, y, epsilon=-1.5), "poly1: epsilon must be >= -1"),
    (lambda z, y: lossapi.cross_entropy(z, y, label_smoothing=2.0), "cross_entropy: label_smoothing must be <= 1"),
    (lambda z, y: lossapi.cross_entropy(z, y, reduction="batchmean"), "cross_entropy: reduction must be one of"),
])
def test_bad_options_messages(xp, call, match):
    z, y, _ = _int_data(seed=34, n=3, c=4)
    with pytest.raises(ValueError, match=match):
        call(xp.asarray(z), xp.asarray(y))


def test_bad_option_types(xp):
    z, y, _ = _int_data(seed=35, n=3, c=4)
    Z, Y = xp.asarray(z), xp.asarray(y)
    with pytest.raises(TypeError, match="focal: alpha must be an array"):
        lossapi.focal(Z, Y, alpha=0.25)
    with pytest.raises(TypeError, match="binary_focal: gamma must be a real number"):
        lossapi.binary_focal(Z, Z, gamma="2")
    with pytest.raises(TypeError, match="cross_entropy: ignore_index must be an int or None"):
        lossapi.cross_entropy(Z, Y, ignore_index=True)
    with pytest.raises(TypeError, match="cross_entropy: axis must be an int"):
        lossapi.cross_entropy(Z, Y, axis=None)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_binary_focal_gradient_at_zero_logit(xp, gamma):
    """|x| has a kink at 0 inside the stable formula; the loss itself is
    smooth there, so the gradient equals a central difference of the
    torchvision-style definition."""
    _need_grad(xp)
    x = np.zeros(4)
    t = np.array([0.0, 1.0, 0.3, 0.5])

    def ref(xv):
        p = 1 / (1 + np.exp(-xv))
        ce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
        return ce * (1 - (p * t + (1 - p) * (1 - t))) ** gamma

    kind, want = fd_partial(ref, [x], 0)
    assert kind == "full"
    (g,) = xp.grad(lambda a, b: lossapi.binary_focal(a, b, gamma=gamma, reduction="sum"),
                   [xp.asarray(x), xp.asarray(t)], (0,))
    _close(g, want, 1e-8)
