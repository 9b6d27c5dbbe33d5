"""The benchmark pairs: each lossapi loss against a native peer that computes
the same value.

A :class:`Pair` names the lossapi loss, the peer library ("torch", "optax"
or "sklearn"), how to make inputs (float64 NumPy arrays, converted per
library), the lossapi call and the peer call. Option values on both sides
are chosen so the two compute the same number; :func:`check_pair` asserts
that (and that the gradients agree) before anything is timed, and the test
``tests/test_benchmark_pairs.py`` runs it on tiny inputs for every pair.

The torch and optax peer calls come from the conformance peer table
(``conformance.peers.bind``, shared with the conformance cross-checks); the
pairs add what is timing-specific (sizes, input makers, input preparation)
and the scikit-learn peers. Peers are resolved once (``peer(mods)`` returns
the callable), so no import or attribute lookup is timed on either side. Where a peer takes its inputs
in another form (one-hot labels, log-probabilities), ``peer_prep`` converts
them once, outside the timed region; conversions that are part of the work
(the ``log`` before ``F.kl_div``) stay inside the timed peer call.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance import backends as B
from conformance import peers

from . import compositions as C

# Shapes per input family and size. "large" is the timed size of a full CPU
# run and "gpu" of a full --device cuda run (16x larger: 4M-element inputs fit
# in an H100's 50 MB L2 cache), "quick" replaces both under --quick, "small"
# measures per-call overhead and "tiny" is for the value-agreement test.
SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    # elementwise: 2048 * 2048 = 4.2M elements per input.
    "ew": {"tiny": (4, 5), "small": (8, 10), "quick": (256, 256), "large": (2048, 2048), "gpu": (8192, 8192)},
    # softmax over a vocabulary-sized last axis: 2048 x 32000 logits.
    "softmax": {"tiny": (4, 5), "small": (8, 10), "quick": (64, 1000), "large": (2048, 32000), "gpu": (8192, 32000)},
    # sklearn's log_loss one-hot encodes in float64: a smaller matrix (4M).
    "softmax_sk": {"tiny": (4, 5), "small": (8, 10), "quick": (64, 100), "large": (4096, 1000)},
    # distributions over rows (KL): 4096 x 1024 = 4.2M.
    "dist": {"tiny": (4, 5), "small": (8, 10), "quick": (256, 64), "large": (4096, 1024), "gpu": (16384, 4096)},
    # embeddings (N, D): 65536 x 64 = 4.2M per input.
    "emb": {"tiny": (4, 5), "small": (8, 10), "quick": (1024, 64), "large": (65536, 64), "gpu": (1048576, 64)},
    # in-batch contrastive (NT-Xent): N x D views, a 2N x 2N similarity matrix
    # (optax.ntxent materialises a 2N x 2N x D product, 256 MiB on CPU here,
    # and its forward+backward takes seconds).
    "batch": {"tiny": (4, 5), "small": (8, 10), "quick": (256, 32), "large": (512, 64), "gpu": (512, 128)},
    # segmentation masks (N, pixels): 64 x 65536 = 4.2M.
    "seg": {"tiny": (4, 5), "small": (8, 10), "quick": (16, 4096), "large": (64, 65536), "gpu": (1024, 65536)},
    # ranking lists (lists, list_size).
    "lists": {"tiny": (4, 5), "small": (8, 10), "quick": (1024, 64), "large": (65536, 64), "gpu": (1048576, 64)},
    # one score per sample: 4.2M samples.
    "vec": {"tiny": (20,), "small": (80,), "quick": (65536,), "large": (4194304,), "gpu": (67108864,)},
    # multi-label margins (N, C): every listed class against every class, O(N C^2) work (1M pairs per
    # 64 rows of 128 classes): 65536 x 128 = 8.4M scores.
    "multilabel": {"tiny": (4, 5), "small": (8, 10), "quick": (1024, 32), "large": (65536, 128),
                   "gpu": (262144, 128)},
    # CTC (batch, frames, classes, labels): the 32 x 500 x 64 with 100 labels.
    "ctc": {"tiny": (2, 12, 5, 4), "small": (4, 24, 8, 6), "quick": (8, 100, 32, 20), "large": (32, 500, 64, 100),
            "gpu": (32, 500, 64, 100)},
    # sparsemax sorts every row: 2048 x 32000 logits take 15 s a call on 2 loaded cores; 4096 x 1000 = 4.1M.
    "sparsemax": {"tiny": (4, 5), "small": (8, 10), "quick": (64, 100), "large": (4096, 1000), "gpu": (16384, 1000)},
    # in-batch metric learning (N, D), labels with about 4 samples per class: an N x N similarity matrix.
    "metric": {"tiny": (8, 5), "small": (16, 10), "quick": (256, 32), "large": (4096, 128), "gpu": (16384, 128)},
    # margin softmax / proxies (N, D, C): an N x C cosine matrix (4096 x 4096).
    "margin": {"tiny": (6, 5, 4), "small": (16, 10, 8), "quick": (256, 32, 128), "large": (4096, 128, 4096),
               "gpu": (16384, 512, 16384)},
    # Lovasz hinge: one sort per image (images, pixels): 16 x 65536.
    "seg_sort": {"tiny": (3, 6), "small": (4, 16), "quick": (4, 4096), "large": (16, 65536), "gpu": (64, 262144)},
    # class maps (N, C, pixels): Dice family 16 x 8 x 32768 = 4.2M; Lovasz-Softmax one sort per class.
    "seg_classes": {"tiny": (2, 3, 6), "small": (4, 4, 10), "quick": (4, 4, 1024), "large": (16, 8, 32768),
                    "gpu": (64, 16, 262144)},
    "seg_classes_sort": {"tiny": (2, 3, 6), "small": (4, 4, 10), "quick": (4, 4, 1024), "large": (8, 8, 16384),
                         "gpu": (32, 16, 262144)},
    # pairwise ranking (lists, list_size): an n x n matrix per list, 4096 x 64 x 64 = 16.8M pairs.
    "pairs": {"tiny": (4, 5), "small": (8, 10), "quick": (256, 32), "large": (4096, 64), "gpu": (65536, 64)},
    # NeuralNDCG: up to 50 Sinkhorn rounds over the n x n matrices.
    "nsort": {"tiny": (4, 5), "small": (8, 10), "quick": (64, 16), "large": (1024, 32), "gpu": (16384, 64)},
}

# Peer libraries and the array library lossapi runs on for each. A
# "*-composition" peer is no library's kernel: a hand-written composition of
# the framework's operations (benchmarks/compositions.py), for the losses no
# installable library provides.
ARRAY_LIB = {"torch": "torch", "optax": "jax", "sklearn": "numpy", "torch-composition": "torch",
             "jax-composition": "jax"}


class Mods:
    """Lazy access to the peer modules (nothing imported until used)."""

    @functools.cached_property
    def torch(self):
        return importlib.import_module("torch")

    @functools.cached_property
    def F(self):  # noqa: N802 - the usual alias
        return importlib.import_module("torch.nn.functional")

    @functools.cached_property
    def jax(self):
        return importlib.import_module("jax")

    @functools.cached_property
    def jnp(self):
        return importlib.import_module("jax.numpy")

    @functools.cached_property
    def optax(self):
        # optax.losses holds every loss (a few are not re-exported at top level).
        return importlib.import_module("optax.losses")

    @functools.cached_property
    def skm(self):
        return importlib.import_module("sklearn.metrics")


def _focal_inline(torch, F, logits, target, alpha=0.25, gamma=2.0, reduction="mean"):
    # Lin et al. 2017 as torchvision defines it: BCE-with-logits scaled by
    # (1 - p_t)**gamma and the class weight alpha_t, mean over elements.
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return loss.mean()


def _tv_focal(m, **kw):
    """torchvision.ops.sigmoid_focal_loss from the peer table, or an inline
    torch expression of its definition where torchvision is not installed
    (see focal_label)."""
    try:
        return peers.bind("torchvision", "binary_focal", **kw)
    except ImportError:
        return functools.partial(_focal_inline, m.torch, m.F, **kw)


def focal_label() -> str:
    try:
        import torchvision.ops  # noqa: F401

        return "torchvision.ops.sigmoid_focal_loss"
    except Exception:
        return "torchvision's sigmoid_focal_loss as an inline torch expression (torchvision absent)"


@dataclass(frozen=True)
class Pair:
    """One lossapi loss against one native peer.

    Attributes:
      loss: the lossapi function name.
      lib: peer library: "torch", "optax" or "sklearn".
      peer_name: what the peer is, for the report.
      shapes: key of SHAPES.
      make: ``make(rng, shape) -> list of float64/int64 NumPy arrays``.
      ours: ``ours(lossapi) -> callable`` taking the arrays.
      peer: ``peer(mods) -> callable`` taking the (prepared) arrays.
      grad: indices of the arrays differentiated in forward+backward; empty
        when the peer does not differentiate (sklearn).
      peer_prep: NumPy-level conversion of the inputs for the peer, done once.
      variant: a short tag distinguishing two pairs of the same loss.
      note: how the mapping was made, for the report.
    """

    loss: str
    lib: str
    peer_name: str
    shapes: str
    make: Callable[[np.random.Generator, tuple[int, ...]], list[np.ndarray]]
    ours: Callable[[Any], Callable[..., Any]]
    peer: Callable[[Mods], Callable[..., Any]]
    grad: tuple[int, ...] = (0,)
    peer_prep: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None
    variant: str = ""
    note: str = ""
    rtol: float = field(default=2e-5)
    # JAX only: check the peer's value eagerly (op by op), not under jax.jit,
    # where a known bug makes the jitted peer's value wrong (said in ``note``).
    peer_check_eager: bool = False
    # The loss reads one element per row of input 0 (a gather, as nll): the
    # physical limit counts those and the labels, not the whole matrix.
    gather: bool = False

    @property
    def id(self) -> str:
        v = f"[{self.variant}]" if self.variant else ""
        return f"{self.lib}:{self.loss}{v}"

    @property
    def array_lib(self) -> str:
        return ARRAY_LIB[self.lib]

    def shape(self, size: str) -> tuple[int, ...]:
        return SHAPES[self.shapes][size]


# --------------------------------------------------------------------------
# Input makers: float64 / int64 NumPy arrays; converted to float32 for torch
# and JAX, kept float64 for NumPy/sklearn. Continuous random inputs keep every
# kink (|r| = delta, margins) at probability zero.


def _reg(rng, shape):
    return [rng.standard_normal(shape), rng.standard_normal(shape)]


def _positive(rng, shape):
    # Targets away from 0 so percentage errors do not depend on eps floors.
    return [rng.uniform(0.5, 2.0, shape), rng.uniform(0.5, 2.0, shape)]


def _poisson_log(rng, shape):
    return [0.5 * rng.standard_normal(shape), rng.poisson(2.0, shape).astype(np.float64)]


def _poisson_rate(rng, shape):
    return [rng.uniform(0.2, 4.0, shape), rng.poisson(2.0, shape).astype(np.float64)]


def _gauss(rng, shape):
    return [rng.standard_normal(shape), rng.standard_normal(shape), rng.uniform(0.5, 2.0, shape)]


def _probs_binary(rng, shape):
    return [rng.uniform(0.02, 0.98, shape), (rng.random(shape) < 0.5).astype(np.float64)]


def _logits_binary(rng, shape):
    return [2.0 * rng.standard_normal(shape), (rng.random(shape) < 0.5).astype(np.float64)]


def _signed(rng, shape):
    return [rng.standard_normal(shape), np.where(rng.random(shape) < 0.5, -1.0, 1.0)]


def _logits_int(rng, shape):
    n, c = shape
    return [rng.standard_normal(shape), rng.integers(0, c, n)]


def _log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _logprobs_int(rng, shape):
    x, y = _logits_int(rng, shape)
    return [_log_softmax(x), y]


def _probs_int(rng, shape):
    x, y = _logits_int(rng, shape)
    return [np.exp(_log_softmax(x)), y]


def _two_dists(rng, shape):
    return [np.exp(_log_softmax(rng.standard_normal(shape))), np.exp(_log_softmax(rng.standard_normal(shape)))]


def _two_log_dists(rng, shape):
    return [_log_softmax(rng.standard_normal(shape)), _log_softmax(rng.standard_normal(shape))]


def _triplet(rng, shape):
    return [rng.standard_normal(shape) for _ in range(3)]


def _pair_sign(rng, shape):
    return [rng.standard_normal(shape), rng.standard_normal(shape), np.where(rng.random(shape[0]) < 0.5, -1.0, 1.0)]


def _rank(rng, shape):
    return [rng.standard_normal(shape), rng.standard_normal(shape), np.where(rng.random(shape) < 0.5, -1.0, 1.0)]


def _logits_probs(rng, shape):
    return [rng.standard_normal(shape), np.exp(_log_softmax(rng.standard_normal(shape)))]


def _two_views(rng, shape):
    return [rng.standard_normal(shape), rng.standard_normal(shape)]


def _seg(rng, shape):
    return [2.0 * rng.standard_normal(shape), (rng.random(shape) < 0.3).astype(np.float64)]


def _relevance(rng, shape):
    return [rng.standard_normal(shape), rng.integers(0, 5, shape).astype(np.float64)]


def _distances_signed(rng, shape):
    return [np.abs(rng.standard_normal(shape)) * 2, np.where(rng.random(shape) < 0.5, -1.0, 1.0)]


def _label_lists(rng, shape):
    # Each row lists up to a quarter of the classes (distinct), padded with -1.
    n, c = shape
    k = rng.integers(0, max(2, c // 4) + 1, n)
    order = np.argsort(rng.random(shape), axis=1)
    return [rng.standard_normal(shape), np.where(np.arange(c) < k[:, None], order, -1)]


def _ctc_inputs(rng, shape):
    # Logits, labels 1..C-1 (0 is the blank), 90-100% of the frames and
    # 50-100% of the labels used; T >= 2S + 1 keeps every sample feasible.
    n, t, c, s = shape
    return [rng.standard_normal((n, t, c)), rng.integers(1, c, (n, s)),
            rng.integers(max(2 * s + 1, t - t // 10), t + 1, n), rng.integers(s // 2, s + 1, n)]


def _metric(rng, shape):
    n, d = shape
    return [rng.standard_normal(shape), rng.integers(0, max(2, n // 4), n)]


def _margin(rng, shape, sub_centers=1):
    n, d, c = shape
    return [rng.standard_normal((n, d)), rng.standard_normal((c * sub_centers, d)), rng.integers(0, c, n)]


def _margin_sub3(rng, shape):
    return _margin(rng, shape, sub_centers=3)


def _class_probs(rng, shape):
    # Probabilities over axis 1 of (N, C, pixels) and integer labels (N, pixels).
    n, c, p = shape
    x = rng.standard_normal(shape)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return [e / e.sum(axis=1, keepdims=True), rng.integers(0, c, (n, p))]


def _class_probs_onehot(rng, shape):
    probs, labels = _class_probs(rng, shape)
    return [probs, np.moveaxis(np.eye(shape[1])[labels], -1, 1)]


def _after_log_softmax(lib, fn):
    """``fn(log_softmax(logits), *rest)``: both sides of a CTC pair take
    logits, so their gradients (with respect to the logits) compare; torch's
    and optax's gradients with respect to log-probabilities are those of the
    logits under a log_softmax, not lossapi's derivative of the value."""
    if lib == "torch":
        import torch

        log_softmax = functools.partial(torch.log_softmax, dim=-1)
    else:
        import jax

        log_softmax = jax.nn.log_softmax

    def f(logits, *rest):
        return fn(log_softmax(logits), *rest)

    return f


def _trailing_class_axis(args):
    # optax.dice_loss takes [..., classes]; one class -> sigmoid of the logits.
    return [a[..., None] for a in args]


def _onehot_labels(args):
    x, y = args
    onehot = np.zeros(x.shape)
    onehot[np.arange(y.shape[0]), y] = 1.0
    return [x, onehot]


def _p(fn, **kw):
    return functools.partial(fn, **kw) if kw else fn


# --------------------------------------------------------------------------
# The pairs. ``ours`` returns the lossapi function itself (or a partial with
# the options), ``peer`` the peer function: neither side pays a wrapper the
# other does not, except where the mapping needs one (noted).

FOCAL = dict(alpha=0.25, gamma=2.0)


def _torch_pairs() -> list[Pair]:
    T = "torch"
    P = []
    add = P.append
    add(Pair("mse", T, "F.mse_loss", "ew", _reg, lambda L: L.mse, _peer(T, "mse")))
    add(Pair("mae", T, "F.l1_loss", "ew", _reg, lambda L: L.mae, _peer(T, "mae")))
    add(Pair("huber", T, "F.huber_loss(delta=1.5)", "ew", _reg, lambda L: _p(L.huber, delta=1.5),
             _peer(T, "huber", delta=1.5)))
    add(Pair("smooth_l1", T, "F.smooth_l1_loss(beta=0.5)", "ew", _reg, lambda L: _p(L.smooth_l1, beta=0.5),
             _peer(T, "smooth_l1", beta=0.5)))
    add(Pair("poisson_nll", T, "F.poisson_nll_loss(log_input=True)", "ew", _poisson_log,
             lambda L: L.poisson_nll, _peer(T, "poisson_nll")))
    add(Pair("gaussian_nll", T, "F.gaussian_nll_loss", "ew", _gauss, lambda L: L.gaussian_nll,
             _peer(T, "gaussian_nll"), grad=(0, 2)))
    add(Pair("binary_cross_entropy", T, "F.binary_cross_entropy", "ew", _probs_binary,
             lambda L: L.binary_cross_entropy, _peer(T, "binary_cross_entropy")))
    add(Pair("binary_cross_entropy_with_logits", T, "F.binary_cross_entropy_with_logits", "ew", _logits_binary,
             lambda L: L.binary_cross_entropy_with_logits, _peer(T, "binary_cross_entropy_with_logits")))
    add(Pair("binary_focal", T, focal_label() + " (alpha=0.25, gamma=2, mean)", "ew", _logits_binary,
             lambda L: _p(L.binary_focal, **FOCAL), lambda m: _tv_focal(m, **FOCAL)))
    add(Pair("cross_entropy", T, "F.cross_entropy (int labels)", "softmax", _logits_int,
             lambda L: L.cross_entropy, _peer(T, "cross_entropy")))
    add(Pair("cross_entropy", T, "F.cross_entropy (probability targets)", "softmax", _logits_probs,
             lambda L: L.cross_entropy, _peer(T, "cross_entropy"), variant="probs"))
    add(Pair("nll", T, "F.nll_loss", "softmax", _logprobs_int, lambda L: L.nll, _peer(T, "nll"), gather=True))
    add(Pair("multiclass_hinge", T, "C * F.multi_margin_loss (p=1, margin=1)", "softmax", _logits_int,
             lambda L: _p(L.multiclass_hinge, form="weston_watkins"), _peer(T, "multiclass_hinge", form="weston_watkins"),
             variant="weston_watkins",
             note="torch's multi_margin_loss divides the Weston-Watkins sum by C: the peer's scalar is multiplied by C"))
    add(Pair("soft_margin", T, "F.soft_margin_loss", "ew", _signed, lambda L: L.soft_margin, _peer(T, "soft_margin")))
    add(Pair("kl_divergence", T, "F.kl_div(q.log(), p, reduction='batchmean')", "dist", _two_dists,
             lambda L: L.kl_divergence, _peer(T, "kl_divergence"), grad=(0, 1),
             note="the peer's log(q) is inside the timed call (lossapi takes q itself)"))
    add(Pair("kl_divergence_log", T, "F.kl_div(log_q, log_p, log_target=True, reduction='batchmean')", "dist",
             _two_log_dists, lambda L: L.kl_divergence_log, _peer(T, "kl_divergence_log"), grad=(0, 1)))
    add(Pair("triplet", T, "F.triplet_margin_loss (margin=1, p=2, eps=1e-6)", "emb", _triplet,
             lambda L: L.triplet, _peer(T, "triplet"), grad=(0, 1, 2)))
    add(Pair("cosine_embedding", T, "F.cosine_embedding_loss (margin=0)", "emb", _pair_sign,
             lambda L: L.cosine_embedding, _peer(T, "cosine_embedding"), grad=(0, 1)))
    add(Pair("cosine_proximity", T, "-F.cosine_similarity(x1, x2).mean()", "emb", _two_views,
             lambda L: L.cosine_proximity, _peer(T, "cosine_proximity"), grad=(0, 1)))
    add(Pair("margin_ranking", T, "F.margin_ranking_loss (margin=0)", "vec", _rank,
             lambda L: L.margin_ranking, _peer(T, "margin_ranking"), grad=(0, 1)))
    add(Pair("hinge_embedding", T, "F.hinge_embedding_loss (margin=1)", "ew", _distances_signed,
             lambda L: L.hinge_embedding, _peer(T, "hinge_embedding")))
    add(Pair("multilabel_margin", T, "F.multilabel_margin_loss", "multilabel", _label_lists,
             lambda L: L.multilabel_margin, _peer(T, "multilabel_margin")))
    add(Pair("multilabel_soft_margin", T, "F.multilabel_soft_margin_loss", "ew", _logits_binary,
             lambda L: L.multilabel_soft_margin, _peer(T, "multilabel_soft_margin")))
    add(Pair("triplet", T, "F.triplet_margin_with_distance_loss (L1 distance, margin=1)", "emb", _triplet,
             lambda L: _p(L.triplet, distance=_L1), _peer(T, "triplet", distance=_L1), grad=(0, 1, 2),
             variant="distance",
             note="both sides call the same L1 distance function (array-api-compat's namespace lookup and "
                  "three array operations per call)"))
    add(Pair("multiclass_hinge", T, "C * F.multi_margin_loss (p=2, margin=1)", "softmax", _logits_int,
             lambda L: _p(L.multiclass_hinge, form="weston_watkins", p=2),
             _peer(T, "multiclass_hinge", form="weston_watkins", p=2), variant="weston_watkins_p2",
             note="torch's multi_margin_loss divides the Weston-Watkins sum by C: the peer's scalar is multiplied by C"))
    add(Pair("ctc", T, "F.ctc_loss(log_softmax(logits).transpose(0, 1), ...), mean", "ctc", _ctc_inputs,
             lambda L: _after_log_softmax("torch", L.ctc),
             lambda m: _after_log_softmax("torch", peers.bind("torch", "ctc")),
             note="both sides take logits and apply log_softmax inside the timed call (gradients are compared "
                  "with respect to the logits); the peer transposes to torch's [T, N, C]"))
    ls = dict(label_smoothing=LS)
    add(Pair("binary_cross_entropy", T, f"F.binary_cross_entropy(p, t (1 - {LS}) + {LS} / 2)", "ew", _probs_binary,
             lambda L: _p(L.binary_cross_entropy, **ls),
             lambda m: C.smoothed(peers.bind("torch", "binary_cross_entropy"), LS), variant="label_smoothing",
             note=SMOOTH_NOTE))
    add(Pair("binary_cross_entropy_with_logits", T,
             f"F.binary_cross_entropy_with_logits(x, t (1 - {LS}) + {LS} / 2)", "ew", _logits_binary,
             lambda L: _p(L.binary_cross_entropy_with_logits, **ls),
             lambda m: C.smoothed(peers.bind("torch", "binary_cross_entropy_with_logits"), LS),
             variant="label_smoothing", note=SMOOTH_NOTE))
    add(Pair("binary_focal", T, focal_label() + f" (alpha=0.25, gamma=2, mean) on t (1 - {LS}) + {LS} / 2", "ew",
             _logits_binary, lambda L: _p(L.binary_focal, **FOCAL, **ls),
             lambda m: C.smoothed(_tv_focal(m, **FOCAL), LS), variant="label_smoothing", note=SMOOTH_NOTE))
    return P


# Keras's binary label smoothing (issue 14): no torch or optax binary loss has
# it, so the peer smooths the target itself, inside its timed call.
LS = 0.1
SMOOTH_NOTE = "the peer smooths the target (Keras's t (1 - ls) + ls / 2) inside its timed call, as lossapi does"


_L1 = peers.Distance("l1")


def _peer(lib: str, loss: str, **options):
    """The pair's peer from the conformance peer table, bound once with the options."""
    return lambda m: peers.bind(lib, loss, **options)


def _optax_pairs() -> list[Pair]:
    OPT = "optax"
    P = []
    add = P.append
    add(Pair("mse", OPT, "mean(optax.squared_error)", "ew", _reg, lambda L: L.mse, _peer(OPT, "mse")))
    add(Pair("huber", OPT, "mean(optax.huber_loss(delta=1.5))", "ew", _reg, lambda L: _p(L.huber, delta=1.5),
             _peer(OPT, "huber", delta=1.5)))
    add(Pair("log_cosh", OPT, "mean(optax.log_cosh)", "ew", _reg, lambda L: L.log_cosh, _peer(OPT, "log_cosh")))
    add(Pair("binary_cross_entropy_with_logits", OPT, "mean(optax.sigmoid_binary_cross_entropy)", "ew",
             _logits_binary, lambda L: L.binary_cross_entropy_with_logits,
             _peer(OPT, "binary_cross_entropy_with_logits")))
    add(Pair("binary_focal", OPT, "mean(optax.sigmoid_focal_loss(alpha=0.25, gamma=2))", "ew", _logits_binary,
             lambda L: _p(L.binary_focal, **FOCAL), _peer(OPT, "binary_focal", **FOCAL)))
    add(Pair("hinge", OPT, "mean(optax.hinge_loss), targets in {-1, 1}", "ew", _signed, lambda L: L.hinge,
             _peer(OPT, "hinge")))
    add(Pair("cross_entropy", OPT, "mean(optax.softmax_cross_entropy_with_integer_labels)", "softmax", _logits_int,
             lambda L: L.cross_entropy, _peer(OPT, "cross_entropy")))
    add(Pair("cross_entropy", OPT, "mean(optax.softmax_cross_entropy), probability targets", "softmax",
             _logits_probs, lambda L: L.cross_entropy, _peer(OPT, "cross_entropy"), variant="probs"))
    add(Pair("multiclass_hinge", OPT, "mean(optax.multiclass_hinge_loss)", "softmax", _logits_int,
             lambda L: _p(L.multiclass_hinge, form="crammer_singer"),
             _peer(OPT, "multiclass_hinge", form="crammer_singer"), variant="crammer_singer"))
    add(Pair("poly1", OPT, "mean(optax.poly_loss_cross_entropy(epsilon=1)), one-hot labels", "softmax", _logits_int,
             lambda L: _p(L.poly1, epsilon=1.0), _peer(OPT, "poly1", epsilon=1.0),
             peer_prep=_onehot_labels, note="the peer gets one-hot float labels, made outside the timed call"))
    add(Pair("kl_divergence", OPT, "mean(optax.kl_divergence(log(q), p))", "dist", _two_dists,
             lambda L: L.kl_divergence, _peer(OPT, "kl_divergence"), grad=(0, 1),
             note="the peer's log(q) is inside the timed call (lossapi takes q itself)"))
    add(Pair("kl_divergence_log", OPT, "mean(optax.kl_divergence_with_log_targets(log_q, log_p))", "dist",
             _two_log_dists, lambda L: L.kl_divergence_log, _peer(OPT, "kl_divergence_log"), grad=(0, 1)))
    add(Pair("triplet", OPT, "mean(optax.triplet_margin_loss(margin=1, eps=0))", "emb", _triplet,
             lambda L: _p(L.triplet, eps=0.0), _peer(OPT, "triplet", eps=0.0), grad=(0, 1, 2),
             note="eps=0 on both sides: optax adds eps to the sum of powers, torch and lossapi to every "
                  "difference, so only eps=0 computes the same number"))
    add(Pair("cosine_proximity", OPT, "-mean(optax.cosine_similarity)", "emb", _two_views,
             lambda L: L.cosine_proximity, _peer(OPT, "cosine_proximity"), grad=(0, 1)))
    add(Pair("nt_xent", OPT, "optax.ntxent(concat(z1, z2), labels, temperature=0.5)", "batch", _two_views,
             lambda L: _p(L.nt_xent, temperature=0.5), _peer(OPT, "nt_xent", temperature=0.5), grad=(0, 1),
             peer_check_eager=True,
             note="the peer concatenates the two views and builds the labels pairing them inside its call. "
                  "optax.ntxent under jax.jit on XLA:CPU (jax 0.10.2) returns wrong values from 2N = 256 "
                  "rows (e.g. 5.78 for 6.25 at 2N = 512; its eager value, lossapi's and a float64 reference "
                  "agree); XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= (YNNPACK fusions off) fixes it. "
                  "The peer's value is therefore checked eagerly; the jitted peer is what is timed"))
    add(Pair("sparsemax_loss", OPT, "mean(optax.sparsemax_loss)", "ew", _logits_binary, lambda L: L.sparsemax_loss,
             _peer(OPT, "sparsemax_loss")))
    add(Pair("perceptron", OPT, "mean(optax.perceptron_loss), targets in {-1, 1}", "ew", _signed,
             lambda L: L.perceptron, _peer(OPT, "perceptron")))
    add(Pair("multiclass_sparsemax", OPT, "mean(optax.multiclass_sparsemax_loss)", "sparsemax", _logits_int,
             lambda L: L.multiclass_sparsemax, _peer(OPT, "multiclass_sparsemax")))
    add(Pair("multiclass_perceptron", OPT, "mean(optax.multiclass_perceptron_loss)", "softmax", _logits_int,
             lambda L: L.multiclass_perceptron, _peer(OPT, "multiclass_perceptron")))
    add(Pair("generalized_kl", OPT, "mean(optax.generalized_kl_divergence(log(q), p))", "dist", _two_dists,
             lambda L: L.generalized_kl, _peer(OPT, "generalized_kl"), grad=(0, 1),
             note="the peer's log(q) is inside the timed call (lossapi takes q itself)"))
    add(Pair("binary_cross_entropy_with_logits", OPT,
             f"mean(optax.sigmoid_binary_cross_entropy(x, t (1 - {LS}) + {LS} / 2))", "ew", _logits_binary,
             lambda L: _p(L.binary_cross_entropy_with_logits, label_smoothing=LS),
             lambda m: C.smoothed(peers.bind(OPT, "binary_cross_entropy_with_logits"), LS),
             variant="label_smoothing", note=SMOOTH_NOTE))
    add(Pair("binary_focal", OPT, f"mean(optax.sigmoid_focal_loss(alpha=0.25, gamma=2)) on t (1 - {LS}) + {LS} / 2",
             "ew", _logits_binary, lambda L: _p(L.binary_focal, **FOCAL, label_smoothing=LS),
             lambda m: C.smoothed(peers.bind(OPT, "binary_focal", **FOCAL), LS), variant="label_smoothing",
             note=SMOOTH_NOTE))
    add(Pair("ranking_softmax", OPT, "optax.ranking_softmax_loss(scores, relevance / sum(relevance), reduce_fn=mean)",
             "lists", _relevance, lambda L: L.ranking_softmax, _peer(OPT, "ranking_softmax"),
             note="optax 0.2.8 uses the labels as given: the peer divides them by their sum inside its call "
                  "(lossapi normalises them inside its own)"))
    add(Pair("listnet", OPT, "optax.ranking_softmax_loss(scores, softmax(relevance), reduce_fn=mean)", "lists",
             _relevance, lambda L: L.listnet, _peer(OPT, "listnet"),
             note="optax uses the labels as the target distribution as given: the peer computes "
                  "softmax(relevance) inside its call"))
    # The table's optax dice/Tversky take probabilities (as lossapi does); these
    # pairs time optax on logits, its native input, with the sigmoid on lossapi's side.
    add(Pair("dice", OPT, "optax.binary_dice_loss(logits, target, smooth=1), mean", "seg", _seg,
             lambda L: _sigmoid_then(L.dice, smooth=2.0, axis=1), lambda m: _mean_of(m, m.optax.binary_dice_loss),
             note="optax takes logits and smooths numerator and denominator by 1 with halves of the sums; "
                  "lossapi side is dice(sigmoid(logits), target, smooth=2, axis=1), the sigmoid inside its call"))
    add(Pair("tversky", OPT, "optax.dice_loss(alpha=0.3, beta=0.7, smooth=1), mean", "seg", _seg,
             lambda L: _sigmoid_then(L.tversky, alpha=0.3, beta=0.7, smooth=1.0, axis=1),
             lambda m: _mean_of(m, m.optax.dice_loss, alpha=0.3, beta=0.7, smooth=1.0),
             peer_prep=_trailing_class_axis,
             note="lossapi side is tversky(sigmoid(logits), ...), the sigmoid inside its call; the peer gets "
                  "[N, pixels, 1] views (one class: sigmoid)"))
    add(Pair("ctc", OPT, "optax.ctc_loss(logits, paddings, labels, paddings), torch's mean", "ctc", _ctc_inputs,
             lambda L: _after_log_softmax("jax", L.ctc), _peer(OPT, "ctc"),
             note="optax takes logits (its own log_softmax) and paddings, made from the lengths inside its call; "
                  "lossapi side is ctc(log_softmax(logits), ...), the log_softmax inside its call"))
    return P


def _mean_of(m, fn, **kw):
    """``mean(fn(*args, **kw))``: optax losses return per-element values."""
    jnp = m.jnp

    def f(*args):
        return jnp.mean(fn(*args, **kw))

    return f


def _sigmoid_then(loss, **kw):
    import jax

    def f(logits, target):
        return loss(jax.nn.sigmoid(logits), target, **kw)

    return f


def _sk(fn_name, **kw):
    """sklearn metric with (y_true, y_pred) order, called as (pred, target)."""

    def peer(m):
        fn = getattr(m.skm, fn_name)

        def f(pred, target):
            return fn(target, pred, **kw)

        return f

    return peer


def _sk_pairs() -> list[Pair]:
    S = "sklearn"
    P = []
    add = P.append
    add(Pair("mse", S, "mean_squared_error", "vec", _reg, lambda L: L.mse, _sk("mean_squared_error"), grad=()))
    add(Pair("mae", S, "mean_absolute_error", "vec", _reg, lambda L: L.mae, _sk("mean_absolute_error"), grad=()))
    add(Pair("mape", S, "100 * mean_absolute_percentage_error", "vec", _positive, lambda L: L.mape,
             lambda m: _times(_sk("mean_absolute_percentage_error")(m), 100.0), grad=(),
             note="sklearn returns a fraction, lossapi percent: the peer's scalar is multiplied by 100"))
    add(Pair("msle", S, "mean_squared_log_error", "vec", _positive, lambda L: L.msle,
             _sk("mean_squared_log_error"), grad=()))
    add(Pair("pinball", S, "mean_pinball_loss(alpha=0.9)", "vec", _reg, lambda L: _p(L.pinball, quantile=0.9),
             _sk("mean_pinball_loss", alpha=0.9), grad=()))
    add(Pair("poisson_nll", S, "mean_poisson_deviance", "vec", _poisson_rate, _poisson_deviance,
             _sk("mean_poisson_deviance"), grad=(),
             note="deviance = 2 * (poisson_nll(mu, y, log_input=False, eps=0) - poisson_nll(y, y, "
                  "log_input=False, eps=1e-300)), both lossapi calls inside its timed call (the second is "
                  "mean(y - y log y), with 0 log 0 = 0)"))
    add(Pair("binary_cross_entropy", S, "log_loss (binary, 1-D probabilities)", "vec", _probs_binary,
             lambda L: L.binary_cross_entropy, lambda m: _log_loss_binary(m), grad=()))
    add(Pair("nll", S, "log_loss (multiclass probabilities)", "softmax_sk", _probs_int, _nll_of_probs,
             lambda m: _log_loss_multi(m), grad=(),
             note="lossapi side is nll(np.log(probs), labels), the log inside its timed call"))
    add(Pair("hinge", S, "hinge_loss (binary, y in {-1, 1})", "vec", _signed_vec, lambda L: L.hinge,
             _sk("hinge_loss"), grad=()))
    add(Pair("multiclass_hinge", S, "hinge_loss (multiclass, Crammer-Singer)", "softmax_sk", _logits_int,
             lambda L: _p(L.multiclass_hinge, form="crammer_singer"), lambda m: _hinge_multi(m), grad=(),
             variant="crammer_singer"))
    return P


def _signed_vec(rng, shape):
    return _signed(rng, shape)


def _times(f, k):
    def g(*a):
        return f(*a) * k

    return g


def _poisson_deviance(L):
    nll = functools.partial(L.poisson_nll, log_input=False)

    def f(mu, y):
        # mean(mu - y log mu) - mean(y - y log y): the deviance's half.
        return 2.0 * (nll(mu, y, eps=0.0) - nll(y, y, eps=1e-300))

    return f


def _nll_of_probs(L):
    nll = L.nll

    def f(probs, labels):
        return nll(np.log(probs), labels)

    return f


def _log_loss_binary(m):
    fn = m.skm.log_loss

    def f(probs, target):
        return fn(target, probs, labels=[0.0, 1.0])

    return f


def _log_loss_multi(m):
    fn = m.skm.log_loss

    def f(probs, labels):
        return fn(labels, probs, labels=np.arange(probs.shape[-1]))

    return f


def _hinge_multi(m):
    fn = m.skm.hinge_loss

    def f(scores, labels):
        return fn(labels, scores, labels=np.arange(scores.shape[-1]))

    return f


def _comp(fn, **kw):
    """A composition peer from benchmarks/compositions.py, bound once."""
    return lambda m: fn(m, **kw)


def _composition_pairs() -> list[Pair]:
    """Issue 14's losses that no installable library provides, against a
    hand-written torch composition of the named source (PML, Berman's Lovasz
    code, MONAI, Rax, allRank, TF-Ranking, the GCE and ASL papers' code)."""
    T = "torch-composition"
    P = []
    add = P.append
    add(Pair("supcon", T, "PML SupConLoss (L_out), temperature=0.1", "metric", _metric, lambda L: L.supcon,
             _comp(C.supcon)))
    add(Pair("arcface", T, "insightface/PML ArcFace: F.cross_entropy(64 (cos with cos(theta_y + 0.5))), "
             "cos(theta + m) = cos cos m - sqrt(1 - cos^2) sin m", "margin", _margin, lambda L: L.arcface,
             _comp(C.arcface), grad=(0, 1)))
    add(Pair("arcface", T, "sub-center ArcFace (K=3): max over each class's sub-centres, then as arcface", "margin",
             _margin_sub3, lambda L: _p(L.arcface, sub_centers=3), _comp(C.arcface, sub_centers=3), grad=(0, 1),
             variant="sub_centers"))
    add(Pair("cosface", T, "PML CosFaceLoss: F.cross_entropy(64 (cos with cos_y - 0.35))", "margin", _margin,
             lambda L: L.cosface, _comp(C.cosface), grad=(0, 1)))
    add(Pair("multi_similarity", T, "PML MultiSimilarityMiner + MultiSimilarityLoss (alpha=2, beta=50, base=0.5, "
             "epsilon=0.1)", "metric", _metric, lambda L: L.multi_similarity, _comp(C.multi_similarity)))
    add(Pair("proxy_anchor", T, "PML ProxyAnchorLoss (alpha=32, margin=0.1)", "margin", _margin,
             lambda L: L.proxy_anchor, _comp(C.proxy_anchor), grad=(0, 1)))
    add(Pair("lovasz_hinge", T, "Berman's lovasz_hinge(per_image=True), one batched sort", "seg_sort", _seg,
             lambda L: L.lovasz_hinge, _comp(C.lovasz_hinge)))
    add(Pair("lovasz_softmax", T, "Berman's lovasz_softmax(classes='present'), one batched sort over the classes",
             "seg_classes_sort", _class_probs, lambda L: L.lovasz_softmax, _comp(C.lovasz_softmax)))
    add(Pair("generalized_dice", T, "MONAI GeneralizedDiceLoss (square weights, smooth 1e-6)", "seg_classes",
             _class_probs_onehot, lambda L: L.generalized_dice, _comp(C.generalized_dice)))
    nb = dict(axis=2, include_background=False, class_axis=1)
    add(Pair("dice", T, "MONAI DiceLoss(include_background=False), smooth 1e-6", "seg_classes", _class_probs_onehot,
             lambda L: _p(L.dice, **nb), _comp(C.overlap_no_background, kind="dice"), variant="no_background"))
    add(Pair("jaccard", T, "MONAI DiceLoss(jaccard=True, include_background=False), smooth 1e-6", "seg_classes",
             _class_probs_onehot, lambda L: _p(L.jaccard, **nb), _comp(C.overlap_no_background, kind="jaccard"),
             variant="no_background"))
    add(Pair("tversky", T, "MONAI TverskyLoss(alpha=0.3, beta=0.7, include_background=False), smooth 1e-6",
             "seg_classes", _class_probs_onehot, lambda L: _p(L.tversky, alpha=0.3, beta=0.7, **nb),
             _comp(C.overlap_no_background, kind="tversky", alpha=0.3, beta=0.7), variant="no_background"))
    for kind, margin in (("hinge", 1.0), ("logistic", 0.0), ("soft_zero_one", 0.0)):
        add(Pair(f"pairwise_{kind}", T, f"Rax pairwise_{kind}_loss (margin={margin:g}), mean per list", "pairs",
                 _relevance, lambda L, k=kind: getattr(L, f"pairwise_{k}"),
                 _comp(C.pairwise, kind=kind, margin=margin)))
    J = "jax-composition"
    add(Pair("supcon", J, "PML SupConLoss (L_out) in jax.numpy", "metric", _metric, lambda L: L.supcon,
             _comp(C.jax_supcon)))
    add(Pair("arcface", J, "insightface/PML ArcFace in jax.numpy, optax's integer-label cross-entropy", "margin",
             _margin, lambda L: L.arcface, _comp(C.jax_arcface), grad=(0, 1)))
    add(Pair("lovasz_hinge", J, "Berman's lovasz_hinge(per_image=True) in jax.numpy, one batched argsort",
             "seg_sort", _seg, lambda L: L.lovasz_hinge, _comp(C.jax_lovasz_hinge)))
    add(Pair("generalized_dice", J, "MONAI GeneralizedDiceLoss (square weights) in jax.numpy", "seg_classes",
             _class_probs_onehot, lambda L: L.generalized_dice, _comp(C.jax_generalized_dice)))
    add(Pair("dice", J, "MONAI DiceLoss(include_background=False) in jax.numpy", "seg_classes",
             _class_probs_onehot, lambda L: _p(L.dice, **nb), _comp(C.jax_dice_no_background),
             variant="no_background"))
    add(Pair("approx_mrr", J, "TF-Ranking ApproxMRRLoss in jax.numpy", "pairs", _relevance,
             lambda L: L.approx_mrr, _comp(C.jax_approx_mrr)))
    add(Pair("generalized_cross_entropy", J, "GCE reference code in jax.numpy", "softmax", _logits_int,
             lambda L: L.generalized_cross_entropy, _comp(C.jax_generalized_cross_entropy)))
    add(Pair("asymmetric", J, "ASL reference code AsymmetricLoss in jax.numpy, / N", "ew", _logits_binary,
             lambda L: L.asymmetric, _comp(C.jax_asymmetric)))
    for kind, margin in (("hinge", 1.0), ("logistic", 0.0), ("soft_zero_one", 0.0)):
        add(Pair(f"pairwise_{kind}", J, f"Rax pairwise_{kind}_loss (margin={margin:g}) in "
                 "jax.numpy, mean per list", "pairs", _relevance, lambda L, k=kind: getattr(L, f"pairwise_{k}"),
                 _comp(C.jax_pairwise, kind=kind, margin=margin)))
    add(Pair("lambda_loss", T, "allRank lambdaLoss (ndcgLoss2_scheme, sum) / lists", "pairs", _relevance,
             lambda L: L.lambda_loss, _comp(C.lambda_loss)))
    add(Pair("approx_mrr", T, "TF-Ranking ApproxMRRLoss (temperature 1)", "pairs", _relevance,
             lambda L: L.approx_mrr, _comp(C.approx_mrr)))
    add(Pair("neural_ndcg", T, "allRank neuralNDCG (NeuralSort + Sinkhorn, 1 - NDCG)", "nsort", _relevance,
             lambda L: L.neural_ndcg, _comp(C.neural_ndcg),
             note="allRank stops the Sinkhorn rounds when the whole batch has converged, lossapi per list"))
    add(Pair("generalized_cross_entropy", T, "GCE reference code: (1 - softmax(x)[y]**0.7) / 0.7", "softmax",
             _logits_int, lambda L: L.generalized_cross_entropy, _comp(C.generalized_cross_entropy)))
    add(Pair("asymmetric", T, "ASL reference code AsymmetricLoss (gamma_neg=4, gamma_pos=1, clip=0.05) / N", "ew",
             _logits_binary, lambda L: L.asymmetric, _comp(C.asymmetric)))
    return P


def all_pairs() -> list[Pair]:
    return _torch_pairs() + _optax_pairs() + _sk_pairs() + _composition_pairs()


def select(pairs: Sequence[Pair], only: str | None) -> list[Pair]:
    """Pairs whose loss, library or id is named in the comma list ``only``."""
    if not only:
        return list(pairs)
    keys = {k.strip() for k in only.split(",") if k.strip()}
    return [p for p in pairs if p.loss in keys or p.lib in keys or p.id in keys]


# --------------------------------------------------------------------------
# Conversion to each library and the value/gradient agreement check.


def make_inputs(pair: Pair, size: str, *, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return pair.make(rng, pair.shape(size))


def to_lib(lib: str, arrays: Sequence[np.ndarray], *, device: str = "cpu", grad: Sequence[int] = ()) -> list[Any]:
    """Float arrays to float32 (torch, JAX, CuPy) or float64 (NumPy); ints kept
    (JAX: int32; jax's float64 mode is left as it is)."""
    be = B.for_library(lib, device, **({"x64": False} if lib == "jax" else {}))
    dtype = None if lib == "numpy" else "float32"
    out = [be.asarray(a, dtype) for a in arrays]
    for i in grad:  # torch: leaves that record their gradient
        out[i].requires_grad_(True)
    return out


class Mismatch(AssertionError):
    """lossapi and its peer disagree: a bug in the pair mapping (or lossapi)."""


def _to_np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    if hasattr(x, "get"):  # cupy
        x = x.get()
    return np.asarray(x, dtype=np.float64)


def bound(pair: Pair, lossapi_mod: Any, mods: Mods) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The two callables, resolved once."""
    return pair.ours(lossapi_mod), pair.peer(mods)


def check_pair(pair: Pair, size: str = "tiny", *, device: str = "cpu", grads: bool = True,
               mods: Mods | None = None, rtol: float | None = None) -> dict[str, float]:
    """Assert that lossapi and the peer agree on value (and gradients).

    Raises :class:`Mismatch` on disagreement, ``AttributeError`` when lossapi
    lacks the loss. Returns the two values.
    """
    import lossapi

    mods = mods or Mods()
    if not hasattr(lossapi, pair.loss):
        raise AttributeError(f"lossapi has no {pair.loss!r}")
    ours, peer = bound(pair, lossapi, mods)
    base = make_inputs(pair, size, seed=1)
    pbase = pair.peer_prep(list(base)) if pair.peer_prep else base
    lib = pair.array_lib
    rtol = rtol if rtol is not None else (pair.rtol if lib != "numpy" else 1e-10)
    if size in ("large", "gpu", "quick"):
        rtol = max(rtol, 2e-4)  # float32 sums over millions of elements
    a = to_lib(lib, base, device=device)
    b = to_lib(lib, pbase, device=device)
    if lib == "jax":  # compiled once rather than op by op: much faster to check
        import jax

        ours = jax.jit(ours)
        peer = peer if pair.peer_check_eager else jax.jit(peer)
    vo, vp = float(_to_np(ours(*a))), float(_to_np(peer(*b)))
    if not np.isclose(vo, vp, rtol=rtol, atol=rtol * 1e-3):
        raise Mismatch(f"{pair.id}: value {vo!r} (lossapi) != {vp!r} ({pair.peer_name}) at {size} size")
    if grads and pair.grad and lib != "numpy":
        go, gp = _grads(lib, ours, a, pair.grad, device), _grads(lib, peer, b, pair.grad, device)
        for i, x, y in zip(pair.grad, go, gp):
            y = y.reshape(x.shape)  # a peer_prep may add a unit axis (optax.dice_loss)
            scale = float(np.max(np.abs(y))) or 1.0
            if not np.allclose(x, y, rtol=max(rtol, 1e-4), atol=1e-4 * scale):
                err = float(np.max(np.abs(x - y)))
                raise Mismatch(f"{pair.id}: gradient of input {i} differs (max abs diff {err:.3g}, scale {scale:.3g})")
    return {"ours": vo, "peer": vp}


def _grads(lib: str, fn, arrays, idx, device: str = "cpu") -> list[np.ndarray]:
    """Gradients of the scalar ``fn`` on the arrays' backend (JAX: jit-compiled)."""
    be = B.for_library(lib, device, **({"x64": False} if lib == "jax" else {}))
    _, gs = be.value_and_grad(lambda *a: (fn(*a), None), arrays, idx)
    return [_to_np(g) for g in gs]
