"""Finite differences of the float64 references, and the comparisons that use them.

One routine serves the tests' checklist (``tests/test_checklist.py``), the
conformance runner and the family tests: :func:`fd_gradient` takes central
differences of a scalar NumPy function, element by element (or along a few
random directions for large inputs); :func:`close` and :func:`check_grad`
compare an autodiff result with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

STEP = 1e-6  # relative: element i moves by STEP * max(1, |x_i|)
DIRECTIONS = 3


def fd_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, *, step: float = STEP,
                full_max: float = np.inf, rng: np.random.Generator | None = None):
    """Central differences of the scalar ``f`` at ``x``.

    Inputs of up to ``full_max`` elements get the full gradient: returns
    ``("full", g)``. Larger ones get ``DIRECTIONS`` directional derivatives
    along random unit directions: returns ``("dirs", [(d, df/dd), ...])``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size <= full_max:
        g = np.zeros_like(x)
        for i in range(x.size):
            h = step * max(1.0, abs(float(x.flat[i])))
            xp, xm = x.copy(), x.copy()
            xp.flat[i] += h
            xm.flat[i] -= h
            g.flat[i] = (float(f(xp)) - float(f(xm))) / (2 * h)
        return "full", g
    rng = rng or np.random.default_rng(0)
    dirs = [rng.normal(size=x.shape) for _ in range(DIRECTIONS)]
    dirs = [d / np.linalg.norm(d) for d in dirs]
    h = step * max(1.0, float(np.max(np.abs(x))))
    return "dirs", [(d, (float(f(x + h * d)) - float(f(x - h * d))) / (2 * h)) for d in dirs]


def fd_partial(f: Callable[..., Any], args: Sequence[np.ndarray], i: int, **kw):
    """:func:`fd_gradient` of the scalar ``f(*args)`` with respect to ``args[i]``."""
    def fi(x):
        a = list(args)
        a[i] = x
        return float(np.sum(f(*a)))
    return fd_gradient(fi, args[i], **kw)


def close(got: Any, want: Any, rtol: float, atol: float) -> tuple[bool, str]:
    """``|got - want| <= atol * max(1, max|want|) + rtol * |want|`` elementwise,
    same shape, all finite: ``(ok, why)``."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False, f"shape {got.shape} != expected {want.shape}"
    if not np.all(np.isfinite(got)):
        return False, f"non-finite values {got.ravel()[:4]}"
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    err = np.abs(got - want)
    bad = err > atol * scale + rtol * np.abs(want)
    if np.any(bad):
        i = int(np.argmax(err - rtol * np.abs(want)))
        return False, (f"got {got.ravel()[i]:.12g}, expected {want.ravel()[i]:.12g} "
                       f"(|diff| {err.ravel()[i]:.3g}, element {i} of {want.size})")
    return True, ""


def check_grad(auto: Any, fd, rtol: float, atol: float) -> tuple[bool, str]:
    """An autodiff gradient against :func:`fd_gradient`'s result: ``(ok, why)``."""
    kind, ref = fd
    auto = np.asarray(auto, dtype=np.float64)
    if not np.all(np.isfinite(auto)):
        return False, "non-finite gradient"
    if kind == "full":
        return close(auto, ref, rtol, atol)
    scale = max(1.0, float(np.linalg.norm(auto)))
    for d, want in ref:
        got = float(np.sum(auto * d))
        if abs(got - want) > atol * scale + rtol * abs(want):
            return False, f"directional derivative {got:.10g} vs finite difference {want:.10g}"
    return True, ""


def finite_grads(be: Any, fn: Callable[..., Any], arrays: Sequence[np.ndarray], argnums: Sequence[int]):
    """Autodiff gradients of ``fn`` on backend ``be`` (a conformance backend or
    the tests' ``xp``) at NumPy ``arrays``; asserts that they are finite."""
    grads = be.grad(fn, [be.asarray(a) for a in arrays], argnums)
    for i, g in zip(argnums, grads):
        assert np.all(np.isfinite(g)), f"non-finite gradient for input {i}: {g}"
    return grads
