"""Issue 14, section 4: optax's remaining losses and their companions.

``sparsemax_loss``, ``multiclass_sparsemax``, ``perceptron``,
``multiclass_perceptron`` and ``generalized_kl`` against optax 0.2.x (values
on every backend, gradients on jax), ``generalized_cross_entropy`` and
``asymmetric`` against their float64 references and the losses they reduce
to, and Keras's ``label_smoothing`` on the binary losses (torch kernel rows
included). Then ``where=``, ``jax.vmap`` and half precision for each new loss
(values, reductions, gradients, ``jax.jit`` and bad input run through the
checklist, tests/test_checklist.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

import lossapi
from conformance import reference as R
from harness import Backend, Harness


def _jax():
    pytest.importorskip("optax")
    return Harness(Backend.JAX)  # float64 on (jax_enable_x64)


def _close(got, want, tol=1e-10):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64),
                               rtol=tol, atol=tol)


# --- inputs -------------------------------------------------------------------------


def _binary01(rng):
    x = rng.uniform(-2.5, 2.5, size=(5, 4))
    x = np.where(np.abs(np.abs(x) - 1.0) < 0.05, x * 1.1, x)  # off sparse_plus's joins
    return x, rng.integers(0, 2, size=(5, 4))


def _signed(rng):
    s = rng.normal(size=(5, 4)) * 2
    return np.where(np.abs(s) < 0.05, s + 0.1, s), rng.choice([-1.0, 1.0], size=(5, 4))


def _scores(rng):
    # distinct scores: no ties between the label and the maximum
    return rng.normal(size=(6, 5)) * 0.8, rng.integers(0, 5, size=6)


def _measures(rng):
    return rng.uniform(0.1, 3.0, size=(4, 6)), rng.uniform(0.1, 3.0, size=(4, 6))


@dataclasses.dataclass
class OptaxPeer:
    """lossapi's ``loss(*args, reduction="none")`` equals ``peer(optax.losses,
    *jax_args)``; ``float_args``: the inputs cast to the dtype under test."""

    loss: str
    peer: Callable
    make: Callable
    float_args: tuple[int, ...] = (0,)


PEERS = [
    OptaxPeer("sparsemax_loss", lambda o, x, y: o.sparsemax_loss(x, y), _binary01),
    OptaxPeer("multiclass_sparsemax", lambda o, z, y: o.multiclass_sparsemax_loss(z, y), _scores),
    OptaxPeer("perceptron", lambda o, s, t: o.perceptron_loss(s, t), _signed, (0, 1)),
    OptaxPeer("multiclass_perceptron", lambda o, s, y: o.multiclass_perceptron_loss(s, y), _scores),
    # optax: prediction first, in log space; target second (generalized_kl(p, q): p the target)
    OptaxPeer("generalized_kl", lambda o, p, q: o.generalized_kl_divergence(o_log(q), p), _measures, (0, 1)),
]


def o_log(x):
    import jax.numpy as jnp

    return jnp.log(x)


_OPTAX_VALUES: dict[tuple, np.ndarray] = {}


def _optax_value(case, args, key=None):
    """optax's float64 values on NumPy ``args`` (cached under ``key``: one
    optax run per case and dtype, not per backend)."""
    if key is not None and key in _OPTAX_VALUES:
        return _OPTAX_VALUES[key]
    h = _jax()
    import optax.losses

    out = np.asarray(case.peer(optax.losses, *[h.asarray(a) for a in args]), dtype=np.float64)
    if key is not None:
        _OPTAX_VALUES[key] = out
    return out


def _as(xp, args, case, dtype):
    return [xp.asarray(a, dtype) if i in case.float_args else xp.asarray(a) for i, a in enumerate(args)]


@pytest.mark.parametrize("case", PEERS, ids=[c.loss for c in PEERS])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_equal_optax(case, xp, dtype):
    args = case.make(np.random.default_rng(0))
    fn = getattr(lossapi, case.loss)
    tol = 1e-12 if dtype == "float64" else 2e-6
    rounded = [a.astype(dtype).astype(np.float64) if i in case.float_args else a for i, a in enumerate(args)]
    want = _optax_value(case, rounded, (case.loss, dtype))
    got = xp.to_numpy(fn(*_as(xp, args, case, dtype), reduction="none"))
    _close(got, want, tol)
    _close(xp.to_numpy(fn(*_as(xp, args, case, dtype))), want.mean(), tol)
    _close(xp.to_numpy(fn(*_as(xp, args, case, dtype), reduction="sum")), want.sum(), tol * want.size)


@pytest.mark.parametrize("case", PEERS, ids=[c.loss for c in PEERS])
def test_gradients_equal_optax(case):
    h = _jax()
    import jax
    import optax.losses

    args = [h.asarray(a) for a in case.make(np.random.default_rng(1))]
    fn = getattr(lossapi, case.loss)
    argnums = case.float_args
    ours = jax.grad(lambda *a: fn(*a, reduction="sum"), argnums=argnums)(*args)
    theirs = jax.grad(lambda *a: case.peer(optax.losses, *a).sum(), argnums=argnums)(*args)
    for g, w in zip(ours, theirs):
        _close(g, w, 1e-12)


# --- sparsemax: ties, support, saturation ------------------------------------------------


_TIES = np.array([[1.0, 1.0, 0.0, -1.0],     # two tied leaders
                  [2.0, 2.0, 2.0, 2.0],      # all tied: uniform
                  [0.5, 0.5, 3.0, 0.5],      # ties outside the support
                  [0.25, 0.25, 0.0, -3.0]])  # ties at the top, a third in the support
_TIE_LABELS = np.array([0, 3, 1, 2])


def test_multiclass_sparsemax_ties_match_optax_and_reference(xp):
    want = _optax_value(PEERS[1], [_TIES, _TIE_LABELS], "ties")
    _close(want, R.multiclass_sparsemax(_TIES, _TIE_LABELS, reduction="none"), 1e-12)
    got = lossapi.multiclass_sparsemax(xp.asarray(_TIES, "float64"), xp.asarray(_TIE_LABELS), reduction="none")
    _close(xp.to_numpy(got), want, 1e-12)


def test_multiclass_sparsemax_gradient_is_sparsemax_minus_onehot(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    rng = np.random.default_rng(3)
    z = np.concatenate([_TIES, rng.normal(size=(4, 4)) * 2])
    y = np.concatenate([_TIE_LABELS, rng.integers(0, 4, size=4)])
    (g,) = xp.grad(lambda a: lossapi.multiclass_sparsemax(a, xp.asarray(y), reduction="sum"),
                   [xp.asarray(z, "float64")], (0,))
    want = np.stack([R._sparsemax(row) for row in z]) - np.eye(4)[y]
    _close(g, want, 1e-12)


def test_sparsemax_support_gives_zero_loss_and_gradient(xp):
    # The label leads by >= 1: sparsemax is one-hot on it, loss and gradient 0.
    z = np.array([[3.0, 2.0, -1.0], [0.0, 5.0, 4.0], [1e4, -1e4, 0.0]])
    y = np.array([0, 1, 0])
    out = lossapi.multiclass_sparsemax(xp.asarray(z, "float32"), xp.asarray(y), reduction="none")
    assert np.all(xp.to_numpy(out) == 0.0)
    # Binary: margin past 1 gives exactly 0.
    x = np.array([1.0, 7.0, -1.0, -3.0])
    t = np.array([1.0, 1.0, 0.0, 0.0])
    assert np.all(xp.to_numpy(lossapi.sparsemax_loss(xp.asarray(x, "float32"), xp.asarray(t, "float32"),
                                                     reduction="none")) == 0.0)


@pytest.mark.parametrize("loss", ["multiclass_sparsemax", "multiclass_perceptron", "generalized_cross_entropy"])
def test_multiclass_extreme_logits_stay_finite(xp, loss):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3e4], [0.0, 0.0, 0.0]])
    y = np.array([1, 0, 2])
    fn = getattr(lossapi, loss)
    want = getattr(R, loss)(z, y, reduction="none")
    got = xp.to_numpy(fn(xp.asarray(z, "float32"), xp.asarray(y), reduction="none"))
    assert np.all(np.isfinite(got))
    _close(got, want, 1e-6 * 3e4 if loss != "generalized_cross_entropy" else 1e-6)
    if xp.has_grad:
        (g,) = xp.grad(lambda a: fn(a, xp.asarray(y), reduction="sum"), [xp.asarray(z, "float32")], (0,))
        assert np.all(np.isfinite(g))


@pytest.mark.parametrize("loss", ["sparsemax_loss", "perceptron", "binary_cross_entropy_with_logits",
                                  "binary_focal"])
def test_binary_extreme_logits_stay_finite(xp, loss):
    x = np.array([1e4, -1e4, 1e4, -1e4, 0.0])
    t = np.array([1.0, 1.0, 0.0, 0.0, 1.0]) if loss != "perceptron" else np.array([1.0, 1.0, -1.0, -1.0, 1.0])
    kw = {} if loss in ("sparsemax_loss", "perceptron") else {"label_smoothing": 0.1}
    fn = getattr(lossapi, loss)
    got = xp.to_numpy(fn(xp.asarray(x, "float32"), xp.asarray(t, "float32"), reduction="none", **kw))
    with np.errstate(over="ignore"):  # the reference's exp(1e4)
        want = getattr(R, loss)(x, t, reduction="none", **kw)
    _close(got, want, 1e-6 * 1e4)
    if xp.has_grad:
        (g,) = xp.grad(lambda a: fn(a, xp.asarray(t, "float32"), reduction="sum", **kw),
                       [xp.asarray(x, "float32")], (0,))
        assert np.all(np.isfinite(g))


# --- generalized cross-entropy ------------------------------------------------------


def test_gce_small_q_is_cross_entropy(xp):
    rng = np.random.default_rng(4)
    z, y = rng.normal(size=(6, 5)) * 3, rng.integers(0, 5, size=6)
    zz, yy = xp.asarray(z, "float64"), xp.asarray(y)
    ce = xp.to_numpy(lossapi.cross_entropy(zz, yy, reduction="none"))
    gce = xp.to_numpy(lossapi.generalized_cross_entropy(zz, yy, q=1e-9, reduction="none"))
    _close(gce, ce, 1e-8 * max(1.0, float(np.max(ce))))
    _close(ce, R.cross_entropy(z, y, reduction="none"), 1e-12)
    # q = 1: the mean absolute error of the probabilities, 1 - p_y
    mae = xp.to_numpy(lossapi.generalized_cross_entropy(zz, yy, q=1.0, reduction="none"))
    _close(mae, 1.0 - np.exp(-ce), 1e-12)


def test_gce_small_q_no_cancellation():
    # 1 - p**q for q = 1e-12 in float32 would round to 0; expm1 keeps -log p_y.
    z, y = np.array([[0.0, 0.0]], np.float32), np.array([0])
    got = float(lossapi.generalized_cross_entropy(z, y, q=1e-12))
    _close(got, np.log(2.0), 1e-6)


# --- asymmetric loss -------------------------------------------------------------------


def _ml(seed=5, shape=(6, 5)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * 2, rng.integers(0, 2, size=shape).astype(np.float64)


def test_asymmetric_without_clip_and_gamma_is_bce_summed(xp):
    x, t = _ml()
    xx, tt = xp.asarray(x, "float64"), xp.asarray(t, "float64")
    got = xp.to_numpy(lossapi.asymmetric(xx, tt, gamma_neg=0.0, gamma_pos=0.0, clip=0.0, reduction="none"))
    bce = xp.to_numpy(lossapi.binary_cross_entropy_with_logits(xx, tt, reduction="none")).sum(-1)
    _close(got, bce, 1e-12)
    for g in (1.0, 2.0, 0.5):
        got = xp.to_numpy(lossapi.asymmetric(xx, tt, gamma_neg=g, gamma_pos=g, clip=0.0, reduction="none"))
        focal = xp.to_numpy(lossapi.binary_focal(xx, tt, gamma=g, reduction="none")).sum(-1)
        _close(got, focal, 1e-12)


def test_asymmetric_clip_drops_easy_negatives(xp):
    # Negatives with p = sigmoid(x) <= clip: loss 0 and gradient 0; positives unaffected by clip.
    clip = 0.1
    x = np.array([[-3.0, -2.5, -2.0, 0.5, 1.0]])  # sigmoid: 0.047, 0.076, 0.119, 0.62, 0.73
    t = np.array([[0.0, 0.0, 0.0, 0.0, 1.0]])
    xx, tt = xp.asarray(x, "float64"), xp.asarray(t, "float64")
    per = [float(xp.to_numpy(lossapi.asymmetric(xp.asarray(x[:, i:i + 1], "float64"),
                                                xp.asarray(t[:, i:i + 1], "float64"), clip=clip, reduction="sum")))
           for i in range(5)]
    assert per[0] == 0.0 and per[1] == 0.0 and per[2] > 0.0
    p = 1.0 / (1.0 + np.exp(-x[0]))
    pm = np.maximum(p - clip, 0.0)
    _close(per[:4], pm[:4] ** 4 * -np.log1p(-pm[:4]), 1e-12)
    _close(per[4], (1.0 - p[4]) * np.log1p(np.exp(-x[0, 4])), 1e-12)
    if xp.has_grad:
        (g,) = xp.grad(lambda a: lossapi.asymmetric(a, tt, clip=clip, reduction="sum"), [xx], (0,))
        assert g[0, 0] == 0.0 and g[0, 1] == 0.0 and g[0, 2] > 0.0
        (gd,) = xp.grad(lambda a: lossapi.asymmetric(a, tt, clip=clip, detach_weights=True, reduction="sum"),
                        [xx], (0,))
        # weights constant: d/dx of w- * -log1p(-(p - clip)) is w- p (1 - p) / (1 - p + clip),
        # of w+ * softplus(-x) is w+ (p - 1)
        want = np.where(t[0] == 1, (1.0 - p) * (p - 1.0), pm ** 4 * p * (1.0 - p) / (1.0 - pm))
        _close(gd[0], want, 1e-12)


def test_asymmetric_extreme_logits_stay_finite(xp):
    x = np.array([[1e4, -1e4, 1e4, -1e4]])
    t = np.array([[1.0, 1.0, 0.0, 0.0]])
    for kw in ({}, {"clip": 0.0}, {"gamma_neg": 2.5, "gamma_pos": 0.5}):
        out = lossapi.asymmetric(xp.asarray(x, "float32"), xp.asarray(t, "float32"), reduction="none", **kw)
        _close(xp.to_numpy(out), R.asymmetric(x, t, reduction="none", **kw), 1e-6 * 1e4)
        if xp.has_grad:
            (g,) = xp.grad(lambda a, kw=kw: lossapi.asymmetric(a, xp.asarray(t, "float32"), reduction="sum", **kw),
                           [xp.asarray(x, "float32")], (0,))
            assert np.all(np.isfinite(g))


# --- label smoothing (Keras) ---------------------------------------------------------------


SMOOTHED = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "binary_focal"]


def _binary_inputs(loss, seed=6):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.05, 0.95, size=(4, 5)) if loss == "binary_cross_entropy" else rng.normal(size=(4, 5)) * 2
    return x, rng.integers(0, 2, size=(4, 5)).astype(np.float64)


@pytest.mark.parametrize("loss", SMOOTHED)
def test_label_smoothing_is_keras_target(xp, loss):
    x, t = _binary_inputs(loss)
    ls = 0.2
    fn = getattr(lossapi, loss)
    xx = xp.asarray(x, "float64")
    got = xp.to_numpy(fn(xx, xp.asarray(t, "float64"), label_smoothing=ls, reduction="none"))
    manual = xp.to_numpy(fn(xx, xp.asarray(t * (1 - ls) + 0.5 * ls, "float64"), reduction="none"))
    _close(got, manual, 1e-12)
    _close(got, getattr(R, loss)(x, t, label_smoothing=ls, reduction="none"), 1e-12)
    assert not np.allclose(got, xp.to_numpy(fn(xx, xp.asarray(t, "float64"), reduction="none")))


@pytest.mark.parametrize("loss", SMOOTHED)
def test_label_smoothing_as_0d_array(xp, loss):
    x, t = _binary_inputs(loss)
    fn = getattr(lossapi, loss)
    args = (xp.asarray(x, "float64"), xp.asarray(t, "float64"))
    got = fn(*args, label_smoothing=xp.asarray(np.float64(0.3), "float64"))
    _close(xp.to_numpy(got), xp.to_numpy(fn(*args, label_smoothing=0.3)), 1e-12)


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_torch_kernel_rows_apply_label_smoothing(loss, monkeypatch):
    torch = pytest.importorskip("torch")
    from lossapi.backends import resolve

    ops = resolve("probe", torch.zeros(2))
    assert loss in ops.kernels
    calls = []
    row = ops.kernels[loss]
    monkeypatch.setitem(ops.kernels, loss, dataclasses.replace(row, fn=lambda *a, **k: calls.append(1) or row.fn(*a, **k)))
    x, t = _binary_inputs(loss)
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t, requires_grad=True)
    fn = getattr(lossapi, loss)
    for _ in range(2):  # the second call may replay a call plan
        out = fn(xt, tt, label_smoothing=0.25, reduction="sum")
        _close(out.detach().numpy(), getattr(R, loss)(x, t, label_smoothing=0.25, reduction="sum"), 1e-12)
    assert calls, "the torch kernel did not run"
    gx, gt = torch.autograd.grad(out, (xt, tt))
    with monkeypatch.context() as m:
        m.setattr(ops, "kernels", {})
        generic = fn(xt, tt, label_smoothing=0.25, reduction="sum")
        hx, ht = torch.autograd.grad(generic, (xt, tt))
    _close(gx.numpy(), hx.numpy(), 1e-12)
    _close(gt.numpy(), ht.numpy(), 1e-12)


# --- where=, vmap, half precision for every new loss ---------------------------------------


def _elementwise_inputs(loss, rng):
    if loss == "perceptron":
        return _signed(rng)
    x, t = _binary01(rng)
    return x, t.astype(np.float64)


NEW_ELEMENTWISE = ["sparsemax_loss", "perceptron"]
NEW_MULTICLASS = ["multiclass_sparsemax", "multiclass_perceptron", "generalized_cross_entropy"]


@pytest.mark.parametrize("loss", NEW_ELEMENTWISE)
def test_where_elementwise(xp, loss):
    rng = np.random.default_rng(7)
    x, t = _elementwise_inputs(loss, rng)
    mask = rng.uniform(size=x.shape) > 0.3
    fn = getattr(lossapi, loss)
    full = getattr(R, loss)(x, t, reduction="none")
    got = fn(xp.asarray(x, "float64"), xp.asarray(t, "float64"), where=xp.asarray(mask))
    _close(xp.to_numpy(got), full[mask].mean(), 1e-12)
    got = fn(xp.asarray(x, "float64"), xp.asarray(t, "float64"), where=xp.asarray(mask), reduction="sum")
    _close(xp.to_numpy(got), full[mask].sum(), 1e-12)


@pytest.mark.parametrize("loss", NEW_MULTICLASS)
def test_where_per_sample_and_per_class(xp, loss):
    rng = np.random.default_rng(8)
    z, y = _scores(rng)
    fn = getattr(lossapi, loss)
    ref = getattr(R, loss)
    zz, yy = xp.asarray(z, "float64"), xp.asarray(y)
    keep = np.array([True, False, True, True, False, True])
    got = fn(zz, yy, where=xp.asarray(keep))
    _close(xp.to_numpy(got), ref(z[keep], y[keep]), 1e-12)
    # Per class: a masked class leaves the sample (it is no competitor, it
    # leaves the softmax / projection); a sample whose label is masked is dropped.
    cls = np.ones(z.shape, bool)
    cls[:, 4] = False
    cls[0, 2] = False
    got = xp.to_numpy(fn(zz, yy, where=xp.asarray(cls), reduction="none"))
    for i in range(len(y)):
        if not cls[i, y[i]]:
            assert got[i] == 0.0
            continue
        kept = np.flatnonzero(cls[i])
        _close(got[i], ref(z[i:i + 1, kept], np.array([int(np.flatnonzero(kept == y[i])[0])]), reduction="none")[0],
               1e-12)


def test_where_asymmetric_and_generalized_kl(xp):
    rng = np.random.default_rng(9)
    x, t = _ml(9)
    mask = rng.uniform(size=x.shape) > 0.3
    mask[:, 0] = True
    p = 1.0 / (1.0 + np.exp(-x))
    pm = np.maximum(p - 0.05, 0.0)
    elem = t * (1.0 - p) * -np.log(p) + (1.0 - t) * pm ** 4 * -np.log1p(-pm)
    got = lossapi.asymmetric(xp.asarray(x, "float64"), xp.asarray(t, "float64"), where=xp.asarray(mask),
                             reduction="none")
    _close(xp.to_numpy(got), np.where(mask, elem, 0.0).sum(-1), 1e-12)
    p_, q_ = _measures(rng)
    m = rng.uniform(size=p_.shape) > 0.4
    got = lossapi.generalized_kl(xp.asarray(p_, "float64"), xp.asarray(q_, "float64"), where=xp.asarray(m),
                                 reduction="none")
    want = np.where(m, p_ * np.log(p_ / q_) - p_ + q_, 0.0).sum(-1)
    _close(xp.to_numpy(got), want, 1e-12)


_VMAP = {
    "sparsemax_loss": lambda rng: _binary01(rng),
    "perceptron": _signed,
    "multiclass_sparsemax": _scores,
    "multiclass_perceptron": _scores,
    "generalized_cross_entropy": _scores,
    "asymmetric": lambda rng: _ml(10),
    "generalized_kl": _measures,
}


@pytest.mark.parametrize("loss", list(_VMAP))
def test_jax_vmap_and_jit(loss):
    h = _jax()
    import jax

    rng = np.random.default_rng(11)
    a, b = _VMAP[loss](rng)
    a3, b3 = np.stack([a, a * 0.5, -a]), np.stack([b, b, b])
    fn = getattr(lossapi, loss)
    ja, jb = h.asarray(a3), h.asarray(b3)
    out = jax.jit(jax.vmap(lambda u, v: fn(u, v)))(ja, jb)
    want = [fn(h.asarray(a3[i]), jb[i]) for i in range(3)]
    _close(np.asarray(out), np.asarray(want), 1e-12)


_HALF = {
    "sparsemax_loss": _binary01, "perceptron": _signed, "multiclass_sparsemax": _scores,
    "multiclass_perceptron": _scores, "generalized_cross_entropy": _scores, "asymmetric": lambda rng: _ml(12),
    "generalized_kl": _measures,
}


@pytest.mark.parametrize("loss", list(_HALF))
def test_half_precision_is_float32_math(xp, loss):
    halves = xp.half_dtypes()
    if not halves:
        pytest.skip(f"{xp.name} has no half-precision dtype")
    a, b = _HALF[loss](np.random.default_rng(13))
    fn = getattr(lossapi, loss)
    floats_b = b.dtype.kind == "f" or loss == "sparsemax_loss"
    for dtype in halves:
        ah = xp.asarray(a, dtype)
        bh = xp.asarray(b.astype(np.float64), dtype) if floats_b else xp.asarray(b)
        out = fn(ah, bh, reduction="none")
        assert out.dtype == xp.dtype(dtype)
        # float32 math on the rounded inputs, then one rounding of each result
        a32 = xp.to_numpy(ah).astype(np.float64)
        b32 = xp.to_numpy(bh).astype(np.float64) if floats_b else b
        want = getattr(R, loss)(a32, b32, reduction="none")
        tol = 2e-2 if dtype == "bfloat16" else 2e-3
        np.testing.assert_allclose(xp.to_numpy(out).astype(np.float64), want, rtol=tol,
                                   atol=tol * max(1.0, float(np.max(np.abs(want)))))
