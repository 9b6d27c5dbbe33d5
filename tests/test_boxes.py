"""Detection family (giou, diou, ciou): values against the float64 references
on overlapping, nested and disjoint pairs, CIoU's detached alpha, identical,
touching and zero-area boxes, empty inputs, validation, jax transforms, and
torchvision.ops (when it imports next to torch)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from cases_detection import box_pairs, off_kinks, random_boxes

import lossapi
from conformance import reference as R
from conformance.gradcheck import check_grad, close, fd_partial

LOSSES = {"giou": lossapi.giou, "diou": lossapi.diou, "ciou": lossapi.ciou}
REFS = {"giou": R.giou, "diou": R.diou, "ciou": R.ciou}
REDUCTIONS = ("mean", "sum", "none")


def _np(xp, x):
    return xp.to_numpy(x).astype(np.float64)


def _general(seed=3, shape=(3, 4)):
    """Overlapping and disjoint pairs of unequal aspect ratios, plus a nested
    pair, off the kinks."""
    b1, b2 = box_pairs(shape)(np.random.default_rng(seed))
    b1[0, 0], b2[0, 0] = [1.0, 1.5, 5.0, 4.0], [2.0, 2.1, 3.0, 3.7]  # boxes2 inside boxes1
    assert off_kinks(b1, b2)
    return b1, b2


def _grad_ref(name, b1, b2, **kw):
    """The reference whose finite differences are lossapi's gradient: CIoU's
    with alpha held at its value at (b1, b2)."""
    if name == "ciou":
        return functools.partial(R.ciou, alpha=R.ciou_alpha(b1, b2, **kw), **kw)
    return functools.partial(REFS[name], **kw)


def _check_grads(xp, name, b1, b2, reduction="sum", fd=None, rtol=1e-6, step=1e-6, **kw):
    fn = LOSSES[name]
    grads = xp.grad(lambda p, q: fn(p, q, reduction=reduction, **kw), [xp.asarray(b1), xp.asarray(b2)], (0, 1))
    ref = _grad_ref(name, b1, b2, **kw)
    for i, g in enumerate(grads):
        want = fd(ref, [b1, b2], i) if fd else fd_partial(lambda *a: ref(*a, reduction=reduction), [b1, b2], i,
                                                               step=step)
        ok, why = check_grad(g, want, rtol, rtol)
        assert ok, f"{name}: d/dboxes{i + 1}: {why}"
    return grads


# --- values and gradients on general pairs -------------------------------------------

@pytest.mark.parametrize("eps", [1e-7, 0.5])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_values(xp, name, dtype, eps):
    b1, b2 = _general()
    if dtype == "float32":
        b1, b2 = b1.astype(np.float32).astype(np.float64), b2.astype(np.float32).astype(np.float64)
    B1, B2 = xp.asarray(b1, dtype), xp.asarray(b2, dtype)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    for reduction in REDUCTIONS:
        out = LOSSES[name](B1, B2, eps=eps, reduction=reduction)
        assert out.dtype == xp.dtype(dtype)
        ok, why = close(_np(xp, out), REFS[name](b1, b2, eps=eps, reduction=reduction), rtol, rtol)
        assert ok, f"{name} {reduction}: {why}"
    assert _np(xp, LOSSES[name](B1, B2, eps=eps, reduction="none")).shape == (3, 4)


def test_default_reduction_is_mean(xp):
    b1, b2 = _general()
    for name, fn in LOSSES.items():
        np.testing.assert_allclose(_np(xp, fn(xp.asarray(b1), xp.asarray(b2))),
                                   REFS[name](b1, b2, reduction="mean"), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_gradients_of_both_boxes(xp, name, reduction):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    b1, b2 = _general(seed=4)
    _check_grads(xp, name, b1, b2, reduction)


def test_ciou_alpha_is_detached(xp):
    """CIoU's gradient holds alpha constant (torchvision: alpha under no_grad):
    it matches the finite differences with alpha fixed (above) and differs from
    those of the value, which differentiate alpha too."""
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    b1, b2 = _general(seed=5)
    g1, _ = _check_grads(xp, "ciou", b1, b2)
    _, full = fd_partial(lambda *a: R.ciou(*a, reduction="sum"), [b1, b2], 0)
    assert np.max(np.abs(g1 - full)) > 1e-3


# --- special configurations ----------------------------------------------------------------

@pytest.mark.parametrize("name", list(LOSSES))
def test_identical_boxes(xp, name):
    """Loss 1 - A / (A + eps) (the penalties vanish). Every corner is a tie of
    min / max, whose gradient the backends split evenly: the gradient is ~0
    (O(eps)), the central difference of the reference (one-sided slopes are
    +-h/A; a small step, as the difference is O(step) off at the kink)."""
    b = random_boxes(np.random.default_rng(6), (5,))
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    got = _np(xp, LOSSES[name](xp.asarray(b), xp.asarray(b.copy()), reduction="none"))
    np.testing.assert_allclose(got, REFS[name](b, b, reduction="none"), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got, 1e-7 / (area + 1e-7), rtol=1e-6)
    if xp.has_grad:
        _check_grads(xp, name, b, b.copy(), step=1e-8)


@pytest.mark.parametrize("name", list(LOSSES))
def test_touching_boxes(xp, name):
    """Boxes sharing an edge: no overlap, and the gradient is the one on the
    separated side (the intersection's subgradient is 0, torchvision's strict
    overlap mask): the finite differences of the reference with the boxes 1e-6
    apart."""
    b1 = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 2.5]])
    b2 = np.array([[2.0, 0.5, 4.5, 3.0], [1.5, 2.5, 2.7, 4.0]])  # touch at x = 2, at y = 2.5
    got = _np(xp, LOSSES[name](xp.asarray(b1), xp.asarray(b2), reduction="none"))
    np.testing.assert_allclose(got, REFS[name](b1, b2, reduction="none"), rtol=1e-12)
    if not xp.has_grad:
        return
    apart = b2 + np.array([[1e-6, 0, 0, 0], [0, 1e-6, 0, 0]])
    grads = xp.grad(lambda p, q: LOSSES[name](p, q, reduction="sum"), [xp.asarray(b1), xp.asarray(b2)], (0, 1))
    ref = _grad_ref(name, b1, apart)
    for i, g in enumerate(grads):
        ok, why = check_grad(g, fd_partial(lambda *a: ref(*a, reduction="sum"), [b1, apart], i, step=1e-9),
                             1e-5, 1e-5)
        assert ok, f"{name}: d/dboxes{i + 1}: {why}"


@pytest.mark.parametrize("name", list(LOSSES))
def test_disjoint_boxes(xp, name):
    """No overlap: IoU is 0 and so is its gradient, and the penalty still
    pulls the boxes together."""
    b1 = np.array([[0.0, 0.0, 1.0, 2.0], [5.0, 5.0, 7.0, 6.0]])
    b2 = np.array([[3.0, 4.0, 5.0, 5.0], [0.5, 1.0, 1.5, 3.5]])
    got = _np(xp, LOSSES[name](xp.asarray(b1), xp.asarray(b2), reduction="none"))
    np.testing.assert_allclose(got, REFS[name](b1, b2, reduction="none"), rtol=1e-12)
    assert np.all(got > 1.0)
    if xp.has_grad:
        g1, _ = _check_grads(xp, name, b1, b2)
        assert np.all(np.abs(g1).sum(axis=-1) > 1e-3)


def _fd_valid_side(ref, args, i, step=1e-7):
    """One-sided differences that keep a box valid: x1, y1 move down, x2, y2
    up (a zero-height box's aspect angle jumps from pi/2 to -pi/2 below 0)."""
    x = np.asarray(args[i], dtype=np.float64)
    g = np.zeros_like(x)
    for k in range(x.size):
        s = -1.0 if k % 4 < 2 else 1.0
        h = s * step * max(1.0, abs(float(x.flat[k])))
        xs = x.copy()
        xs.flat[k] += h
        a = list(args)
        a[i] = xs
        g.flat[k] = (float(np.sum(ref(*a, reduction="sum"))) - float(np.sum(ref(*args, reduction="sum")))) / h
    return "full", g


# zero width, zero height, a point, each against a normal box (disjoint in at
# least one axis, so the intersection stays 0 nearby); a normal box against a
# zero-height one; zero width against zero height.
_DEGENERATE_1 = np.array([[1.0, 1.0, 1.0, 3.0], [0.5, 2.0, 3.0, 2.0], [2.0, 2.0, 2.0, 2.0],
                          [1.0, 1.0, 3.0, 2.0], [4.0, 0.5, 4.0, 2.5]])
_DEGENERATE_2 = np.array([[2.0, 0.5, 4.0, 2.5], [1.0, 2.5, 2.5, 4.0], [3.0, 0.5, 4.5, 1.5],
                          [1.5, 3.0, 4.0, 3.0], [4.5, 1.0, 6.0, 1.0]])


@pytest.mark.parametrize("name", list(LOSSES))
def test_zero_area_boxes(xp, name):
    """Finite values (the reference's: a zero-height box's aspect angle is
    pi/2, a point's 0) and finite gradients: those of the reference on the
    valid side, CIoU's with alpha fixed. At a point the aspect angle is
    constant: CIoU's gradient w.r.t. the point is DIoU's."""
    b1, b2 = _DEGENERATE_1, _DEGENERATE_2
    got = _np(xp, LOSSES[name](xp.asarray(b1), xp.asarray(b2), reduction="none"))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, REFS[name](b1, b2, reduction="none"), rtol=1e-12)
    if not xp.has_grad:
        return
    smooth = [0, 1, 3, 4] if name == "ciou" else slice(None)  # row 2: a point (ciou's angle jumps beside it)
    g = _check_grads(xp, name, b1[smooth], b2[smooth], fd=_fd_valid_side, rtol=1e-5)
    assert all(np.all(np.isfinite(x)) for x in g)
    if name == "ciou":
        args = [xp.asarray(b1[2:3]), xp.asarray(b2[2:3])]
        (gc,) = xp.grad(lambda p, q: lossapi.ciou(p, q, reduction="sum"), args, (0,))
        (gd,) = xp.grad(lambda p, q: lossapi.diou(p, q, reduction="sum"), args, (0,))
        assert np.all(np.isfinite(gc))
        np.testing.assert_allclose(gc, gd, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(LOSSES))
def test_same_point_and_tiny_boxes(xp, name):
    """Two equal points (union and enclosing box 0: the eps terms alone) give
    1; boxes with sides of 1e-200 give the reference's values (CIoU: aspect
    angle pi/2 for a zero height) and finite gradients; boxes of subnormal
    size finite values and gradients (CIoU counts them as points)."""
    fn = LOSSES[name]
    p = np.array([[1.0, 2.0, 1.0, 2.0]])
    np.testing.assert_array_equal(_np(xp, fn(xp.asarray(p), xp.asarray(p.copy()))), 1.0)
    small1 = np.array([[0.0, 0.0, 1e-200, 0.0], [1.0, 1.0, 1.0, 1.0 + 1e-15]])
    small2 = np.array([[0.0, 0.0, 0.0, 1e-200], [1.0, 1.0, 1.0 + 1e-15, 1.0]])
    sub1, sub2 = small1 * 1e-110, small2 * 1e-110
    for b1, b2, exact in ((p, p.copy(), True), (small1, small2, True), (sub1, sub2, False)):
        got = _np(xp, fn(xp.asarray(b1), xp.asarray(b2), reduction="none"))
        assert np.all(np.isfinite(got)), got
        if exact:
            np.testing.assert_allclose(got, REFS[name](b1, b2, reduction="none"), rtol=1e-12)
        if xp.has_grad:
            g = xp.grad(lambda a, b: fn(a, b, reduction="sum"), [xp.asarray(b1), xp.asarray(b2)], (0, 1))
            assert all(np.all(np.isfinite(x)) for x in g), g


# --- shapes, dtypes, validation --------------------------------------------------------------

@pytest.mark.parametrize("name", list(LOSSES))
def test_empty_and_single(xp, name):
    """No boxes: "mean" is 0 (torchvision's rule), "sum" 0, "none" empty; one
    pair of shape (4,): "none" is 0-d."""
    e = np.zeros((0, 4))
    fn = LOSSES[name]
    for reduction in REDUCTIONS:
        got = _np(xp, fn(xp.asarray(e), xp.asarray(e), reduction=reduction))
        want = REFS[name](e, e, reduction=reduction)
        assert got.shape == want.shape and np.array_equal(got, want), (reduction, got)
    if xp.has_grad:
        (g,) = xp.grad(lambda a, b: fn(a, b), [xp.asarray(e), xp.asarray(e)], (0,))
        assert g.shape == (0, 4)
    b1, b2 = box_pairs(())(np.random.default_rng(8))
    out = fn(xp.asarray(b1), xp.asarray(b2), reduction="none")
    assert tuple(out.shape) == ()
    np.testing.assert_allclose(_np(xp, out), REFS[name](b1, b2, reduction="none"), rtol=1e-12)


def test_float16_and_integer_boxes2(xp):
    b1, b2 = _general()
    b1, b2 = np.round(b1 * 4) / 4, np.round(b2)  # exact in float16
    for name, fn in LOSSES.items():
        want = REFS[name](b1, b2, reduction="mean")
        got = fn(xp.asarray(b1), xp.asarray(b2.astype(np.int64)))
        np.testing.assert_allclose(_np(xp, got), want, rtol=1e-12)
        if "float16" in xp.half_dtypes():
            h = fn(xp.asarray(b1, "float16"), xp.asarray(b2, "float16"))
            assert h.dtype == xp.dtype("float16")
            np.testing.assert_allclose(_np(xp, h), want, rtol=2e-3)


@pytest.mark.parametrize("name", list(LOSSES))
def test_bad_input(xp, name):
    fn = LOSSES[name]
    b = xp.asarray(np.ones((3, 4)))
    with pytest.raises(ValueError, match=rf"{name}: boxes1 must have shape \[\.\.\., 4\].*\(3, 5\)"):
        fn(xp.asarray(np.ones((3, 5))), xp.asarray(np.ones((3, 5))))
    with pytest.raises(ValueError, match=rf"{name}: boxes1 must have shape \[\.\.\., 4\]"):
        fn(xp.asarray(np.ones(())), xp.asarray(np.ones(())))
    with pytest.raises(ValueError, match=rf"{name}: boxes1 has shape \(3, 4\) but boxes2 has shape \(2, 4\)"):
        fn(b, xp.asarray(np.ones((2, 4))))
    with pytest.raises(TypeError, match=rf"{name}: boxes1 must be a real floating-point array"):
        fn(xp.asarray(np.ones((3, 4), dtype=np.int64)), b)
    with pytest.raises(ValueError, match=rf"{name}: eps must be > 0"):
        fn(b, b, eps=0.0)
    with pytest.raises(ValueError, match=rf"{name}: reduction"):
        fn(b, b, reduction="batchmean")


# --- jax transforms ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(LOSSES))
def test_jax_jit_and_vmap(name):
    jax = pytest.importorskip("jax")
    from harness import Harness

    h = Harness("jax")
    b1, b2 = _general(seed=9)
    B1, B2 = h.asarray(b1, "float64"), h.asarray(b2, "float64")
    fn = LOSSES[name]
    per_row = jax.vmap(lambda p, q: fn(p, q, reduction="mean"))(B1, B2)
    np.testing.assert_allclose(np.asarray(per_row), REFS[name](b1, b2, reduction="none").mean(axis=1), rtol=1e-12)
    jitted = jax.jit(lambda p, q: fn(p, q, reduction="none"))(B1, B2)
    np.testing.assert_allclose(np.asarray(jitted), REFS[name](b1, b2, reduction="none"), rtol=1e-12)
    g = jax.jit(jax.grad(lambda p, q: fn(p, q, reduction="sum"), argnums=(0, 1)))(B1, B2)
    eager = h.grad(lambda p, q: fn(p, q, reduction="sum"), [B1, B2], (0, 1))
    for a, b in zip(g, eager):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-12)


# --- torchvision.ops ------------------------------------------------------------------------------

TORCHVISION = {"giou": "generalized_box_iou_loss", "diou": "distance_box_iou_loss", "ciou": "complete_box_iou_loss"}


def _torchvision():
    pytest.importorskip("torch")
    try:
        from torchvision import ops
    except Exception as e:  # not installed, or a build for another torch
        pytest.skip(f"torchvision does not import here: {type(e).__name__}: {str(e)[:120]}")
    return ops


def _tv_pairs(name):
    """General pairs, identical, touching, disjoint and zero-width boxes;
    giou and diou also zero-height and point boxes (torchvision's CIoU is NaN
    there: atan(w / 0), 0 / 0)."""
    b1, b2 = _general(seed=10)
    b1, b2 = b1.reshape(-1, 4), b2.reshape(-1, 4)
    same = random_boxes(np.random.default_rng(11), (2,))
    t1 = np.array([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 2.5]])
    t2 = np.array([[2.0, 0.5, 4.5, 3.0], [1.5, 2.5, 2.7, 4.0]])
    d1, d2 = (_DEGENERATE_1, _DEGENERATE_2) if name != "ciou" else (_DEGENERATE_1[[0]], _DEGENERATE_2[[0]])
    return np.concatenate([b1, same, t1, d1]), np.concatenate([b2, same, t2, d2])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_matches_torchvision(name, dtype):
    """Values (every reduction) and autograd gradients of both boxes equal
    torchvision's on the same torch tensors."""
    ops = _torchvision()
    import torch

    tv = getattr(ops, TORCHVISION[name])
    b1, b2 = _tv_pairs(name)
    dt = getattr(torch, dtype)
    rtol = 1e-12 if dtype == "float64" else 2e-6
    for eps in (1e-7, 0.25) if name != "ciou" else (1e-7,):
        for reduction in REDUCTIONS:
            leaves = [torch.tensor(b, dtype=dt, requires_grad=True) for b in (b1, b2)]
            got = LOSSES[name](*leaves, eps=eps, reduction=reduction)
            twins = [torch.tensor(b, dtype=dt, requires_grad=True) for b in (b1, b2)]
            want = tv(*twins, reduction=reduction, eps=eps)
            assert got.dtype == want.dtype == dt
            np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=rtol, atol=rtol,
                                       err_msg=f"{name} eps={eps} {reduction}")
            g = torch.autograd.grad(got.sum(), leaves)
            w = torch.autograd.grad(want.sum(), twins)
            for i in range(2):
                assert torch.isfinite(w[i]).all()
                np.testing.assert_allclose(g[i].numpy(), w[i].numpy(), rtol=rtol, atol=rtol,
                                           err_msg=f"{name} eps={eps} {reduction} d/dboxes{i + 1}")


def test_torchvision_empty_mean_and_ciou_degenerate():
    """torchvision's "mean" of no boxes is 0 as lossapi's; its CIoU of a
    zero-height box has a NaN gradient and of a point a NaN value, where
    lossapi's are finite (module documentation)."""
    ops = _torchvision()
    import torch

    e = torch.zeros((0, 4), dtype=torch.float64)
    for name, fn in LOSSES.items():
        assert float(getattr(ops, TORCHVISION[name])(e, e, reduction="mean")) == float(fn(e, e)) == 0.0
    flat = torch.tensor([[0.5, 2.0, 3.0, 2.0]], dtype=torch.float64, requires_grad=True)
    other = torch.tensor([[1.0, 2.5, 2.5, 4.0]], dtype=torch.float64)
    (g,) = torch.autograd.grad(ops.complete_box_iou_loss(flat, other).sum(), [flat])
    assert torch.isnan(g).any()
    (g,) = torch.autograd.grad(lossapi.ciou(flat, other, reduction="sum"), [flat])
    assert torch.isfinite(g).all()
    point = torch.tensor([[2.0, 2.0, 2.0, 2.0]], dtype=torch.float64)
    assert torch.isnan(ops.complete_box_iou_loss(point, other)).all()
    assert torch.isfinite(lossapi.ciou(point, other)).all()
