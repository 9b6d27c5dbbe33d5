"""The loss gallery: one figure per public loss, drawn from lossapi itself.

Every figure shows a loss's value and its derivative along one variable (a
residual, a logit, a margin, a cosine, a score gap, an overlap) for a few
option values. The values are lossapi's own, computed on NumPy in float64;
the derivatives are central finite differences of those values, so a figure
cannot drift from the code. The mkdocs hook (``docs/hooks.py``) calls
:func:`build` on every site build; run this file alone to look at the
figures::

    python docs/gallery.py --out /tmp/gallery

A loss in ``lossapi.__all__`` without an entry here, an entry for a name
that is not a loss, or a curve that is not finite everywhere makes
:func:`build` raise, so the gallery stays complete.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import lossapi

N_POINTS = 121
# Central differences in float64: h is 1e-6 of the plotted range, so the
# truncation error (h**2) and the rounding error (eps / h) both stay far
# below what a plot shows.
REL_STEP = 1e-6


@dataclass(frozen=True)
class Spec:
    """How to draw one loss: ``f(x, **variant)`` gives one value per point."""

    name: str
    xlabel: str
    lo: float
    hi: float
    f: Callable[..., np.ndarray]
    variants: tuple[tuple[str, dict], ...]
    caption: str
    notes: str = field(default="")


SPECS: dict[str, Spec] = {}


def spec(name: str, xlabel: str, lo: float, hi: float, caption: str,
         variants: tuple[tuple[str, dict], ...] = (("", {}),)) -> Callable:
    def register(f: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        if name in SPECS:
            raise ValueError(f"gallery: {name} registered twice")
        SPECS[name] = Spec(name, xlabel, lo, hi, f, variants, caption)
        return f
    return register


def opts(key: str, *values: object) -> tuple[tuple[str, dict], ...]:
    """Variants that set one option of the loss to each value."""
    return tuple((f"{key}={v}", {key: v}) for v in values)


def per_point(call: Callable[[float], object]) -> Callable[[np.ndarray], np.ndarray]:
    """For batch losses whose inputs at one x are a whole batch: loop."""
    return lambda x: np.array([float(call(float(v))) for v in x])


def zeros(x: np.ndarray, *shape: int) -> np.ndarray:
    return np.zeros((x.size, *shape))


def col(*columns: object, n: int) -> np.ndarray:
    """Stack scalars and [n] arrays as the columns of an [n, k] array."""
    return np.stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)) for c in columns], axis=-1)


def log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def on_circle(c: np.ndarray) -> np.ndarray:
    """Unit vectors [c, 0, sqrt(1 - c^2)]: cosine c with [1, 0, 0], 0 with [0, 1, 0]."""
    return col(c, 0.0, np.sqrt(1.0 - c**2), n=c.size)


L = lossapi
NONE = {"reduction": "none"}
LABEL0 = "label"

# --------------------------------------------------------------- regression
RESIDUAL = "residual r = pred - target"


def _residual(loss: Callable, target: float = 0.0) -> Callable:
    return lambda r, **o: loss(r + target, np.full_like(r, target), **o, **NONE)


spec("mse", RESIDUAL, -3, 3, "r²: the gradient grows with the residual.")(_residual(L.mse))
spec("mae", RESIDUAL, -3, 3, "|r|: constant gradient, 0 at the kink.")(_residual(L.mae))
spec("huber", RESIDUAL, -3, 3, "Quadratic within delta, linear outside: the gradient is clipped at ±delta.",
     opts("delta", 0.5, 1.0, 2.0))(_residual(L.huber))
spec("smooth_l1", RESIDUAL, -3, 3, "torch's smooth L1: huber / beta, so the gradient saturates at ±1.",
     opts("beta", 0.5, 1.0, 2.0))(_residual(L.smooth_l1))
spec("log_cosh", RESIDUAL, -3, 3, "log cosh r: quadratic near 0, linear far out; gradient tanh r.")(_residual(L.log_cosh))
spec("mape", "pred (target t)", 0.05, 3, "|pred - t| / |t|: the slope is 1/|t|.",
     tuple((f"t={t}", {"t": t}) for t in (0.5, 1.0, 2.0)))(
    lambda x, t: L.mape(x, np.full_like(x, t), **NONE))
spec("smape", "pred (target 1)", 0.05, 4, "Symmetric |p - t| / (|p| + |t|): bounded, flatter above the target.")(
    lambda x: L.smape(x, np.ones_like(x), **NONE))
spec("msle", "pred (target t)", 0.0, 4, "(log(1 + p) - log(1 + t))²: under-prediction costs more.",
     tuple((f"t={t}", {"t": t}) for t in (0.5, 1.0, 2.0)))(
    lambda x, t: L.msle(x, np.full_like(x, t), **NONE))
spec("pinball", RESIDUAL, -3, 3, "Quantile loss: slopes quantile - 1 and quantile on either side of 0.",
     opts("quantile", 0.1, 0.5, 0.9))(_residual(L.pinball))
spec("poisson_nll", "log rate (log_input=True)", -3, 3, "exp(x) - k x for a count k: minimum at x = log k.",
     tuple((f"count={k}", {"k": k}) for k in (0.0, 1.0, 3.0)))(
    lambda x, k: L.poisson_nll(x, np.full_like(x, k), **NONE))
spec("gaussian_nll", RESIDUAL, -3, 3, "½(log var + r²/var): a larger variance flattens the parabola.",
     tuple((f"var={v}", {"v": v}) for v in (0.5, 1.0, 2.0)))(
    lambda r, v: L.gaussian_nll(r, np.zeros_like(r), np.full_like(r, v), **NONE))

# ----------------------------------------------------------- classification
LOGIT = "logit z (target 1)"
TRUE_LOGIT = "true-class logit z (others 0)"
MARGIN_SCORE = "score s (target +1)"


def _three(z: np.ndarray, *others: float) -> np.ndarray:
    return col(z, *(others or (0.0, 0.0)), n=z.size)


def _labels(z: np.ndarray, label: int = 0) -> np.ndarray:
    return np.full(z.size, label)


spec("binary_cross_entropy", "probability p (target 1)", 0.02, 0.98,
     "-log p; label smoothing moves the minimum below p = 1.", opts("label_smoothing", 0.0, 0.1, 0.2))(
    lambda p, **o: L.binary_cross_entropy(p, np.ones_like(p), **o, **NONE))
spec("binary_cross_entropy_with_logits", LOGIT, -6, 6, "softplus(-z): gradient sigmoid(z) - 1.",
     opts("label_smoothing", 0.0, 0.1, 0.2))(
    lambda z, **o: L.binary_cross_entropy_with_logits(z, np.ones_like(z), **o, **NONE))
spec("cross_entropy", TRUE_LOGIT, -6, 6, "Softmax cross-entropy over 3 classes.",
     opts("label_smoothing", 0.0, 0.1, 0.3))(
    lambda z, **o: L.cross_entropy(_three(z), _labels(z), **o, **NONE))
spec("nll", TRUE_LOGIT, -6, 6, "On log_probs = log_softmax([z, 0, 0]): the same curve as cross_entropy.")(
    lambda z: L.nll(log_softmax(_three(z)), _labels(z), **NONE))
spec("binary_focal", LOGIT, -6, 6, "Focal loss: gamma down-weights confident (large z) examples.",
     opts("gamma", 0.0, 1.0, 2.0))(
    lambda z, **o: L.binary_focal(z, np.ones_like(z), **o, **NONE))
spec("focal", TRUE_LOGIT, -6, 6, "Multi-class focal loss over 3 classes; gamma=0 is cross-entropy.",
     opts("gamma", 0.0, 1.0, 2.0))(
    lambda z, **o: L.focal(_three(z), _labels(z), **o, **NONE))
spec("hinge", MARGIN_SCORE, -2, 3, "max(0, 1 - s): zero past the margin.")(
    lambda s: L.hinge(s, np.ones_like(s), **NONE))
spec("squared_hinge", MARGIN_SCORE, -2, 3, "max(0, 1 - s)²: smooth at the margin.")(
    lambda s: L.squared_hinge(s, np.ones_like(s), **NONE))
spec("multiclass_hinge", "true-class score s (others 0, -0.5)", -2, 3,
     "Crammer-Singer takes the worst other class, Weston-Watkins sums them.",
     (("crammer_singer", {"form": "crammer_singer"}), ("weston_watkins", {"form": "weston_watkins"}),
      ("crammer_singer, p=2", {"form": "crammer_singer", "p": 2})))(
    lambda s, **o: L.multiclass_hinge(_three(s, 0.0, -0.5), _labels(s), **o, **NONE))
spec("poly1", TRUE_LOGIT, -6, 6, "Cross-entropy plus epsilon (1 - p_true).", opts("epsilon", -1.0, 0.0, 2.0))(
    lambda z, **o: L.poly1(_three(z), _labels(z), **o, **NONE))
spec("soft_margin", MARGIN_SCORE, -6, 6, "log(1 + exp(-s)): the logistic loss on ±1 targets.")(
    lambda s: L.soft_margin(s, np.ones_like(s), **NONE))
spec("multilabel_margin", "score s of the one target class (others 0, -0.5)", -2, 3,
     "torch's multilabel margin: hinge of the target class against every other class.")(
    lambda s: L.multilabel_margin(_three(s, 0.0, -0.5), np.tile([0, -1, -1], (s.size, 1)), **NONE))
spec("multilabel_soft_margin", "logit z of class 1 (target [1, 0], other logit 0)", -6, 6,
     "Mean binary logistic loss over the classes.")(
    lambda z: L.multilabel_soft_margin(col(z, 0.0, n=z.size), np.tile([1.0, 0.0], (z.size, 1)), **NONE))
spec("sparsemax_loss", "logit z", -3, 3, "Sparsemax (Fenchel-Young): exactly 0 past the margin; soft targets too.",
     tuple((f"target={t}", {"t": t}) for t in (1.0, 0.7)))(
    lambda z, t: L.sparsemax_loss(z, np.full_like(z, t), **NONE))
spec("perceptron", MARGIN_SCORE, -2, 2, "max(0, -s): the hinge without its margin.")(
    lambda s: L.perceptron(s, np.ones_like(s), **NONE))
spec("multiclass_sparsemax", TRUE_LOGIT, -3, 3, "Multi-class sparsemax loss: 0 once the true logit leads by 1.")(
    lambda z: L.multiclass_sparsemax(_three(z), _labels(z), **NONE))
spec("multiclass_perceptron", "true-class score s (others 0, -0.5)", -2, 2,
     "max over the other scores minus the true one, floored at 0.")(
    lambda s: L.multiclass_perceptron(_three(s, 0.0, -0.5), _labels(s), **NONE))
spec("generalized_cross_entropy", TRUE_LOGIT, -6, 6, "(1 - p^q) / q: bounded for q > 0, robust to noisy labels.",
     opts("q", 0.3, 0.7, 1.0))(
    lambda z, **o: L.generalized_cross_entropy(_three(z), _labels(z), **o, **NONE))
spec("asymmetric", "logit z", -6, 6, "ASL: a positive (target 1) and a negative (target 0), whose probability is shifted by clip.",
     (("target 1", {"t": 1.0}), ("target 0", {"t": 0.0}), ("target 0, clip=0", {"t": 0.0, "clip": 0.0})))(
    lambda z, t, **o: L.asymmetric(z[:, None], np.full((z.size, 1), t), **o, **NONE))

# --------------------------------------------------------------- divergence
PROB = "p = [x, 1 - x] (q = [q₁, 1 - q₁])"


def _two(x: np.ndarray) -> np.ndarray:
    return col(x, 1.0 - x, n=x.size)


QS = tuple((f"q₁={q}", {"q1": q}) for q in (0.2, 0.5, 0.8))
spec("kl_divergence", PROB, 0.01, 0.99, "KL(p‖q): zero where p = q.", QS)(
    lambda x, q1: L.kl_divergence(_two(x), _two(np.full_like(x, q1)), **NONE))
spec("kl_divergence_log", PROB, 0.01, 0.99, "KL(p‖q) from log-probabilities (here log p, log q).", QS)(
    lambda x, q1: L.kl_divergence_log(np.log(_two(x)), np.log(_two(np.full_like(x, q1))), **NONE))
spec("js_divergence", PROB, 0.01, 0.99, "Jensen-Shannon: symmetric and bounded by log 2.", QS)(
    lambda x, q1: L.js_divergence(_two(x), _two(np.full_like(x, q1)), **NONE))
spec("generalized_kl", "p (one element; q fixed)", 0.01, 4, "p log(p/q) - p + q, for unnormalised measures.",
     tuple((f"q={q}", {"q": q}) for q in (0.5, 1.0, 2.0)))(
    lambda x, q: L.generalized_kl(x[:, None], np.full((x.size, 1), q), **NONE))
spec("gaussian_kl", "mean μ", -3, 3, "KL(N(μ, σ²) ‖ N(0, 1)) for one latent.",
     tuple((f"log_var={v}", {"v": v}) for v in (-1.0, 0.0, 1.0)))(
    lambda m, v: L.gaussian_kl(m[:, None], np.full((m.size, 1), v), **NONE))
spec("vae_loss", "encoder mean μ (recon 0.5 of x = 1, log_var 0)", -3, 3,
     "total = reconstruction + beta · KL; here the KL part varies.", opts("beta", 0.5, 1.0, 2.0))(
    lambda m, **o: L.vae_loss(np.full((m.size, 1), 0.5), np.ones((m.size, 1)), m[:, None], zeros(m, 1),
                              **o, **NONE).total)

# ---------------------------------------------------------------- embedding
COS = "cosine of the pair"
COS_POS = "cosine of the positive pair"


def _dist_pair(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return col(d, 0.0, n=d.size), zeros(d, 2)


spec("contrastive", "distance d between x1 and x2", 0, 3,
     "Similar pairs pay d², dissimilar pairs max(0, margin - d)².",
     (("similar", {"s": 1.0}), ("dissimilar, margin=1", {"s": 0.0, "margin": 1.0}),
      ("dissimilar, margin=2", {"s": 0.0, "margin": 2.0})))(
    lambda d, s, **o: L.contrastive(*_dist_pair(d), np.full_like(d, s), **o, **NONE))
spec("triplet", "d(anchor, negative) (d(anchor, positive) = 1)", 0.05, 3.5,
     "max(0, d(a, p) - d(a, n) + margin).", opts("margin", 0.5, 1.0, 2.0))(
    lambda d, **o: L.triplet(zeros(d, 2), col(1.0, 0.0, n=d.size), col(0.0, d, n=d.size), **o, **NONE))
spec("batch_triplet", "position of the negative (anchor 0, positive 1, 1-D embeddings)", -1, 4,
     "Batch triplet over 3 embeddings, mean over anchors, for each mining rule.",
     opts("mining", "all", "batch_hard", "semi_hard"))(
    lambda x, **o: per_point(lambda v: L.batch_triplet(np.array([[0.0], [1.0], [v]]), np.array([0, 0, 1]), **o))(x))
spec("cosine_embedding", COS, -0.98, 0.98, "Similar pairs pay 1 - cos, dissimilar ones max(0, cos - margin).",
     (("target 1", {"t": 1.0}), ("target -1, margin=0", {"t": -1.0}), ("target -1, margin=0.5", {"t": -1.0, "margin": 0.5})))(
    lambda c, t, **o: L.cosine_embedding(col(1.0, 0.0, 0.0, n=c.size), on_circle(c), np.full_like(c, t), **o, **NONE))
spec("cosine_proximity", COS, -0.98, 0.98, "Negative cosine similarity.")(
    lambda c: L.cosine_proximity(col(1.0, 0.0, 0.0, n=c.size), on_circle(c), **NONE))


def _pair_batch(c: float) -> tuple[np.ndarray, np.ndarray]:
    """Two pairs in 3-D: (e1, e2) at cosine c, (e3, e4) equal; e3 orthogonal to both."""
    z1 = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    z2 = np.array([[c, 0.0, np.sqrt(1.0 - c * c)], [0.0, 1.0, 0.0]])
    return z1, z2


def _group(c: float) -> tuple[np.ndarray, np.ndarray]:
    """Two embeddings of class 0 at cosine c, one of class 1 orthogonal to both."""
    e = np.array([[1.0, 0.0, 0.0], [c, 0.0, np.sqrt(1.0 - c * c)], [0.0, 1.0, 0.0]])
    return e, np.array([0, 0, 1])


spec("nt_xent", "cosine of the first positive pair (2 pairs)", -0.98, 0.98,
     "SimCLR's NT-Xent: a lower temperature sharpens the softmax.", opts("temperature", 0.1, 0.5, 1.0))(
    lambda c, **o: per_point(lambda v: L.nt_xent(*_pair_batch(v), **o))(c))
spec("circle", COS_POS + " (one negative orthogonal)", -0.98, 0.98,
     "Circle loss (gamma=64), mean over the embeddings.",
     tuple((f"margin={m}", {"margin": m, "gamma": 64.0}) for m in (0.1, 0.25, 0.4)))(
    lambda c, **o: per_point(lambda v: L.circle(*_group(v), **o))(c))
spec("hinge_embedding", "distance x", 0, 3, "x for similar pairs, max(0, margin - x) for dissimilar ones.",
     (("target 1", {"t": 1.0}), ("target -1, margin=1", {"t": -1.0}), ("target -1, margin=2", {"t": -1.0, "margin": 2.0})))(
    lambda x, t, **o: L.hinge_embedding(x, np.full_like(x, t), **o, **NONE))
spec("supcon", COS_POS + " (one negative orthogonal)", -0.98, 0.98,
     "Supervised contrastive loss, mean over anchors with a positive.", opts("temperature", 0.1, 0.5, 1.0))(
    lambda c, **o: per_point(lambda v: L.supcon(*_group(v), **o))(c))
PROXIES = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
spec("arcface", "cosine to the own class centre (other class orthogonal)", -0.98, 0.98,
     "ArcFace (scale 64): an additive angular margin on the true class.", opts("margin", 0.0, 0.25, 0.5))(
    lambda c, **o: L.arcface(on_circle(c), PROXIES, _labels(c), **o, **NONE))
spec("cosface", "cosine to the own class centre (other class orthogonal)", -0.98, 0.98,
     "CosFace (scale 64): an additive cosine margin on the true class.", opts("margin", 0.0, 0.2, 0.35))(
    lambda c, **o: L.cosface(on_circle(c), PROXIES, _labels(c), **o, **NONE))
spec("multi_similarity", COS_POS + " (one negative orthogonal)", -0.98, 0.98,
     "Multi-similarity loss; base is the similarity threshold.", opts("base", 0.3, 0.5, 0.7))(
    lambda c, **o: per_point(lambda v: L.multi_similarity(*_group(v), **o))(c))
spec("proxy_anchor", "cosine to the own proxy (other proxy orthogonal)", -0.98, 0.98,
     "Proxy-anchor loss (alpha 32) of one embedding.", opts("margin", 0.0, 0.1, 0.3))(
    lambda c, **o: per_point(lambda v: L.proxy_anchor(on_circle(np.array([v])), PROXIES, np.array([0]), **o))(c))

# ------------------------------------------------------------- segmentation
OVERLAP = "probability x on the correct side (target [1, 0, 0, 0])"


def _seg(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return col(x, 1 - x, 1 - x, 1 - x, n=x.size), np.tile([1.0, 0.0, 0.0, 0.0], (x.size, 1))


def _seg_classes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N, 2, 4] class probabilities and one-hot targets of the mask [1, 0, 0, 0]."""
    fg, t = _seg(x)
    return np.stack([1 - fg, fg], axis=1), np.stack([1 - t, t], axis=1)


spec("dice", OVERLAP, 0.01, 0.99, "Soft Dice over the 4 pixels of each image; smooth matters only near empty masks.",
     opts("smooth", 1e-6, 1.0))(
    lambda x, **o: L.dice(*_seg(x), axis=-1, **o, **NONE))
spec("jaccard", OVERLAP, 0.01, 0.99, "Soft Jaccard (IoU) loss over the 4 pixels of each image.", opts("smooth", 1e-6, 1.0))(
    lambda x, **o: L.jaccard(*_seg(x), axis=-1, **o, **NONE))
spec("tversky", OVERLAP, 0.01, 0.99, "Tversky: alpha weighs false positives, beta false negatives.",
     (("alpha=beta=0.5", {}), ("alpha=0.3, beta=0.7", {"alpha": 0.3, "beta": 0.7}),
      ("alpha=0.7, beta=0.3", {"alpha": 0.7, "beta": 0.3})))(
    lambda x, **o: L.tversky(*_seg(x), axis=-1, **o, **NONE))
spec("generalized_dice", OVERLAP, 0.01, 0.99, "Generalized Dice over 2 classes, per class weight rule.",
     opts("weight", "square", "simple", "uniform"))(
    lambda x, **o: L.generalized_dice(*_seg_classes(x), **o, **NONE))
spec("lovasz_hinge", "logit margin x (logits [x, -x, -x, -x], target [1, 0, 0, 0])", -2, 2,
     "Lovász hinge: a convex surrogate of the Jaccard loss, piecewise linear.")(
    lambda x, **o: L.lovasz_hinge(col(x, -x, -x, -x, n=x.size), _seg(x)[1], **NONE))
spec("lovasz_softmax", OVERLAP, 0.01, 0.99, "Lovász-softmax on 2 classes, one loss per image.")(
    lambda x: L.lovasz_softmax(_seg_classes(x)[0], np.tile([1, 0, 0, 0], (x.size, 1)), per_image=True, **NONE))

# ------------------------------------------------------------------ ranking
GAP = "score gap s₁ - s₂ (item 1 relevant)"


def _list(loss: Callable) -> Callable:
    return lambda g, **o: loss(col(g, 0.0, n=g.size), np.tile([1.0, 0.0], (g.size, 1)), **o, **NONE)


spec("margin_ranking", GAP, -2, 2, "max(0, -(s₁ - s₂) + margin).", opts("margin", 0.0, 0.5, 1.0))(
    lambda g, **o: L.margin_ranking(g, np.zeros_like(g), np.ones_like(g), **o, **NONE))
spec("ranknet", GAP, -6, 6, "RankNet: the logistic loss on each pair's score gap.")(_list(L.ranknet))
spec("listnet", GAP, -6, 6, "ListNet: cross-entropy of the score softmax against the relevance softmax.")(_list(L.listnet))
spec("listmle", GAP, -6, 6, "ListMLE: the negative Plackett-Luce likelihood of the ideal order.")(_list(L.listmle))
spec("approx_ndcg", GAP, -6, 6, "1 - ApproxNDCG: smooth ranks from sigmoids of the gaps.",
     opts("temperature", 0.1, 1.0, 10.0))(_list(L.approx_ndcg))
spec("ranking_softmax", GAP, -6, 6, "Softmax cross-entropy on rel / sum(rel).")(_list(L.ranking_softmax))
spec("pairwise_hinge", GAP, -3, 3, "max(0, margin - gap) over the ordered pairs.", opts("margin", 0.5, 1.0, 2.0))(
    _list(L.pairwise_hinge))
spec("pairwise_logistic", GAP, -6, 6, "log(1 + exp(margin - gap)) over the ordered pairs.", opts("margin", 0.0, 1.0))(
    _list(L.pairwise_logistic))
spec("pairwise_soft_zero_one", GAP, -6, 6, "sigmoid(margin - gap): a smooth count of misordered pairs.",
     opts("margin", 0.0, 1.0))(_list(L.pairwise_soft_zero_one))
spec("lambda_loss", GAP, -6, 6, "LambdaLoss: pair losses weighted by their NDCG change.",
     opts("weighting", "ndcg1", "ndcg2", "lambdarank"))(_list(L.lambda_loss))
spec("approx_mrr", GAP, -6, 6, "1 - ApproxMRR from smooth ranks.", opts("temperature", 0.1, 1.0, 10.0))(
    _list(L.approx_mrr))
spec("neural_ndcg", GAP, -6, 6, "1 - NeuralNDCG: NDCG through a Sinkhorn-scaled NeuralSort.",
     opts("temperature", 0.1, 1.0, 10.0))(_list(L.neural_ndcg))

# ---------------------------------------------------------------- detection
SHIFT = "horizontal shift of the predicted box (target [0, 0, 1, 1])"
HEIGHTS = tuple((f"pred height {h}", {"h": h}) for h in (1.0, 0.5, 2.0))


def _boxes(loss: Callable) -> Callable:
    return lambda s, h: loss(col(s, 0.0, s + 1.0, h, n=s.size), np.tile([0.0, 0.0, 1.0, 1.0], (s.size, 1)), **NONE)


spec("giou", SHIFT, -2.5, 2.5, "1 - GIoU: still has a gradient once the boxes no longer overlap.", HEIGHTS)(
    _boxes(L.giou))
spec("diou", SHIFT, -2.5, 2.5, "1 - DIoU: IoU loss plus the normalised centre distance.", HEIGHTS)(_boxes(L.diou))
spec("ciou", SHIFT, -2.5, 2.5, "1 - CIoU: DIoU plus an aspect-ratio term (shifts the curves by height).", HEIGHTS)(
    _boxes(L.ciou))

# ----------------------------------------------------------------- sequence
LABELS = (("labels 'a'", {"labels": [1]}), ("labels 'ab'", {"labels": [1, 2]}), ("labels 'aa'", {"labels": [1, 1]}))


def _ctc(z: np.ndarray, labels: list[int]) -> np.ndarray:
    frames = 4
    logits = np.broadcast_to(_three(np.zeros_like(z), 0.0, 0.0)[:, None, :], (z.size, frames, 3)).copy()
    logits[:, :, 1:] += z[:, None, None]
    lab = np.tile(labels, (z.size, 1))
    return L.ctc(log_softmax(logits), lab, np.full(z.size, frames), np.full(z.size, len(labels)), **NONE)


spec("ctc", "logit z of every non-blank class (blank 0; 4 frames)", -4, 6,
     "CTC over 4 frames of 3 classes; 'aa' needs a blank between the two a's.", LABELS)(_ctc)

# ----------------------------------------------------------------- language
spec("linear_cross_entropy", "hidden h (weight [[1], [0], [-1]], label 0)", -6, 6,
     "Cross-entropy of the logits h · weightᵀ = [h, 0, -h], never built whole; softcap bounds the logits.",
     opts("softcap", None, 4.0, 2.0))(
    lambda h, **o: L.linear_cross_entropy(h[:, None], np.array([[1.0], [0.0], [-1.0]]), _labels(h), **o, **NONE))

# ------------------------------------------------------------- distillation
STUDENT = "student logit z of class 1 (teacher [2, 0, 0])"


def _teacher(z: np.ndarray) -> np.ndarray:
    return _three(np.full_like(z, 2.0))


spec("distill_kl", STUDENT, -4, 6, "T² · KL(teacher ‖ student) at temperature T.", opts("temperature", 1.0, 2.0, 4.0))(
    lambda z, **o: L.distill_kl(_three(z), _teacher(z), **o, **NONE))
spec("generalized_jsd", STUDENT, -4, 6, "GKD's generalized Jensen-Shannon; beta moves it between the two KLs.",
     opts("beta", 0.1, 0.5, 0.9))(
    lambda z, **o: L.generalized_jsd(_three(z), _teacher(z), **o, **NONE))
spec("tvd", STUDENT, -4, 6, "Total variation distance of the two softmaxes.")(
    lambda z: L.tvd(_three(z), _teacher(z), **NONE))

# --------------------------------------------------------------- preference
PREF = "policy margin (chosen - rejected log-prob, reference 0)"
spec("dpo", PREF, -4, 4, "DPO (beta 1) in each form.",
     (("sigmoid", {"form": "sigmoid"}), ("hinge", {"form": "hinge"}), ("ipo", {"form": "ipo"}),
      ("robust, label_smoothing=0.1", {"form": "robust", "label_smoothing": 0.1})))(
    lambda m, **o: L.dpo(m, np.zeros_like(m), np.zeros_like(m), np.zeros_like(m), beta=1.0, **o, **NONE))
spec("simpo", "chosen - rejected (average log-probs)", -4, 4, "-log sigmoid(beta (c - r) - gamma), beta 2.",
     opts("gamma", 0.0, 0.5, 1.0))(
    lambda m, **o: L.simpo(m, np.zeros_like(m), **o, **NONE))
spec("orpo", "chosen average log-prob x", -4, -0.05, "ORPO's odds-ratio term (beta 0.1) against a fixed rejected log-prob.",
     tuple((f"rejected={r}", {"r": r}) for r in (-0.5, -1.0, -2.0)))(
    lambda x, r: L.orpo(x, np.full_like(x, r), **NONE))
spec("sequence_log_probs", TRUE_LOGIT, -6, 6, "Not a loss: the label's log-probability (one token, 3 classes).")(
    lambda z: L.sequence_log_probs(_three(z)[:, None, :], _labels(z)[:, None]))


# --------------------------------------------------------------------- draw
def curves(s: Spec) -> tuple[np.ndarray, list[tuple[str, np.ndarray, np.ndarray]]]:
    """x, and per variant (label, value, central-difference derivative)."""
    x = np.linspace(s.lo, s.hi, N_POINTS)
    h = REL_STEP * (s.hi - s.lo)
    out = []
    for label, kw in s.variants:
        y, up, down = (np.asarray(s.f(v, **kw), dtype=np.float64) for v in (x, x + h, x - h))
        dy = (up - down) / (2 * h)
        if y.shape != x.shape or not (np.all(np.isfinite(y)) and np.all(np.isfinite(dy))):
            raise ValueError(f"gallery: {s.name} ({label or 'default'}) is not finite on [{s.lo}, {s.hi}]"
                             f" or has shape {y.shape}")
        out.append((label, y, dy))
    return x, out


def figure(s: Spec) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    x, cs = curves(s)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.2, 2.5), dpi=80, layout="constrained")
    for label, y, dy in cs:
        ax1.plot(x, y, label=label or None, lw=1.6)
        ax2.plot(x, dy, lw=1.6)
    ax1.set_title(f"{s.name}: value", fontsize=10)
    ax2.set_title("derivative (central differences)", fontsize=10)
    # A jump in a value (lambda_loss's NDCG weights) is a spike in its
    # differences: scale the derivative panel to 99% of the points.
    d = np.concatenate([dy for _, _, dy in cs])
    lo, hi = np.quantile(d, [0.005, 0.995])
    if d.max() - d.min() > 3 * (hi - lo) > 0:
        ax2.set_ylim(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.set_xlabel(s.xlabel, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.axhline(0.0, color="0.6", lw=0.6)
    if len(cs) > 1:
        ax1.legend(fontsize=7, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def check_complete() -> None:
    missing = sorted(set(lossapi.__all__) - set(SPECS))
    extra = sorted(set(SPECS) - set(lossapi.__all__))
    if missing or extra:
        raise ValueError(f"gallery: no figure for {missing}; not a public loss: {extra}")


def build(out: Path, page_link: Callable[[str, str], str] | None = None) -> tuple[str, list[Path]]:
    """Write one PNG per loss into ``out`` and return the gallery page's Markdown
    and the PNG paths. ``page_link(family, name)`` gives the link of a loss's
    API entry in the caption."""
    check_complete()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    lines = ["# Loss gallery", "",
             f"Every public loss ({len(lossapi.__all__)}), drawn at build time by lossapi itself on NumPy in float64: "
             "the left panel is the loss's value along the variable named on the axis, the right panel its derivative "
             "along that variable, computed by central finite differences of lossapi's values (so a kink shows as "
             "the average of its two slopes). Curves are labelled with the option values or inputs that differ; "
             "everything else is the loss's default and `reduction=\"none\"`. The script is `docs/gallery.py`.", ""]
    paths = []
    for family, names in lossapi.FAMILIES.items():
        lines += [f"## {family.capitalize()}", ""]
        for name in names:
            s = SPECS[name]
            p = out / f"{name}.png"
            p.write_bytes(figure(s))
            paths.append(p)
            link = page_link(family, name) if page_link else f"`{name}`"
            lines += [f"### {name}", "", f"![{name}: value and derivative](gallery/{name}.png)", "",
                      f"{link}: {s.caption}", ""]
    lines += [f"<small>{len(paths)} figures, drawn in {time.perf_counter() - t0:.1f} s.</small>", ""]
    return "\n".join(lines), paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for gallery.md and the PNGs")
    args = ap.parse_args()
    t0 = time.perf_counter()
    md, paths = build(args.out / "gallery")
    (args.out / "gallery.md").write_text(md)
    print(f"{len(paths)} figures in {time.perf_counter() - t0:.1f} s -> {args.out}")


if __name__ == "__main__":
    main()
