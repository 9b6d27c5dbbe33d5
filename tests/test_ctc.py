"""CTC beyond the common checklist: values against the float64 loop reference
(every reduction, dtype, blank position, zero_infinity, impossible samples,
empty label sequences, no frames, -inf log-probabilities), gradients against
finite differences of the reference, torch's F.ctc_loss and optax.ctc_loss
(values, and gradients with respect to logits: both differentiate as if
through a log_softmax), the torch kernel against the generic path, jax.jit
and jax.vmap, long float32 sequences, the ``scan`` primitive, and errors.

Expected values come from ``conformance.reference.ctc`` (the alpha recursion
written out per sample, independently of lossapi) and from the peers.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import lossapi
from conformance import gradcheck
from conformance import reference as R
from lossapi.backends import resolve

REDUCTIONS = ("none", "mean", "sum")


def _log_softmax(z):
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def _batch(seed=0, n=6, t=7, c=4, s=3, blank=0):
    """Log-probs and labels with every boundary: repeats (a blank needed
    between), exactly enough frames, too few, no labels, no frames,
    padding past the label lengths."""
    rng = np.random.default_rng(seed)
    lp = _log_softmax(rng.normal(size=(n, t, c)) * 1.5)
    a, b = [k for k in range(c) if k != blank][:2]
    labels = np.array([[a, a, b], [a, b, a], [a, a, a], [b, b, b], [a, b, b], [b, a, -1]][:n], dtype=np.int64)
    input_lengths = np.array([t, 3, 4, 0, 1, 5][:n], dtype=np.int64)
    label_lengths = np.array([3, 3, 3, 0, 2, 2][:n], dtype=np.int64)
    # 0: feasible; 1: exactly enough (3 frames, no repeat); 2: a, a, a needs 5 > 4: impossible;
    # 3: nothing in no frames (loss 0); 4: two labels in one frame: impossible; 5: padding -1 ignored
    return lp, labels, input_lengths, label_lengths


def _ops(xp):
    return resolve("probe", xp.asarray(np.zeros(2), "float64"))


def _arrays(xp, args, dtype="float64"):
    return [xp.asarray(a, dtype) for a in args]


def _grad(xp, fn, x):
    """d fn / d x (NumPy; jax: jit-compiled)."""
    _, (g,) = xp.value_and_grad(lambda a: (fn(a), None), [xp.asarray(x, "float64")], (0,))
    return g


@contextlib.contextmanager
def _generic(xp, monkeypatch, on=True):
    """The generic array-API path (ops.kernels emptied) when ``on``."""
    if not on:
        yield
        return
    with monkeypatch.context() as m:
        m.setattr(_ops(xp), "kernels", {})
        yield


# --- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("blank", [0, 3])
def test_values_match_reference(xp, dtype, blank):
    args = _batch(blank=blank)
    rounded = [a.astype(dtype).astype(np.float64) if a.dtype.kind == "f" else a for a in args]
    arrays = _arrays(xp, args, dtype)
    tol = 1e-12 if dtype == "float64" else 2e-6
    # jax: one jit-compiled call for every option (eager calls: the checklist)
    options = [(zi, r) for zi in (False, True) for r in REDUCTIONS]
    outs = xp.run(lambda *a: [lossapi.ctc(*a, blank=blank, zero_infinity=zi, reduction=r) for zi, r in options],
                  arrays)
    for (zero_infinity, reduction), got in zip(options, outs):
        assert got.dtype == xp.dtype(dtype)
        want = R.ctc(*rounded, blank=blank, zero_infinity=zero_infinity, reduction=reduction)
        if reduction == "none":
            assert np.count_nonzero(np.isinf(want)) == (0 if zero_infinity else 2)
        np.testing.assert_allclose(xp.to_numpy(got), want, rtol=tol, atol=tol, err_msg=reduction)


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_where_drops_sequences(xp, zero_infinity):
    # where= (one boolean per sequence): the reference on the kept sequences;
    # a masked impossible one (inf) is 0 and leaves the mean.
    args = _batch()
    keep = np.array([True, False, False, True, True, True])
    for reduction in REDUCTIONS:
        got = xp.to_numpy(lossapi.ctc(*_arrays(xp, args), where=xp.asarray(keep), zero_infinity=zero_infinity,
                                      reduction=reduction))
        kept = R.ctc(*(a[keep] for a in args), zero_infinity=zero_infinity, reduction=reduction)
        if reduction == "none":
            want = np.zeros(len(keep))
            want[keep] = kept
        else:
            want = kept
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=reduction)
    with pytest.raises(ValueError, match=r"^ctc: where has shape \(6, 7\)"):
        lossapi.ctc(*_arrays(xp, args), where=xp.asarray(np.ones((6, 7), bool)))


def test_label_length_zero_is_all_blanks(xp):
    # No labels: the one alignment is blank in every frame.
    lp, _, _, _ = _batch(n=2)
    got = lossapi.ctc(xp.asarray(lp), xp.asarray(np.zeros((2, 0), dtype=np.int64)),
                      xp.asarray(np.array([7, 4])), xp.asarray(np.array([0, 0])), reduction="none")
    want = [-lp[0, :, 0].sum(), -lp[1, :4, 0].sum()]
    np.testing.assert_allclose(xp.to_numpy(got), want, rtol=1e-12)
    assert R.ctc(lp, np.zeros((2, 0), dtype=np.int64), [7, 4], [0, 0], reduction="none") == pytest.approx(want)


def test_neg_inf_log_probs(xp):
    # -inf entries: on no path, on some paths, on every path (inf, or 0 with
    # zero_infinity); gradients finite.
    lp, labels, il, ll = _batch(n=2)
    lp[0, 2, 2] = -np.inf  # blocks some paths of sample 0
    lp[1, :, 1] = -np.inf  # label 1 impossible in sample 1 (labels a=1, b=2)
    outs = xp.run(lambda *a: [lossapi.ctc(*a, zero_infinity=zi, reduction="none") for zi in (False, True)],
                  _arrays(xp, (lp, labels, il, ll)))
    for zi, got in zip((False, True), outs):
        want = R.ctc(lp, labels, il, ll, zero_infinity=zi, reduction="none")
        assert np.isfinite(want[0]) and want[1] == (0.0 if zi else np.inf)
        np.testing.assert_allclose(xp.to_numpy(got), want, rtol=1e-12)
    if xp.has_grad:
        g = _grad(xp, lambda x: lossapi.ctc(x, *_arrays(xp, (labels, il, ll)), reduction="sum"), lp)
        assert np.all(np.isfinite(g)) and np.all(g[1] == 0) and np.all(g[np.isinf(lp)] == 0)


def test_no_frames_and_empty_batch(xp):
    lp0, lab0, il0, ll0 = np.zeros((2, 0, 3)), np.array([[1], [2]]), np.array([0, 0]), np.array([0, 1])
    got = lossapi.ctc(*_arrays(xp, (lp0, lab0, il0, ll0)), reduction="none")
    np.testing.assert_array_equal(xp.to_numpy(got), R.ctc(lp0, lab0, il0, ll0, reduction="none"))  # [0, inf]
    if xp.name == "dask":  # dask's max over a non-empty axis of an array with no rows raises (dask 2026.8)
        return
    empty = (np.zeros((0, 4, 3)), np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64),
             np.zeros(0, dtype=np.int64))
    got = lossapi.ctc(*_arrays(xp, empty), reduction="sum")
    assert float(xp.to_numpy(got)) == R.ctc(*empty, reduction="sum") == 0.0


def test_perfect_alignment_is_zero(xp):
    # One-hot log-probs (0 / -inf) along the only alignment: loss exactly 0.
    with np.errstate(divide="ignore"):
        lp = np.log(np.eye(3)[[1, 0, 1, 2]])[None]
    got = xp.run(lambda *a: lossapi.ctc(*a, reduction="sum"),
                 _arrays(xp, (lp, np.array([[1, 1, 2]]), np.array([4]), np.array([3]))))
    assert float(xp.to_numpy(got)) == 0.0


# --- gradients -------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("kernel", [True, False], ids=["default", "generic"])
def test_gradient_matches_finite_differences(xp, reduction, kernel, monkeypatch):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    if not kernel and "ctc" not in _ops(xp).kernels:
        pytest.skip(f"{xp.name} has no ctc kernel: the default path is the generic one")
    args = _batch(n=5, t=6)  # samples 2 and 4 impossible: zero_infinity keeps the sum finite
    rest = _arrays(xp, args[1:])
    with _generic(xp, monkeypatch, not kernel):
        g = _grad(xp, lambda x: lossapi.ctc(x, *rest, zero_infinity=True, reduction=reduction), args[0])
    fd = gradcheck.fd_partial(lambda *a: R.ctc(*a, zero_infinity=True, reduction=reduction), list(args), 0)
    ok, why = gradcheck.check_grad(g, fd, 1e-6, 1e-8)
    assert ok, why
    assert np.all(g[2] == 0) and np.all(g[4] == 0)  # impossible samples


def test_impossible_gradient_is_zero_without_zero_infinity(xp, monkeypatch):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    args = _batch()
    for generic in (False, True) if "ctc" in _ops(xp).kernels else (False,):
        with _generic(xp, monkeypatch, generic):
            g = _grad(xp, lambda x: lossapi.ctc(x, *_arrays(xp, args[1:]), reduction="mean"), args[0])
        assert np.all(np.isfinite(g)) and np.all(g[2] == 0) and np.all(g[4] == 0)


def test_torch_kernel_equals_generic_and_peer(xp, monkeypatch):
    """torch: F.ctc_loss's values for every reduction and zero_infinity, on
    the kernel and the generic path; gradients with respect to logits (under
    a log_softmax, where torch's gradient is the true one) against torch's
    autograd."""
    if xp.name != "torch":
        pytest.skip("torch's F.ctc_loss")
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(5)
    z = rng.normal(size=(6, 7, 4)) * 1.5
    _, labels, il, ll = _batch()
    targs = [torch.from_numpy(a) for a in (labels, il, ll)]
    for zi in (False, True):
        for reduction in REDUCTIONS:
            zt = torch.from_numpy(z).requires_grad_()
            peer = F.ctc_loss(torch.log_softmax(zt, -1).transpose(0, 1), *targs, reduction=reduction,
                              zero_infinity=zi)
            for generic in (False, True):
                zo = torch.from_numpy(z).requires_grad_()
                with _generic(xp, monkeypatch, generic):
                    ours = lossapi.ctc(torch.log_softmax(zo, -1), *targs, reduction=reduction, zero_infinity=zi)
                np.testing.assert_allclose(ours.detach().numpy(), peer.detach().numpy(), rtol=1e-12)
                if zi or reduction == "none":  # torch's gradient of an inf loss is NaN
                    (g_ours,) = torch.autograd.grad(ours.sum(), zo)
                    (g_peer,) = torch.autograd.grad(peer.sum(), zt, retain_graph=True)
                    np.testing.assert_allclose(g_ours.numpy(), np.nan_to_num(g_peer.numpy()), rtol=1e-9,
                                               atol=1e-12)


def test_optax_values_and_logit_gradients(xp):
    if xp.name != "jax":
        pytest.skip("optax runs on jax")
    optax = pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(6)
    z = rng.normal(size=(5, 9, 5))
    labels = rng.integers(1, 5, size=(5, 4))
    labels[0, 1] = labels[0, 0]
    il, ll = np.array([9, 8, 9, 5, 9]), np.array([4, 3, 0, 2, 4])
    pad_t = (np.arange(9)[None] >= il[:, None]).astype(np.float64)
    pad_l = (np.arange(4)[None] >= ll[:, None]).astype(np.float64)
    lab, ilj, llj = jnp.asarray(labels), jnp.asarray(il), jnp.asarray(ll)

    def ours(z):
        return lossapi.ctc(jax.nn.log_softmax(z), lab, ilj, llj, reduction="none")

    def peer(z):
        return optax.ctc_loss(z, jnp.asarray(pad_t), lab, jnp.asarray(pad_l))

    zj = jnp.asarray(z)
    np.testing.assert_allclose(np.asarray(jax.jit(ours)(zj)), np.asarray(jax.jit(peer)(zj)), rtol=1e-12)
    g1 = jax.jit(jax.grad(lambda z: ours(z).sum()))(zj)
    g2 = jax.jit(jax.grad(lambda z: peer(z).sum()))(zj)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-9, atol=1e-12)


# --- transformations and long sequences -----------------------------------------------------


def test_jax_jit_and_vmap(xp):
    if xp.name != "jax":
        pytest.skip("jax transformations")
    import jax

    args = _batch()
    arrays = _arrays(xp, args)
    outs = jax.jit(lambda *a: [lossapi.ctc(*a, reduction=r) for r in REDUCTIONS])(*arrays)
    for reduction, got in zip(REDUCTIONS, outs):
        np.testing.assert_allclose(np.asarray(got), R.ctc(*args, reduction=reduction), rtol=1e-12)
    # vmap over a leading axis of two batches (the second: the batch reversed)
    stacked = [xp.asarray(np.stack([a, a[::-1]])) for a in args]
    got = jax.vmap(lambda *a: lossapi.ctc(*a, zero_infinity=True, reduction="sum"))(*stacked)
    want = R.ctc(*args, zero_infinity=True, reduction="sum")
    np.testing.assert_allclose(np.asarray(got), [want, want], rtol=1e-12)


@pytest.mark.parametrize("kernel", [True, False], ids=["default", "generic"])
def test_long_sequence_float32(xp, kernel, monkeypatch):
    """T = 2000 in float32: the value to float32 accuracy, gradients finite
    and equal (with respect to logits) to the float64 peer's."""
    if xp.name not in ("jax", "torch"):
        pytest.skip("autodiff backends with a peer")
    if xp.name == "jax" and not kernel:
        pytest.skip("jax has no kernel row")
    rng = np.random.default_rng(7)
    t, c, s = 2000, 6, 10
    z = rng.normal(size=(2, t, c))
    labels = rng.integers(1, c, size=(2, s))
    il, ll = np.array([t, 1500]), np.array([s, 7])
    want = R.ctc(_log_softmax(z.astype(np.float32).astype(np.float64)), labels, il, ll, reduction="sum")
    if xp.name == "jax":
        import importlib.util

        import jax
        import jax.numpy as jnp

        def f(z):
            return lossapi.ctc(jax.nn.log_softmax(z), jnp.asarray(labels), jnp.asarray(il), jnp.asarray(ll),
                               reduction="sum")

        v, g = jax.jit(jax.value_and_grad(f))(jnp.asarray(z, dtype=jnp.float32))
        v, g, g64 = float(v), np.asarray(g), None
        if importlib.util.find_spec("optax") is not None:  # the peer's float64 gradient (the nox jax session has it)
            import optax

            pad_t = (np.arange(t)[None] >= il[:, None]).astype(np.float64)
            pad_l = (np.arange(s)[None] >= ll[:, None]).astype(np.float64)
            g64 = np.asarray(jax.jit(jax.grad(lambda z: optax.ctc_loss(
                z, jnp.asarray(pad_t), jnp.asarray(labels), jnp.asarray(pad_l)).sum()))(jnp.asarray(z)))
    else:
        import torch
        import torch.nn.functional as F

        targs = [torch.from_numpy(a) for a in (labels, il, ll)]
        z32 = torch.tensor(z, dtype=torch.float32, requires_grad=True)
        with _generic(xp, monkeypatch, not kernel):
            out = lossapi.ctc(torch.log_softmax(z32, -1), *targs, reduction="sum")
        (g,) = torch.autograd.grad(out, z32)
        z64 = torch.tensor(z, requires_grad=True)
        (g64,) = torch.autograd.grad(F.ctc_loss(torch.log_softmax(z64, -1).transpose(0, 1), *targs,
                                                reduction="sum"), z64)
        v, g, g64 = float(out.detach()), g.numpy(), g64.numpy()
    assert v == pytest.approx(want, rel=1e-5)
    assert np.all(np.isfinite(g))
    if g64 is None:
        return
    # float32 log-space sums of ~2000 terms: the generic path's gradient is
    # off by 2e-4 here; ATen's float32 kernel (torch's default) by 3e-3.
    np.testing.assert_allclose(g, g64, rtol=0, atol=5e-3 if xp.name == "torch" and kernel else 1e-3)


# --- the scan primitive -------------------------------------------------------------------------


def test_scan_primitive(xp):
    ops = _ops(xp)
    x = np.arange(12.0).reshape(4, 3)
    w = np.array([1.0, -2.0, 0.5, 3.0])
    xs = (xp.asarray(x), xp.asarray(w))

    def step(carry, item):
        row, k = item
        carry = carry * 0.5 + row * k
        return carry, (carry, carry * 2.0)

    carry, (ys, ys2) = ops.scan(step, xp.asarray(np.zeros(3)), xs)
    want, c = [], np.zeros(3)
    for i in range(4):
        c = c * 0.5 + x[i] * w[i]
        want.append(c)
    np.testing.assert_allclose(xp.to_numpy(carry), want[-1])
    np.testing.assert_allclose(xp.to_numpy(ys), np.array(want))
    np.testing.assert_allclose(xp.to_numpy(ys2), 2 * np.array(want))
    total, none = ops.scan(lambda c, r: (c + r, None), xp.asarray(np.zeros(3)), xp.asarray(x))
    assert none is None
    np.testing.assert_allclose(xp.to_numpy(total), x.sum(0))


# --- errors ---------------------------------------------------------------------------------------


def _call(xp, lp=None, labels=None, il=None, ll=None, **kw):
    base = _batch()
    args = [base[i] if a is None else a for i, a in enumerate((lp, labels, il, ll))]
    return lossapi.ctc(*[xp.asarray(a) for a in args], **kw)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"lp": np.zeros((6, 7))}, ValueError, r"ctc: log_probs must have shape \[N, T, C\]"),
    ({"lp": np.zeros((6, 7, 4), dtype=np.int64)}, TypeError, "ctc: log_probs must be a real floating"),
    ({"labels": np.zeros((6, 3))}, TypeError, "ctc: labels must be an integer array"),
    ({"labels": np.zeros((5, 3), dtype=np.int64)}, ValueError, r"ctc: labels must have shape \[N, S\] with N = 6"),
    ({"labels": np.zeros(6, dtype=np.int64)}, ValueError, r"ctc: labels must have shape \[N, S\]"),
    ({"il": np.full(6, 3.0)}, TypeError, "ctc: input_lengths must be an integer array"),
    ({"il": np.full(5, 3)}, ValueError, r"ctc: input_lengths must have shape \[N\] = \(6,\)"),
    ({"ll": np.full((6, 1), 1)}, ValueError, r"ctc: label_lengths must have shape \[N\] = \(6,\)"),
    ({"blank": 4}, ValueError, r"ctc: blank must be a class in \[0, 4\)"),
    ({"blank": -1}, ValueError, r"ctc: blank must be a class in \[0, 4\)"),
    ({"blank": 0.0}, TypeError, "ctc: blank must be an int"),
    ({"zero_infinity": None}, TypeError, "ctc: zero_infinity must be bool"),
    ({"reduction": "batchmean"}, ValueError, "ctc: reduction must be one of"),
])
def test_static_errors(xp, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        _call(xp, **kwargs)


def test_labels_must_be_arrays(xp):
    with pytest.raises(TypeError, match="ctc: labels must be an array"):
        lossapi.ctc(xp.asarray(_batch()[0]), [[1, 2, 1]] * 6, xp.asarray(np.full(6, 7)), xp.asarray(np.full(6, 3)))


@pytest.mark.parametrize("kwargs, match", [
    ({"il": np.array([8, 3, 4, 0, 1, 5])}, r"input_lengths contains 8, outside \[0, 7\]"),
    ({"il": np.array([7, 3, -1, 0, 1, 5])}, r"input_lengths contains -1, outside \[0, 7\]"),
    ({"ll": np.array([3, 4, 3, 0, 2, 2])}, r"label_lengths contains 4, outside \[0, 3\]"),
    ({"labels": np.array([[1, 1, 2], [1, 0, 1], [1, 1, 1], [2, 2, 2], [1, 2, 2], [2, 1, -1]])},
     r"labels contains the blank class 0 at \[1, 1\], within label_lengths"),
    ({"labels": np.array([[1, 1, 2], [1, 2, 1], [1, 4, 1], [2, 2, 2], [1, 2, 2], [2, 1, -1]])},
     r"labels contains class label 4 at \[2, 1\], within label_lengths, which is outside \[0, 4\)"),
    ({"labels": np.array([[1, 1, 2], [1, 2, 1], [1, 1, 1], [2, 2, 2], [1, 2, 2], [2, 1, -1]]), "blank": 2},
     r"labels contains the blank class 2 at \[0, 2\]"),
])
def test_value_errors(xp, kwargs, match):
    """Checked where values are readable without a sync or a trace (NumPy,
    array-api-strict, torch on the CPU); torch's own kernel does not check
    labels."""
    if xp.name in ("jax", "dask"):
        pytest.skip(f"{xp.name}: values are not read")
    with pytest.raises(ValueError, match="ctc: " + match):
        _call(xp, **kwargs)


def test_padding_past_label_lengths_is_not_checked(xp):
    # Past label_lengths (rows 3-5 use at most 2 labels): negative, too
    # large, blank; never read, never checked.
    args = list(_batch())
    args[1][3:, 2] = [-5, 9, 0]
    want = R.ctc(*args, zero_infinity=True, reduction="none")
    got = xp.run(lambda *a: lossapi.ctc(*a, zero_infinity=True, reduction="none"), [xp.asarray(a) for a in args])
    np.testing.assert_allclose(xp.to_numpy(got), want, rtol=1e-12)
