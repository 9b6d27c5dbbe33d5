"""Call plans (lossapi._core.loss): a loss called again with the same
signature skips its Python checks and runs the backend kernel directly.
These tests call each loss repeatedly with one signature and check every call
against a float64 NumPy reference written here, and that errors, option
changes, value checks and switched-off kernels still take the full path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import lossapi
from lossapi._core import loss as core
from lossapi.backends import Kernel, resolve


def _np(xp, x):
    return np.asarray(xp.to_numpy(x), dtype=np.float64)


def _ce_ref(z, y, w=None):
    # float64 softmax cross-entropy with torch's weighted mean.
    m = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
    nll = lse - z[np.arange(len(y)), y]
    wy = np.ones(len(y)) if w is None else w[y]
    return (wy * nll).sum() / wy.sum()


def test_new_values_each_call(xp):
    rng = np.random.default_rng(0)
    for _ in range(4):
        p, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
        got = _np(xp, lossapi.mse(xp.asarray(p), xp.asarray(t)))
        np.testing.assert_allclose(got, ((p - t) ** 2).mean(), rtol=1e-12)


def test_aliased_arguments_do_not_leak_into_later_calls(xp):
    # mse(x, x) and mse(x, y) share a signature; a plan built from the first
    # must not read x twice in the second.
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(6), rng.standard_normal(6)
    a = xp.asarray(x)
    assert _np(xp, lossapi.mse(a, a)) == 0.0
    assert _np(xp, lossapi.mse(a, a)) == 0.0
    np.testing.assert_allclose(_np(xp, lossapi.mse(a, xp.asarray(y))), ((x - y) ** 2).mean(), rtol=1e-12)


def test_weights_are_read_each_call(xp):
    rng = np.random.default_rng(2)
    z, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    for w in (np.ones(4), np.array([0.5, 2.0, 1.0, 3.0]), np.array([4.0, 0.1, 0.2, 1.0])):
        got = _np(xp, lossapi.cross_entropy(xp.asarray(z), xp.asarray(y), weight=xp.asarray(w)))
        np.testing.assert_allclose(got, _ce_ref(z, y, w), rtol=1e-12)


def test_options_are_part_of_the_signature(xp):
    rng = np.random.default_rng(3)
    p, t = rng.standard_normal(8) * 2, rng.standard_normal(8)
    a, b = xp.asarray(p), xp.asarray(t)
    r = np.abs(p - t)
    for delta in (1.0, 1.0, 0.5, 2, 2):
        ref = np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta)).mean()
        np.testing.assert_allclose(_np(xp, lossapi.huber(a, b, delta=delta)), ref, rtol=1e-12)
    with pytest.raises(TypeError, match="huber: delta must be a real number or a 0-d array, got bool"):
        lossapi.huber(a, b, delta=True)  # True == 1 and hash(True) == hash(1): the type keeps them apart
    for reduction, ref in (("sum", (r * r).sum()), ("none", r * r), ("sum", (r * r).sum())):
        got = _np(xp, lossapi.mse(a, b, reduction=reduction))
        assert got.shape == np.shape(ref)
        np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_bad_labels_after_good_ones_take_the_full_path(xp):
    # The module's rule: a ValueError where values are readable (NumPy,
    # array-api-strict, torch CPU), a NaN loss elsewhere (JAX, Dask, CuPy).
    z = xp.asarray(np.zeros((3, 4)))
    good, bad = np.array([0, 3, 1]), np.array([0, 4, 1])
    for _ in range(3):
        np.testing.assert_allclose(_np(xp, lossapi.cross_entropy(z, xp.asarray(good))), np.log(4.0), rtol=1e-12)
    if xp.name == "torch":  # torch's kernel checks labels itself (its row says so): the call has a plan
        assert isinstance(lossapi.cross_entropy.plans[core._signature((z, xp.asarray(good)), {})], core.Plan)
    if xp.name in ("numpy", "array_api_strict", "torch"):
        with pytest.raises(ValueError, match=r"cross_entropy: target contains class label 4, which is outside"):
            lossapi.cross_entropy(z, xp.asarray(bad))
        with pytest.raises(ValueError, match=r"nll: target contains class label -1"):
            for labels in (good, good, np.array([0, -1, 1])):
                lossapi.nll(z, xp.asarray(labels))
    else:
        assert np.isnan(_np(xp, lossapi.cross_entropy(z, xp.asarray(bad))))


def test_torch_bad_probabilities_after_good_ones_raise():
    torch = pytest.importorskip("torch")
    p, t = torch.full((4,), 0.5, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    for _ in range(3):
        assert lossapi.binary_cross_entropy(p, t).item() == pytest.approx(np.log(2.0), rel=1e-12)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: probs must hold probabilities in \[0, 1\]"):
        lossapi.binary_cross_entropy(torch.tensor([0.5, 1.5, 0.5, 0.5], dtype=torch.float64), t)


def test_an_undeclared_value_check_prevents_a_plan(monkeypatch):
    # A kernel row that does not declare the label check (checks=frozenset())
    # and a kernel that does not check labels itself (it clamps them, as a
    # kernel without a range check reads some class): lossapi's check must
    # run on every call, so the signature never gets a plan, and bad labels
    # raise lossapi's ValueError on a repeated call with the same signature.
    torch = pytest.importorskip("torch")
    z = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, -1.0, 0.5, 0.0], [2.0, 2.0, 0.0, -2.0]])
    Z = torch.tensor(z)
    ops = resolve("probe", Z)
    row = ops.kernels["cross_entropy"]
    assert row.checks == frozenset({"labels"})
    calls = []

    def unchecked(logits, target, **options):
        calls.append(target.tolist())
        return row.fn(logits, target.clamp(0, logits.shape[options["axis"]] - 1), **options)

    monkeypatch.setitem(ops.kernels, "cross_entropy", dataclasses.replace(row, fn=unchecked, checks=frozenset()))
    lossapi.cross_entropy.plans.clear()  # no plan from an earlier test for this signature
    good, bad = np.array([0, 3, 1]), np.array([0, 4, 1])
    for _ in range(3):
        got = lossapi.cross_entropy(Z, torch.tensor(good)).item()
        assert got == pytest.approx(_ce_ref(z, good), rel=1e-12)
    assert calls == [good.tolist()] * 3  # the kernel ran, with the label check in Python before it
    key = core._signature((Z, torch.tensor(good)), {})
    assert lossapi.cross_entropy.plans[key] is False
    for labels in (bad, np.array([-1, 0, 0])):
        with pytest.raises(ValueError, match=r"cross_entropy: target contains class label (4|-1), which is outside"):
            lossapi.cross_entropy(Z, torch.tensor(labels))
    assert len(calls) == 3  # lossapi's check raised before the kernel ran
    assert lossapi.cross_entropy.plans[key] is False


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_kernels_get_a_plan_and_it_stands_down_when_switched_off(backend, monkeypatch):
    mod = pytest.importorskip(backend)
    xn = np.array([1.0, 2.0, 4.0])
    x = xn.copy() if backend == "numpy" else mod.tensor(xn)
    y = x * 0.0
    ops = resolve("probe", x)
    key = core._signature((x, y), {})
    for _ in range(2):
        assert float(lossapi.mse(x, y)) == pytest.approx(np.mean(xn * xn), rel=1e-12)
    assert isinstance(lossapi.mse.plans[key], core.Plan), "the second call with one signature should have a plan"
    calls = []

    def spy(pred, target, reduction):
        calls.append(reduction)
        return ops.xp.sum(pred * pred)

    # A whole new table (what tests do to switch kernels off) and a replaced
    # row: the plan reads the live table and stands down for both, and runs
    # again once the row is back.
    with monkeypatch.context() as m:
        m.setattr(ops, "kernels", {"mse": Kernel(spy)})
        assert float(lossapi.mse(x, y)) == pytest.approx(np.sum(xn * xn), rel=1e-12)  # the spy, not the plan
    assert calls == ["mean"]
    assert float(lossapi.mse(x, y)) == pytest.approx(np.mean(xn * xn), rel=1e-12)
    with monkeypatch.context() as m:
        m.setitem(ops.kernels, "mse", Kernel(spy))
        assert float(lossapi.mse(x, y)) == pytest.approx(np.sum(xn * xn), rel=1e-12)
    assert calls == ["mean", "mean"]
    with monkeypatch.context() as m:
        m.setattr(ops, "kernels", {})
        assert float(lossapi.mse(x, y)) == pytest.approx(np.mean(xn * xn), rel=1e-12)  # generic code
    assert calls == ["mean", "mean"]
    assert isinstance(lossapi.mse.plans[key], core.Plan)


def test_plans_are_bounded():
    np_ = pytest.importorskip("numpy")
    for n in range(1, core._MAX_PLANS + 40):
        lossapi.mae(np_.zeros(n), np_.ones(n))
    assert 0 < len(lossapi.mae.plans) <= core._MAX_PLANS


def test_torch_transforms_and_compile_after_plans():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    z, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    Z, Y = torch.tensor(z), torch.tensor(y)
    for _ in range(2):  # build the plan in eager mode first
        assert lossapi.cross_entropy(Z, Y).item() == pytest.approx(_ce_ref(z, y), rel=1e-12)
    assert isinstance(lossapi.cross_entropy.plans[core._signature((Z, Y), {})], core.Plan)
    # d/dz mean CE = (softmax(z) - onehot(y)) / N
    s = np.exp(z - z.max(1, keepdims=True))
    s /= s.sum(1, keepdims=True)
    ref = s.copy()
    ref[np.arange(5), y] -= 1.0
    g = torch.func.grad(lambda a: lossapi.cross_entropy(a, Y))(Z)
    np.testing.assert_allclose(g.numpy(), ref / 5, rtol=1e-10, atol=1e-12)
    per_row = torch.func.vmap(lambda a, b: lossapi.cross_entropy(a[None], b[None]))(Z, Y)
    np.testing.assert_allclose(per_row.numpy(), [_ce_ref(z[i:i + 1], y[i:i + 1]) for i in range(5)], rtol=1e-12)
    torch._dynamo.reset()
    compiled = torch.compile(lambda a, b: lossapi.cross_entropy(a, b), backend="aot_eager", fullgraph=True)
    assert compiled(Z, Y).item() == pytest.approx(_ce_ref(z, y), rel=1e-12)
