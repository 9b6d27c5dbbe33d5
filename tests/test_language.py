"""linear_cross_entropy beyond the common checklist (tests/cases_language.py):
value and gradients (hidden, weight, bias) for every reduction with an
uneven upstream gradient for "none" (Liger#968), ignored tokens in the mean,
``where=``, z-loss / softcap / label smoothing inside vocabulary chunks of
every size, many token blocks (a tiny tile budget) on the fused, the
recomputing and the forward-only paths, no ``[N, V]`` intermediate (matmul
products; torch: every ATen op; JAX: every jaxpr value), 0-d array options
with gradients, jax.jit / grad / vmap, torch.compile / torch.func, half
precision, torch autograd semantics (retain_graph, upstream scalars,
accumulation), extreme logits, errors, ``[B, T, H]`` tokens and the
backends without autodiff.

Expected values come from the naive composition written here in float64:
the full logits ``hidden @ weight.T + bias`` through a cross-entropy written
out from the formula (:func:`_ce`, log-softmax by hand), on NumPy for values
and in the backend's own framework for gradients (torch autograd, jax.grad);
and from the peers ``F.cross_entropy`` and optax's
``softmax_cross_entropy_with_integer_labels`` of the composed logits.
"""

from __future__ import annotations

import math

import array_api_compat
import numpy as np
import pytest

import lossapi
from lossapi import language
from lossapi.backends import resolve

REDUCTIONS = ("mean", "sum", "none")
TOL = 1e-10  # float64: round-off of a different summation order


# --- the reference: the naive composition ----------------------------------------------------


def _ce(z, y, *, ignore_index=None, label_smoothing=0.0, z_loss=0.0, softcap=None, where=None, reduction="mean"):
    """Cross-entropy of the full logits ``z [..., V]`` from the formula, in
    ``z``'s own namespace (NumPy for values; torch / jax arrays for their
    autodiff): per token ``lse - (1 - eps) z[y] - eps mean(z) + z_loss
    lse**2`` of the capped logits, 0 where ignored or masked; "mean" over the
    counted tokens (0/0 = NaN as torch, except with ``where``: 0)."""
    xp = array_api_compat.array_namespace(z)
    if softcap is not None:
        z = softcap * xp.tanh(z / softcap)
    m = xp.max(z, axis=-1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(z - m), axis=-1)) + m[..., 0]
    hit = xp.arange(z.shape[-1]) == y[..., None]
    zy = xp.sum(xp.where(hit, z, xp.zeros_like(z)), axis=-1)
    per = lse - (1.0 - label_smoothing) * zy - label_smoothing * xp.mean(z, axis=-1) + z_loss * lse * lse
    keep = xp.ones_like(y, dtype=xp.bool)
    if ignore_index is not None:
        keep = keep & (y != ignore_index)
    if where is not None:
        keep = keep & where
    per = xp.where(keep, per, xp.zeros_like(per))
    if reduction == "none":
        return per
    total = xp.sum(per)
    if reduction == "sum":
        return total
    count = xp.sum(xp.astype(keep, per.dtype))
    if where is not None:
        count = xp.maximum(count, xp.ones_like(count))
    return total / count


def _naive(h, w, y, b=None, **opts):
    z = h @ w.T
    return _ce(z if b is None else z + b, y, **opts)


def _inputs(seed=0, n=10, h=6, v=13, *, ignore=None, scale=1.0):
    """``hidden [n, h]``, ``weight [v, h]``, ``bias [v]``, ``labels [n]``
    (two of them ``ignore`` when given): logits of a few units."""
    rng = np.random.default_rng(seed)
    hid = rng.normal(size=(n, h)) * scale
    w = rng.normal(size=(v, h)) * 0.6
    b = rng.normal(size=(v,)) * 0.5
    y = rng.integers(0, v, size=n)
    if ignore is not None:
        y[[1, n // 2]] = ignore
    return hid, w, b, y


def _weights(n, reduction, seed=1):
    """A non-uniform upstream gradient for "none" (Liger#968), else None."""
    return np.random.default_rng(seed).uniform(0.2, 3.0, size=n) if reduction == "none" else None


def _value_grads(xp, fn, arrays, argnums, weights=None):
    """``fn(*arrays)`` as NumPy and, on autodiff backends, the gradients (NumPy)
    of ``fn`` (a scalar) or of ``sum(fn * weights)`` w.r.t. ``arrays[i]``
    for ``i`` in ``argnums`` (jax: jit-compiled); None without autodiff."""
    if not xp.has_grad or not argnums:
        return xp.to_numpy(xp.run(fn, arrays)), None
    u = None if weights is None else xp.asarray(weights)

    def scalar(*a):
        out = fn(*a)
        return (out if u is None else xp.sum(out * u)), out

    out, grads = xp.value_and_grad(scalar, arrays, argnums)
    return xp.to_numpy(out), grads


def _compare(xp, ours, ref, args, argnums, *, weights=None, tol=TOL):
    """``ours`` against ``ref`` (the naive composition) on the backend's
    copies of the NumPy ``args``: the value against ``ref`` on the float64
    NumPy arrays, the gradients against the backend's autodiff through
    ``ref``. Returns our value and gradients."""
    arrays = [xp.asarray(a) for a in args]
    got, grads = _value_grads(xp, ours, arrays, argnums, weights)
    np.testing.assert_allclose(got, ref(*args), rtol=tol, atol=tol, err_msg="value")
    if grads is not None:
        _, want = _value_grads(xp, ref, arrays, argnums, weights)
        for i, g, gw in zip(argnums, grads, want):
            np.testing.assert_allclose(g, gw, rtol=tol, atol=tol, err_msg=f"gradient of argument {i}")
    return got, grads


def _lce(**opts):
    """linear_cross_entropy taking ``(hidden, weight, labels, bias, where)``
    positionally (None: absent)."""
    def call(h, w, y, b=None, where=None):
        return lossapi.linear_cross_entropy(h, w, y, bias=b, where=where, **opts)
    return call


def _ref(**opts):
    opts.pop("chunk_size", None)

    def call(h, w, y, b=None, where=None):
        return _naive(h, w, y, b, where=where, **opts)
    return call


def _need_grad(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")


def _only(xp, name):
    if xp.name != name:
        pytest.skip(f"{name} only")


# --- 1. values and gradients for every reduction -------------------------------------------


@pytest.mark.parametrize("reduction, bias", [("mean", True), ("sum", True), ("none", True), ("mean", False),
                                             ("none", False)])
def test_value_and_gradients_match_naive(xp, reduction, bias):
    h, w, b, y = _inputs(ignore=-100)
    opts = dict(ignore_index=-100, label_smoothing=0.1, chunk_size=4, reduction=reduction)
    args, argnums = ((h, w, y, b), (0, 1, 3)) if bias else ((h, w, y), (0, 1))
    _compare(xp, _lce(**opts), _ref(**opts), args, argnums, weights=_weights(len(y), reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_peer(xp, reduction):
    """F.cross_entropy of the composed logits (torch's ignore_index and
    label_smoothing), values and every gradient; "none" differentiated with
    an uneven upstream gradient (the Liger#968 case)."""
    _only(xp, "torch")
    import torch
    import torch.nn.functional as F

    h, w, b, y = _inputs(n=12, ignore=-100)
    yt = torch.from_numpy(y)
    u = _weights(len(y), reduction)

    def run(fn):
        leaves = [torch.tensor(a, requires_grad=True) for a in (h, w, b)]
        out = fn(*leaves)
        out.backward(None if u is None else torch.from_numpy(u))
        return out.detach().numpy(), [t.grad.numpy() for t in leaves]

    for eps in (0.0, 0.2):
        got, g = run(lambda h, w, b, eps=eps: lossapi.linear_cross_entropy(
            h, w, yt, bias=b, ignore_index=-100, label_smoothing=eps, chunk_size=5, reduction=reduction))
        want, gw = run(lambda h, w, b, eps=eps: F.cross_entropy(h @ w.T + b, yt, ignore_index=-100,
                                                                label_smoothing=eps, reduction=reduction))
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)
        for name, a, c in zip(("hidden", "weight", "bias"), g, gw):
            np.testing.assert_allclose(a, c, rtol=TOL, atol=TOL, err_msg=name)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_optax_peer(xp, reduction):
    """optax.softmax_cross_entropy_with_integer_labels of the composed logits
    (ignored tokens masked out, the mean over the counted ones), values and
    jax.grad, under jit."""
    _only(xp, "jax")
    optax = pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp

    h, w, b, y = _inputs(n=12, ignore=-100)
    keep = jnp.asarray(y != -100)
    safe = jnp.asarray(np.where(y == -100, 0, y))
    u = jnp.asarray(_weights(len(y), reduction)) if reduction == "none" else None

    def peer(h, w, b):
        per = jnp.where(keep, optax.softmax_cross_entropy_with_integer_labels(h @ w.T + b, safe), 0.0)
        return {"none": per, "sum": per.sum(), "mean": per.sum() / keep.sum()}[reduction]

    def ours(h, w, b):
        return lossapi.linear_cross_entropy(h, w, jnp.asarray(y), bias=b, ignore_index=-100, chunk_size=3,
                                            reduction=reduction)

    def grads(fn):
        return jax.jit(jax.value_and_grad(lambda *a: ((fn(*a) if u is None else (fn(*a) * u).sum()), fn(*a)),
                                          argnums=(0, 1, 2), has_aux=True))(*map(jnp.asarray, (h, w, b)))

    (_, got), g = grads(ours)
    (_, want), gw = grads(peer)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=TOL, atol=TOL)
    for name, a, c in zip(("hidden", "weight", "bias"), g, gw):
        np.testing.assert_allclose(np.asarray(a), np.asarray(c), rtol=TOL, atol=TOL, err_msg=name)


def test_ignored_tokens_leave_the_mean(xp):
    """With ignore_index: "mean" is the naive loss over the counted tokens
    alone (the denominator counts them), the ignored tokens' losses and
    hidden-state gradients are 0, the weight's gradient is the subset's."""
    h, w, b, y = _inputs(n=12, ignore=-100)
    kept = y != -100
    assert 0 < kept.sum() < len(y)
    arrays = [xp.asarray(a) for a in (h, w, y, b)]
    for reduction in REDUCTIONS:
        got, g = _value_grads(xp, _lce(ignore_index=-100, chunk_size=4, reduction=reduction), arrays, (0, 1, 3),
                              _weights(len(y), reduction))
        want = _naive(h[kept], w, y[kept], b, reduction=reduction)
        if reduction == "none":
            np.testing.assert_array_equal(got[~kept], 0.0)
            got = got[kept]
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL, err_msg=reduction)
        if g is None:
            continue
        sub = [xp.asarray(a) for a in (h[kept], w, y[kept], b)]
        u = _weights(len(y), reduction)
        _, gw = _value_grads(xp, _ref(reduction=reduction), sub, (0, 1, 3), None if u is None else u[kept])
        np.testing.assert_array_equal(g[0][~kept], 0.0)
        np.testing.assert_allclose(g[0][kept], gw[0], rtol=TOL, atol=TOL, err_msg=f"{reduction}: hidden")
        np.testing.assert_allclose(g[1], gw[1], rtol=TOL, atol=TOL, err_msg=f"{reduction}: weight")
        np.testing.assert_allclose(g[2], gw[2], rtol=TOL, atol=TOL, err_msg=f"{reduction}: bias")


def test_all_ignored(xp):
    """Every token ignored: "mean" is NaN (0/0, as F.cross_entropy), "sum"
    0, "none" zeros; the gradients are 0 (torch's too)."""
    h, w, b, _ = _inputs()
    y = np.full(len(h), -100)
    arrays = [xp.asarray(a) for a in (h, w, y, b)]
    for reduction in REDUCTIONS:
        with np.errstate(invalid="ignore"):  # NumPy's 0/0 warns, as cross_entropy's
            got, g = _value_grads(xp, _lce(ignore_index=-100, chunk_size=5, reduction=reduction), arrays,
                                  (0, 1, 3), _weights(len(y), reduction))
            want = _naive(h, w, y, b, ignore_index=-100, reduction=reduction)
        np.testing.assert_array_equal(got, want)
        assert np.isnan(got) if reduction == "mean" else np.all(got == 0.0)
        for gi in g or ():
            np.testing.assert_array_equal(gi, 0.0)
    if xp.name == "torch":  # the peer's convention
        import torch
        import torch.nn.functional as F

        assert torch.isnan(F.cross_entropy(torch.from_numpy(h @ w.T), torch.from_numpy(y)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_where_drops_tokens(xp, reduction):
    """where= drops tokens like ignore_index (both together here): the
    reference with the mask; the mean over the tokens both keep."""
    h, w, b, y = _inputs(n=12, ignore=-100)
    mask = np.array([True, True, False, True, False, True, False, True, True, True, False, True])
    assert np.any(mask & (y == -100)) and np.any(~mask & (y != -100))
    opts = dict(ignore_index=-100, chunk_size=5, reduction=reduction)
    _compare(xp, _lce(**opts), _ref(**opts), (h, w, y, b, mask), (0, 1, 3), weights=_weights(len(y), reduction))


def test_where_all_masked_is_zero(xp):
    h, w, b, y = _inputs()
    mask = np.zeros(len(y), dtype=bool)
    arrays = [xp.asarray(a) for a in (h, w, y, b, mask)]
    for reduction in REDUCTIONS:
        got, g = _value_grads(xp, _lce(chunk_size=4, reduction=reduction), arrays, (0, 1, 3),
                              _weights(len(y), reduction))
        np.testing.assert_array_equal(got, _naive(h, w, y, b, where=mask, reduction=reduction))
        assert np.all(got == 0.0)
        for gi in g or ():
            np.testing.assert_array_equal(gi, 0.0)


# --- 2. z-loss, softcap and label smoothing inside vocabulary chunks ------------------------


# V = 13: chunks of 1, 3, V-1, V, V+5, on the fused ("mean") and the recomputing ("none") paths
@pytest.mark.parametrize("chunk, reduction", [(1, "mean"), (1, "none"), (3, "mean"), (12, "none"), (13, "mean"),
                                              (18, "none")])
def test_chunk_size_changes_nothing(xp, chunk, reduction):
    """z-loss, softcap and label smoothing applied per chunk give the naive
    composition's value and gradients for every chunk size."""
    h, w, b, y = _inputs(ignore=-100, scale=1.5)
    opts = dict(ignore_index=-100, label_smoothing=0.1, z_loss=0.02, softcap=2.5, chunk_size=chunk,
                reduction=reduction)
    _compare(xp, _lce(**opts), _ref(**opts), (h, w, y, b), (0, 1, 3), weights=_weights(len(y), reduction))


def test_z_loss_and_softcap_formulas(xp):
    """Written out: softcap ``c * tanh(z / c)`` comes before everything; the
    z-loss adds ``z_loss * lse**2`` of the capped logits averaged over the
    counted tokens (ignored ones out); with label smoothing."""
    h, w, b, y = _inputs(n=12, ignore=-100, scale=1.5)
    c, zl, eps = 2.0, 0.05, 0.1
    capped = c * np.tanh((h @ w.T + b) / c)
    lse = np.log(np.exp(capped).sum(axis=-1))
    counted = y != -100
    base = _ce(capped, y, ignore_index=-100, label_smoothing=eps, reduction="none")
    args = [xp.asarray(a) for a in (h, w, y, b)]
    calls = {"none": ("none", zl), "mean": ("mean", zl), "no_z": ("mean", 0.0)}
    got = {k: xp.to_numpy(xp.run(_lce(ignore_index=-100, label_smoothing=eps, softcap=c, chunk_size=3,
                                      reduction=r, z_loss=z), args)) for k, (r, z) in calls.items()}
    np.testing.assert_allclose(got["none"], np.where(counted, base + zl * lse**2, 0.0), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(got["no_z"], base[counted].mean(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(got["mean"], base[counted].mean() + zl * np.mean(lse[counted] ** 2), rtol=TOL,
                               atol=TOL)


# --- 3. many token blocks ------------------------------------------------------------------


@pytest.mark.parametrize("path, reduction, chunk", [
    ("grad", "mean", 7), ("grad", "sum", None), ("grad", "none", 7), ("grad", "none", None),
    ("forward", "mean", 7), ("forward", "none", None)])
def test_many_tiles(xp, monkeypatch, reduction, path, chunk):
    """A 64-logit tile budget: many token blocks and vocabulary chunks on the
    fused path ("mean"/"sum" with gradients), the recomputing one ("none"
    with gradients) and the forward alone."""
    if path == "grad":
        _need_grad(xp)
    monkeypatch.setattr(language, "_TILE", 64)
    h, w, b, y = _inputs(n=24, v=20, ignore=-100)
    n, v = len(y), len(w)
    for keep_rows in (True, False):  # several token blocks on both tilings
        assert language._tiling(n, h.shape[1], v, chunk, keep_rows).block < n // 2
    opts = dict(ignore_index=-100, label_smoothing=0.1, z_loss=0.01, softcap=3.0, chunk_size=chunk,
                reduction=reduction)
    argnums = (0, 1, 3) if path == "grad" else ()
    _compare(xp, _lce(**opts), _ref(**opts), (h, w, y, b), argnums, weights=_weights(n, reduction))


# --- 4. never the [N, V] logits -------------------------------------------------------------


@pytest.mark.parametrize("n, h, v", [(4096, 1024, 128256), (8192, 4096, 256000), (64, 8, 512), (3, 2, 5)])
def test_tiling_budget(n, h, v):
    """The documented bound: the logits held at once (a block's whole row on
    the fused path, one tile otherwise) are at most ``_TILE`` or ``N * V /
    64``; at the issue's benchmark sizes at most 1/8 of the ``[N, V]``
    logits."""
    budget = max(language._TILE, math.ceil(n * v / language._MAX_TILES))
    for chunk_size in (None, 1000):
        for keep_rows in (True, False):
            t = language._tiling(n, h, v, chunk_size, keep_rows)
            held = t.block * (v if keep_rows else t.chunk)
            assert held <= max(budget, v if keep_rows else t.chunk), (chunk_size, keep_rows, t)
            assert 1 <= t.chunk <= v and 1 <= t.block <= n
            if n * v >= 1 << 29:
                assert held <= n * v / 8, (chunk_size, keep_rows, t)

N4, H4, V4, C4 = 64, 8, 512, 64


def _big(seed=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N4, H4)) * 0.5, rng.normal(size=(V4, H4)) * 0.5, rng.normal(size=V4) * 0.1, \
        rng.integers(0, V4, size=N4)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_matmul_products_are_tiles(xp, monkeypatch, reduction):
    """Every product the loss computes (forward and backward) is at most one
    tile (a block of tokens by ``chunk_size`` classes), never N x V."""
    ops = resolve("probe", xp.asarray(np.zeros(2)))
    sizes: list[int] = []
    matmul = ops.matmul

    def recorded(a, b):
        out = matmul(a, b)
        sizes.append(math.prod(out.shape))
        return out

    monkeypatch.setattr(ops, "matmul", recorded)
    h, w, b, y = _big()
    fn = _lce(chunk_size=C4, reduction=reduction)
    arrays = [xp.asarray(a) for a in (h, w, y, b)]
    got = xp.to_numpy(xp.run(fn, arrays))
    assert sizes and max(sizes) <= N4 * C4 < N4 * V4  # (jax: the products of one traced loop body)
    np.testing.assert_allclose(got, _naive(h, w, y, b, reduction=reduction), rtol=TOL, atol=TOL)
    if xp.has_grad:
        sizes.clear()
        _value_grads(xp, fn, arrays, (0, 1, 3), _weights(N4, reduction))
        assert sizes and max(sizes) <= N4 * C4  # the backward's products too


def _sizes_mode():
    """A TorchDispatchMode recording the size of every ATen op's output."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class Sizes(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.sizes: list[tuple[int, str]] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            self.sizes += [(t.numel(), str(func)) for t in tree_flatten(out)[0] if hasattr(t, "numel")]
            return out

    return Sizes()


# A logit budget of N * V / 8 (the memory goal, in miniature): below it
# the loss may hold a block's whole row of logits, which at N = 64 is all of them.
SMALL_TILE = N4 * V4 // 8


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_no_op_holds_the_logits(xp, reduction, monkeypatch):
    """With a budget of N * V / 8 logits, no ATen op of the forward or the
    backward returns more values than that (the weight's gradient, V x H,
    is as large); the naive composition's return N x V (the check can
    fail)."""
    _only(xp, "torch")
    import torch
    import torch.nn.functional as F

    monkeypatch.setattr(language, "_TILE", SMALL_TILE)
    h, w, b, y = _big()

    def largest(fn):
        leaves = [torch.tensor(a, requires_grad=True) for a in (h, w, b)]
        with _sizes_mode() as fwd:
            out = fn(*leaves, torch.from_numpy(y))
        with _sizes_mode() as bwd:
            out.backward(torch.ones_like(out))
        assert fwd.sizes and bwd.sizes
        return max(fwd.sizes)[0], max(bwd.sizes)[0]

    assert max(largest(lambda h, w, b, y: lossapi.linear_cross_entropy(h, w, y, bias=b, chunk_size=C4,
                                                                       reduction=reduction))) <= SMALL_TILE
    assert min(largest(lambda h, w, b, y: F.cross_entropy(h @ w.T + b, y, reduction=reduction))) >= N4 * V4


def _jaxpr_sizes(jaxpr, out):
    from jax.extend import core

    for eqn in jaxpr.eqns:
        out += [math.prod(var.aval.shape) for var in eqn.outvars]
        for p in eqn.params.values():
            for q in p if isinstance(p, (tuple, list)) else (p,):
                if isinstance(q, core.ClosedJaxpr):
                    _jaxpr_sizes(q.jaxpr, out)
                elif isinstance(q, core.Jaxpr):
                    _jaxpr_sizes(q, out)
    return out


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_jax_no_value_holds_the_logits(xp, reduction, monkeypatch):
    """With a budget of N * V / 8 logits, no value in the jaxpr of ``grad``
    (forward and backward, nested jaxprs and loop carries included) has more
    elements than that; the naive composition's has N x V."""
    _only(xp, "jax")
    import jax
    import jax.numpy as jnp

    monkeypatch.setattr(language, "_TILE", SMALL_TILE)
    h, w, b, y = (jnp.asarray(a) for a in _big())
    u = jnp.asarray(_weights(N4, "none"))

    def largest(fn):
        def scalar(h, w, b):
            out = fn(h, w, b)
            return (out * u).sum() if out.ndim else out
        return max(_jaxpr_sizes(jax.make_jaxpr(jax.grad(scalar, argnums=(0, 1, 2)))(h, w, b).jaxpr, []))

    assert largest(lambda h, w, b: lossapi.linear_cross_entropy(h, w, y, bias=b, chunk_size=C4,
                                                                reduction=reduction)) <= SMALL_TILE
    assert largest(lambda h, w, b: _naive(h, w, y, b, reduction=reduction)) >= N4 * V4


# --- 5. 0-d array options --------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_array_options(xp, reduction):
    """z_loss, label_smoothing and softcap as 0-d arrays: the values (jax:
    traced under jit) and, on autodiff backends, their gradients with those
    of hidden, weight and bias (torch: leaves with requires_grad; jax: grad
    under jit), against the naive composition's."""
    h, w, b, y = _inputs(ignore=-100, scale=1.5)
    opts = (np.array(0.03), np.array(0.15), np.array(2.5))

    def ours(h, w, y, b, zl, eps, cap):
        return lossapi.linear_cross_entropy(h, w, y, bias=b, z_loss=zl, label_smoothing=eps, softcap=cap,
                                            ignore_index=-100, chunk_size=4, reduction=reduction)

    def ref(h, w, y, b, zl, eps, cap):
        return _naive(h, w, y, b, z_loss=zl, label_smoothing=eps, softcap=cap, ignore_index=-100,
                      reduction=reduction)

    args = (h, w, y, b, *opts)
    got = xp.to_numpy(xp.run(ours, [xp.asarray(a) for a in args]))  # jax: the forward under jit, options traced
    np.testing.assert_allclose(got, ref(*args), rtol=TOL, atol=TOL)
    _compare(xp, ours, ref, args, (0, 1, 3, 4, 5, 6), weights=_weights(len(y), reduction))


def test_torch_option_tensors_grad(xp):
    """torch: option tensors with requires_grad get ``.grad`` from
    ``backward()``, equal to those of the composition written in torch."""
    _only(xp, "torch")
    import torch

    h, w, b, y = _inputs(scale=1.5)
    yt = torch.from_numpy(y)

    def grads(fn):
        leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (h, w, b, 0.04, 0.2, 2.0)]
        fn(*leaves).backward()
        return [t.grad.numpy() for t in leaves]

    def composed(h, w, b, zl, eps, cap):
        z = cap * torch.tanh((h @ w.T + b) / cap)
        lse = torch.logsumexp(z, dim=-1)
        logp = z - lse[:, None]
        nll = -logp.gather(1, yt[:, None])[:, 0]
        return ((1 - eps) * nll - eps * logp.mean(-1) + zl * lse**2).mean()

    got = grads(lambda h, w, b, zl, eps, cap: lossapi.linear_cross_entropy(
        h, w, yt, bias=b, z_loss=zl, label_smoothing=eps, softcap=cap, chunk_size=3))
    for name, g, gw in zip(("hidden", "weight", "bias", "z_loss", "label_smoothing", "softcap"), got,
                           grads(composed)):
        np.testing.assert_allclose(g, gw, rtol=TOL, atol=TOL, err_msg=name)


# --- 6. transformations ---------------------------------------------------------------------


def test_jax_transformations(xp):
    """jax.vmap over a batch of sequences (hidden and labels) and over a
    batched hidden (shared labels); vmap of grad; grad of a vmapped sum times
    an upstream scalar; grad of "none" with a weighted sum (Liger#968): all
    under one jit, against the same transformations of the naive
    composition (values also against NumPy)."""
    _only(xp, "jax")
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(6)
    hs = rng.normal(size=(3, 8, 5))
    ys = rng.integers(0, 11, size=(3, 8))
    ys[1, 2] = -1
    w = rng.normal(size=(11, 5)) * 0.6
    u = jnp.asarray(rng.uniform(0.2, 3.0, size=8))

    def lce(h, y, w, reduction="mean"):
        return lossapi.linear_cross_entropy(h, w, y, ignore_index=-1, z_loss=0.01, chunk_size=4,
                                            reduction=reduction)

    def ref(h, y, w, reduction="mean"):
        return _naive(h, w, y, ignore_index=-1, z_loss=0.01, reduction=reduction)

    def transformed(fn):
        def run(hs, ys, w):
            per_sequence = jax.vmap(fn, in_axes=(0, 0, None))(hs, ys, w)
            shared_labels = jax.vmap(lambda h: fn(h, ys[0], w, reduction="none"))(hs)
            per_grads = jax.vmap(jax.grad(fn, argnums=(0, 2)), in_axes=(0, 0, None))(hs, ys, w)
            summed = jax.grad(lambda h, w: 2.5 * jax.vmap(fn, in_axes=(0, 0, None))(h, ys, w).sum(),
                              argnums=(0, 1))(hs, w)
            weighted = jax.grad(lambda h, w: (fn(h, ys[1], w, reduction="none") * u).sum(),
                                argnums=(0, 1))(hs[1], w)
            return per_sequence, shared_labels, per_grads, summed, weighted
        return jax.jit(run)

    args = (jnp.asarray(hs), jnp.asarray(ys), jnp.asarray(w))
    got, want = transformed(lce)(*args), transformed(ref)(*args)
    np.testing.assert_allclose(np.asarray(got[0]), [_naive(hs[i], w, ys[i], ignore_index=-1, z_loss=0.01)
                                                     for i in range(3)], rtol=TOL, atol=TOL)
    np.testing.assert_allclose(np.asarray(got[1]), [_naive(hs[i], w, ys[0], ignore_index=-1, z_loss=0.01,
                                                            reduction="none") for i in range(3)], rtol=TOL, atol=TOL)
    for a, c in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(c), rtol=TOL, atol=TOL)


# torch 2.13 under vmap: addmm_ (add_rows' in-place product) has no batching rule yet (a performance warning)
@pytest.mark.filterwarnings("ignore:There is a performance drop because we have not yet implemented the batching")
def test_torch_func(xp):
    """torch.func.grad, and torch.func.vmap of it over a batch of hidden
    states, against the same transforms of F.cross_entropy's composition."""
    _only(xp, "torch")
    import torch
    import torch.nn.functional as F

    h, w, b, y = _inputs(ignore=-100)
    wt, bt, yt = torch.from_numpy(w), torch.from_numpy(b), torch.from_numpy(y)

    def ours(h, w):
        return lossapi.linear_cross_entropy(h, w, yt, bias=bt, ignore_index=-100, label_smoothing=0.1,
                                            chunk_size=4)

    def peer(h, w):
        return F.cross_entropy(h @ w.T + bt, yt, ignore_index=-100, label_smoothing=0.1)

    ht = torch.from_numpy(h)
    for a, c in zip(torch.func.grad(ours, argnums=(0, 1))(ht, wt), torch.func.grad(peer, argnums=(0, 1))(ht, wt)):
        np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=TOL, atol=TOL)
    hs = torch.from_numpy(np.stack([h, -h, 0.5 * h]))
    g = torch.func.vmap(torch.func.grad(ours, argnums=(0, 1)), in_dims=(0, None))(hs, wt)
    gw = torch.func.vmap(torch.func.grad(peer, argnums=(0, 1)), in_dims=(0, None))(hs, wt)
    for a, c in zip(g, gw):
        np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=TOL, atol=TOL)


# torch 2.13's dynamo warns about array-api-compat's lru_cache helpers and, tracing an
# autograd.Function, instantiates it itself (warnings are errors here)
@pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`")
@pytest.mark.filterwarnings("ignore:<class 'torch.autograd.function.Function'> should not be instantiated")
def test_torch_compile(xp):
    """torch.compile (aot_eager): forward and backward equal eager's."""
    _only(xp, "torch")
    import torch

    if not hasattr(torch, "compile"):
        pytest.skip("no torch.compile")
    h, w, b, y = _inputs(ignore=-100)
    yt = torch.from_numpy(y)

    def fn(h, w, b):
        return lossapi.linear_cross_entropy(h, w, yt, bias=b, ignore_index=-100, z_loss=0.01, chunk_size=5)

    def run(f):
        leaves = [torch.tensor(a, requires_grad=True) for a in (h, w, b)]
        out = f(*leaves)
        out.backward()
        return [out.detach().numpy()] + [t.grad.numpy() for t in leaves]

    torch._dynamo.reset()
    try:
        got = run(torch.compile(fn, backend="aot_eager"))
    finally:
        torch._dynamo.reset()
    for name, a, c in zip(("value", "hidden", "weight", "bias"), got, run(fn)):
        np.testing.assert_allclose(a, c, rtol=TOL, atol=TOL, err_msg=name)


# --- 7. half precision ----------------------------------------------------------------------


def _native_grads(xp, fn, arrays, argnums, weights):
    """Gradients as the backend's arrays (their dtype kept)."""
    if xp.name == "jax":
        import jax

        u = None if weights is None else xp.asarray(weights, "float32")
        return jax.jit(jax.grad(lambda *a: (fn(*a) if u is None else (fn(*a) * u).sum()).astype("float32"),
                                argnums=tuple(argnums)))(*arrays)
    leaves = [a.detach().clone().requires_grad_(i in argnums) for i, a in enumerate(arrays)]
    out = fn(*leaves)
    out.backward(None if weights is None else xp.asarray(weights, "float32").to(out.dtype))
    return [leaves[i].grad for i in argnums]


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision(xp, dtype, reduction):
    """Half inputs: the value and the gradients in the input dtype; the value
    within half rounding of the float64 reference on the rounded inputs,
    the gradients finite and close to its gradients (float32 accumulation
    over 160 classes in chunks of 32)."""
    if dtype not in xp.half_dtypes():
        pytest.skip(f"{xp.name} has no {dtype}")
    h, w, b, y = _inputs(n=16, h=8, v=160, ignore=-100, scale=1.5)
    opts = dict(ignore_index=-100, label_smoothing=0.1, chunk_size=32, reduction=reduction)
    arrays = [xp.asarray(a, dtype) for a in (h, w, y, b)]
    rounded = [xp.to_numpy(a).astype(np.float64) for a in arrays]  # the inputs as the loss sees them
    got = xp.run(_lce(**opts), arrays)
    assert got.dtype == xp.dtype(dtype)
    tol = 1e-2 if dtype == "bfloat16" else 2e-3
    want = _naive(*rounded, **{k: v for k, v in opts.items() if k != "chunk_size"})
    np.testing.assert_allclose(xp.to_numpy(got).astype(np.float64), want, rtol=tol, atol=tol)
    if not xp.has_grad:
        return
    u = _weights(len(y), reduction)
    grads = _native_grads(xp, _lce(**opts), arrays, (0, 1, 3), u)
    _, gw = _value_grads(xp, _ref(**opts), [xp.asarray(a) for a in rounded], (0, 1, 3), u)
    for name, g, x, c in zip(("hidden", "weight", "bias"), grads, [arrays[0], arrays[1], arrays[3]], gw):
        assert g.dtype == x.dtype, name
        g = xp.to_numpy(g).astype(np.float64)
        assert np.all(np.isfinite(g)), name
        np.testing.assert_allclose(g, c, rtol=0, atol=4 * tol * np.abs(c).max(), err_msg=name)


# --- 8. torch autograd semantics -------------------------------------------------------------


def test_torch_second_backward(xp):
    """The fused residual (mean / sum) is scaled in place by the backward:
    a second backward through one graph (retain_graph=True) is an error;
    "none" recomputes and allows it."""
    _only(xp, "torch")
    import torch

    h, w, b, y = _inputs()
    for reduction in ("mean", "sum"):
        ht = torch.tensor(h, requires_grad=True)
        out = lossapi.linear_cross_entropy(ht, torch.from_numpy(w), torch.from_numpy(y), reduction=reduction)
        out.backward(retain_graph=True)
        with pytest.raises(RuntimeError, match="differentiated twice"):
            out.backward()
    ht, wt = torch.tensor(h, requires_grad=True), torch.tensor(w, requires_grad=True)
    out = lossapi.linear_cross_entropy(ht, wt, torch.from_numpy(y), chunk_size=4, reduction="none")
    out.sum().backward(retain_graph=True)
    out.sum().backward()
    ref = [torch.tensor(a, requires_grad=True) for a in (h, w)]
    (2 * _naive(*ref, torch.from_numpy(y), reduction="sum")).backward()
    np.testing.assert_allclose(ht.grad.numpy(), ref[0].grad.numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(wt.grad.numpy(), ref[1].grad.numpy(), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_upstream_scale_and_accumulation(xp, reduction):
    """``(2.5 * loss).backward()`` and then a second forward and backward of
    another call into the same leaves: ``.grad`` accumulates both, as the
    naive composition's does."""
    _only(xp, "torch")
    import torch

    h, w, b, y = _inputs(ignore=-100)
    y2 = np.roll(y, 3)

    def grads(fn):
        leaves = [torch.tensor(a, requires_grad=True) for a in (h, w, b)]
        for labels, scale in ((y, 2.5), (y2, -0.7)):
            out = fn(*leaves, torch.from_numpy(labels))
            u = torch.linspace(0.5, 2.0, len(y), dtype=torch.float64)
            (scale * (out if reduction != "none" else out * u)).sum().backward()
        return [t.grad.numpy() for t in leaves]

    got = grads(lambda h, w, b, y: lossapi.linear_cross_entropy(h, w, y, bias=b, ignore_index=-100, chunk_size=4,
                                                                reduction=reduction))
    want = grads(lambda h, w, b, y: _naive(h, w, y, b, ignore_index=-100, reduction=reduction))
    for name, a, c in zip(("hidden", "weight", "bias"), got, want):
        np.testing.assert_allclose(a, c, rtol=TOL, atol=TOL, err_msg=name)


# --- 9. extreme inputs -----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_huge_logits(xp, reduction):
    """hidden scaled by 1e4 (logits ~1e4): finite values and gradients equal
    to the reference's (float64); float32 ("mean"): finite, the same value."""
    h, w, b, y = _inputs(ignore=-100, scale=1e4)
    opts = dict(ignore_index=-100, label_smoothing=0.1, z_loss=1e-6, chunk_size=4, reduction=reduction)
    got, g = _compare(xp, _lce(**opts), _ref(**opts), (h, w, y, b), (0, 1, 3),
                      weights=_weights(len(y), reduction), tol=1e-9)
    assert np.all(np.isfinite(got)) and all(np.all(np.isfinite(gi)) for gi in g or ())
    if reduction != "mean":
        return
    arrays = [xp.asarray(a, "float32") for a in (h, w, y, b)]
    got32, g32 = _value_grads(xp, _lce(**opts), arrays, (0, 1, 3), _weights(len(y), reduction))
    np.testing.assert_allclose(got32, got, rtol=1e-4, atol=1e-4)
    assert all(np.all(np.isfinite(gi)) for gi in g32 or ())


@pytest.mark.parametrize("bad", [13, -1, -100])
def test_labels_out_of_range(xp, bad):
    """Checked where values are readable (NumPy, array-api-strict, torch on
    the CPU): a ValueError naming labels; an ignore_index of another value
    does not excuse it. Elsewhere (jax, dask: values are not read) the
    token's loss is NaN, as cross_entropy's."""
    h, w, b, y = _inputs()
    y[3] = bad
    args = [xp.asarray(a) for a in (h, w, y)]
    if xp.name in ("jax", "dask"):
        got = xp.to_numpy(xp.run(lambda *a: lossapi.linear_cross_entropy(*a, ignore_index=-5, reduction="none"),
                                 args))
        assert np.isnan(got[3]) and np.all(np.isfinite(np.delete(got, 3)))
        return
    with pytest.raises(ValueError, match=rf"^linear_cross_entropy: labels contains class label {bad}, which is "
                                         r"outside \[0, 13\)"):
        lossapi.linear_cross_entropy(*args, ignore_index=-5)
    if bad == -100:
        got = lossapi.linear_cross_entropy(*args, ignore_index=-100, reduction="none")
        assert float(xp.to_numpy(got)[3]) == 0.0


# --- 10. errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("change, exc, match", [
    ({"w": np.zeros((13, 7))}, ValueError, r"weight must have shape \(V, 6\)"),
    ({"w": np.zeros(13)}, ValueError, r"weight must have shape \(V, 6\)"),
    ({"w": np.zeros((0, 6))}, ValueError, "weight must have at least one row"),
    ({"bias": np.zeros(12)}, ValueError, r"bias must have shape \(13,\)"),
    ({"bias": np.zeros((1, 13))}, ValueError, r"bias must have shape \(13,\)"),
    ({"bias": np.zeros(13, dtype=np.int64)}, TypeError, "bias must be a real floating-point array"),
    ({"y": np.zeros(10)}, TypeError, "labels must hold integer class labels"),
    ({"y": np.zeros(9, dtype=np.int64)}, ValueError,
     r"hidden has shape \(10, 6\) but labels has shape \(9,\); labels must have shape \(10,\)"),
    ({"y": np.zeros((10, 1), dtype=np.int64)}, ValueError, r"hidden has shape .* labels must have shape"),
    ({"where": np.ones(9, dtype=bool)}, ValueError, r"where has shape \(9,\)"),
    ({"where": np.ones(10)}, TypeError, "where must be a boolean array"),
    ({"chunk_size": 0}, ValueError, "chunk_size must be a positive int"),
    ({"chunk_size": -1}, ValueError, "chunk_size must be a positive int"),
    ({"chunk_size": True}, TypeError, "chunk_size must be a positive int"),
    ({"chunk_size": 4.0}, TypeError, "chunk_size must be a positive int"),
    ({"h": np.zeros((10, 6), dtype=np.int64)}, TypeError, "hidden must be a real floating-point array"),
    ({"h": np.array(1.0)}, ValueError, "hidden must have a feature axis"),
    ({"reduction": "batchmean"}, ValueError, "reduction must be one of"),
])
def test_bad_inputs(xp, change, exc, match):
    h, w, b, y = _inputs()
    arrays = {"h": h, "w": w, "y": y, **{k: v for k, v in change.items() if k in ("h", "w", "y")}}
    kwargs = {k: xp.asarray(v) if k in ("bias", "where") else v for k, v in change.items()
              if k not in ("h", "w", "y")}
    with pytest.raises(exc, match="^linear_cross_entropy: " + match):
        lossapi.linear_cross_entropy(*(xp.asarray(arrays[k]) for k in "hwy"), **kwargs)


# --- 11. token shapes ------------------------------------------------------------------------


def test_token_axes(xp):
    """hidden [B, T, H] with labels [B, T]: "none" gives [B, T]; every
    reduction and gradient as the flattened tokens'."""
    rng = np.random.default_rng(11)
    h, w, b = rng.normal(size=(3, 4, 6)), rng.normal(size=(13, 6)) * 0.6, rng.normal(size=13)
    y = rng.integers(0, 13, size=(3, 4))
    y[0, 1] = -100
    mask = rng.random((3, 4)) < 0.8
    for reduction in REDUCTIONS:
        opts = dict(ignore_index=-100, chunk_size=5, reduction=reduction)
        u = None if reduction != "none" else rng.uniform(0.5, 2.0, size=(3, 4))
        got, g = _compare(xp, _lce(**opts), _ref(**opts), (h, w, y, b, mask), (0, 1, 3), weights=u)
        assert got.shape == ((3, 4) if reduction == "none" else ())
        assert g is None or g[0].shape == (3, 4, 6)


@pytest.mark.parametrize("tokens", [(0,), (2, 0)])
def test_no_tokens(xp, tokens, request):
    """No tokens ([0, H], [2, 0, H]): "sum" 0, "none" empty of labels'
    shape, "mean" NaN (0/0, as F.cross_entropy of the composed logits);
    gradients of the sum: weight and bias 0."""
    if xp.name == "dask" and tokens == (2, 0):
        request.applymarker(pytest.mark.xfail(
            strict=True, raises=TypeError, reason="dask 2026.8: reshaping a chunked empty [2, 0, H] to [0, H] raises "
            "'reduce() of empty iterable' (da.zeros((2, 0, 6), chunks=(1, 1, 3)).reshape((0, 6)))"))
    h, w, b, y = np.zeros((*tokens, 6)), np.ones((13, 6)), np.ones(13), np.zeros(tokens, dtype=np.int64)
    arrays = [xp.asarray(a) for a in (h, w, y, b)]
    for reduction in REDUCTIONS:
        with np.errstate(invalid="ignore"):
            got, g = _value_grads(xp, _lce(reduction=reduction), arrays, (0, 1, 3) if reduction == "sum" else ())
            want = _naive(h, w, y, b, reduction=reduction)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        for gi, shape in zip(g or (), (h.shape, w.shape, b.shape)):
            assert gi.shape == shape and np.all(gi == 0.0)


# --- 12. backends without autodiff ------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_forward_only_backends(xp, reduction):
    """NumPy, array-api-strict and Dask run the forward: the reference's
    values, the backend's own array (Dask: still lazy)."""
    if xp.has_grad:
        pytest.skip(f"{xp.name}: autodiff backend (the tests above)")
    h, w, b, y = _inputs(n=12, ignore=-100)
    mask = np.arange(12) % 5 != 2
    opts = dict(ignore_index=-100, label_smoothing=0.05, z_loss=0.01, softcap=4.0, chunk_size=5,
                reduction=reduction)
    arrays = [xp.asarray(a) for a in (h, w, y, b, mask)]
    if xp.name == "dask":
        from dask.callbacks import Callback

        computes = []
        with Callback(start=computes.append):  # a compute (a value read) would run a graph
            out = _lce(**opts)(*arrays)
        assert not computes  # lazy: nothing computed by the call
    else:
        out = _lce(**opts)(*arrays)
    assert xp.is_native(out)
    np.testing.assert_allclose(xp.to_numpy(out), _ref(**opts)(h, w, y, b, mask), rtol=TOL, atol=TOL)
