"""Ranking family beyond the common checklist: torch cross-checks for
margin_ranking, the guide's 6.1 example, padding invariance (values,
gradients, jax.jit, jax.vmap), ties, empty and one-item lists, extreme scores,
the sharp-temperature limit of ApproxNDCG, and error messages.

Expected values come from torch.nn.functional, from exact rational arithmetic,
from hand-written formulas, or from the float64 loop references of
``cases_ranking`` (written independently of lossapi).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import lossapi
from conformance import peers
from conformance import reference as R

LIST_LOSSES = {
    "listnet": (lossapi.listnet, R.listnet),
    "listmle": (lossapi.listmle, R.listmle),
    "ranknet": (lossapi.ranknet, R.ranknet),
    "approx_ndcg": (lossapi.approx_ndcg, R.approx_ndcg),
}


def _lse(*v):
    m = max(v)
    return m + math.log(sum(math.exp(x - m) for x in v))


# --- margin_ranking ------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("margin", [0.0, 0.5, -0.2])
def test_margin_ranking_matches_torch(xp, reduction, margin):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    s1, s2 = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    y = rng.choice([-1.0, 1.0], size=(3, 4))
    peer = peers.bind("torch", "margin_ranking", margin=margin, reduction=reduction)
    want = peer(torch.from_numpy(s1), torch.from_numpy(s2), torch.from_numpy(y)).numpy()
    got = lossapi.margin_ranking(xp.asarray(s1), xp.asarray(s2), xp.asarray(y), margin=margin, reduction=reduction)
    np.testing.assert_allclose(xp.to_numpy(got), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_margin_ranking_guide_example(xp, dtype):
    # Guide 6.1: scores1=[0.8,0.2,0.5], scores2=[0.4,0.6,0.3], targets=[1,-1,1],
    # margin 0.2. In exact arithmetic the terms are max(0, -0.2), max(0, -0.2)
    # and max(0, 0): the loss is 0, not the printed 0.1333. In floating point
    # the last term is a rounding residue (0.5 - 0.3 is not exactly 0.2).
    s1, s2, y = ["0.8", "0.2", "0.5"], ["0.4", "0.6", "0.3"], [1, -1, 1]
    m = Fraction("0.2")
    terms = [max(Fraction(0), -t * (Fraction(a) - Fraction(b)) + m) for a, b, t in zip(s1, s2, y)]
    exact = float(sum(terms) / 3)
    assert exact == 0.0
    got = lossapi.margin_ranking(xp.asarray([float(v) for v in s1], dtype), xp.asarray([float(v) for v in s2], dtype),
                                 xp.asarray(np.array(y, np.float64), dtype), margin=0.2)
    got = float(xp.to_numpy(got))
    assert got == pytest.approx(exact, abs=1e-7 if dtype == "float32" else 1e-15)
    assert abs(got - 0.1333) > 0.1


def test_margin_ranking_kink_gradient_is_torchs(xp):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    # -1 * (0.5 - 0.25) + 0.25 == 0 exactly (all values are dyadic): the kink.
    s1, s2, y = np.array([0.5, 2.0]), np.array([0.25, 0.0]), np.array([1.0, -1.0])
    g1, g2 = xp.grad(lambda a, b, t: lossapi.margin_ranking(a, b, t, margin=0.25, reduction="sum"),
                     [xp.asarray(s1), xp.asarray(s2), xp.asarray(y)], (0, 1))
    # At the kink the linear piece's gradient (torch's clamp_min): d/ds1 = -y,
    # d/ds2 = y; the second pair is active (v = 2.25): d/ds1 = -y = 1.
    np.testing.assert_array_equal(g1, [-1.0, 1.0])
    np.testing.assert_array_equal(g2, [1.0, -1.0])


def test_margin_ranking_kink_gradient_is_the_linear_piece():
    # v = -y (s1 - s2) + margin = [0 (the kink), 2.25, -0.75]: lossapi's rule
    # gives the linear piece's slope at the kink, -y / n for s1, by hand.
    # torch 2.13's F.margin_ranking_loss (clamp_min) agrees; torch 2.14
    # changed clamp_min to give 0 at the kink, so the comparison with torch
    # is made only where torch still has this convention.
    torch = pytest.importorskip("torch")
    s1 = torch.tensor([0.5, 2.0, 0.0], dtype=torch.float64, requires_grad=True)
    s2 = torch.tensor([0.25, 0.0, 1.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    got = torch.autograd.grad(lossapi.margin_ranking(s1, s2, y, margin=0.25), (s1, s2))
    want_s1 = torch.tensor([-1.0, 1.0, 0.0], dtype=torch.float64) / 3
    torch.testing.assert_close(got[0], want_s1, rtol=0, atol=1e-15)
    torch.testing.assert_close(got[1], -want_s1, rtol=0, atol=1e-15)
    if tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) < (2, 14):
        peer = torch.autograd.grad(peers.bind("torch", "margin_ranking", margin=0.25)(s1, s2, y), (s1, s2))
        for g, w in zip(got, peer):
            torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_margin_ranking_infinite_scores_match_torch(xp):
    # max(0, margin - y (s1 - s2)) at v = -inf (a pair ordered by an infinite
    # gap: 0), v = +inf and finite v on either side of the kink (not on it:
    # torch 2.14 changed clamp_min's gradient there): values and gradients as
    # torch gives them.
    torch = pytest.importorskip("torch")
    s1 = np.array([np.inf, -np.inf, 0.5, 2.0, 0.0, -np.inf])
    s2 = np.array([0.0, 0.0, 0.25, 0.0, 1.0, 0.0])
    y = np.array([1.0, 1.0, -1.0, -1.0, 1.0, -1.0])
    t1, t2 = torch.tensor(s1, requires_grad=True), torch.tensor(s2, requires_grad=True)
    want = peers.bind("torch", "margin_ranking", margin=0.25, reduction="none")(t1, t2, torch.tensor(y))
    want_grads = [g.numpy() for g in torch.autograd.grad(want.sum(), (t1, t2))]
    args = [xp.asarray(s1), xp.asarray(s2), xp.asarray(y)]
    got = xp.to_numpy(lossapi.margin_ranking(*args, margin=0.25, reduction="none"))
    np.testing.assert_array_equal(got, want.detach().numpy())
    if xp.has_grad:
        grads = xp.grad(lambda a, b, t: lossapi.margin_ranking(a, b, t, margin=0.25, reduction="sum"), args, (0, 1))
        for g, w in zip(grads, want_grads):
            np.testing.assert_array_equal(g, w)


def test_margin_ranking_nan_propagates(xp):
    s1 = xp.asarray(np.array([np.nan, 1.0]))
    s2 = xp.asarray(np.array([0.0, 0.0]))
    got = xp.to_numpy(lossapi.margin_ranking(s1, s2, xp.asarray(np.array([1.0, 1.0])), reduction="none"))
    assert np.isnan(got[0]) and got[1] == 0.0


def test_margin_ranking_rejects_integer_s2(xp):
    s1 = xp.asarray(np.array([0.5, 1.0]))
    s2 = xp.asarray(np.array([0, 1], dtype=np.int64))
    with pytest.raises(TypeError, match="margin_ranking: s2 must be a real floating-point array"):
        lossapi.margin_ranking(s1, s2, xp.asarray(np.array([1.0, -1.0])))


def test_margin_ranking_shape_mismatch_message(xp):
    a, b = xp.asarray(np.zeros(3)), xp.asarray(np.zeros(4))
    with pytest.raises(ValueError, match=r"margin_ranking: s1 has shape \(3,\) but s2 has shape \(4,\)"):
        lossapi.margin_ranking(a, b, a)


# --- padding -------------------------------------------------------------------

# Unpadded lists (with ties in relevance) and the same lists padded at the
# front, in the middle and at the end, with junk scores in the padding.
_S = np.array([[0.3, -1.2, 2.0, 0.7, 0.1], [1.5, 0.2, -0.4, 0.9, -2.0], [0.0, 0.8, 0.8, -0.3, 1.1]])
_R = np.array([[3, 0, 1, 1, 2], [0, 2, 2, 1, 0], [1, 0, 3, 0, 2]])
_PAD_AT = [0, 3, 5, 5]  # np.insert positions (in the unpadded list)
_JUNK = [np.nan, np.inf, -1e4, 7.0]


def _padded(s, r):
    return (np.insert(s, _PAD_AT, _JUNK, axis=1),
            np.insert(r, _PAD_AT, -1, axis=1))


@pytest.mark.parametrize("name", list(LIST_LOSSES))
@pytest.mark.parametrize("axis", [-1, 0])
def test_padding_does_not_change_the_loss(xp, name, axis):
    fn, ref = LIST_LOSSES[name]
    sp, rp = _padded(_S, _R)
    s, r = (_S, _R) if axis == -1 else (_S.T, _R.T)
    sp, rp = (sp, rp) if axis == -1 else (sp.T, rp.T)
    plain = xp.to_numpy(fn(xp.asarray(s), xp.asarray(r), axis=axis, reduction="none"))
    padded = xp.to_numpy(fn(xp.asarray(sp), xp.asarray(rp), axis=axis, reduction="none"))
    np.testing.assert_allclose(padded, plain, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(plain, ref(s, r, reduction="none", axis=axis), rtol=1e-10)


@pytest.mark.parametrize("name", list(LIST_LOSSES))
def test_padding_gradient(xp, name):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    fn, _ = LIST_LOSSES[name]
    sp, rp = _padded(_S, _R)
    (g,) = xp.grad(lambda s, r: fn(s, r, reduction="sum"), [xp.asarray(_S), xp.asarray(_R)], (0,))
    (gp,) = xp.grad(lambda s, r: fn(s, r, reduction="sum"), [xp.asarray(sp), xp.asarray(rp)], (0,))
    assert np.all(np.isfinite(gp)), gp  # NaN / inf junk in the padding reaches no gradient
    real = rp[0] >= 0
    np.testing.assert_array_equal(gp[:, ~real], 0.0)
    np.testing.assert_allclose(gp[:, real], g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(LIST_LOSSES))
def test_jax_jit_and_vmap_with_padding(name):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    fn, ref = LIST_LOSSES[name]
    sp, rp = _padded(_S, _R)
    want = ref(_S, _R, reduction="none")
    s, r = jnp.asarray(sp), jnp.asarray(rp)
    jitted = jax.jit(lambda a, b: fn(a, b, reduction="none"))(s, r)
    np.testing.assert_allclose(np.asarray(jitted), want, rtol=1e-10)
    # One list at a time under vmap gives the same per-list values.
    mapped = jax.vmap(lambda a, b: fn(a, b, reduction="none"))(s, r)
    np.testing.assert_allclose(np.asarray(mapped), want, rtol=1e-10)
    g = jax.jit(jax.grad(lambda a, b: fn(a, b, reduction="mean")))(s, r)
    assert np.all(np.isfinite(np.asarray(g)))
    np.testing.assert_array_equal(np.asarray(g)[:, rp[0] < 0], 0.0)


@pytest.mark.parametrize("name", list(LIST_LOSSES))
def test_empty_and_single_item_lists_give_zero(xp, name):
    fn, _ = LIST_LOSSES[name]
    s = np.array([[0.3, -1.0, 2.0], [1.0, 5.0, -3.0]])
    r = np.array([[-1, -1, -1], [-1, 2, -1]])  # no real item; one real item
    got = xp.to_numpy(fn(xp.asarray(s), xp.asarray(r), reduction="none"))
    np.testing.assert_array_equal(got, [0.0, 0.0])
    if xp.has_grad:
        (g,) = xp.grad(lambda a, b: fn(a, b, reduction="sum"), [xp.asarray(s), xp.asarray(r)], (0,))
        np.testing.assert_array_equal(g, 0.0)


# --- ties ------------------------------------------------------------------------


def test_listmle_ties_broken_by_position(xp):
    # Items 0 and 1 tie on relevance: the earlier one is ranked first.
    s = np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 3.0]])
    r = np.array([[1, 1, 0], [1, 1, 0]])
    want = [(_lse(1, 2, 3) - 1) + (_lse(2, 3) - 2), (_lse(2, 1, 3) - 2) + (_lse(1, 3) - 1)]
    got = xp.to_numpy(lossapi.listmle(xp.asarray(s), xp.asarray(r), reduction="none"))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert abs(want[0] - want[1]) > 0.1  # the tie-break matters


def test_listmle_matches_plackett_luce_product(xp):
    rng = np.random.default_rng(7)
    s = rng.normal(size=(3, 5))
    r = np.array([[4, 3, 2, 1, 0], [0, 1, 2, 3, 4], [2, 0, 2, 1, 2]])
    want = [R._listmle_one(s[i], r[i]) for i in range(3)]  # one list, no padding
    got = xp.to_numpy(lossapi.listmle(xp.asarray(s), xp.asarray(r), reduction="none"))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_ranknet_ties_are_not_pairs(xp):
    s = np.array([[0.0, 5.0, 1.0], [0.4, -2.0, 3.0]])
    r = np.array([[1, 1, 0], [2, 2, 2]])
    # Row 0: pairs (0, 2) and (1, 2) only. Row 1: no pair at all.
    want = [(math.log1p(math.exp(1.0)) + math.log1p(math.exp(-4.0))) / 2, 0.0]
    got = xp.to_numpy(lossapi.ranknet(xp.asarray(s), xp.asarray(r), reduction="none"))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_approx_ndcg_tied_scores(xp):
    # All scores equal: every approximate rank is 1 + (n - 1) / 2 = 2.
    s = np.zeros((1, 3))
    r = np.array([[2, 1, 0]])
    dcg = (3 + 1 + 0) / math.log2(3.0)
    idcg = 3 + 1 / math.log2(3.0)
    got = xp.to_numpy(lossapi.approx_ndcg(xp.asarray(s), xp.asarray(r), reduction="none"))
    np.testing.assert_allclose(got, [1 - dcg / idcg], rtol=1e-12)


def test_listnet_tied_relevance_is_uniform_target(xp):
    s = np.array([[2.0, 0.0, -1.0, 0.5]])
    r = np.array([[1.5, 1.5, 1.5, 1.5]])
    # Uniform target: the loss is the mean of -log softmax(s).
    want = np.mean(_lse(*s[0]) - s[0])
    got = xp.to_numpy(lossapi.listnet(xp.asarray(s), xp.asarray(r), reduction="none"))
    np.testing.assert_allclose(got, [want], rtol=1e-12)


# --- numerics ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_listmle_extreme_scores_finite(xp, dtype):
    # The tail after the first item lies ~600 below the list max: a single
    # "subtract the list max, reverse cumsum" pass underflows to log(0) there.
    s = np.array([[300.0, -300.0, -301.0], [-300.0, 0.0, 300.0]])
    r = np.array([[2, 1, 0], [2, 1, 0]])
    want = [(_lse(300, -300, -301) - 300) + (_lse(-300, -301) + 300), (_lse(-300, 0, 300) + 300) + (_lse(0, 300))]
    got = xp.to_numpy(lossapi.listmle(xp.asarray(s, dtype), xp.asarray(r), reduction="none"))
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-12)
    if xp.has_grad:
        (g,) = xp.grad(lambda a, b: lossapi.listmle(a, b, reduction="sum"), [xp.asarray(s, dtype), xp.asarray(r)],
                       (0,))
        assert np.all(np.isfinite(g))
        # Row 0: d/ds of log(1 + e^-1) for the second and third items.
        np.testing.assert_allclose(g[0], [0.0, -1 / (1 + math.e), 1 / (1 + math.e)], atol=1e-6)


@pytest.mark.parametrize("name", ["listnet", "ranknet", "approx_ndcg"])
def test_extreme_scores_finite(xp, name):
    fn, ref = LIST_LOSSES[name]
    s = np.array([[300.0, -300.0, -301.0, 0.0]])
    r = np.array([[0, 1, 2, 3]])
    got = xp.to_numpy(fn(xp.asarray(s, "float32"), xp.asarray(r), reduction="none"))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref(s, r, reduction="none"), rtol=1e-5)  # float64 exp(600) does not overflow


def test_approx_ndcg_sharp_limit_is_ndcg(xp):
    # Distinct scores at least 0.1 apart and temperature 1e-3: the sigmoid ranks
    # are the true ranks to ~1e-40, so the loss is 1 - NDCG of the score order.
    s = np.array([[0.5, 2.0, -1.0, 1.2, 0.1], [3.0, 2.0, 1.0, 0.0, -1.0]])
    r = np.array([[1, 0, 3, 2, 0], [3, 2, 1, 0, 0]])
    want = []
    for si, ri in zip(s, r):
        ranks = np.empty(len(si))
        ranks[np.argsort(-si)] = np.arange(1, len(si) + 1)
        gains = 2.0 ** ri - 1
        dcg = np.sum(gains / np.log2(1 + ranks))
        idcg = np.sum(np.sort(gains)[::-1] / np.log2(2 + np.arange(len(si))))
        want.append(1 - dcg / idcg)
    got = xp.to_numpy(lossapi.approx_ndcg(xp.asarray(s), xp.asarray(r), temperature=1e-3, reduction="none"))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert want[1] == pytest.approx(0.0, abs=1e-15)


# --- errors and API ------------------------------------------------------------


@pytest.mark.parametrize("name", list(LIST_LOSSES))
def test_list_loss_errors(xp, name):
    fn, _ = LIST_LOSSES[name]
    s, r = xp.asarray(np.zeros((2, 3))), xp.asarray(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=rf"{name}: scores has shape \(2, 3\) but relevance has shape \(2, 4\)"):
        fn(s, r)
    with pytest.raises(ValueError, match=rf"{name}: axis 2 is out of range for scores with 2 dimension"):
        fn(s, s, axis=2)
    zero_d = xp.asarray(np.array(1.0))
    with pytest.raises(ValueError, match=rf"{name}: scores must have at least one dimension"):
        fn(zero_d, zero_d)


def test_all_names_the_ranking_losses():
    import lossapi.ranking as ranking

    assert sorted(ranking.__all__) == ["approx_mrr", "approx_ndcg", "lambda_loss", "listmle", "listnet",
                                       "margin_ranking", "neural_ndcg", "pairwise_hinge", "pairwise_logistic",
                                       "pairwise_soft_zero_one", "ranking_softmax", "ranknet"]
    for n in ranking.__all__:
        assert getattr(lossapi, n) is getattr(ranking, n)


def test_dask_take_along_axis_permutation():
    da = pytest.importorskip("dask.array")
    from lossapi.backends import resolve

    x = np.random.default_rng(0).normal(size=(4, 6))
    dx = da.from_array(x, chunks=(3, 4))
    ops = resolve("test", dx)
    for axis in (0, 1):
        idx = np.argsort(x, axis=axis)
        got = ops.take_along_axis(dx, da.from_array(idx, chunks=(2, 3)), axis=axis)
        assert isinstance(got, da.Array)
        np.testing.assert_array_equal(got.compute(), np.take_along_axis(x, idx, axis=axis))
