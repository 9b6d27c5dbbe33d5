"""Checklist records for the embedding family.

References are float64 NumPy written from the formulas (the guides, torch's
documented semantics, the papers), independently of lossapi; the mining and
batch references are explicit loops over anchors, positives and negatives.
Input makers keep every hinge, mining choice and ReLU weight away from its kink
(rejection sampling), so finite differences of the references are valid.
"""

from __future__ import annotations

import math

import numpy as np

import lossapi
from cases import LossCase, reduce_np

# --- references -----------------------------------------------------------------


def _dist(x, y, p=2.0, eps=0.0):
    """torch's pairwise distance ||x - y + eps||_p along the last axis."""
    v = np.abs(x - y + eps)
    if math.isinf(p):
        return v.max(axis=-1)
    return (v**p).sum(axis=-1) ** (1.0 / p)


def ref_contrastive(x1, x2, similar, reduction, margin=1.0):
    s = similar.astype(np.float64)
    d = np.sqrt(((x1 - x2) ** 2).sum(axis=-1))
    loss = s * 0.5 * d**2 + (1 - s) * 0.5 * np.maximum(0.0, margin - d) ** 2
    return reduce_np(loss, reduction)


def ref_triplet(a, p_, n, reduction, margin=1.0, p=2.0, eps=1e-6, swap=False, squared=False):
    d_ap, d_an = _dist(a, p_, p, eps), _dist(a, n, p, eps)
    if swap:
        d_an = np.minimum(d_an, _dist(p_, n, p, eps))
    if squared:
        d_ap, d_an = d_ap**2, d_an**2
    return reduce_np(np.maximum(0.0, d_ap - d_an + margin), reduction)


def _dmat(e, p, squared):
    n = e.shape[0]
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            d[i, j] = _dist(e[i], e[j], p)
    return d**2 if squared else d


def _batch_triplet_2d(e, lab, margin, mining, p, squared):
    """Returns (values, number of valid entries) for one [N, D] batch."""
    n = e.shape[0]
    d = _dmat(e, p, squared)
    P = [[j for j in range(n) if j != i and lab[j] == lab[i]] for i in range(n)]
    N = [[k for k in range(n) if lab[k] != lab[i]] for i in range(n)]
    if mining == "all":
        out = np.zeros((n, n, n))
        count = 0
        for a in range(n):
            for p_ in P[a]:
                for k in N[a]:
                    out[a, p_, k] = max(0.0, d[a, p_] - d[a, k] + margin)
                    count += 1
        return out, count
    if mining == "batch_hard":
        out = np.zeros(n)
        count = 0
        for a in range(n):
            if P[a] and N[a]:
                out[a] = max(0.0, max(d[a, j] for j in P[a]) - min(d[a, k] for k in N[a]) + margin)
                count += 1
        return out, count
    # semi_hard: nearest negative farther than the positive, else farthest negative
    out = np.zeros((n, n))
    count = 0
    for a in range(n):
        if not N[a]:
            continue
        for p_ in P[a]:
            farther = [d[a, k] for k in N[a] if d[a, k] > d[a, p_]]
            dn = min(farther) if farther else max(d[a, k] for k in N[a])
            out[a, p_] = max(0.0, d[a, p_] - dn + margin)
            count += 1
    return out, count


def ref_batch_triplet(e, lab, reduction, margin=1.0, mining="batch_hard", p=2.0, squared=False):
    lead = e.shape[:-2]
    vals, count = [], 0
    for idx in np.ndindex(lead):
        v, c = _batch_triplet_2d(e[idx], lab[idx], margin, mining, p, squared)
        vals.append(v)
        count += c
    vals = np.stack(vals).reshape(lead + vals[0].shape)
    if reduction == "none":
        return vals
    if reduction == "sum":
        return np.sum(vals)
    return np.sum(vals) / max(count, 1)


def ref_cosine_embedding(x1, x2, t, reduction, margin=0.0):
    eps = 1e-12  # torch's
    cos = (x1 * x2).sum(-1) / np.sqrt(((x1**2).sum(-1) + eps) * ((x2**2).sum(-1) + eps))
    loss = np.where(t == 1, 1 - cos, np.where(t == -1, np.maximum(0.0, cos - margin), 0.0))
    return reduce_np(loss, reduction)


def ref_cosine_proximity(x1, x2, reduction, axis=-1):
    n1 = np.maximum(np.sqrt((x1**2).sum(axis)), 1e-8)
    n2 = np.maximum(np.sqrt((x2**2).sum(axis)), 1e-8)
    return reduce_np(-(x1 * x2).sum(axis) / (n1 * n2), reduction)


def _nt_xent_2d(z1, z2, t):
    z = np.concatenate([z1, z2], axis=0)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-8)
    m = z.shape[0]
    half = m // 2
    out = np.zeros(m)
    for i in range(m):
        pos = (i + half) % m
        logits = [z[i] @ z[j] / t for j in range(m) if j != i]
        top = max(logits)
        lse = top + math.log(sum(math.exp(v - top) for v in logits))
        out[i] = lse - z[i] @ z[pos] / t
    return out


def ref_nt_xent(z1, z2, reduction, temperature=0.5):
    lead = z1.shape[:-2]
    vals = np.stack([_nt_xent_2d(z1[i], z2[i], temperature) for i in np.ndindex(lead)])
    return reduce_np(vals.reshape(lead + vals.shape[-1:]), reduction)


def _circle_2d(e, lab, m, gamma):
    u = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-8)
    s = u @ u.T
    n = e.shape[0]
    out = np.zeros(n)
    count = 0
    for i in range(n):
        lp = [-gamma * max(0.0, 1 + m - s[i, j]) * (s[i, j] - (1 - m)) for j in range(n) if j != i and lab[j] == lab[i]]
        ln = [gamma * max(0.0, s[i, k] + m) * (s[i, k] - m) for k in range(n) if lab[k] != lab[i]]
        if not lp or not ln:
            continue
        x = np.logaddexp.reduce(lp) + np.logaddexp.reduce(ln)
        out[i] = np.logaddexp(0.0, x)  # log(1 + e^x)
        count += 1
    return out, count


def ref_circle(e, lab, reduction, margin=0.25, gamma=256.0, detach_weights=True):
    # detach_weights changes only the gradient, never the value.
    lead = e.shape[:-2]
    vals, count = [], 0
    for idx in np.ndindex(lead):
        v, c = _circle_2d(e[idx], lab[idx], margin, gamma)
        vals.append(v)
        count += c
    vals = np.stack(vals).reshape(lead + (e.shape[-2],))
    if reduction == "none":
        return vals
    if reduction == "sum":
        return np.sum(vals)
    return np.sum(vals) / max(count, 1)


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
    d_ap, d_an = _dist(a, p_, p, eps), _dist(a, n, p, eps)
    if swap:
        d_an = np.minimum(d_an, _dist(p_, n, p, eps))
    if squared:
        d_ap, d_an = d_ap**2, d_an**2
    return d_ap - d_an + margin


def _swap_ok(a, p_, n, margin=1.0, p=2.0, eps=1e-6, swap=False, squared=False):
    return not swap or np.all(np.abs(_dist(a, n, p, eps) - _dist(p_, n, p, eps)) > 1e-3)


def _well_separated(e, lab, margin, p, squared, mining):
    """Distances pairwise distinct and hinges away from 0 (2-D batch)."""
    d = _dmat(e, p, squared)
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
                vals, _ = _batch_triplet_2d(e[(0,) * len(lead)], labels[(0,) * len(lead)], margin, mining, p, squared)
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


_LAB = [0, 0, 0, 1, 1, 2, 2, 3]  # class 3 is a singleton: an anchor without positives

_MARGIN_BAD = [({"margin": 0.0}, ValueError), ({"margin": -1.0}, ValueError), ({"margin": "1"}, TypeError)]

CASES = [
    LossCase("contrastive", lossapi.contrastive, _contrastive_inputs(), ref_contrastive, kwargs={"margin": 3.0},
             grad_args=(0, 1), bad_options=_MARGIN_BAD),
    LossCase("contrastive_float_labels_3d", lossapi.contrastive, _contrastive_inputs((2, 3, 4), 1.5, True),
             ref_contrastive, kwargs={"margin": 1.5}, grad_args=(0, 1)),
    LossCase("triplet", lossapi.triplet, _triplet_inputs(), ref_triplet, grad_args=(0, 1, 2),
             bad_options=_MARGIN_BAD + [({"p": 0.0}, ValueError), ({"eps": -1.0}, ValueError),
                                        ({"swap": 1}, TypeError), ({"squared": "yes"}, TypeError)]),
    LossCase("triplet_p1", lossapi.triplet, _triplet_inputs(p=1.0), ref_triplet, kwargs={"p": 1.0},
             grad_args=(0, 1, 2)),
    LossCase("triplet_p3_3d", lossapi.triplet, _triplet_inputs((2, 3, 4), p=3.0), ref_triplet,
             kwargs={"p": 3.0}, grad_args=(0, 1, 2)),
    LossCase("triplet_pinf", lossapi.triplet, _triplet_inputs(p=math.inf), ref_triplet,
             kwargs={"p": math.inf}, grad_args=(0, 1, 2)),
    LossCase("triplet_swap", lossapi.triplet, _triplet_inputs(swap=True, margin=0.5), ref_triplet,
             kwargs={"swap": True, "margin": 0.5}, grad_args=(0, 1, 2)),
    LossCase("triplet_squared", lossapi.triplet, _triplet_inputs(squared=True, eps=0.0, margin=2.0), ref_triplet,
             kwargs={"squared": True, "eps": 0.0, "margin": 2.0}, grad_args=(0, 1, 2)),
    LossCase("batch_triplet_hard", lossapi.batch_triplet, _batch_inputs(_LAB), ref_batch_triplet,
             bad_options=_MARGIN_BAD + [({"mining": "hard"}, ValueError), ({"p": -1.0}, ValueError),
                                        ({"squared": 1}, TypeError)]),
    LossCase("batch_triplet_all", lossapi.batch_triplet, _batch_inputs(_LAB, mining="all"), ref_batch_triplet,
             kwargs={"mining": "all"}),
    LossCase("batch_triplet_semi_hard", lossapi.batch_triplet, _batch_inputs(_LAB, mining="semi_hard", margin=0.5),
             ref_batch_triplet, kwargs={"mining": "semi_hard", "margin": 0.5}),
    LossCase("batch_triplet_hard_p1_sq", lossapi.batch_triplet,
             _batch_inputs(_LAB, p=1.0, squared=True, margin=2.0), ref_batch_triplet,
             kwargs={"p": 1.0, "squared": True, "margin": 2.0}),
    LossCase("batch_triplet_all_sq", lossapi.batch_triplet, _batch_inputs(_LAB, squared=True, mining="all"),
             ref_batch_triplet, kwargs={"squared": True, "mining": "all"}),
    LossCase("batch_triplet_semi_hard_lead", lossapi.batch_triplet,
             _batch_inputs([0, 0, 1, 1, 1, 2], lead=(2,), mining="semi_hard"), ref_batch_triplet,
             kwargs={"mining": "semi_hard"}),
    LossCase("cosine_embedding", lossapi.cosine_embedding, _cosine_inputs(), ref_cosine_embedding,
             grad_args=(0, 1),
             bad_options=[({"margin": 1.5}, ValueError), ({"margin": -2.0}, ValueError), ({"margin": None}, TypeError)]),
    LossCase("cosine_embedding_m03_3d", lossapi.cosine_embedding, _cosine_inputs((2, 3, 4), 0.3),
             ref_cosine_embedding, kwargs={"margin": 0.3}, grad_args=(0, 1)),
    LossCase("cosine_proximity", lossapi.cosine_proximity, _views((4, 5)), ref_cosine_proximity, grad_args=(0, 1),
             bad_options=[({"axis": 2}, ValueError), ({"axis": 1.0}, TypeError)]),
    LossCase("cosine_proximity_axis0", lossapi.cosine_proximity, _views((5, 3, 2)), ref_cosine_proximity,
             kwargs={"axis": 0}, grad_args=(0, 1)),
    LossCase("nt_xent", lossapi.nt_xent, _views((5, 3)), ref_nt_xent, grad_args=(0, 1),
             bad_options=[({"temperature": 0.0}, ValueError), ({"temperature": "0.1"}, TypeError)]),
    LossCase("nt_xent_t01_lead", lossapi.nt_xent, _views((2, 4, 3)), ref_nt_xent, kwargs={"temperature": 0.1},
             grad_args=(0, 1)),
    # detach_weights=False so the gradient is that of the value (finite
    # differences); the default detached gradient is tested in test_embedding.py.
    LossCase("circle", lossapi.circle, _circle_inputs(_LAB), ref_circle,
             kwargs={"detach_weights": False, "gamma": 32.0},
             bad_options=[({"margin": 1.0}, ValueError), ({"margin": -0.1}, ValueError),
                          ({"gamma": 0.0}, ValueError), ({"detach_weights": 0}, TypeError)]),
    LossCase("circle_default_gamma_lead", lossapi.circle, _circle_inputs([0, 0, 1, 1, 2], lead=(2,)), ref_circle,
             kwargs={"detach_weights": False}),
]
