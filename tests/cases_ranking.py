"""Checklist records for the ranking family.

References are float64 NumPy written from the papers' formulas, one list at a
time with plain loops, independently of lossapi: margin ranking from torch's
documented formula, ListNet (Cao et al. 2007) from the two softmaxes, ListMLE
(Xia et al. 2008) as the explicit product of Plackett-Luce probabilities,
RankNet (Burges et al. 2005) over every ordered pair, ApproxNDCG (Qin et al.
2010) with the sigmoid ranks. Negative relevance is padding: the references
drop those items before computing.
"""

from __future__ import annotations

import math

import numpy as np

import lossapi
from cases import LossCase, reduce_np

# --- references -------------------------------------------------------------


def ref_margin_ranking(s1, s2, y, reduction, margin=0.0):
    return reduce_np(np.maximum(0.0, -y * (s1 - s2) + margin), reduction)


def _per_list(one, s, r, axis):
    """Apply ``one(scores_of_real_items, relevance_of_real_items)`` per list."""
    s = np.moveaxis(np.asarray(s, np.float64), axis, -1)
    r = np.moveaxis(np.asarray(r, np.float64), axis, -1)
    out = np.zeros(s.shape[:-1])
    for idx in np.ndindex(out.shape):
        keep = r[idx] >= 0
        out[idx] = one(s[idx][keep], r[idx][keep]) if keep.any() else 0.0
    return out


def listnet_one(s, r):
    p = np.exp(r) / np.sum(np.exp(r))
    q = np.exp(s) / np.sum(np.exp(s))
    return -float(np.sum(p * np.log(q)))


def listmle_one(s, r):
    # Order: relevance descending, ties by position (earlier first).
    order = sorted(range(len(r)), key=lambda i: (-r[i], i))
    prob = 1.0
    remaining = list(order)
    for i in order:
        prob *= math.exp(s[i]) / sum(math.exp(s[j]) for j in remaining)
        remaining.remove(i)
    return -math.log(prob)


def ranknet_one(s, r):
    total, count = 0.0, 0
    for i in range(len(r)):
        for j in range(len(r)):
            if r[i] > r[j]:
                total += math.log1p(math.exp(-(s[i] - s[j])))
                count += 1
    return total / count if count else 0.0


def approx_ndcg_one(s, r, temperature=1.0):
    n = len(r)
    gains = 2.0 ** r - 1.0
    dcg = 0.0
    for i in range(n):
        rank = 1.0 + sum(1.0 / (1.0 + math.exp(-(s[j] - s[i]) / temperature)) for j in range(n) if j != i)
        dcg += gains[i] / math.log2(1.0 + rank)
    ideal = sorted(gains, reverse=True)
    idcg = sum(g / math.log2(k + 2.0) for k, g in enumerate(ideal))
    return 0.0 if idcg == 0 else 1.0 - dcg / idcg


def ref_listnet(s, r, reduction, axis=-1):
    return reduce_np(_per_list(listnet_one, s, r, axis), reduction)


def ref_listmle(s, r, reduction, axis=-1):
    return reduce_np(_per_list(listmle_one, s, r, axis), reduction)


def ref_ranknet(s, r, reduction, axis=-1):
    return reduce_np(_per_list(ranknet_one, s, r, axis), reduction)


def ref_approx_ndcg(s, r, reduction, temperature=1.0, axis=-1):
    return reduce_np(_per_list(lambda a, b: approx_ndcg_one(a, b, temperature), s, r, axis), reduction)


# --- inputs -----------------------------------------------------------------


def _pairs(margin, int_target=False):
    def make(rng):
        s1 = rng.normal(size=(4, 5))
        s2 = rng.normal(size=(4, 5))
        y = rng.choice([-1.0, 1.0], size=(4, 5))
        # Keep -y (s1 - s2) + margin away from the hinge's kink.
        v = margin - y * (s1 - s2)
        s1 = np.where(np.abs(v) < 0.02, s1 + 0.1 * y, s1)
        return s1, s2, (y.astype(np.int64) if int_target else y)
    return make


def _lists(shape, levels=4, pad=True, integer=True, axis=-1):
    """Scores and graded relevance ``[..., list_size]``; some padding (-1),
    some ties, and one list of padding only when ``pad``."""
    def make(rng):
        s = rng.normal(size=shape) * 1.5
        if integer:
            r = rng.integers(0, levels, size=shape).astype(np.int64)
        else:
            r = rng.uniform(0.0, 3.0, size=shape)
        if pad:
            r = np.moveaxis(r, axis, -1).copy()
            flat = r.reshape(-1, r.shape[-1])
            flat[0, -2:] = -1          # padded tail
            flat[-1, 1] = -1           # padding in the middle
            if flat.shape[0] > 2:
                flat[1, :] = -1        # a list of padding only
            r = np.moveaxis(flat.reshape(r.shape), -1, axis)
        return s, r
    return make


_AXIS_BAD = [({"axis": 5}, ValueError), ({"axis": 1.5}, TypeError)]

CASES = [
    LossCase("margin_ranking", lossapi.margin_ranking, _pairs(0.3), ref_margin_ranking,
             kwargs={"margin": 0.3}, grad_args=(0, 1),
             bad_options=[({"margin": "a"}, TypeError), ({"margin": float("nan")}, ValueError)]),
    LossCase("margin_ranking_int_target", lossapi.margin_ranking, _pairs(0.0, int_target=True),
             ref_margin_ranking, grad_args=(0, 1)),
    LossCase("ranknet", lossapi.ranknet, _lists((4, 6)), ref_ranknet, bad_options=_AXIS_BAD),
    LossCase("ranknet_axis0_3d", lossapi.ranknet, _lists((5, 2, 3), axis=0), ref_ranknet,
             kwargs={"axis": 0}),
    LossCase("listnet", lossapi.listnet, _lists((4, 6), integer=False), ref_listnet, bad_options=_AXIS_BAD),
    LossCase("listnet_axis0", lossapi.listnet, _lists((6, 3), integer=False, axis=0), ref_listnet,
             kwargs={"axis": 0}),
    LossCase("listmle", lossapi.listmle, _lists((4, 6)), ref_listmle, bad_options=_AXIS_BAD),
    LossCase("listmle_axis1_3d", lossapi.listmle, _lists((2, 7, 3), axis=1), ref_listmle,
             kwargs={"axis": 1}),
    LossCase("approx_ndcg", lossapi.approx_ndcg, _lists((4, 6)), ref_approx_ndcg,
             bad_options=_AXIS_BAD + [({"temperature": 0.0}, ValueError), ({"temperature": -1.0}, ValueError),
                                      ({"temperature": "x"}, TypeError)]),
    LossCase("approx_ndcg_t0.5_axis0", lossapi.approx_ndcg, _lists((6, 3), axis=0), ref_approx_ndcg,
             kwargs={"temperature": 0.5, "axis": 0}),
]
