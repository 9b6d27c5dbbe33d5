"""torch.nn.functional parity of the last torch losses and options (issue 12,
part 5): ``hinge_embedding``, ``multilabel_margin``,
``multilabel_soft_margin``, ``triplet(distance=...)`` and
``multiclass_hinge(p=..., weight=...)``.

On every backend: values against the float64 references
(``conformance/reference.py``) for every reduction, and values and gradients
against torch's own ``F.*`` function run on the same NumPy inputs (torch CPU,
float64; skipped where torch is absent) for every reduction, on random
inputs kept off the kinks. Then errors, and the edges: ties at the hinge
kinks (each loss's documented subgradient), empty and full label lists.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest

import lossapi
from cases import keyword_arrays
from conformance import reference as R
from conformance.peers import Distance

REDUCTIONS = ("mean", "sum", "none")
READABLE = ("numpy", "array_api_strict", "torch")  # label values checked (see lossapi.classification)


def _torch():
    return pytest.importorskip("torch")


# --- random inputs, off every kink ---------------------------------------------------


def _hinge_embedding_inputs(shape, margin, targets):
    def make(rng):
        x = rng.normal(size=shape) * 2
        x = np.where(np.abs(margin - x) < 1e-2, x + 0.05, x)
        return [x, rng.choice(np.array(targets, dtype=np.float64), size=shape)]
    return make


def _label_lists(shape):
    def make(rng):
        c = shape[-1]
        t = np.full(shape, -1, dtype=np.int64)
        rows = t.reshape(-1, c)
        for i in range(len(rows)):
            k = int(rng.integers(1, c + 1))
            rows[i, :k] = rng.permutation(c)[:k]
        if len(rows) > 2:
            rows[0] = -1  # an empty list
            rows[1, :2], rows[1, 2:] = rows[1, 0], -1  # a repeated class
        while True:
            x = rng.normal(size=shape)
            if np.min(np.abs(1.0 - (x[..., :, None] - x[..., None, :]))) > 1e-2:
                return [x, t]
    return make


def _multilabel_binary(shape, soft=False, weight_shape=None):
    def make(rng):
        x = rng.normal(size=shape) * 2
        t = rng.uniform(size=shape) if soft else rng.integers(0, 2, size=shape).astype(np.float64)
        return [x, t] + ([] if weight_shape is None else [rng.uniform(0.5, 2.0, size=weight_shape)])
    return make


def _triplets(distance, shape, margin, swap):
    def make(rng):
        while True:
            a, p, n = (rng.normal(size=shape) for _ in range(3))
            d_ap, d_an, d_pn = distance(a, p), distance(a, n), distance(p, n)
            h = d_ap - (np.minimum(d_an, d_pn) if swap else d_an) + margin
            if np.all(np.abs(h) > 1e-3) and np.any(h > 0) and np.all(np.abs(d_an - d_pn) > 1e-3):
                return [a, p, n]
    return make


def _scores_labels(n, c, margin, weight=False):
    def make(rng):
        y = rng.integers(0, c, size=n)
        while True:
            s = rng.normal(size=(n, c))
            d = margin - s[np.arange(n), y][:, None] + s
            d[np.arange(n), y] = 1.0
            srt = np.sort(np.where(np.eye(c, dtype=bool)[y], -np.inf, s), axis=1)
            if np.abs(d).min() > 1e-2 and np.min(srt[:, -1] - srt[:, -2]) > 1e-2:
                return [s, y] + ([rng.uniform(0.5, 2.0, size=c)] if weight else [])
    return make


# --- the losses, their references and torch's functions -----------------------------


@dataclasses.dataclass
class Spec:
    id: str
    loss: Callable  # loss(*arrays, reduction=..., **options)
    reference: Callable  # the same signature, float64 NumPy
    make: Callable[[np.random.Generator], list[np.ndarray]]
    options: dict
    peer: Callable | None  # peer(F, *tensors, reduction=...) -> tensor, torch.nn.functional's own loss
    grad: tuple[int, ...] = (0,)


def _mm(p=1, margin=1.0, weighted=False):
    def peer(F, s, y, *w, reduction):
        # torch's multi_margin_loss divides the Weston-Watkins sum by C.
        out = F.multi_margin_loss(s, y, p=p, margin=margin, weight=w[0] if weighted else None, reduction=reduction)
        return out * s.shape[-1]
    return peer


def _triplet_peer(distance, margin, swap):
    def peer(F, a, p, n, *, reduction):
        return F.triplet_margin_with_distance_loss(a, p, n, distance_function=distance, margin=margin, swap=swap,
                                                   reduction=reduction)
    return peer


_MCH_W = keyword_arrays(lossapi.multiclass_hinge, "weight")
_MCH_W_R = keyword_arrays(R.multiclass_hinge, "weight")
_MLSM_W = keyword_arrays(lossapi.multilabel_soft_margin, "weight")
_MLSM_W_R = keyword_arrays(R.multilabel_soft_margin, "weight")

SPECS = [
    Spec("hinge_embedding", lossapi.hinge_embedding, R.hinge_embedding, _hinge_embedding_inputs((5, 4), 1.0, (-1, 1)),
         {}, lambda F, x, t, reduction: F.hinge_embedding_loss(x, t, reduction=reduction)),
    Spec("hinge_embedding-m0.5-other-targets", lossapi.hinge_embedding, R.hinge_embedding,
         _hinge_embedding_inputs((2, 3, 4), 0.5, (-1, 1, 0, 2)), {"margin": 0.5},
         lambda F, x, t, reduction: F.hinge_embedding_loss(x, t, margin=0.5, reduction=reduction)),
    Spec("hinge_embedding-m-0.3", lossapi.hinge_embedding, R.hinge_embedding,
         _hinge_embedding_inputs((7,), -0.3, (-1, 1)), {"margin": -0.3},
         lambda F, x, t, reduction: F.hinge_embedding_loss(x, t, margin=-0.3, reduction=reduction)),
    Spec("multilabel_margin", lossapi.multilabel_margin, R.multilabel_margin, _label_lists((6, 5)), {},
         lambda F, x, t, reduction: F.multilabel_margin_loss(x, t, reduction=reduction)),
    Spec("multilabel_margin-1d", lossapi.multilabel_margin, R.multilabel_margin, _label_lists((6,)), {},
         lambda F, x, t, reduction: F.multilabel_margin_loss(x, t, reduction=reduction)),
    Spec("multilabel_soft_margin", lossapi.multilabel_soft_margin, R.multilabel_soft_margin,
         _multilabel_binary((6, 5)), {},
         lambda F, x, t, reduction: F.multilabel_soft_margin_loss(x, t, reduction=reduction), grad=(0, 1)),
    Spec("multilabel_soft_margin-weight-soft", _MLSM_W, _MLSM_W_R, _multilabel_binary((6, 5), True, (5,)), {},
         lambda F, x, t, w, reduction: F.multilabel_soft_margin_loss(x, t, weight=w, reduction=reduction),
         grad=(0, 1, 2)),
    Spec("multilabel_soft_margin-weight-3d", _MLSM_W, _MLSM_W_R, _multilabel_binary((2, 3, 4), False, (3, 1)), {},
         lambda F, x, t, w, reduction: F.multilabel_soft_margin_loss(x, t, weight=w, reduction=reduction),
         grad=(0, 2)),
    Spec("triplet-distance-l1", lossapi.triplet, R.triplet, _triplets(Distance("l1"), (5, 4), 1.0, False),
         {"distance": Distance("l1")}, _triplet_peer(Distance("l1"), 1.0, False), grad=(0, 1, 2)),
    Spec("triplet-distance-cosine-swap", lossapi.triplet, R.triplet,
         _triplets(Distance("cosine"), (2, 3, 4), 0.5, True), {"distance": Distance("cosine"), "margin": 0.5,
                                                               "swap": True},
         _triplet_peer(Distance("cosine"), 0.5, True), grad=(0, 1, 2)),
    Spec("multiclass_hinge-ww-p2", lossapi.multiclass_hinge, R.multiclass_hinge, _scores_labels(6, 4, 1.0),
         {"form": "weston_watkins", "p": 2}, _mm(p=2)),
    Spec("multiclass_hinge-ww-weight-m0.5", _MCH_W, _MCH_W_R, _scores_labels(6, 4, 0.5, weight=True),
         {"form": "weston_watkins", "margin": 0.5}, _mm(margin=0.5, weighted=True)),
    Spec("multiclass_hinge-ww-p2-weight", _MCH_W, _MCH_W_R, _scores_labels(6, 4, 1.0, weight=True),
         {"form": "weston_watkins", "p": 2}, _mm(p=2, weighted=True)),
    # Crammer-Singer has no torch peer: references only.
    Spec("multiclass_hinge-cs-p2-weight", _MCH_W, _MCH_W_R, _scores_labels(6, 4, 1.0, weight=True), {"p": 2}, None),
]
IDS = [s.id for s in SPECS]
PEER_SPECS = [s for s in SPECS if s.peer is not None]


def _inputs(spec, seed=0):
    return spec.make(np.random.default_rng(seed))


def _convert(xp, inputs):
    return [xp.asarray(a, "float64") for a in inputs]


def _cotangents(spec, inputs):
    """A fixed random weighting of each reduction's output: the gradient of
    ``sum(cot * loss)`` checks every output element ("none") at once."""
    rng = np.random.default_rng(123)
    out = {}
    for red in REDUCTIONS:
        shape = np.shape(spec.reference(*inputs, reduction=red, **spec.options))
        out[red] = rng.uniform(0.5, 1.5, size=shape)
    return out


def _torch_peer(spec, inputs, reduction, cot):
    """torch's F.* value and the gradients of ``sum(cot * value)`` (CPU, float64)."""
    torch = _torch()
    import torch.nn.functional as F

    ts = [torch.tensor(a, requires_grad=(i in spec.grad)) if a.dtype.kind == "f" else torch.tensor(a)
          for i, a in enumerate(inputs)]
    out = spec.peer(F, *ts, reduction=reduction)
    grads = torch.autograd.grad((out * torch.tensor(cot)).sum(), [ts[i] for i in spec.grad])
    return out.detach().numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_value_vs_reference(xp, spec):
    inputs = _inputs(spec)
    arrays = _convert(xp, inputs)
    for reduction in REDUCTIONS:
        got = xp.to_numpy(spec.loss(*arrays, reduction=reduction, **spec.options))
        want = spec.reference(*inputs, reduction=reduction, **spec.options)
        assert got.shape == np.shape(want), (spec.id, reduction)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=f"{spec.id} {reduction}")


@pytest.mark.parametrize("spec", PEER_SPECS, ids=[s.id for s in PEER_SPECS])
def test_value_and_gradient_vs_torch(xp, spec):
    inputs = _inputs(spec, seed=1)
    arrays = _convert(xp, inputs)
    cots = _cotangents(spec, inputs)
    for reduction in REDUCTIONS:
        want, want_grads = _torch_peer(spec, inputs, reduction, cots[reduction])
        got = xp.to_numpy(spec.loss(*arrays, reduction=reduction, **spec.options))
        assert got.shape == want.shape, (spec.id, reduction)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=f"{spec.id} {reduction}: value")
        if not xp.has_grad:
            continue
        cot = xp.asarray(cots[reduction], "float64")

        def scalar(*a, reduction=reduction, cot=cot):
            return xp.sum(spec.loss(*a, reduction=reduction, **spec.options) * cot)

        grads = xp.grad(scalar, arrays, spec.grad)
        for i, g, w in zip(spec.grad, grads, want_grads):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{spec.id} {reduction}: gradient of input {i}")


# --- hinge_embedding -------------------------------------------------------------------


def _grad(xp, fn, arrays, argnums=(0,)):
    return xp.grad(lambda *a: xp.sum(fn(*a)), arrays, argnums)


def test_hinge_embedding_kink(xp):
    # x == margin: target -1 takes the linear piece's slope, -1 (torch 2.13's
    # clamp_min); other targets add x's slope 1 to it (0 in all); +1 is x.
    x = np.array([1.0, 1.0, 1.0, 1.0, 0.5, 2.0])
    t = np.array([-1.0, 0.0, 2.0, 1.0, -1.0, -1.0])
    arrays = _convert(xp, [x, t])
    got = xp.to_numpy(lossapi.hinge_embedding(*arrays, reduction="none"))
    np.testing.assert_array_equal(got, [0.0, 1.0, 1.0, 1.0, 0.5, 0.0])
    if xp.has_grad:
        (g,) = _grad(xp, lambda a, b: lossapi.hinge_embedding(a, b, reduction="none"), arrays)
        np.testing.assert_array_equal(g, [-1.0, 0.0, 0.0, 1.0, -1.0, 0.0])


def test_hinge_embedding_integer_and_bool_targets(xp):
    x = np.array([0.25, 3.0, -1.0, 0.5])
    want = R.hinge_embedding(x, np.array([1, -1, -1, 0]), reduction="none")
    got = lossapi.hinge_embedding(xp.asarray(x, "float64"), xp.asarray(np.array([1, -1, -1, 0])), reduction="none")
    np.testing.assert_allclose(xp.to_numpy(got), want, rtol=1e-15)


def test_hinge_embedding_errors(xp):
    x, t = xp.asarray(np.zeros((2, 3)), "float64"), xp.asarray(np.ones((2, 3)), "float64")
    with pytest.raises(TypeError, match="hinge_embedding: margin must be a real number or a 0-d array, got str"):
        lossapi.hinge_embedding(x, t, margin="1")
    with pytest.raises(ValueError, match="hinge_embedding: margin must not be NaN"):
        lossapi.hinge_embedding(x, t, margin=math.nan)
    with pytest.raises(ValueError, match=r"hinge_embedding: x has shape \(2, 3\) but target has shape \(3,\)"):
        lossapi.hinge_embedding(x, xp.asarray(np.ones(3), "float64"))
    with pytest.raises(TypeError, match="hinge_embedding: x must be a real floating-point array"):
        lossapi.hinge_embedding(xp.asarray(np.zeros((2, 3), dtype=np.int64)), t)
    with pytest.raises(ValueError, match="hinge_embedding: reduction must be one of"):
        lossapi.hinge_embedding(x, t, reduction="batchmean")


# --- multilabel_margin -------------------------------------------------------------------


def _ml_expected_grad(x, t):
    """d/dx of the summed loss from the definition: each pair (j listed, i
    not) with 1 - (x_j - x_i) > 0 (strictly: 0 at the kink) adds -1/C to
    x_j and 1/C to x_i."""
    g = np.zeros_like(x)
    c = x.shape[-1]
    for idx in np.ndindex(x.shape[:-1]):
        listed = []
        for k in t[idx]:
            if k < 0:
                break
            listed.append(int(k))
        for j in listed:
            for i in range(c):
                if i not in listed and 1.0 - (x[idx][j] - x[idx][i]) > 0:
                    g[idx][j] -= 1.0 / c
                    g[idx][i] += 1.0 / c
    return g


_KINK_X = np.array([[0.0, 1.0, 2.0, 1.0], [3.0, 2.0, 2.0, 0.5], [1.0, 1.0, 1.0, 1.0], [0.0, -1.0, 0.0, 1.0],
                    [2.0, 0.0, 1.0, 1.0]])
_KINK_T = np.array([[1, 3, -1, 0], [0, 0, -1, -1], [-1, 2, 1, 0], [0, 1, 2, 3], [2, -1, -1, -1]])


def test_multilabel_margin_kinks_empty_and_full_lists(xp):
    # Rows 0, 1 and 4 have pairs exactly on the kink (gradient 0 there, as
    # torch); row 1 repeats a class; row 2's list is empty, row 3 lists every
    # class: both give loss 0 and gradient 0.
    arrays = [xp.asarray(_KINK_X, "float64"), xp.asarray(_KINK_T)]
    got = xp.to_numpy(lossapi.multilabel_margin(*arrays, reduction="none"))
    want = R.multilabel_margin(_KINK_X, _KINK_T, reduction="none")
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    assert got[2] == 0.0 and got[3] == 0.0
    if xp.has_grad:
        (g,) = _grad(xp, lambda a, b: lossapi.multilabel_margin(a, b, reduction="sum"), arrays)
        np.testing.assert_allclose(g, _ml_expected_grad(_KINK_X, _KINK_T), rtol=0, atol=1e-15)
        assert not g[2].any() and not g[3].any()


def test_multilabel_margin_kinks_match_torch():
    torch = _torch()
    import torch.nn.functional as F

    x = torch.tensor(_KINK_X, requires_grad=True)
    F.multilabel_margin_loss(x, torch.tensor(_KINK_T), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), _ml_expected_grad(_KINK_X, _KINK_T), rtol=0, atol=1e-15)


def test_multilabel_margin_all_padding(xp):
    x = np.random.default_rng(3).normal(size=(3, 4))
    t = np.full((3, 4), -1)
    arrays = [xp.asarray(x, "float64"), xp.asarray(t)]
    for reduction, want in (("mean", 0.0), ("sum", 0.0), ("none", np.zeros(3))):
        np.testing.assert_array_equal(xp.to_numpy(lossapi.multilabel_margin(*arrays, reduction=reduction)), want)
    if xp.has_grad:
        (g,) = _grad(xp, lambda a, b: lossapi.multilabel_margin(a, b), arrays)
        np.testing.assert_array_equal(g, np.zeros((3, 4)))


def test_multilabel_margin_values_after_padding_are_ignored(xp):
    x = np.random.default_rng(4).normal(size=(2, 5))
    t1 = np.array([[2, -1, 0, 1, 4], [4, 0, -1, -1, 3]])
    t2 = np.array([[2, -1, -1, -1, -1], [4, 0, -1, 2, 2]])
    a = xp.to_numpy(lossapi.multilabel_margin(xp.asarray(x, "float64"), xp.asarray(t1), reduction="none"))
    b = xp.to_numpy(lossapi.multilabel_margin(xp.asarray(x, "float64"), xp.asarray(t2), reduction="none"))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, R.multilabel_margin(x, t1, reduction="none"), rtol=1e-15)


def test_multilabel_margin_bad_targets(xp):
    x = xp.asarray(np.zeros((2, 3)), "float64")
    for bad, label in (([[0, 3, -1], [1, -1, -1]], "3"), ([[0, 1, -1], [-2, -1, -1]], "-2"),
                       ([[0, -1, 7], [1, -1, -1]], "7")):
        t = xp.asarray(np.array(bad))
        if xp.name in READABLE:
            with pytest.raises(ValueError, match=rf"multilabel_margin: target contains class label {label}, "
                                                 r"which is outside \[0, 3\) and is not ignore_index=-1"):
                lossapi.multilabel_margin(x, t)
        else:  # values unread under tracing/laziness: the sample is NaN
            got = xp.to_numpy(lossapi.multilabel_margin(x, t, reduction="none"))
            assert np.isnan(got[0] if label != "-2" else got[1])
    with pytest.raises(TypeError, match="multilabel_margin: target must hold integer class indices padded with -1"):
        lossapi.multilabel_margin(x, xp.asarray(np.zeros((2, 3)), "float64"))
    with pytest.raises(ValueError, match=r"multilabel_margin: scores has shape \(2, 3\) but target has shape \(2,\)"):
        lossapi.multilabel_margin(x, xp.asarray(np.zeros(2, dtype=np.int64)))
    with pytest.raises(ValueError, match=r"multilabel_margin: scores must have shape \[\.\.\., C\]"):
        lossapi.multilabel_margin(xp.asarray(np.zeros(()), "float64"), xp.asarray(np.zeros((), dtype=np.int64)))
    with pytest.raises(ValueError, match="multilabel_margin: scores must have at least one class"):
        lossapi.multilabel_margin(xp.asarray(np.zeros((2, 0)), "float64"), xp.asarray(np.zeros((2, 0), np.int64)))
    with pytest.raises(TypeError, match="multilabel_margin: scores must be a real floating-point array"):
        lossapi.multilabel_margin(xp.asarray(np.zeros((2, 3), np.int64)), xp.asarray(np.zeros((2, 3), np.int64)))


def test_multilabel_margin_empty_batch(xp):
    # No samples: the sum is 0, "none" empty. (torch's kernel returns an
    # uninitialised value for a mean over no samples; on torch lossapi takes
    # the generic code there, the mean of nothing: NaN.)
    x, t = xp.asarray(np.zeros((0, 3)), "float64"), xp.asarray(np.zeros((0, 3), np.int64))
    if xp.name == "torch":
        assert np.isnan(xp.to_numpy(lossapi.multilabel_margin(x, t)))
    assert xp.to_numpy(lossapi.multilabel_margin(x, t, reduction="sum")) == 0.0
    assert xp.to_numpy(lossapi.multilabel_margin(x, t, reduction="none")).shape == (0,)


# --- multilabel_soft_margin --------------------------------------------------------------


def test_multilabel_soft_margin_saturated_logits_stay_finite(xp):
    x = np.array([[800.0, -800.0, 40.0], [-40.0, 0.0, 1e4]])
    t = np.array([[0.0, 1.0, 1.0], [1.0, 0.5, 0.0]])
    arrays = _convert(xp, [x, t])
    got = xp.to_numpy(lossapi.multilabel_soft_margin(*arrays, reduction="none"))
    np.testing.assert_allclose(got, R.multilabel_soft_margin(x, t, reduction="none"), rtol=1e-14)
    if xp.has_grad:
        g = _grad(xp, lambda a, b: lossapi.multilabel_soft_margin(a, b, reduction="sum"), arrays, (0, 1))
        assert all(np.all(np.isfinite(gi)) for gi in g)
        # d/dx = (sigmoid(x) - t) / C, d/dt = -x / C
        sig, sig_neg = np.exp(-np.logaddexp(0.0, -x)), np.exp(-np.logaddexp(0.0, x))
        np.testing.assert_allclose(g[0], ((1.0 - t) * sig - t * sig_neg) / 3, rtol=1e-12, atol=1e-17)
        np.testing.assert_allclose(g[1], -x / 3, rtol=1e-12)


def test_multilabel_soft_margin_errors(xp):
    x, t = xp.asarray(np.zeros((2, 3)), "float64"), xp.asarray(np.ones((2, 3)), "float64")
    with pytest.raises(ValueError, match=r"multilabel_soft_margin: weight has shape \(2,\), which does not broadcast"):
        lossapi.multilabel_soft_margin(x, t, weight=xp.asarray(np.ones(2), "float64"))
    with pytest.raises(TypeError, match="multilabel_soft_margin: weight must be an array, got list"):
        lossapi.multilabel_soft_margin(x, t, weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"multilabel_soft_margin: logits has shape \(2, 3\) but target has shape"):
        lossapi.multilabel_soft_margin(x, xp.asarray(np.ones((3, 2)), "float64"))
    with pytest.raises(ValueError, match=r"multilabel_soft_margin: logits must have shape \[\.\.\., C\]"):
        lossapi.multilabel_soft_margin(xp.asarray(np.zeros(()), "float64"), xp.asarray(np.zeros(()), "float64"))


# --- triplet(distance=...) --------------------------------------------------------------


def _triplet_arrays(xp, shape=(4, 3), seed=5):
    rng = np.random.default_rng(seed)
    inputs = [rng.normal(size=shape) for _ in range(3)]
    return inputs, _convert(xp, inputs)


def test_triplet_distance_option_errors(xp):
    _, (a, p, n) = _triplet_arrays(xp)
    l1 = Distance("l1")
    with pytest.raises(TypeError, match="triplet: distance must be None or a callable"):
        lossapi.triplet(a, p, n, distance="l1")
    for opts, named in (({"p": 1.0}, "p=1.0"), ({"eps": 0.0}, "eps=0.0"), ({"squared": True}, "squared=True"),
                        ({"p": 3.0, "eps": 0.5}, "p=3.0, eps=0.5")):
        with pytest.raises(ValueError, match=rf"triplet: {named} cannot be combined with distance"):
            lossapi.triplet(a, p, n, distance=l1, **opts)
    # the defaults given explicitly are fine
    lossapi.triplet(a, p, n, distance=l1, p=2.0, eps=1e-6, squared=False)


def test_triplet_distance_output_errors(xp):
    _, (a, p, n) = _triplet_arrays(xp)
    with pytest.raises(ValueError, match=r"triplet: distance must return one value per vector, shape \(4,\) "
                                         r"\(the inputs' shape \(4, 3\) without the feature axis\), got shape \(4, 3\)"):
        lossapi.triplet(a, p, n, distance=lambda x, y: x - y)
    with pytest.raises(TypeError, match=r"triplet: distance must return an array of shape \(4,\), got float"):
        lossapi.triplet(a, p, n, distance=lambda x, y: 1.0)
    with pytest.raises(TypeError, match="triplet: distance must return real floating values, got dtype"):
        lossapi.triplet(a, p, n, distance=lambda x, y: xp.asarray(np.zeros(4, dtype=np.int64)))
    if xp.name not in ("numpy", "jax", "dask"):  # JAX and Dask take NumPy arrays (as their libraries do)
        with pytest.raises(TypeError, match="triplet: distance must return an array of the inputs' library"):
            lossapi.triplet(a, p, n, distance=lambda x, y: np.zeros(4))


def test_triplet_distance_sees_compute_dtype_and_result_keeps_input_dtype(xp):
    inputs, _ = _triplet_arrays(xp)
    seen = []

    def dist(x, y):
        seen.append(x.dtype)
        return Distance("l1")(x, y)

    for dtype, compute in (("float64", "float64"), ("float32", "float32"), *((h, "float32") for h in xp.half_dtypes())):
        arrays = [xp.asarray(a, dtype) for a in inputs]
        seen.clear()
        out = lossapi.triplet(*arrays, distance=dist)
        assert out.dtype == xp.dtype(dtype)
        assert seen and all(d == xp.dtype(compute) for d in seen)
        tol = {"float64": 1e-12, "float32": 2e-6}.get(dtype, 2e-2)
        held = [xp.to_numpy(x).astype(np.float64) for x in arrays]  # the values the backend holds
        np.testing.assert_allclose(xp.to_numpy(out).astype(np.float64),
                                   R.triplet(*held, distance=Distance("l1")), rtol=tol, atol=tol)


def test_triplet_distance_result_cast_to_compute_dtype(xp):
    import array_api_compat

    inputs, _ = _triplet_arrays(xp)
    a32 = [xp.asarray(x, "float32") for x in inputs]

    def dist64(x, y):  # float64 distances for float32 inputs
        ns = array_api_compat.array_namespace(x)
        return ns.astype(Distance("l1")(x, y), ns.float64)

    out = lossapi.triplet(*a32, distance=dist64, reduction="none")
    assert out.dtype == xp.dtype("float32")
    held = [xp.to_numpy(x).astype(np.float64) for x in a32]
    np.testing.assert_allclose(xp.to_numpy(out), R.triplet(*held, distance=Distance("l1"), reduction="none"),
                               rtol=2e-6, atol=2e-6)


def test_triplet_distance_kink_and_swap_tie(xp):
    # l1 distances (no coordinate difference 0, where frameworks' |x|
    # derivatives differ): row 0 on the hinge's kink (d_ap - d_an + margin ==
    # 0: 1.5 - 2.5 + 1; d(p, n) = 4), gradient of the linear piece; row 1 a
    # swap tie d(a, n) == d(p, n) == 0.875 with the hinge active: the
    # gradient splits evenly (torch's minimum).
    a = np.array([[0.0, 0.0], [0.0, 0.0]])
    p = np.array([[1.0, 0.5], [0.5, 0.25]])
    n = np.array([[-1.0, -1.5], [0.375, -0.5]])
    arrays = _convert(xp, [a, p, n])
    kw = {"distance": Distance("l1"), "margin": 1.0, "swap": True}
    got = xp.to_numpy(lossapi.triplet(*arrays, reduction="none", **kw))
    np.testing.assert_allclose(got, R.triplet(a, p, n, reduction="none", **kw), rtol=0, atol=0)
    if not xp.has_grad:
        return
    ga, gp, gn = _grad(xp, lambda *x: lossapi.triplet(*x, reduction="sum", **kw), arrays, (0, 1, 2))
    # Row 0: d/da of |a - p|_1 - |a - n|_1 is sign(a - p) - sign(a - n).
    sgn = np.sign
    np.testing.assert_allclose(ga[0], sgn(a[0] - p[0]) - sgn(a[0] - n[0]), atol=1e-15)
    np.testing.assert_allclose(gp[0], -sgn(a[0] - p[0]), atol=1e-15)
    np.testing.assert_allclose(gn[0], sgn(a[0] - n[0]), atol=1e-15)
    # Row 1: d_an and d_pn tie: each gets half of -1.
    np.testing.assert_allclose(ga[1], sgn(a[1] - p[1]) - 0.5 * sgn(a[1] - n[1]), atol=1e-15)
    np.testing.assert_allclose(gp[1], -sgn(a[1] - p[1]) - 0.5 * sgn(p[1] - n[1]), atol=1e-15)
    np.testing.assert_allclose(gn[1], 0.5 * sgn(a[1] - n[1]) + 0.5 * sgn(p[1] - n[1]), atol=1e-15)


def test_triplet_distance_under_jax_jit_and_vmap():
    jax = pytest.importorskip("jax")
    from harness import Harness

    h = Harness("jax")
    inputs, arrays = _triplet_arrays(h, shape=(3, 4, 5), seed=6)
    kw = {"distance": Distance("cosine"), "margin": 0.5, "swap": True}
    want = R.triplet(*inputs, reduction="none", **kw)
    jitted = jax.jit(lambda *x: lossapi.triplet(*x, reduction="none", **kw))(*arrays)
    np.testing.assert_allclose(np.asarray(jitted), want, rtol=1e-12)
    mapped = jax.vmap(lambda *x: lossapi.triplet(*x, reduction="none", **kw))(*arrays)
    np.testing.assert_allclose(np.asarray(mapped), want, rtol=1e-12)


def test_triplet_torch_kernel_not_used_with_distance(monkeypatch):
    torch = _torch()
    from lossapi.backends import resolve

    ops = resolve("probe", torch.zeros(2))

    def boom(*args, **kwargs):
        raise AssertionError("the p-norm triplet kernel ran with a distance function")

    row = ops.kernels["triplet"]
    monkeypatch.setitem(ops.kernels, "triplet", dataclasses.replace(row, fn=boom))
    rng = np.random.default_rng(5)
    inputs = [rng.normal(size=(4, 3)) for _ in range(3)]
    t = [torch.tensor(a) for a in inputs]
    got = lossapi.triplet(*t, distance=Distance("l1"))
    np.testing.assert_allclose(got.numpy(), R.triplet(*inputs, distance=Distance("l1")), rtol=1e-12)
    with pytest.raises(AssertionError, match="p-norm triplet kernel ran"):
        lossapi.triplet(*t)


# --- multiclass_hinge(p=..., weight=...) -----------------------------------------------------

_WW_S = np.array([[2.0, 1.0, 0.0, 3.0], [0.0, 0.0, 1.0, -1.0], [1.0, 2.0, 2.0, 0.5], [4.0, 0.0, 0.0, 0.0]])
_WW_Y = np.array([0, 1, 2, 0])
_WW_W = np.array([1.0, 0.5, 2.0, 0.25])


def _mch_expected_grads(form, p):
    """Gradients of the summed loss with respect to the scores and the
    weight, from the definition: a hinge term z contributes only where z > 0
    (strictly: 0 at the kink, torch's rule)."""
    want_s, want_w = np.zeros_like(_WW_S), np.zeros_like(_WW_W)
    for n, (row, y) in enumerate(zip(_WW_S, _WW_Y)):
        others = [j for j in range(4) if j != y]
        if form == "weston_watkins":
            terms = [(j, 1.0 - row[y] + row[j]) for j in others]
        else:  # the largest other score; a tie splits (max's gradient) only where active, here none is
            j = max(others, key=lambda k: row[k])
            terms = [(j, 1.0 - row[y] + row[j])]
        for j, z in terms:
            if z > 0:
                slope = _WW_W[y] * (1.0 if p == 1 else 2.0 * z)
                want_s[n, j] += slope
                want_s[n, y] -= slope
                want_w[y] += z ** p
    return want_s, want_w


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("form", ["weston_watkins", "crammer_singer"])
def test_multiclass_hinge_kinks(xp, p, form):
    # s_j - s_y + 1 == 0 for some wrong classes (rows 0, 1, 2), ties among
    # scores: subgradient 0 at every kink (torch's z > 0), for p = 1 and 2.
    # (On torch the weight's gradient makes this the generic code; the
    # kernel's equality with it at these kinks is tests/test_kernels.py's.)
    arrays = [xp.asarray(_WW_S, "float64"), xp.asarray(_WW_Y), xp.asarray(_WW_W, "float64")]

    def fn(s, y, w):
        return lossapi.multiclass_hinge(s, y, form=form, p=p, weight=w, reduction="sum")

    np.testing.assert_allclose(xp.to_numpy(fn(*arrays)),
                               R.multiclass_hinge(_WW_S, _WW_Y, form=form, p=p, weight=_WW_W, reduction="sum"),
                               rtol=1e-15)
    if not xp.has_grad:
        return
    gs, gw = _grad(xp, fn, arrays, (0, 2))
    want_s, want_w = _mch_expected_grads(form, p)
    np.testing.assert_allclose(gs, want_s, rtol=0, atol=1e-15)
    np.testing.assert_allclose(gw, want_w, rtol=0, atol=1e-15)


@pytest.mark.parametrize("p", [1, 2])
def test_multiclass_hinge_kinks_match_torch(p):
    # torch's multi_margin_loss at the same kinks has the same subgradient (C x torch's).
    torch = _torch()
    import torch.nn.functional as F

    s = torch.tensor(_WW_S, requires_grad=True)
    (F.multi_margin_loss(s, torch.tensor(_WW_Y), p=p, weight=torch.tensor(_WW_W), reduction="sum") * 4).backward()
    np.testing.assert_allclose(s.grad.numpy(), _mch_expected_grads("weston_watkins", p)[0], rtol=0, atol=1e-15)


def test_multiclass_hinge_weight_gradient_on_torch():
    # torch's kernel has no weight gradient: a weight that needs one takes
    # the generic code (sum of the weighted sample's hinge terms).
    torch = _torch()
    rng = np.random.default_rng(8)
    s, y, w = rng.normal(size=(5, 4)), rng.integers(0, 4, 5), rng.uniform(0.5, 2.0, 4)
    wt = torch.tensor(w, requires_grad=True)
    lossapi.multiclass_hinge(torch.tensor(s), torch.tensor(y), form="weston_watkins", p=2, weight=wt,
                             reduction="sum").backward()
    want = np.zeros(4)
    for row, c in zip(s, y):
        want[c] += sum(max(0.0, 1.0 - row[c] + row[j]) ** 2 for j in range(4) if j != c)
    np.testing.assert_allclose(wt.grad.numpy(), want, rtol=1e-12)


def test_multiclass_hinge_option_errors(xp):
    s, y = xp.asarray(np.zeros((3, 4)), "float64"), xp.asarray(np.array([0, 1, 2]))
    for p in (3, 0, 1.5, -1):
        with pytest.raises(ValueError, match="multiclass_hinge: p must be 1 or 2, got"):
            lossapi.multiclass_hinge(s, y, p=p)
    for p in (True, "2", None):
        with pytest.raises(TypeError, match="multiclass_hinge: p must be a real number"):
            lossapi.multiclass_hinge(s, y, p=p)
    with pytest.raises(TypeError, match=r"multiclass_hinge: p must be a Python number \(the hinge's power\)"):
        lossapi.multiclass_hinge(s, y, p=xp.asarray(np.array(2.0), "float64"))
    with pytest.raises(ValueError, match=r"multiclass_hinge: weight must have shape \(4,\), one value per class"):
        lossapi.multiclass_hinge(s, y, weight=xp.asarray(np.ones(3), "float64"))
    with pytest.raises(TypeError, match="multiclass_hinge: weight must be an array, got list"):
        lossapi.multiclass_hinge(s, y, weight=[1.0, 1.0, 1.0, 1.0])
    # p=2.0 and p=1.0 are p=2 and p=1
    w = np.array([1.0, 2.0, 0.5, 1.0])
    for form in ("weston_watkins", "crammer_singer"):
        a = lossapi.multiclass_hinge(s, y, p=2.0, form=form, weight=xp.asarray(w, "float64"))
        np.testing.assert_allclose(xp.to_numpy(a), R.multiclass_hinge(np.zeros((3, 4)), np.array([0, 1, 2]),
                                                                      p=2, form=form, weight=w), rtol=1e-15)


# --- 0-d array options (a traced or learnable margin) ----------------------------------------


def test_array_margins(xp):
    # The same values as the Python number, and on autodiff backends the
    # margin's gradient: d/dm of sum max(0, m - x) over target -1 is the
    # count of active terms; of the p=2 Weston-Watkins sum, 2 w[y] z summed.
    x, t = np.array([0.25, 2.0, -1.0, 0.5]), np.array([-1.0, -1.0, 1.0, -1.0])
    s, y, w = _WW_S + 0.125, _WW_Y, _WW_W
    m = xp.asarray(np.array(0.75), "float64")
    he = lossapi.hinge_embedding(xp.asarray(x, "float64"), xp.asarray(t, "float64"), margin=m, reduction="sum")
    np.testing.assert_allclose(xp.to_numpy(he), R.hinge_embedding(x, t, margin=0.75, reduction="sum"), rtol=1e-15)
    for form in ("weston_watkins", "crammer_singer"):
        mh = lossapi.multiclass_hinge(xp.asarray(s, "float64"), xp.asarray(y), form=form, p=2, margin=m,
                                      weight=xp.asarray(w, "float64"), reduction="sum")
        np.testing.assert_allclose(xp.to_numpy(mh), R.multiclass_hinge(s, y, form=form, p=2, margin=0.75, weight=w,
                                                                       reduction="sum"), rtol=1e-14)
    if not xp.has_grad:
        return
    arrays = [xp.asarray(x, "float64"), xp.asarray(t, "float64"), m]
    (gm,) = xp.grad(lambda a, b, mm: lossapi.hinge_embedding(a, b, margin=mm, reduction="sum"), arrays, (2,))
    assert float(gm) == 2.0  # 0.75 - 0.25 and 0.75 - 0.5 are active, 0.75 - 2 is not
    arrays = [xp.asarray(s, "float64"), xp.asarray(y), xp.asarray(w, "float64"), m]
    (gm,) = xp.grad(lambda a, b, ww, mm: lossapi.multiclass_hinge(a, b, form="weston_watkins", p=2, margin=mm,
                                                                  weight=ww, reduction="sum"), arrays, (3,))
    want = sum(2.0 * w[c] * max(0.0, 0.75 - row[c] + row[j]) for row, c in zip(s, y) for j in range(4) if j != c)
    np.testing.assert_allclose(float(gm), want, rtol=1e-13)
