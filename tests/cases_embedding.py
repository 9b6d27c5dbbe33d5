"""Checklist records for the embedding family (references: conformance/reference.py).

Input makers keep every hinge, mining choice and ReLU weight away from its kink
(rejection sampling), so finite differences of the references are valid.
"""

from __future__ import annotations

import math

import numpy as np

import lossapi
from cases import LossCase
from conformance import reference as R
from conformance.peers import Distance

# --- input makers -----------------------------------------------------------------

def _contrastive_inputs(shape=(6, 4), margin=3.0, float_labels=False):
    def make(rng):
        lead = shape[:-1]
        x1 = rng.normal(size=shape)
        direction = rng.normal(size=shape)
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
        # Distances on both sides of the margin, never within 0.1 of it.
        inside = rng.uniform(0.3, margin - 0.1, size=lead)
        outside = rng.uniform(margin + 0.1, margin + 1.5, size=lead)
        d = np.where(rng.uniform(size=lead) < 0.3, outside, inside)
        x2 = x1 + direction * d[..., None]
        similar = np.arange(int(np.prod(lead))).reshape(lead) % 2 == 0
        return x1, x2, similar.astype(np.float64) if float_labels else similar
    return make


def _triplet_inputs(shape=(5, 4), **kw):
    def make(rng):
        while True:
            a, p, n = (rng.normal(size=shape) for _ in range(3))
            h = _triplet_margin_arg(a, p, n, **kw)
            if np.all(np.abs(h) > 1e-3) and np.any(h > 0) and _swap_ok(a, p, n, **kw):
                return a, p, n
    return make


def _triplet_margin_arg(a, p_, n, margin=1.0, p=2.0, eps=1e-6, swap=False, squared=False):
    d_ap, d_an = R.pairwise_distance(a, p_, p, eps), R.pairwise_distance(a, n, p, eps)
    if swap:
        d_an = np.minimum(d_an, R.pairwise_distance(p_, n, p, eps))
    if squared:
        d_ap, d_an = d_ap**2, d_an**2
    return d_ap - d_an + margin


def _swap_ok(a, p_, n, margin=1.0, p=2.0, eps=1e-6, swap=False, squared=False):
    return not swap or np.all(np.abs(R.pairwise_distance(a, n, p, eps) - R.pairwise_distance(p_, n, p, eps)) > 1e-3)


def _well_separated(e, lab, margin, p, squared, mining):
    """Distances pairwise distinct and hinges away from 0 (2-D batch)."""
    d = R.distance_matrix(e, p, squared)
    iu = np.triu_indices(len(e), 1)
    vals = np.sort(d[iu])
    if np.min(np.diff(vals)) < 1e-3:
        return False
    n = len(e)
    for a in range(n):
        for p_ in range(n):
            if p_ == a or lab[p_] != lab[a]:
                continue
            for k in range(n):
                if lab[k] != lab[a] and abs(d[a, p_] - d[a, k] + margin) < 1e-3:
                    return False
    return True


def _batch_inputs(lab, dim=3, lead=(), margin=1.0, p=2.0, squared=False, mining="batch_hard", scale=0.6):
    lab = np.asarray(lab)

    def make(rng):
        while True:
            e = rng.normal(size=lead + (len(lab), dim)) * scale
            labels = np.broadcast_to(lab, lead + lab.shape).copy()
            if all(_well_separated(e[i], labels[i], margin, p, squared, mining) for i in np.ndindex(lead)):
                first = (0,) * len(lead)  # (values, count) of one [N, D] batch
                vals, _ = R._batch_triplet_one(e[first], labels[first], margin, mining, p, squared)
                if np.any(vals > 0):
                    return e, labels
    return make


def _cosine_inputs(shape=(6, 4), margin=0.0):
    def make(rng):
        t = np.where(np.arange(int(np.prod(shape[:-1]))).reshape(shape[:-1]) % 3 == 0, -1, 1)
        while True:
            x1, x2 = rng.normal(size=shape), rng.normal(size=shape)
            cos = (x1 * x2).sum(-1) / np.sqrt((x1**2).sum(-1) * (x2**2).sum(-1))
            if np.all(np.abs(cos - margin) > 1e-3):
                return x1, x2, t.astype(np.int64)
    return make


def _views(shape):
    def make(rng):
        z1 = rng.normal(size=shape)
        return z1, z1 + 0.5 * rng.normal(size=shape)
    return make


def _circle_inputs(lab, dim=4, lead=(), margin=0.25):
    lab = np.asarray(lab)

    def make(rng):
        while True:
            e = rng.normal(size=lead + (len(lab), dim))
            u = e / np.linalg.norm(e, axis=-1, keepdims=True)
            s = u @ np.swapaxes(u, -1, -2)
            if np.all(np.abs(s + margin) > 1e-3):  # a_n = relu(s + m) away from its kink
                return e, np.broadcast_to(lab, lead + lab.shape).copy()
    return make


def _distance_triplets(distance, shape=(5, 4), margin=1.0, swap=False):
    """Triplets whose hinge (with ``distance``) and swap choice stay away from their kinks."""
    def make(rng):
        while True:
            a, p, n = (rng.normal(size=shape) for _ in range(3))
            d_ap, d_an, d_pn = distance(a, p), distance(a, n), distance(p, n)
            h = d_ap - (np.minimum(d_an, d_pn) if swap else d_an) + margin
            if np.all(np.abs(h) > 1e-3) and np.any(h > 0) and (not swap or np.all(np.abs(d_an - d_pn) > 1e-3)):
                return a, p, n
    return make


def _hinge_embedding_inputs(shape=(4, 5), margin=1.0, targets=(-1.0, 1.0)):
    def make(rng):
        t = rng.choice(np.array(targets), size=shape)
        x = rng.normal(size=shape) * 2
        x = np.where(np.abs(margin - x) < 1e-2, x + 0.05, x)  # away from the kink x == margin
        return x, t
    return make


def _labelled(lab, dim=4, lead=()):
    lab = np.asarray(lab)

    def make(rng):
        return rng.normal(size=lead + (len(lab), dim)), np.broadcast_to(lab, lead + lab.shape).copy()
    return make


def _ms_mining_ok(e, lab, epsilon=0.1):
    """Every mining comparison of multi_similarity at least 1e-3 from its threshold."""
    u = e / np.linalg.norm(e, axis=-1, keepdims=True)
    s = u @ u.T
    n = len(lab)
    for i in range(n):
        pos = [s[i, j] for j in range(n) if j != i and lab[j] == lab[i]]
        neg = [s[i, j] for j in range(n) if lab[j] != lab[i]]
        if pos and neg and (min(abs(x - epsilon - max(neg)) for x in pos) < 1e-3
                            or min(abs(x + epsilon - min(pos)) for x in neg) < 1e-3):
            return False
    return True


def _ms_inputs(lab, dim=4, lead=(), epsilon=0.1):
    lab = np.asarray(lab)

    def make(rng):
        while True:
            e = rng.normal(size=lead + (len(lab), dim))
            labels = np.broadcast_to(lab, lead + lab.shape).copy()
            if all(_ms_mining_ok(e[i], labels[i], epsilon) for i in np.ndindex(lead)):
                return e, labels
    return make


def _class_inputs(shape=(6, 4), classes=3, rows=None):
    """Embeddings, class weights (``rows`` of them, default ``classes``) and integer labels."""
    def make(rng):
        e = rng.normal(size=shape)
        w = rng.normal(size=(rows or classes, shape[-1]))
        return e, w, rng.integers(0, classes, size=shape[:-1])
    return make


_LAB = [0, 0, 0, 1, 1, 2, 2, 3]  # class 3 is a singleton: an anchor without positives

_MARGIN_BAD = [({"margin": 0.0}, ValueError), ({"margin": -1.0}, ValueError), ({"margin": "1"}, TypeError)]

CASES = [
    LossCase("contrastive", lossapi.contrastive, _contrastive_inputs(), R.contrastive, kwargs={"margin": 3.0},
             grad_args=(0, 1), bad_options=_MARGIN_BAD),
    LossCase("contrastive_float_labels_3d", lossapi.contrastive, _contrastive_inputs((2, 3, 4), 1.5, True),
             R.contrastive, kwargs={"margin": 1.5}, grad_args=(0, 1)),
    LossCase("triplet", lossapi.triplet, _triplet_inputs(), R.triplet, grad_args=(0, 1, 2),
             bad_options=_MARGIN_BAD + [({"p": 0.0}, ValueError), ({"eps": -1.0}, ValueError),
                                        ({"swap": 1}, TypeError), ({"squared": "yes"}, TypeError)]),
    LossCase("triplet_p1", lossapi.triplet, _triplet_inputs(p=1.0), R.triplet, kwargs={"p": 1.0},
             grad_args=(0, 1, 2)),
    LossCase("triplet_p3_3d", lossapi.triplet, _triplet_inputs((2, 3, 4), p=3.0), R.triplet,
             kwargs={"p": 3.0}, grad_args=(0, 1, 2)),
    LossCase("triplet_pinf", lossapi.triplet, _triplet_inputs(p=math.inf), R.triplet,
             kwargs={"p": math.inf}, grad_args=(0, 1, 2)),
    LossCase("triplet_swap", lossapi.triplet, _triplet_inputs(swap=True, margin=0.5), R.triplet,
             kwargs={"swap": True, "margin": 0.5}, grad_args=(0, 1, 2)),
    LossCase("triplet_squared", lossapi.triplet, _triplet_inputs(squared=True, eps=0.0, margin=2.0), R.triplet,
             kwargs={"squared": True, "eps": 0.0, "margin": 2.0}, grad_args=(0, 1, 2)),
    LossCase("batch_triplet_hard", lossapi.batch_triplet, _batch_inputs(_LAB), R.batch_triplet,
             bad_options=_MARGIN_BAD + [({"mining": "hard"}, ValueError), ({"p": -1.0}, ValueError),
                                        ({"squared": 1}, TypeError)]),
    LossCase("batch_triplet_all", lossapi.batch_triplet, _batch_inputs(_LAB, mining="all"), R.batch_triplet,
             kwargs={"mining": "all"}),
    LossCase("batch_triplet_semi_hard", lossapi.batch_triplet, _batch_inputs(_LAB, mining="semi_hard", margin=0.5),
             R.batch_triplet, kwargs={"mining": "semi_hard", "margin": 0.5}),
    LossCase("batch_triplet_hard_p1_sq", lossapi.batch_triplet,
             _batch_inputs(_LAB, p=1.0, squared=True, margin=2.0), R.batch_triplet,
             kwargs={"p": 1.0, "squared": True, "margin": 2.0}),
    LossCase("batch_triplet_all_sq", lossapi.batch_triplet, _batch_inputs(_LAB, squared=True, mining="all"),
             R.batch_triplet, kwargs={"squared": True, "mining": "all"}),
    LossCase("batch_triplet_semi_hard_lead", lossapi.batch_triplet,
             _batch_inputs([0, 0, 1, 1, 1, 2], lead=(2,), mining="semi_hard"), R.batch_triplet,
             kwargs={"mining": "semi_hard"}),
    LossCase("cosine_embedding", lossapi.cosine_embedding, _cosine_inputs(), R.cosine_embedding,
             grad_args=(0, 1),
             bad_options=[({"margin": 1.5}, ValueError), ({"margin": -2.0}, ValueError), ({"margin": None}, TypeError)]),
    LossCase("cosine_embedding_m03_3d", lossapi.cosine_embedding, _cosine_inputs((2, 3, 4), 0.3),
             R.cosine_embedding, kwargs={"margin": 0.3}, grad_args=(0, 1)),
    LossCase("cosine_proximity", lossapi.cosine_proximity, _views((4, 5)), R.cosine_proximity, grad_args=(0, 1),
             bad_options=[({"axis": 2}, ValueError), ({"axis": 1.0}, TypeError)]),
    LossCase("cosine_proximity_axis0", lossapi.cosine_proximity, _views((5, 3, 2)), R.cosine_proximity,
             kwargs={"axis": 0}, grad_args=(0, 1)),
    LossCase("nt_xent", lossapi.nt_xent, _views((5, 3)), R.nt_xent, grad_args=(0, 1),
             bad_options=[({"temperature": 0.0}, ValueError), ({"temperature": "0.1"}, TypeError)]),
    LossCase("nt_xent_t01_lead", lossapi.nt_xent, _views((2, 4, 3)), R.nt_xent, kwargs={"temperature": 0.1},
             grad_args=(0, 1)),
    # detach_weights=False so the gradient is that of the value (finite
    # differences); the default detached gradient is tested in test_embedding.py.
    LossCase("circle", lossapi.circle, _circle_inputs(_LAB), R.circle,
             kwargs={"detach_weights": False, "gamma": 32.0},
             bad_options=[({"margin": 1.0}, ValueError), ({"margin": -0.1}, ValueError),
                          ({"gamma": 0.0}, ValueError), ({"detach_weights": 0}, TypeError)]),
    LossCase("circle_default_gamma_lead", lossapi.circle, _circle_inputs([0, 0, 1, 1, 2], lead=(2,)), R.circle,
             kwargs={"detach_weights": False}),
    # triplet with a distance function (torch's triplet_margin_with_distance_loss)
    LossCase("triplet_distance_l1", lossapi.triplet, _distance_triplets(Distance("l1")), R.triplet,
             kwargs={"distance": Distance("l1")}, grad_args=(0, 1, 2),
             bad_options=[({"p": 1.0}, ValueError), ({"eps": 0.0}, ValueError), ({"squared": True}, ValueError)]),
    LossCase("triplet_distance_cosine_swap_3d", lossapi.triplet,
             _distance_triplets(Distance("cosine"), (2, 3, 4), margin=0.5, swap=True), R.triplet,
             kwargs={"distance": Distance("cosine"), "margin": 0.5, "swap": True}, grad_args=(0, 1, 2)),
    # hinge embedding (elementwise on distances)
    LossCase("hinge_embedding", lossapi.hinge_embedding, _hinge_embedding_inputs(), R.hinge_embedding,
             bad_options=[({"margin": "1"}, TypeError), ({"margin": float("nan")}, ValueError)]),
    LossCase("hinge_embedding_m05_other_targets_3d", lossapi.hinge_embedding,
             _hinge_embedding_inputs((2, 3, 4), 0.5, (-1.0, 1.0, 0.0, 2.0)), R.hinge_embedding,
             kwargs={"margin": 0.5}),
    LossCase("hinge_embedding_negative_margin", lossapi.hinge_embedding, _hinge_embedding_inputs(margin=-0.5),
             R.hinge_embedding, kwargs={"margin": -0.5}),
    # supervised contrastive, margin softmax, multi-similarity, proxy anchor
    LossCase("supcon", lossapi.supcon, _labelled(_LAB), R.supcon,
             bad_options=[({"temperature": 0.0}, ValueError), ({"temperature": "0.1"}, TypeError)]),
    LossCase("supcon_t05_lead", lossapi.supcon, _labelled([0, 1, 0, 1, 2], lead=(2,)), R.supcon,
             kwargs={"temperature": 0.5}),
    LossCase("arcface", lossapi.arcface, _class_inputs(), R.arcface, kwargs={"scale": 8.0},
             grad_args=(0, 1), shape_check=False,
             bad_options=[({"scale": 0.0}, ValueError), ({"margin": -0.1}, ValueError), ({"margin": 4.0}, ValueError),
                          ({"sub_centers": 0}, ValueError), ({"sub_centers": 2.0}, TypeError),
                          ({"sub_centers": 4}, ValueError)]),
    LossCase("arcface_default_3d", lossapi.arcface, _class_inputs((2, 3, 4), 4), R.arcface, grad_args=(0, 1),
             shape_check=False),
    LossCase("arcface_sub_centers", lossapi.arcface, _class_inputs((6, 4), 3, rows=9), R.arcface,
             kwargs={"scale": 8.0, "margin": 0.3, "sub_centers": 3}, grad_args=(0, 1), shape_check=False),
    LossCase("cosface", lossapi.cosface, _class_inputs(), R.cosface, kwargs={"scale": 8.0}, grad_args=(0, 1),
             shape_check=False, bad_options=[({"scale": -1.0}, ValueError), ({"margin": "0.3"}, TypeError)]),
    LossCase("cosface_default_3d", lossapi.cosface, _class_inputs((2, 3, 4), 4), R.cosface, grad_args=(0, 1),
             shape_check=False),
    LossCase("multi_similarity", lossapi.multi_similarity, _ms_inputs(_LAB), R.multi_similarity,
             bad_options=[({"alpha": 0.0}, ValueError), ({"beta": -1.0}, ValueError),
                          ({"epsilon": -0.1}, ValueError), ({"base": None}, TypeError)]),
    LossCase("multi_similarity_opts_lead", lossapi.multi_similarity,
             _ms_inputs([0, 0, 1, 1, 1, 2], lead=(2,), epsilon=0.3), R.multi_similarity,
             kwargs={"alpha": 1.0, "beta": 10.0, "base": 0.2, "epsilon": 0.3}),
    LossCase("proxy_anchor", lossapi.proxy_anchor, _class_inputs((8, 4), 5), R.proxy_anchor, grad_args=(0, 1),
             shape_check=False, bad_options=[({"alpha": 0.0}, ValueError), ({"margin": "0.1"}, TypeError)]),
    LossCase("proxy_anchor_opts_lead", lossapi.proxy_anchor, _class_inputs((2, 5, 3), 4), R.proxy_anchor,
             kwargs={"alpha": 8.0, "margin": 0.3}, grad_args=(0, 1), shape_check=False),
]
