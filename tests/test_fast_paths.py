"""Whole-loss fast paths (a backend's fused kernel) must give the values and
gradients of the generic array-API code they replace."""

from __future__ import annotations

import numpy as np
import pytest

from cases import all_cases
from lossapi.backends import resolve

CASES = all_cases()


def _fast_cases(xp):
    probe = xp.asarray(np.zeros(2), "float64")
    ops = resolve("probe", probe)
    return ops, [c for c in CASES if c.fn.__name__ in ops.native_losses]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fast_path_equals_generic(case, xp, monkeypatch):
    ops, fast = _fast_cases(xp)
    if case not in fast:
        pytest.skip(f"{xp.name} has no fast path for {case.fn.__name__}")
    inputs = case.make_inputs(np.random.default_rng(7))
    reductions = case.reductions
    for dtype in ("float64", "float32"):
        arrays = [xp.asarray(a, dtype) for a in inputs]
        for reduction in reductions:
            a = xp.to_numpy(case.fn(*arrays, reduction=reduction, **case.kwargs))
            with monkeypatch.context() as m:
                m.setattr(ops, "native_losses", {})
                b = xp.to_numpy(case.fn(*arrays, reduction=reduction, **case.kwargs))
            tol = 1e-12 if dtype == "float64" else 2e-6
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    if xp.has_grad:
        arrays = [xp.asarray(a, "float64") for a in inputs]
        red = "sum" if "sum" in reductions else reductions[0]
        ga = xp.grad(lambda *x: case.fn(*x, reduction=red, **case.kwargs), arrays, case.grad_args)
        with monkeypatch.context() as m:
            m.setattr(ops, "native_losses", {})
            gb = xp.grad(lambda *x: case.fn(*x, reduction=red, **case.kwargs), arrays, case.grad_args)
        for x, y in zip(ga, gb):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
