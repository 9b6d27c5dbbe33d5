"""Lovasz hinge and Lovasz-Softmax (Berman et al. 2018), generalized Dice, and
the backend primitives they use (sort with its permutation, cumulative sum).

The float64 references here are written from the paper's set definition, not
from the cumulative-sum form of the reference code and of lossapi: with the
errors sorted in decreasing order, the ``k`` largest form the set ``M_k`` of
mispredicted pixels and the Lovasz extension is
``sum_k e_(k) (D(M_k) - D(M_(k-1)))`` with the Jaccard loss
``D(M) = |M| / |F ∪ M|`` (``F`` the foreground). conformance/reference.py
(the checklist's reference) follows Alg. 1 with ``numpy.cumsum``; both are
checked against each other below.
"""

from __future__ import annotations

import numpy as np
import pytest

import lossapi
from conformance import reference as R


def call(xp, fn, *arrays, **options):
    """``fn(*arrays, **options)``, compiled once on JAX (op-by-op execution
    compiles every primitive for every shape, far slower)."""
    return xp.run(lambda *a: fn(*a, **options), arrays)


def grad(xp, fn, arrays, argnums=(0,)):
    if xp.name == "jax":  # jit(grad): one compile, as call()
        import jax

        return [np.asarray(g) for g in jax.jit(jax.grad(fn, argnums=tuple(argnums)))(*arrays)]
    return xp.grad(fn, arrays, argnums)


# --- independent float64 references (set definition) --------------------------------

def _jaccard_set_loss(members, fg):
    """D(M) = |M| / |F ∪ M| for a boolean set M over the pixels."""
    union = np.sum(fg | members)
    return np.sum(members) / union if union else 0.0


def _extension(errors, fg, hinge):
    """The Lovasz extension of the Jaccard loss at ``errors`` (stable order at
    ties) and its gradient with respect to ``errors``."""
    fg = fg.astype(bool)
    order = np.argsort(-errors, kind="stable")
    members = np.zeros(errors.shape, bool)
    value, grad, prev = 0.0, np.zeros_like(errors), 0.0
    for i in order:
        members[i] = True
        d = _jaccard_set_loss(members, fg)
        e = max(errors[i], 0.0) if hinge else errors[i]
        value += e * (d - prev)
        grad[i] = (d - prev) * (errors[i] > 0 if hinge else 1.0)
        prev = d
    return value, grad


def _hinge_image(x, t):
    """Value and d/dx of one image's Lovasz hinge (errors 1 - x s, s = 2t - 1)."""
    s = 2.0 * t - 1.0
    value, g = _extension(1.0 - x * s, t, hinge=True)
    return value, -s * g


def _softmax_image(p, y, classes):
    """Value and d/dp of one image's Lovasz-Softmax; p is [P, C], y is [P]."""
    num_classes = p.shape[1]
    chosen = range(num_classes) if classes in ("all", "present") else classes
    values, grad = [], np.zeros_like(p)
    for c in chosen:
        fg = (y == c).astype(np.float64)
        if classes == "present" and not fg.any():
            continue
        d = fg - p[:, c]
        value, g = _extension(np.abs(d), fg, hinge=False)
        values.append(value)
        grad[:, c] += g * -np.sign(d)
    if not values:
        return 0.0, grad
    return float(np.mean(values)), grad / len(values)


def _softmax_inputs(rng, shape):
    z = rng.normal(size=shape)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return p, rng.integers(0, shape[1], size=(shape[0],) + shape[2:])


# --- values against the set definition ------------------------------------------------

@pytest.mark.parametrize("per_image", [True, False])
def test_hinge_matches_set_definition(xp, per_image):
    rng = np.random.default_rng(0)
    x, t = rng.normal(scale=2, size=(3, 4, 5)), (rng.uniform(size=(3, 4, 5)) > 0.5).astype(np.float64)
    got = xp.to_numpy(call(xp, lossapi.lovasz_hinge, xp.asarray(x), xp.asarray(t), per_image=per_image, reduction="none"))
    if per_image:
        want = np.array([_hinge_image(x[i].ravel(), t[i].ravel())[0] for i in range(3)])
    else:
        want = np.array(_hinge_image(x.ravel(), t.ravel())[0])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(R.lovasz_hinge(x, t, per_image=per_image, reduction="none"), want, rtol=1e-12)


@pytest.mark.parametrize("classes", ["present", "all", [2, 0]])
@pytest.mark.parametrize("per_image", [True, False])
def test_softmax_matches_set_definition(xp, classes, per_image):
    rng = np.random.default_rng(1)
    p, y = _softmax_inputs(rng, (2, 4, 3, 4))
    y[0][y[0] == 3] = 1  # class 3 absent from image 0
    got = xp.to_numpy(call(xp, lossapi.lovasz_softmax, xp.asarray(p), xp.asarray(y), classes=classes, per_image=per_image,
                                             reduction="none"))
    flat = np.moveaxis(p, 1, -1)
    if per_image:
        want = np.array([_softmax_image(flat[i].reshape(-1, 4), y[i].ravel(), classes)[0] for i in range(2)])
    else:
        want = np.array(_softmax_image(flat.reshape(-1, 4), y.ravel(), classes)[0])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(R.lovasz_softmax(p, y, classes=classes, per_image=per_image, reduction="none"), want,
                               rtol=1e-12)


def test_softmax_absent_class_is_its_largest_probability(xp):
    # LovaszSoftmax#26: with classes="all", a class without pixels costs its
    # largest probability; "present" skips it.
    rng = np.random.default_rng(2)
    p, y = _softmax_inputs(rng, (1, 3, 8))
    y[y == 2] = 0
    P, Y = xp.asarray(p), xp.asarray(y)
    all_ = float(xp.to_numpy(call(xp, lossapi.lovasz_softmax, P, Y, classes="all")))
    present = float(xp.to_numpy(call(xp, lossapi.lovasz_softmax, P, Y)))
    only2 = float(xp.to_numpy(call(xp, lossapi.lovasz_softmax, P, Y, classes=[2])))
    np.testing.assert_allclose(only2, p[0, 2].max(), rtol=1e-12)
    np.testing.assert_allclose(all_, (2 * present + p[0, 2].max()) / 3, rtol=1e-12)


# --- gradients ----------------------------------------------------------------------

def test_hinge_gradient_matches_set_definition(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    rng = np.random.default_rng(3)
    x, t = rng.normal(scale=2, size=(2, 9)), (rng.uniform(size=(2, 9)) > 0.5).astype(np.float64)
    (g,) = grad(xp, lambda a, b: lossapi.lovasz_hinge(a, b, reduction="sum"), [xp.asarray(x), xp.asarray(t)], (0,))
    want = np.stack([_hinge_image(x[i], t[i])[1] for i in range(2)])
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-14)
    # and against central differences of the independent reference, away from ties and kinks
    eps, fd = 1e-6, np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[idx] += eps
        lo[idx] -= eps
        fd[idx] = sum(_hinge_image(hi[i], t[i])[0] - _hinge_image(lo[i], t[i])[0] for i in range(2)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_softmax_gradient_matches_set_definition(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    rng = np.random.default_rng(4)
    p, y = _softmax_inputs(rng, (1, 3, 7))
    (g,) = grad(xp, lambda a, b: lossapi.lovasz_softmax(a, b), [xp.asarray(p), xp.asarray(y)], (0,))
    want = _softmax_image(np.moveaxis(p[0], 0, -1), y[0], "present")[1]
    np.testing.assert_allclose(g[0], np.moveaxis(want, -1, 0), rtol=1e-12, atol=1e-14)


def test_ties_value_and_gradient(xp):
    # Tied errors: the value does not depend on the order among ties; the
    # gradient is the one of the stable order (pixel order), on every backend.
    x = np.array([[0.5, -0.5, 0.5, 0.5, -0.5, 2.0, 0.5, -0.5]])
    t = np.array([[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]])
    X, T = xp.asarray(x), xp.asarray(t)
    val, want_grad = _hinge_image(x[0], t[0])
    np.testing.assert_allclose(xp.to_numpy(call(xp, lossapi.lovasz_hinge, X, T)), val, rtol=1e-12)
    shuffled = np.random.default_rng(5).permutation(8)
    np.testing.assert_allclose(_hinge_image(x[0, shuffled], t[0, shuffled])[0], val, rtol=1e-12)
    if xp.has_grad:
        (g,) = grad(xp, lambda a, b: lossapi.lovasz_hinge(a, b), [X, T], (0,))
        np.testing.assert_allclose(g[0], want_grad, rtol=1e-12, atol=1e-14)


# --- empty foreground and masks -------------------------------------------------------

def test_image_without_foreground(xp):
    # LovaszSoftmax#26: only the largest error counts, relu(1 + max logit).
    x = np.array([[-2.0, 0.3, -0.1, 1.2], [-3.0, -2.5, -4.0, -1.5]])
    t = np.zeros_like(x)
    X, T = xp.asarray(x), xp.asarray(t)
    got = xp.to_numpy(call(xp, lossapi.lovasz_hinge, X, T, reduction="none"))
    np.testing.assert_allclose(got, [2.2, 0.0], rtol=1e-12, atol=1e-15)
    if xp.has_grad:
        (g,) = grad(xp, lambda a, b: lossapi.lovasz_hinge(a, b, reduction="sum"), [X, T], (0,))
        np.testing.assert_array_equal(g, [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])


@pytest.mark.parametrize("per_image", [True, False])
def test_everything_masked_is_zero_not_nan(xp, per_image):
    # LovaszSoftmax#14.
    rng = np.random.default_rng(6)
    x, t = rng.normal(size=(2, 5)), (rng.uniform(size=(2, 5)) > 0.5).astype(np.float64)
    p, y = _softmax_inputs(rng, (2, 3, 5))
    none = xp.asarray(np.zeros((2, 5), bool))
    X, T, P, Y = (xp.asarray(a) for a in (x, t, p, y))
    calls = [lambda a, b, r: lossapi.lovasz_hinge(a, b, per_image=per_image, where=none, reduction=r),
             lambda a, b, r: lossapi.lovasz_softmax(a, b, per_image=per_image, where=none, reduction=r)]
    for f, (a, b) in zip(calls, [(X, T), (P, Y)]):
        for r in ("mean", "sum", "none"):
            out = xp.to_numpy(call(xp, lambda a_, b_, f=f, r=r: f(a_, b_, r), a, b))
            np.testing.assert_array_equal(out, 0.0)
        if xp.has_grad:
            (g,) = grad(xp, lambda a_, b_, f=f: f(a_, b_, "mean"), [a, b], (0,))
            np.testing.assert_array_equal(g, 0.0)


def test_masked_pixels_are_removed(xp):
    rng = np.random.default_rng(7)
    x, t = rng.normal(size=(3, 6)), (rng.uniform(size=(3, 6)) > 0.5).astype(np.float64)
    w = rng.uniform(size=(3, 6)) > 0.3
    w[1] = False  # image 1 has no pixel left: 0, and it leaves the mean
    x_garbage = np.where(w, x, 1e30)  # masked values never matter
    got = xp.to_numpy(call(xp, lossapi.lovasz_hinge, xp.asarray(x_garbage), xp.asarray(t), where=xp.asarray(w),
                                           reduction="none"))
    want = np.array([_hinge_image(x[i][w[i]], t[i][w[i]])[0] if w[i].any() else 0.0 for i in range(3)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    mean = xp.to_numpy(call(xp, lossapi.lovasz_hinge, xp.asarray(x), xp.asarray(t), where=xp.asarray(w)))
    np.testing.assert_allclose(mean, (want[0] + want[2]) / 2, rtol=1e-12)
    # one value per image selects whole images
    sel = np.array([True, False, True])
    got = xp.to_numpy(call(xp, lossapi.lovasz_hinge, xp.asarray(x), xp.asarray(t), where=xp.asarray(sel), reduction="none"))
    np.testing.assert_allclose(got, [_hinge_image(x[0], t[0])[0], 0.0, _hinge_image(x[2], t[2])[0]], rtol=1e-12)


def test_softmax_ignore_index_equals_where(xp):
    rng = np.random.default_rng(8)
    p, y = _softmax_inputs(rng, (2, 3, 6))
    y[0, :2] = 255
    y[1, 4] = 255
    P = xp.asarray(p)
    a = call(xp, lossapi.lovasz_softmax, P, xp.asarray(y), ignore_index=255, per_image=True, reduction="none")
    want = R.lovasz_softmax(p, y, ignore_index=255, per_image=True, reduction="none")
    np.testing.assert_allclose(xp.to_numpy(a), want, rtol=1e-12)
    y0 = np.where(y == 255, 0, y)
    b = call(xp, lossapi.lovasz_softmax, P, xp.asarray(y0), where=xp.asarray(y != 255), per_image=True, reduction="none")
    np.testing.assert_allclose(xp.to_numpy(b), want, rtol=1e-12)
    if xp.name in ("jax", "dask"):  # values not read (traced or lazy): NaN marks the bad label's image
        got = xp.to_numpy(call(xp, lossapi.lovasz_softmax, P, xp.asarray(y), per_image=True, reduction="none"))
        assert np.all(np.isnan(got))
    else:
        with pytest.raises(ValueError, match="lovasz_softmax: labels contains class label 255"):
            xp.to_numpy(call(xp, lossapi.lovasz_softmax, P, xp.asarray(y)))


def test_per_image_is_the_mean_of_single_images(xp):
    rng = np.random.default_rng(9)
    x, t = rng.normal(size=(3, 2, 4)), (rng.uniform(size=(3, 2, 4)) > 0.5).astype(np.float64)
    each = [float(xp.to_numpy(call(xp, lossapi.lovasz_hinge, xp.asarray(x[i:i + 1]), xp.asarray(t[i:i + 1]))))
            for i in range(3)]
    np.testing.assert_allclose(xp.to_numpy(call(xp, lossapi.lovasz_hinge, xp.asarray(x), xp.asarray(t))), np.mean(each),
                               rtol=1e-12)
    np.testing.assert_allclose(xp.to_numpy(call(xp, lossapi.lovasz_hinge, xp.asarray(x), xp.asarray(t), reduction="sum")),
                               np.sum(each), rtol=1e-12)
    # per_image=False is one loss over the batch, 0-d for every reduction
    for r in ("mean", "sum", "none"):
        out = xp.to_numpy(call(xp, lossapi.lovasz_hinge, xp.asarray(x), xp.asarray(t), per_image=False, reduction=r))
        assert out.shape == ()
        np.testing.assert_allclose(out, _hinge_image(x.ravel(), t.ravel())[0], rtol=1e-12)


def test_shape_errors(xp):
    P = xp.asarray(np.full((2, 3, 4), 1 / 3))
    with pytest.raises(ValueError, match="lovasz_softmax: .*labels"):
        lossapi.lovasz_softmax(P, xp.asarray(np.zeros((2, 3, 4), np.int64)))
    with pytest.raises(TypeError, match="lovasz_softmax: labels must hold integer"):
        lossapi.lovasz_softmax(P, xp.asarray(np.zeros((2, 4))))
    with pytest.raises(ValueError, match="lovasz_hinge: logits has shape"):
        lossapi.lovasz_hinge(P, xp.asarray(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="lovasz_hinge: logits must have shape"):
        lossapi.lovasz_hinge(xp.asarray(np.array(1.0)), xp.asarray(np.array(1.0)))


# --- jax transforms, half precision, dask ------------------------------------------------

def test_jax_jit_vmap_grad():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    rng = np.random.default_rng(10)
    x, t = rng.normal(size=(4, 3, 3)), (rng.uniform(size=(4, 3, 3)) > 0.5).astype(np.float64)
    X, T = jnp.asarray(x, jnp.float32), jnp.asarray(t, jnp.float32)
    want = np.array([_hinge_image(x[i].ravel().astype(np.float32).astype(np.float64), t[i].ravel())[0]
                     for i in range(4)])
    jitted = jax.jit(lambda a, b: lossapi.lovasz_hinge(a, b, reduction="none"))(X, T)
    np.testing.assert_allclose(np.asarray(jitted), want, rtol=1e-5)
    mapped = jax.jit(jax.vmap(lambda a, b: lossapi.lovasz_hinge(a, b, per_image=False)))(X, T)
    np.testing.assert_allclose(np.asarray(mapped), want, rtol=1e-5)
    g = jax.jit(jax.grad(lambda a: lossapi.lovasz_hinge(a, T, reduction="sum")))(X)
    want_g = np.stack([_hinge_image(x[i].ravel().astype(np.float32).astype(np.float64), t[i].ravel())[1]
                       for i in range(4)]).reshape(x.shape)
    np.testing.assert_allclose(np.asarray(g), want_g, rtol=1e-5, atol=1e-6)
    p, y = _softmax_inputs(rng, (3, 3, 5))
    P, Y = jnp.asarray(p), jnp.asarray(y)
    f = jax.jit(lambda a, b: lossapi.lovasz_softmax(a, b, per_image=True, classes="all", reduction="none"))
    np.testing.assert_allclose(np.asarray(f(P, Y)),
                               R.lovasz_softmax(p, y, per_image=True, classes="all", reduction="none"), rtol=1e-5)
    v = jax.jit(jax.vmap(lambda a, b: lossapi.lovasz_softmax(a, b, axis=0, classes="all")))(P, Y)
    np.testing.assert_allclose(np.asarray(v), R.lovasz_softmax(p, y, per_image=True, classes="all",
                                                                reduction="none"), rtol=1e-5)


def test_half_precision_with_ties(xp):
    # float16 rounding makes ties among the errors; computed in float32, cast back.
    halves = xp.half_dtypes()
    if not halves:
        pytest.skip(f"{xp.name} has no half-precision dtype")
    rng = np.random.default_rng(11)
    x = np.round(rng.normal(size=(2, 16)), 1)  # many exact ties
    t = (rng.uniform(size=(2, 16)) > 0.5).astype(np.float64)
    for dtype in halves:
        out = call(xp, lossapi.lovasz_hinge, xp.asarray(x, dtype), xp.asarray(t, dtype))
        assert out.dtype == xp.dtype(dtype)
        xr = xp.to_numpy(xp.asarray(x, dtype)).astype(np.float64)
        want = np.mean([_hinge_image(xr[i], t[i])[0] for i in range(2)])
        np.testing.assert_allclose(xp.to_numpy(out).astype(np.float64), want, rtol=1e-2)


def test_dask_is_lazy_and_sorts_a_chunked_axis():
    da = pytest.importorskip("dask.array")
    import dask

    from lossapi.backends import resolve

    rng = np.random.default_rng(12)
    x, t = rng.normal(size=(2, 6, 4)), (rng.uniform(size=(2, 6, 4)) > 0.5).astype(np.float64)
    X, T = da.from_array(x, chunks=(1, 2, 2)), da.from_array(t, chunks=(1, 3, 2))
    p, y = _softmax_inputs(rng, (2, 3, 8))
    P, Y = da.from_array(p, chunks=(1, 2, 3)), da.from_array(y, chunks=(1, 3))

    def refuse(*args, **kwargs):
        raise AssertionError("a dask graph was computed during the call")

    with dask.config.set(scheduler=refuse):
        h = lossapi.lovasz_hinge(X, T, reduction="none")
        s = lossapi.lovasz_softmax(P, Y, per_image=True, reduction="none")
        ops = resolve("test", X)
        values, perm = ops.sort(X, axis=1, descending=True)
        c = ops.cumsum(X, axis=1)
    assert isinstance(h, da.Array) and isinstance(s, da.Array) and isinstance(values, da.Array)
    assert values.numblocks[1] == 1  # the sorted axis was made one chunk, explicitly
    np.testing.assert_allclose(h.compute(), R.lovasz_hinge(x, t, reduction="none"), rtol=1e-12)
    np.testing.assert_allclose(s.compute(), R.lovasz_softmax(p, y, per_image=True, reduction="none"), rtol=1e-12)
    np.testing.assert_array_equal(values.compute(), -np.sort(-x, axis=1, kind="stable"))
    np.testing.assert_array_equal(perm.compute(), np.argsort(-x, axis=1, kind="stable"))
    np.testing.assert_allclose(c.compute(), np.cumsum(x, axis=1), rtol=1e-15)


# --- the primitives on every backend ------------------------------------------------------

@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_sort_and_cumsum_primitives(xp, axis, descending):
    from lossapi.backends import resolve

    x = np.array([[3.0, 1.0, 2.0, 1.0], [0.0, 2.0, -1.0, 2.0], [1.0, 1.0, 1.0, 0.5]])
    X = xp.asarray(x)
    ops = resolve("test", X)
    values, perm = ops.sort(X, axis=axis, descending=descending)
    key = -x if descending else x
    want_perm = np.argsort(key, axis=axis, kind="stable")  # stable: ties in their original order
    np.testing.assert_array_equal(xp.to_numpy(perm), want_perm)
    np.testing.assert_array_equal(xp.to_numpy(values), np.take_along_axis(x, want_perm, axis=axis))
    np.testing.assert_allclose(xp.to_numpy(ops.cumsum(X, axis=axis)), np.cumsum(x, axis=axis), rtol=1e-15)
    if xp.has_grad:
        w = np.arange(12.0).reshape(3, 4)
        (g,) = grad(xp, lambda a: xp.sum(ops.sort(a, axis=axis, descending=descending)[0] * xp.asarray(w)), [X],
                       (0,))
        want = np.zeros_like(x)
        np.put_along_axis(want, want_perm, w, axis=axis)  # the gradient is w, permuted back
        np.testing.assert_array_equal(g, want)


def test_cumsum_fallback_without_cumulative_sum():
    import array_api_compat.numpy as cnp

    from lossapi.backends import _generic

    class NoCumulativeSum:
        def __getattr__(self, name):
            if name == "cumulative_sum":
                raise AttributeError(name)
            return getattr(cnp, name)

    x = np.random.default_rng(13).normal(size=(3, 5))
    for axis in (0, 1, -1):
        np.testing.assert_allclose(_generic.cumsum(NoCumulativeSum(), x, axis=axis), np.cumsum(x, axis=axis),
                                   rtol=1e-13)


# --- generalized Dice ----------------------------------------------------------------------

def _gdl_textbook(p, g, weight, smooth):
    """Sudre et al.'s formula for one sample, p and g [C, pixels]; an infinite
    weight takes the largest finite one (MONAI#371)."""
    gs = g.sum(1)
    w = {"square": [1 / s**2 if s else np.inf for s in gs], "simple": [1 / s if s else np.inf for s in gs],
         "uniform": [1.0] * len(gs)}[weight]
    w = np.array(w)
    finite = w[np.isfinite(w)]
    w[~np.isfinite(w)] = finite.max() if finite.size else 0.0
    return 1 - (2 * np.sum(w * (p * g).sum(1)) + smooth) / (np.sum(w * (gs + p.sum(1))) + smooth)


@pytest.mark.parametrize("weight", ["square", "simple", "uniform"])
def test_generalized_dice_absent_classes_stay_finite(xp, weight):
    rng = np.random.default_rng(14)
    p = rng.dirichlet(np.ones(3), size=(2, 6)).transpose(0, 2, 1)  # [N, C, P]
    g = np.zeros_like(p)
    g[0, 0, :4] = 1.0  # sample 0: classes 1 and 2 absent
    g[0, 1, 4:] = 1.0
    # sample 1: no class present at all: every weight 0, loss 0
    P, G = xp.asarray(p), xp.asarray(g)
    got = xp.to_numpy(call(xp, lossapi.generalized_dice, P, G, weight=weight, smooth=0.0, reduction="none"))
    want = [_gdl_textbook(p[0], g[0], weight, 0.0), 0.0 if weight != "uniform" else _gdl_textbook(p[1], g[1],
                                                                                                 weight, 0.0)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    if xp.has_grad:
        (gr,) = grad(xp, lambda a, b: lossapi.generalized_dice(a, b, weight=weight), [P, G], (0,))
        assert np.all(np.isfinite(gr))


def test_generalized_dice_where(xp):
    rng = np.random.default_rng(15)
    p = rng.dirichlet(np.ones(3), size=(3, 5)).transpose(0, 2, 1)
    g = (rng.dirichlet(np.ones(3), size=(3, 5)).transpose(0, 2, 1) > 0.4).astype(np.float64)
    w = rng.uniform(size=(3, 1, 5)) > 0.3
    w[2] = False  # sample 2 leaves the mean
    got = xp.to_numpy(call(xp, lossapi.generalized_dice, xp.asarray(p), xp.asarray(g), where=xp.asarray(w), reduction="none"))
    want = [_gdl_textbook(p[i][:, w[i, 0]], g[i][:, w[i, 0]], "square", 1e-6) for i in range(2)]
    np.testing.assert_allclose(got, [*want, 0.0], rtol=1e-10)
    mean = xp.to_numpy(call(xp, lossapi.generalized_dice, xp.asarray(p), xp.asarray(g), where=xp.asarray(w)))
    np.testing.assert_allclose(mean, np.mean(want), rtol=1e-10)


# --- include_background ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky"])
def test_include_background_false_is_slicing(xp, name):
    rng = np.random.default_rng(16)
    p, g = rng.uniform(size=(2, 3, 4, 5)), (rng.uniform(size=(2, 3, 4, 5)) > 0.5).astype(np.float64)
    w = rng.uniform(size=(2, 3, 4, 5)) > 0.2
    fn = getattr(lossapi, name)
    for axis in [(2, 3), None, (0, 2, 3)]:
        for where, wsliced in [(None, None), (w, w[:, 1:])]:
            kw = {"axis": axis, "reduction": "none"}
            dropped = call(xp, fn, xp.asarray(p), xp.asarray(g), class_axis=1, include_background=False,
                         where=None if where is None else xp.asarray(where), **kw)
            sliced = call(xp, fn, xp.asarray(p[:, 1:]), xp.asarray(g[:, 1:]),
                        where=None if wsliced is None else xp.asarray(wsliced), **kw)
            np.testing.assert_allclose(xp.to_numpy(dropped), xp.to_numpy(sliced), rtol=1e-14)
    # a per-loss mask with the class axis is sliced too
    keep = rng.uniform(size=(2, 3)) > 0.3
    dropped = call(xp, fn, xp.asarray(p), xp.asarray(g), axis=(2, 3), class_axis=1, include_background=False,
                 where=xp.asarray(keep))
    sliced = call(xp, fn, xp.asarray(p[:, 1:]), xp.asarray(g[:, 1:]), axis=(2, 3), where=xp.asarray(keep[:, 1:]))
    np.testing.assert_allclose(xp.to_numpy(dropped), xp.to_numpy(sliced), rtol=1e-14)
    # the default keeps every class; class_axis alone changes nothing
    np.testing.assert_allclose(xp.to_numpy(call(xp, fn, xp.asarray(p), xp.asarray(g), class_axis=1)),
                               xp.to_numpy(call(xp, fn, xp.asarray(p), xp.asarray(g))), rtol=0)
    with pytest.raises(ValueError, match=f"{name}: include_background=False needs class_axis"):
        call(xp, fn, xp.asarray(p), xp.asarray(g), include_background=False)
    with pytest.raises(ValueError, match=f"{name}: include_background=False needs at least 2 classes"):
        call(xp, fn, xp.asarray(p[:, :1]), xp.asarray(g[:, :1]), include_background=False, class_axis=1)
