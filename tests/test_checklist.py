"""One checklist for every loss (see cases.py): values against an independent
float64 reference, each reduction, float32/float64, half precision, dtype and
library kept, gradients against finite differences, jax.jit, bad input, and
inputs left unmodified."""

from __future__ import annotations

import numpy as np
import pytest

from cases import all_cases
from conformance import gradcheck

CASES = all_cases()


def _params(keep=lambda c: True):
    """The cases as parameters; each case's tests form one xdist group, so
    under ``pytest -n`` they run in one worker and jax compiles the case's
    primitives once (nox passes ``--dist loadgroup``)."""
    return [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.id)) for c in CASES if keep(c)]


def _inputs(case, seed=0):
    return case.make_inputs(np.random.default_rng(seed))


def _call(case, xp, arrays, reduction="mean", **extra):
    return case.fn(*arrays, reduction=reduction, **{**case.kwargs, **extra})


def _ref(case, inputs, reduction):
    return np.asarray(case.reference(*inputs, reduction=reduction, **case.kwargs), dtype=np.float64)


def _convert(xp, inputs, dtype):
    return [xp.asarray(a, dtype) for a in inputs]


def _round_bfloat16(a):
    """float64 -> float32 -> bfloat16 (round to nearest even), as float32."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32)


def _rounded(inputs, dtype):
    """The float64 values the backend actually sees after casting to dtype."""
    out = []
    for a in inputs:
        if a.dtype.kind != "f":
            out.append(a)
            continue
        a = _round_bfloat16(a) if dtype == "bfloat16" else a.astype(dtype)
        out.append(a.astype(np.float64))
    return out


def test_every_public_loss_has_a_case_and_a_reference():
    import lossapi
    from conformance import reference

    assert sorted(set(lossapi.__all__) - {c.fn.__name__ for c in CASES}) == []
    assert sorted(set(lossapi.__all__) - set(reference.__all__)) == []


@pytest.mark.parametrize("case", _params())
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_value(case, xp, dtype):
    inputs = _inputs(case)
    arrays = _convert(xp, inputs, dtype)
    for reduction in case.reductions:
        out = _call(case, xp, arrays, reduction)
        assert xp.is_native(out), f"{case.id}: result is {type(out)}, not a {xp.name} array"
        assert out.dtype == xp.dtype(dtype), f"{case.id}: dtype {out.dtype} != {dtype}"
        got = xp.to_numpy(out)
        want = _ref(case, _rounded(inputs, dtype), reduction)
        assert got.shape == want.shape, f"{case.id} {reduction}: shape {got.shape} != {want.shape}"
        rtol = case.rtol64 if dtype == "float64" else case.rtol32
        scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=f"{case.id} {reduction}")


@pytest.mark.parametrize("case", _params(lambda c: c.half))
def test_half_precision(case, xp):
    halves = xp.half_dtypes()
    if not halves:
        pytest.skip(f"{xp.name} has no half-precision floating dtype")
    inputs = _inputs(case)
    for dtype in halves:
        out = _call(case, xp, _convert(xp, inputs, dtype), "mean")
        assert out.dtype == xp.dtype(dtype), f"{case.id}: dtype {out.dtype} != {dtype}"
        got = xp.to_numpy(out).astype(np.float64)
        assert np.all(np.isfinite(got)), f"{case.id} {dtype}: {got}"
        want = _ref(case, _rounded(inputs, dtype), "mean")
        tol = 2e-2 if dtype == "bfloat16" else 4e-3
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.max(np.abs(want)))))


@pytest.mark.parametrize("case", _params())
def test_gradient(case, xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    inputs = _inputs(case, seed=1)
    reduction = "sum" if "sum" in case.reductions else case.reductions[0]
    arrays = _convert(xp, inputs, "float64")

    def f(*a):
        return _call(case, xp, a, reduction)

    if xp.name == "jax" and case.jit:
        # Under jax.jit: one compile per case, where eager differentiation
        # compiles every primitive of the forward and backward pass for its
        # shapes (most of this suite's time on jax). The eager forward is
        # test_value's; eager jax.grad stays in the family tests (xp.grad).
        jax = xp.jax
        grads = [xp.to_numpy(g) for g in jax.jit(jax.grad(f, argnums=tuple(case.grad_args)))(*arrays)]
    else:
        grads = xp.grad(f, arrays, case.grad_args)
    for i, g in zip(case.grad_args, grads):
        fd = gradcheck.fd_partial(lambda *a: _ref(case, a, reduction), inputs, i, step=case.fd_eps)
        ok, why = gradcheck.check_grad(g, fd, case.grad_rtol, case.grad_rtol)
        assert ok, f"{case.id}: gradient of input {i}: {why}"


@pytest.mark.parametrize("case", _params(lambda c: c.jit))
def test_jax_jit(case):
    jax = pytest.importorskip("jax")
    from harness import Backend, Harness

    h = Harness(Backend.JAX)
    arrays = _convert(h, _inputs(case), "float32")
    # Every reduction in one jitted function: one compile per case.
    jitted = jax.jit(lambda *a: [_call(case, h, a, r) for r in case.reductions])(*arrays)
    for reduction, out in zip(case.reductions, jitted):
        eager = h.to_numpy(_call(case, h, arrays, reduction))
        np.testing.assert_allclose(h.to_numpy(out), eager, rtol=1e-5, atol=1e-6, err_msg=f"{case.id} {reduction}")


@pytest.mark.parametrize("case", _params())
def test_inputs_unmodified(case, xp):
    inputs = _inputs(case)
    arrays = _convert(xp, inputs, "float64")
    before = [xp.to_numpy(a).copy() for a in arrays]
    for reduction in case.reductions:
        _call(case, xp, arrays, reduction)
    for b, a in zip(before, arrays):
        np.testing.assert_array_equal(xp.to_numpy(a), b)


@pytest.mark.parametrize("case", _params())
def test_bad_input(case, xp):
    inputs = _inputs(case)
    arrays = _convert(xp, inputs, "float64")
    with pytest.raises(ValueError, match="reduction"):
        _call(case, xp, arrays, "average")
    # Integer predictions are a TypeError.
    ints = [xp.asarray(np.round(inputs[0]).astype(np.int64))] + arrays[1:]
    with pytest.raises(TypeError, match=case.fn.__name__):
        _call(case, xp, ints)
    if case.shape_check and len(inputs) > 1:
        t = inputs[1]
        wrong = np.concatenate([t, t], axis=0)
        bad = [arrays[0], xp.asarray(wrong, "float64"), *arrays[2:]]
        with pytest.raises(ValueError, match=case.fn.__name__):
            _call(case, xp, bad)
    for opts, exc in case.bad_options:
        with pytest.raises(exc, match=case.fn.__name__):
            _call(case, xp, arrays, **opts)
