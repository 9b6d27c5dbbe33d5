"""soft_margin: torch's soft_margin_loss, softplus(-t * s), against an
independent float64 NumPy reference, its analytic gradient, large scores,
argument errors, and torch's kernels."""

from __future__ import annotations

import numpy as np
import pytest

import lossapi
from lossapi.backends import resolve

REDUCTIONS = ("mean", "sum", "none")


def _inputs(seed=0, shape=(4, 5)):
    rng = np.random.default_rng(seed)
    s = rng.uniform(-6.0, 6.0, size=shape)
    s.flat[0] = 0.0  # t * s == 0: value log 2, gradient -t / 2
    t = rng.choice([-1.0, 1.0], size=shape)
    return s, t


def _ref_values(s, t):
    # log(1 + exp(-t s)) in float64, via logaddexp (exact for any finite margin).
    return np.logaddexp(0.0, -np.asarray(t, np.float64) * np.asarray(s, np.float64))


def _reduce(v, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda x: x}[reduction](v)


def _ref_grad(s, t, reduction):
    # d/ds log(1 + exp(-t s)) = -t * sigmoid(-t s) = -t / (1 + exp(t s)).
    m = np.asarray(t, np.float64) * np.asarray(s, np.float64)
    g = -t * np.exp(-np.logaddexp(0.0, m))
    return g / g.size if reduction == "mean" else g


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_value(xp, dtype, reduction):
    s, t = _inputs()
    out = lossapi.soft_margin(xp.asarray(s, dtype), xp.asarray(t, dtype), reduction=reduction)
    assert out.dtype == xp.dtype(dtype)
    s_seen = s.astype(dtype).astype(np.float64)  # the values the backend computes with
    want = _reduce(_ref_values(s_seen, t), reduction)
    got = xp.to_numpy(out)
    assert got.shape == np.shape(want)
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_doc_example_value():
    # The docstring's example, computed here term by term in float64.
    s, t = np.array([0.8, -0.3, 0.4, 0.0]), np.array([1.0, -1.0, -1.0, 1.0])
    terms = [np.log1p(np.exp(-0.8)), np.log1p(np.exp(-0.3)), np.log1p(np.exp(0.4)), np.log(2.0)]
    assert abs(float(lossapi.soft_margin(s, t)) - np.mean(terms)) < 1e-15
    assert round(float(np.mean(terms)), 4) == 0.6329


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient(xp, dtype, reduction):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    s, t = _inputs(1)
    (g,) = xp.grad(lambda a, b: lossapi.soft_margin(a, b, reduction=reduction),
                   [xp.asarray(s, dtype), xp.asarray(t, dtype)], [0])
    want = _ref_grad(s.astype(dtype).astype(np.float64), t, reduction)
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(g, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_large_scores_finite(xp, dtype):
    # -t s = -1e4, 1e4, 1e4, -1e4: log1p(exp(1e4)) overflows, softplus does not.
    s = np.array([1e4, -1e4, 1e4, -1e4])
    t = np.array([1.0, 1.0, -1.0, -1.0])
    out = xp.to_numpy(lossapi.soft_margin(xp.asarray(s, dtype), xp.asarray(t, dtype), reduction="none"))
    np.testing.assert_allclose(out, [0.0, 1e4, 1e4, 0.0], rtol=1e-7, atol=0.0)
    if xp.has_grad:
        (g,) = xp.grad(lambda a, b: lossapi.soft_margin(a, b, reduction="sum"),
                       [xp.asarray(s, dtype), xp.asarray(t, dtype)], [0])
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, [0.0, -1.0, 1.0, 0.0], rtol=0.0, atol=1e-12)


def test_shape_mismatch(xp):
    with pytest.raises(ValueError, match=r"^soft_margin: scores has shape \(3,\) but target has shape \(2,\)"):
        lossapi.soft_margin(xp.asarray(np.zeros(3)), xp.asarray(np.ones(2)))


def test_bad_reduction(xp):
    with pytest.raises(ValueError, match=r"^soft_margin: reduction must be one of"):
        lossapi.soft_margin(xp.asarray(np.zeros(3)), xp.asarray(np.ones(3)), reduction="avg")


def test_integer_targets_cast(xp):
    s = np.array([0.5, -1.5, 2.0])
    t = np.array([1, -1, -1])
    got = xp.to_numpy(lossapi.soft_margin(xp.asarray(s), xp.asarray(t), reduction="sum"))
    np.testing.assert_allclose(got, np.sum(_ref_values(s, t)), rtol=1e-12)


def _value_and_grad(s, t, dtype, reduction):
    import torch

    leaf = torch.tensor(s, dtype=getattr(torch, dtype), requires_grad=True)
    tt = torch.tensor(t, dtype=getattr(torch, dtype))
    out = lossapi.soft_margin(leaf, tt, reduction=reduction)
    (g,) = torch.autograd.grad(out.sum(), [leaf])
    return out.detach().numpy(), g.numpy()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_kernel_equals_generic(xp, monkeypatch, dtype, reduction):
    if xp.name != "torch":
        pytest.skip("torch's kernel row")
    s, t = _inputs(2)
    s = np.concatenate([s.ravel(), [1e4, -1e4, 1e4, -1e4, 0.0, 0.0]])
    t = np.concatenate([t.ravel(), [1.0, 1.0, -1.0, -1.0, 1.0, -1.0]])
    ops = resolve("probe", xp.asarray(s))
    assert "soft_margin" in ops.kernels
    v_kernel, g_kernel = _value_and_grad(s, t, dtype, reduction)
    monkeypatch.setattr(ops, "kernels", {})
    lossapi.soft_margin.plans.clear()  # a call plan would still replay the kernel
    v_generic, g_generic = _value_and_grad(s, t, dtype, reduction)
    lossapi.soft_margin.plans.clear()
    np.testing.assert_array_equal(v_kernel, v_generic)
    np.testing.assert_array_equal(g_kernel, g_generic)
    assert np.all(np.isfinite(v_kernel)) and np.all(np.isfinite(g_kernel))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_torch_soft_margin_loss(xp, dtype, reduction):
    if xp.name != "torch":
        pytest.skip("torch's F.soft_margin_loss")
    import torch
    import torch.nn.functional as F

    # Moderate margins: F.soft_margin_loss computes log1p(exp(-t s)), which
    # overflows (inf, NaN gradient) once -t s exceeds about 88 in float32.
    s, t = _inputs(3)
    want_v, want_g = [], []
    for fn in (lambda a, b: lossapi.soft_margin(a, b, reduction=reduction),
               lambda a, b: F.soft_margin_loss(a, b, reduction=reduction)):
        leaf = torch.tensor(s, dtype=getattr(torch, dtype), requires_grad=True)
        tt = torch.tensor(t, dtype=getattr(torch, dtype))
        out = fn(leaf, tt)
        (g,) = torch.autograd.grad(out.sum(), [leaf])
        want_v.append(out.detach().numpy())
        want_g.append(g.numpy())
    tol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(want_v[0], want_v[1], rtol=tol, atol=tol)
    np.testing.assert_allclose(want_g[0], want_g[1], rtol=tol, atol=tol)
