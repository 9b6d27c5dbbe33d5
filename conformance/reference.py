"""Independent float64 NumPy references for the conformance cases.

Every function is written from the definition (the guides' formulas, and
torch's documented semantics where lossapi follows torch), never by calling
lossapi. They are deliberately plain: explicit loops where a loop reads more
clearly than a vectorised trick, and no numerical tricks beyond those needed to
evaluate the definition in float64 on the cases' inputs.

The signatures mirror lossapi's public API (arrays positional, options by
keyword, ``reduction`` last), so a case names one function and both sides are
called the same way. A second group, ``snippet_*``, transcribes a guide's code
snippet literally (its own epsilons, label encodings and normalisations) so a
case can show how far the snippet is from the definition.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    # regression
    "mse", "mae", "huber", "smooth_l1", "log_cosh", "mape", "smape", "msle", "pinball",
    "poisson_nll", "gaussian_nll",
    # classification
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "nll",
    "binary_focal", "focal", "hinge", "squared_hinge", "multiclass_hinge", "poly1",
    # divergence
    "kl_divergence", "kl_divergence_log", "js_divergence", "gaussian_kl", "vae_loss",
    # embedding
    "contrastive", "triplet", "batch_triplet", "cosine_embedding", "cosine_proximity", "nt_xent",
    # segmentation
    "dice", "jaccard", "tversky",
    # ranking
    "margin_ranking", "listnet", "listmle", "ranknet",
]


def _f(x):
    return np.asarray(x, dtype=np.float64)


def _reduce(values, reduction):
    values = _f(values)
    if reduction == "none":
        return values
    if reduction == "sum":
        return np.sum(values)
    if reduction == "mean":
        return np.mean(values)
    raise ValueError(f"bad reduction {reduction!r}")


def _log_sigmoid(x):
    # log(sigmoid(x)) = -log(1 + exp(-x)); logaddexp is exact in float64.
    return -np.logaddexp(0.0, -_f(x))


def _log_softmax(z, axis=-1):
    z = _f(z)
    m = np.max(z, axis=axis, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))


def _xlogy(x, y):
    """x * log(y) with 0 * log(0) = 0."""
    x, y = _f(x), _f(y)
    out = np.zeros(np.broadcast(x, y).shape)
    nz = np.broadcast_to(x != 0, out.shape)
    xb, yb = np.broadcast_to(x, out.shape), np.broadcast_to(y, out.shape)
    out[nz] = xb[nz] * np.log(yb[nz])
    return out


# =============================================================================
# Regression
# =============================================================================

def mse(pred, target, *, reduction="mean"):
    return _reduce((_f(pred) - _f(target)) ** 2, reduction)


def mae(pred, target, *, reduction="mean"):
    return _reduce(np.abs(_f(pred) - _f(target)), reduction)


def huber(pred, target, *, delta=1.0, reduction="mean"):
    """The guide's Huber: 0.5 r^2 for |r| <= delta, delta (|r| - delta/2) beyond."""
    r = np.abs(_f(pred) - _f(target))
    return _reduce(np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta)), reduction)


def smooth_l1(pred, target, *, beta=1.0, reduction="mean"):
    """torch's smooth L1: 0.5 r^2 / beta for |r| < beta, |r| - beta/2 beyond."""
    r = np.abs(_f(pred) - _f(target))
    if beta == 0:
        return _reduce(r, reduction)
    return _reduce(np.where(r < beta, 0.5 * r * r / beta, r - 0.5 * beta), reduction)


def log_cosh(pred, target, *, reduction="mean"):
    r = _f(pred) - _f(target)
    # log cosh r = log((e^r + e^-r) / 2), evaluated without overflow.
    return _reduce(np.logaddexp(r, -r) - math.log(2.0), reduction)


def mape(pred, target, *, eps=1.17e-6, reduction="mean"):
    p, t = _f(pred), _f(target)
    return _reduce(100.0 * np.abs(p - t) / np.maximum(np.abs(t), eps), reduction)


def smape(pred, target, *, eps=1.17e-6, reduction="mean"):
    p, t = _f(pred), _f(target)
    return _reduce(200.0 * np.abs(p - t) / np.maximum(np.abs(p) + np.abs(t), eps), reduction)


def msle(pred, target, *, reduction="mean"):
    p, t = np.maximum(_f(pred), 0.0), np.maximum(_f(target), 0.0)
    return _reduce((np.log1p(p) - np.log1p(t)) ** 2, reduction)


def pinball(pred, target, *, quantile=0.5, reduction="mean"):
    r = _f(target) - _f(pred)
    return _reduce(np.where(r >= 0, quantile * r, (quantile - 1.0) * r), reduction)


def poisson_nll(pred, target, *, log_input=True, full=False, eps=1e-8, reduction="mean"):
    x, t = _f(pred), _f(target)
    loss = np.exp(x) - t * x if log_input else x - t * np.log(x + eps)
    if full:
        st = np.zeros_like(t)
        big = t > 1
        tb = t[big]
        st[big] = tb * np.log(tb) - tb + 0.5 * np.log(2.0 * math.pi * tb)
        loss = loss + st
    return _reduce(loss, reduction)


def gaussian_nll(mean, target, var, *, full=False, eps=1e-6, reduction="mean"):
    m, t, v = _f(mean), _f(target), _f(var)
    if v.shape != t.shape and v.shape == t.shape[:-1]:
        v = v[..., None]
    v = np.maximum(v, eps)
    loss = 0.5 * (np.log(v) + (m - t) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2.0 * math.pi)
    return _reduce(np.broadcast_to(loss, t.shape), reduction)


# =============================================================================
# Classification
# =============================================================================

def binary_cross_entropy(probs, target, *, weight=None, reduction="mean"):
    """-(t log p + (1-t) log(1-p)); torch clamps each log at -100."""
    p, t = _f(probs), _f(target)
    with np.errstate(divide="ignore"):
        lp, l1p = np.maximum(np.log(p), -100.0), np.maximum(np.log1p(-p), -100.0)
    loss = -(t * lp + (1.0 - t) * l1p)
    if weight is not None:
        loss = loss * _f(weight)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """-(pos_weight t log sigmoid(x) + (1-t) log(1 - sigmoid(x))), times weight."""
    x, t = _f(logits), _f(target)
    pw = 1.0 if pos_weight is None else _f(pos_weight)
    loss = -(pw * t * _log_sigmoid(x) + (1.0 - t) * _log_sigmoid(-x))
    if weight is not None:
        loss = loss * _f(weight)
    return _reduce(loss, reduction)


def _move_class_axis_last(x, axis):
    return np.moveaxis(_f(x), axis, -1)


def cross_entropy(logits, target, *, axis=-1, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean"):
    """Softmax cross-entropy with torch's semantics.

    Integer ``target``: class indices (shape = logits' shape without
    ``axis``); ``weight[c]`` scales class c; entries equal to
    ``ignore_index`` contribute nothing; "mean" divides by the summed weight
    of the counted entries. With ``label_smoothing`` e the loss is
    ``(1-e) * nll + e/C * sum_c(-w_c log p_c)``, both parts normalised by the
    same weight sum (torch). Floating ``target`` (logits' shape): class
    probabilities, mixed with the uniform distribution by e; "mean" divides by
    the number of samples.
    """
    lp = _log_softmax(_move_class_axis_last(logits, axis), -1)
    C = lp.shape[-1]
    w = np.ones(C) if weight is None else _f(weight)
    e = float(label_smoothing)
    tgt = np.asarray(target)
    if np.issubdtype(tgt.dtype, np.floating):
        q = _move_class_axis_last(tgt, axis)
        q = q * (1.0 - e) + e / C
        per = -np.sum(w * q * lp, axis=-1)
        return _reduce(per, reduction)
    labels = tgt.astype(np.int64)
    per = np.zeros(labels.shape)
    wsum = 0.0
    for idx in np.ndindex(labels.shape):
        y = int(labels[idx])
        if y == ignore_index:
            continue
        row = lp[idx]
        nll_part = -w[y] * row[y]
        smooth_part = -np.sum(w * row) / C
        per[idx] = (1.0 - e) * nll_part + e * smooth_part
        wsum += w[y]
    if reduction == "mean":
        return np.asarray(np.sum(per) / wsum)
    return _reduce(per, reduction)


def nll(log_probs, target, *, axis=-1, weight=None, ignore_index=-100, reduction="mean"):
    lp = _move_class_axis_last(log_probs, axis)
    C = lp.shape[-1]
    w = np.ones(C) if weight is None else _f(weight)
    labels = np.asarray(target).astype(np.int64)
    per = np.zeros(labels.shape)
    wsum = 0.0
    for idx in np.ndindex(labels.shape):
        y = int(labels[idx])
        if y == ignore_index:
            continue
        per[idx] = -w[y] * lp[idx][y]
        wsum += w[y]
    if reduction == "mean":
        return np.asarray(np.sum(per) / wsum)
    return _reduce(per, reduction)


def binary_focal(logits, target, *, gamma=2.0, alpha=0.25, reduction="mean"):
    """torchvision's sigmoid focal loss: alpha_t (1 - p_t)^gamma BCE(x, t);
    ``alpha=None`` disables the alpha_t factor."""
    x, t = _f(logits), _f(target)
    p = 1.0 / (1.0 + np.exp(-x))
    ce = -(t * _log_sigmoid(x) + (1.0 - t) * _log_sigmoid(-x))
    p_t = p * t + (1.0 - p) * (1.0 - t)
    loss = ce * (1.0 - p_t) ** gamma
    if alpha is not None:
        loss = loss * (alpha * t + (1.0 - alpha) * (1.0 - t))
    return _reduce(loss, reduction)


def focal(logits, target, *, gamma=2.0, axis=-1, weight=None, reduction="mean"):
    """Multiclass focal loss -(1 - p_y)^gamma log p_y (times weight[y]); mean over samples."""
    lp = _log_softmax(_move_class_axis_last(logits, axis), -1)
    labels = np.asarray(target).astype(np.int64)
    per = np.zeros(labels.shape)
    for idx in np.ndindex(labels.shape):
        y = int(labels[idx])
        lpy = lp[idx][y]
        per[idx] = -((1.0 - math.exp(lpy)) ** gamma) * lpy * (1.0 if weight is None else _f(weight)[y])
    return _reduce(per, reduction)


def hinge(scores, target, *, reduction="mean"):
    """max(0, 1 - y s) with y in {-1, +1}."""
    return _reduce(np.maximum(0.0, 1.0 - _f(target) * _f(scores)), reduction)


def squared_hinge(scores, target, *, reduction="mean"):
    return _reduce(np.maximum(0.0, 1.0 - _f(target) * _f(scores)) ** 2, reduction)


def multiclass_hinge(scores, labels, *, margin=1.0, form="crammer_singer", reduction="mean"):
    """Weston-Watkins: sum_{j != y} max(0, m - s_y + s_j).
    Crammer-Singer: max(0, max_{j != y} (m + s_j) - s_y)."""
    s = _f(scores)
    lab = np.asarray(labels).astype(np.int64)
    per = np.zeros(lab.shape)
    for idx in np.ndindex(lab.shape):
        row, y = s[idx], int(lab[idx])
        others = [row[j] for j in range(row.shape[-1]) if j != y]
        if form == "weston_watkins":
            per[idx] = sum(max(0.0, margin - row[y] + sj) for sj in others)
        elif form == "crammer_singer":
            per[idx] = max(0.0, max(margin + sj for sj in others) - row[y])
        else:
            raise ValueError(form)
    return _reduce(per, reduction)


def poly1(logits, target, *, epsilon=1.0, axis=-1, reduction="mean"):
    """PolyLoss-1: CE + epsilon (1 - p_y), integer labels."""
    lp = _log_softmax(_move_class_axis_last(logits, axis), -1)
    lab = np.asarray(target).astype(np.int64)
    per = np.zeros(lab.shape)
    for idx in np.ndindex(lab.shape):
        lpy = lp[idx][int(lab[idx])]
        per[idx] = -lpy + epsilon * (1.0 - math.exp(lpy))
    return _reduce(per, reduction)


# =============================================================================
# Divergences
# =============================================================================

def kl_divergence(p, q, *, axis=-1, reduction="mean"):
    """KL(p || q) = sum p log(p / q) along ``axis``; "mean" averages over the
    remaining axes (torch's "batchmean" for 2-D inputs)."""
    p, q = _f(p), _f(q)
    per = np.sum(_xlogy(p, p) - _xlogy(p, q), axis=axis)
    return _reduce(per, reduction)


def kl_divergence_log(log_p, log_q, *, axis=-1, reduction="mean"):
    lp, lq = _f(log_p), _f(log_q)
    per = np.sum(np.exp(lp) * (lp - lq), axis=axis)
    return _reduce(per, reduction)


def js_divergence(p, q, *, axis=-1, reduction="mean"):
    p, q = _f(p), _f(q)
    m = 0.5 * (p + q)
    per = 0.5 * np.sum(_xlogy(p, p) - _xlogy(p, m), axis=axis) + 0.5 * np.sum(_xlogy(q, q) - _xlogy(q, m), axis=axis)
    return _reduce(per, reduction)


def gaussian_kl(mu, log_var, *, axis=-1, reduction="mean"):
    """KL(N(mu, exp(log_var)) || N(0, 1)) = 1/2 sum (mu^2 + sigma^2 - log sigma^2 - 1),
    summed over the latent ``axis``; one value per sample."""
    mu, lv = _f(mu), _f(log_var)
    per = 0.5 * np.sum(mu * mu + np.exp(lv) - lv - 1.0, axis=axis)
    return _reduce(per, reduction)


def vae_loss(recon, x, mu, log_var, *, beta=1.0, reconstruction="bce", reduction="mean"):
    """(total, reconstruction, kl): per sample, the reconstruction error summed
    over the sample's elements (BCE or squared error) and the Gaussian KL
    summed over the latent axis; total = reconstruction + beta * kl; "mean"
    averages over the batch (the notes' sum / batch size)."""
    r, t = _f(recon), _f(x)
    n = r.shape[0]
    if reconstruction == "bce":
        el = binary_cross_entropy(r, t, reduction="none")
    elif reconstruction == "mse":
        el = (r - t) ** 2
    else:
        raise ValueError(reconstruction)
    rec = el.reshape(n, -1).sum(axis=1)
    kl = gaussian_kl(mu, log_var, reduction="none").reshape(n, -1).sum(axis=1)
    total = rec + beta * kl
    return tuple(_reduce(v, reduction) for v in (total, rec, kl))


# =============================================================================
# Embeddings
# =============================================================================

def _cos(x1, x2, eps=1e-8):
    x1, x2 = _f(x1), _f(x2)
    n1 = np.maximum(np.sqrt(np.sum(x1 * x1, axis=-1)), eps)
    n2 = np.maximum(np.sqrt(np.sum(x2 * x2, axis=-1)), eps)
    return np.sum(x1 * x2, axis=-1) / (n1 * n2)


def contrastive(x1, x2, similar, *, margin=1.0, reduction="mean"):
    """similar * d^2 / 2 + (1 - similar) * max(0, margin - d)^2 / 2, d = ||x1 - x2||."""
    d = np.sqrt(np.sum((_f(x1) - _f(x2)) ** 2, axis=-1))
    s = _f(similar)
    return _reduce(s * 0.5 * d * d + (1.0 - s) * 0.5 * np.maximum(0.0, margin - d) ** 2, reduction)


def _pdist(x, y, p, eps):
    """torch's pairwise_distance: ||x - y + eps||_p."""
    v = np.abs(_f(x) - _f(y) + eps)
    if p == math.inf:
        return np.max(v, axis=-1)
    return np.sum(v ** p, axis=-1) ** (1.0 / p)


def triplet(anchor, positive, negative, *, margin=1.0, p=2.0, eps=1e-6, swap=False, squared=False,
            reduction="mean"):
    d_ap = _pdist(anchor, positive, p, eps)
    d_an = _pdist(anchor, negative, p, eps)
    if swap:
        d_an = np.minimum(d_an, _pdist(positive, negative, p, eps))
    if squared:
        d_ap, d_an = d_ap ** 2, d_an ** 2
    return _reduce(np.maximum(0.0, d_ap - d_an + margin), reduction)


def _dist_matrix(e, p=2.0, squared=False):
    e = _f(e)
    n = e.shape[0]
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                d[i, j] = _pdist(e[i], e[j], p, 0.0)
    return d * d if squared else d


def batch_triplet(embeddings, labels, *, margin=1.0, mining="batch_hard", p=2.0, squared=False, reduction="mean"):
    """Online triplet mining over one batch ``[N, D]`` (loops, lossapi's documented semantics):

    all: mean over every (a, p, n) with label(p) = label(a), p != a, label(n) != label(a).
    batch_hard: per anchor, farthest positive and nearest negative; mean over anchors with both.
    semi_hard (FaceNet / TF): per (a, p), the nearest negative with d_an > d_ap,
    else the farthest negative; mean over (a, p) pairs whose anchor has a negative.
    """
    d = _dist_matrix(embeddings, p, squared)
    lab = np.asarray(labels)
    n = d.shape[0]
    vals = []
    for a in range(n):
        pos = [j for j in range(n) if j != a and lab[j] == lab[a]]
        neg = [k for k in range(n) if lab[k] != lab[a]]
        if not pos or not neg:
            continue
        if mining == "batch_hard":
            vals.append(max(0.0, max(d[a, j] for j in pos) - min(d[a, k] for k in neg) + margin))
            continue
        for j in pos:
            if mining == "all":
                vals.extend(max(0.0, d[a, j] - d[a, k] + margin) for k in neg)
            elif mining == "semi_hard":
                farther = [d[a, k] for k in neg if d[a, k] > d[a, j]]
                d_neg = min(farther) if farther else max(d[a, k] for k in neg)
                vals.append(max(0.0, d[a, j] - d_neg + margin))
            else:
                raise ValueError(mining)
    if reduction == "mean":
        return np.asarray(np.mean(vals) if vals else 0.0)
    if reduction == "sum":
        return np.asarray(np.sum(vals))
    raise NotImplementedError("reference batch_triplet: reduction='none' is not modelled")


def cosine_embedding(x1, x2, target, *, margin=0.0, reduction="mean"):
    """1 - cos for target 1, max(0, cos - margin) for target -1 (torch)."""
    x1, x2 = _f(x1), _f(x2)
    # torch adds 1e-12 to each squared norm.
    cos = np.sum(x1 * x2, axis=-1) / np.sqrt((np.sum(x1 * x1, axis=-1) + 1e-12) * (np.sum(x2 * x2, axis=-1) + 1e-12))
    y = _f(target)
    return _reduce(np.where(y == 1, 1.0 - cos, np.where(y == -1, np.maximum(0.0, cos - margin), 0.0)), reduction)


def cosine_proximity(x1, x2, *, axis=-1, reduction="mean"):
    """-cos(x1, x2) along ``axis`` (torch's cosine_similarity, eps 1e-8)."""
    x1, x2 = np.moveaxis(_f(x1), axis, -1), np.moveaxis(_f(x2), axis, -1)
    return _reduce(-_cos(x1, x2), reduction)


def nt_xent(z1, z2, *, temperature=0.5, reduction="mean"):
    """SimCLR NT-Xent over the 2N views: for anchor i with positive j,
    -log(exp(s_ij / T) / sum_{k != i} exp(s_ik / T)), s = cosine similarity."""
    z = np.concatenate([_f(z1), _f(z2)], axis=0)
    n2 = z.shape[0]
    n = n2 // 2
    s = np.array([[_cos(z[i], z[k]) for k in range(n2)] for i in range(n2)]) / temperature
    per = np.zeros(n2)
    for i in range(n2):
        j = (i + n) % n2
        others = [s[i, k] for k in range(n2) if k != i]
        per[i] = -(s[i, j] - np.logaddexp.reduce(others))
    return _reduce(per, reduction)


# =============================================================================
# Segmentation (probabilities in)
# =============================================================================

def _sums(probs, target, axis):
    p, g = _f(probs), _f(target)
    ax = tuple(range(p.ndim)) if axis is None else axis
    return np.sum(p * g, axis=ax), np.sum(p, axis=ax), np.sum(g, axis=ax)


def dice(probs, target, *, smooth=1e-6, axis=None, reduction="mean"):
    """1 - (2 sum(p g) + s) / (sum p + sum g + s); ``axis=None`` sums over everything."""
    inter, sp, sg = _sums(probs, target, axis)
    return _reduce(1.0 - (2.0 * inter + smooth) / (sp + sg + smooth), reduction)


def jaccard(probs, target, *, smooth=1e-6, axis=None, reduction="mean"):
    """1 - (I + s) / (sum p + sum g - I + s)."""
    inter, sp, sg = _sums(probs, target, axis)
    return _reduce(1.0 - (inter + smooth) / (sp + sg - inter + smooth), reduction)


def tversky(probs, target, *, alpha=0.5, beta=0.5, gamma=1.0, smooth=1e-6, axis=None, reduction="mean"):
    """(1 - (TP + s) / (TP + alpha FP + beta FN + s))^gamma."""
    tp, sp, sg = _sums(probs, target, axis)
    ti = (tp + smooth) / (tp + alpha * (sp - tp) + beta * (sg - tp) + smooth)
    return _reduce((1.0 - ti) ** gamma, reduction)


# =============================================================================
# Ranking
# =============================================================================

def margin_ranking(s1, s2, target, *, margin=0.0, reduction="mean"):
    """max(0, -y (s1 - s2) + margin)."""
    return _reduce(np.maximum(0.0, -_f(target) * (_f(s1) - _f(s2)) + margin), reduction)


def listnet(scores, relevance, *, axis=-1, reduction="mean"):
    """Top-one ListNet: cross-entropy between softmax(relevance) and softmax(scores)."""
    s, r = np.moveaxis(_f(scores), axis, -1), np.moveaxis(_f(relevance), axis, -1)
    return _reduce(-np.sum(np.exp(_log_softmax(r)) * _log_softmax(s), axis=-1), reduction)


def listmle(scores, relevance, *, axis=-1, reduction="mean"):
    """Plackett-Luce NLL of the permutation sorting relevance descending (stable)."""
    s, r = np.moveaxis(_f(scores), axis, -1), np.moveaxis(_f(relevance), axis, -1)
    per = np.zeros(s.shape[:-1])
    for idx in np.ndindex(per.shape):
        order = sorted(range(s.shape[-1]), key=lambda k: -r[idx][k])
        ss = s[idx][order]
        per[idx] = sum(np.logaddexp.reduce(ss[i:]) - ss[i] for i in range(len(ss)))
    return _reduce(per, reduction)


def ranknet(scores, relevance, *, axis=-1, reduction="mean"):
    """Mean over pairs with rel_i > rel_j of log(1 + exp(-(s_i - s_j)))."""
    s, r = np.moveaxis(_f(scores), axis, -1), np.moveaxis(_f(relevance), axis, -1)
    per = np.zeros(s.shape[:-1])
    for idx in np.ndindex(per.shape):
        terms = [np.logaddexp(0.0, -(s[idx][i] - s[idx][j]))
                 for i in range(s.shape[-1]) for j in range(s.shape[-1]) if r[idx][i] > r[idx][j]]
        per[idx] = np.mean(terms) if terms else 0.0
    return _reduce(per, reduction)


# =============================================================================
# Guide snippets, transcribed literally (their epsilons and conventions)
# =============================================================================

def snippet_log_cosh(y_pred, y_true):
    """reference-guide 1.4: torch.mean(torch.log(torch.cosh(diff + 1e-12)))."""
    return np.mean(np.log(np.cosh(_f(y_pred) - _f(y_true) + 1e-12)))


def snippet_log_cosh_sum(y_pred, y_true):
    """reference-guide 1.4 Definition: a sum, not a mean."""
    return np.sum(np.log(np.cosh(_f(y_pred) - _f(y_true))))


def snippet_mape(y_pred, y_true, epsilon=1e-8):
    """reference-guide 1.5: mean(|(t - p) / (t + eps)|) * 100."""
    p, t = _f(y_pred), _f(y_true)
    return np.mean(np.abs((t - p) / (t + epsilon))) * 100.0


def snippet_js(p_logits, q_logits, epsilon=1e-8):
    """reference-guide 3.2: softmax, add eps, renormalise, then JS."""
    P = np.exp(_log_softmax(p_logits)) + epsilon
    Q = np.exp(_log_softmax(q_logits)) + epsilon
    P, Q = P / P.sum(), Q / Q.sum()
    M = 0.5 * (P + Q)
    return 0.5 * (np.sum(P * np.log(P / M)) + np.sum(Q * np.log(Q / M)))


def snippet_dice(pred_logits, target_mask, smooth=1e-6):
    """reference-guide 5.1: sigmoid then flattened soft Dice."""
    p = 1.0 / (1.0 + np.exp(-_f(pred_logits).ravel()))
    g = _f(target_mask).ravel()
    return 1.0 - (2.0 * np.sum(p * g) + smooth) / (p.sum() + g.sum() + smooth)


def snippet_iou(pred_logits, target_mask, smooth=1e-6):
    p = 1.0 / (1.0 + np.exp(-_f(pred_logits).ravel()))
    g = _f(target_mask).ravel()
    inter = np.sum(p * g)
    return 1.0 - (inter + smooth) / (p.sum() + g.sum() - inter + smooth)


def snippet_notes_huber(pred, target, delta=1.0):
    """loss-functions-notes HuberLoss: clamp form 0.5 min(|r|, d)^2 + d (|r| - min(|r|, d))."""
    e = np.abs(_f(pred) - _f(target))
    q = np.minimum(e, delta)
    return np.mean(0.5 * q * q + delta * (e - q))


def snippet_notes_focal(logits, targets, gamma=2.0, alpha=0.25):
    """loss-functions-notes FocalLoss: p_t = exp(-bce), alpha_t from {0,1} targets."""
    x, t = _f(logits), _f(targets)
    bce = np.logaddexp(0.0, -x) * t + np.logaddexp(0.0, x) * (1 - t)
    p_t = np.exp(-bce)
    alpha_t = alpha * t + (1 - alpha) * (1 - t)
    return np.mean(alpha_t * (1.0 - p_t) ** gamma * bce)


def snippet_notes_label_smoothing(logits, targets, smoothing=0.1):
    """loss-functions-notes LabelSmoothingCrossEntropy: eps/(C-1) off target, 1-eps on target."""
    lp = _log_softmax(logits)
    n, c = lp.shape
    q = np.full((n, c), smoothing / (c - 1))
    q[np.arange(n), np.asarray(targets).astype(int)] = 1.0 - smoothing
    return np.mean(-np.sum(q * lp, axis=-1))


def snippet_notes_vae(recon, x, mu, log_var, beta=1.0):
    """loss-functions-notes VAELoss (bce): sum BCE / batch, -0.5 sum(1 + lv - mu^2 - e^lv) / batch."""
    r, t = _f(recon), _f(x)
    n = t.shape[0]
    rec = -np.sum(t * np.log(r) + (1 - t) * np.log(1 - r)) / n
    kl = -0.5 * np.sum(1 + _f(log_var) - _f(mu) ** 2 - np.exp(_f(log_var))) / n
    return (rec + beta * kl, rec, kl)


def snippet_notes_contrastive(embed1, embed2, labels, margin=1.0):
    """loss-functions-notes ContrastiveLoss: labels 0 = similar, 1 = dissimilar;
    F.pairwise_distance adds eps=1e-6 to the difference."""
    d = _pdist(embed1, embed2, 2.0, 1e-6)
    y = _f(labels)
    return np.mean((1 - y) * 0.5 * d ** 2 + y * 0.5 * np.maximum(0.0, margin - d) ** 2)


def snippet_notes_online_triplet(embeddings, labels, margin=1.0):
    """loss-functions-notes TripletLoss._online_triplet_loss: mean over every
    (a, p, n) with d_ap < d_an < d_ap + margin of (d_ap - d_an + margin); 0 if none."""
    d = _dist_matrix(embeddings)
    lab = np.asarray(labels)
    n = len(lab)
    losses = []
    for i in range(n):
        for j in range(n):
            if lab[i] != lab[j] or i == j:
                continue
            for k in range(n):
                if lab[k] == lab[i]:
                    continue
                if d[i, j] < d[i, k] < d[i, j] + margin:
                    losses.append(max(0.0, d[i, j] - d[i, k] + margin))
    return float(np.mean(losses)) if losses else 0.0


def snippet_notes_multiclass_hinge(scores, labels):
    """loss-functions-notes section 11 'Crammer-Singer' formula: sum_{j != y} max(0, 1 - f_y + f_j)."""
    return multiclass_hinge(scores, labels, margin=1.0, form="weston_watkins")


def snippet_focal_table(p_t, gamma):
    """loss-functions-notes demonstrate_focal_vs_bce: -(1 - p_t)^gamma log(p_t + 1e-10)."""
    p_t = _f(p_t)
    return -((1 - p_t) ** gamma) * np.log(p_t + 1e-10)


SNIPPETS = {name: obj for name, obj in globals().items() if name.startswith("snippet_")}
