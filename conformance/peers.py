"""Peer libraries' versions of lossapi's losses, with the options mapped.

``ADAPTERS[lib][loss]`` has lossapi's signature (arrays positional, options
by keyword, ``reduction``) and computes the loss with the peer library on
that library's arrays (torch tensors for "torch", jax arrays for "optax",
torch tensors for "torchvision"). An adapter raises :class:`Unsupported`
for an option the peer cannot express. Frameworks are imported inside the
adapters, so importing this module imports none.

``CHECKS`` lists the second part of the conformance run: lossapi against the
peers on seeded random inputs, values and gradients.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import zlib
from collections.abc import Callable

import numpy as np


class Unsupported(Exception):
    """The peer has no equivalent of this option combination."""


LIBS = ("torch", "optax", "torchvision")
# Which conformance backends carry each peer library's arrays.
NATIVE = {"torch": ("torch", "torch-cuda"), "torchvision": ("torch", "torch-cuda"), "optax": ("jax", "jax-gpu")}


def available(lib: str) -> str | None:
    """None if ``lib`` can be imported here, else the reason it cannot."""
    mod = {"optax": "optax", "torch": "torch", "torchvision": "torchvision"}[lib]
    if importlib.util.find_spec(mod) is None:
        return f"{mod} is not installed"
    return None


def _reduce(x, reduction):
    if reduction == "none":
        return x
    if reduction == "sum":
        return x.sum()
    if reduction == "mean":
        return x.mean()
    raise Unsupported(f"reduction {reduction!r}")


def _no(opts: dict, *names):
    for n in names:
        if n in opts and opts[n] is not None and opts[n] is not False:
            raise Unsupported(f"option {n}={opts[n]!r}")


# =============================================================================
# torch.nn.functional
# =============================================================================

def _F():
    import torch.nn.functional as F

    return F


def _torch():
    import torch

    return torch


def _t_move(x, axis):
    """Class axis to position 1, torch's layout for (N, C, d1, ...)."""
    if x.ndim == 1:
        return x
    return _torch().movedim(x, axis, 1)


def _t_cross_entropy(logits, target, *, axis=-1, weight=None, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    torch = _torch()
    x = _t_move(logits, axis % logits.ndim)
    if target.is_floating_point():
        target = _t_move(target, axis % target.ndim)
    else:
        target = target.long()
    del torch
    return _F().cross_entropy(x, target, weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing,
                              reduction=reduction)


def _t_nll(log_probs, target, *, axis=-1, weight=None, ignore_index=-100, reduction="mean"):
    return _F().nll_loss(_t_move(log_probs, axis % log_probs.ndim), target.long(), weight=weight,
                         ignore_index=ignore_index, reduction=reduction)


def _t_multiclass_hinge(scores, labels, *, margin=1.0, form="crammer_singer", reduction="mean"):
    if form != "weston_watkins":
        raise Unsupported("torch multi_margin_loss is the Weston-Watkins sum (divided by C)")
    c = scores.shape[-1]
    per = _F().multi_margin_loss(scores.reshape(-1, c), labels.reshape(-1).long(), margin=margin, reduction="none")
    return _reduce(per.reshape(labels.shape) * c, reduction)


def _t_kl(p, q, *, axis=-1, reduction="mean"):
    F, torch = _F(), _torch()
    if reduction == "mean" and p.ndim == 2 and axis in (-1, 1):
        return F.kl_div(torch.log(q), p, reduction="batchmean")
    return _reduce(F.kl_div(torch.log(q), p, reduction="none").sum(axis), reduction)


def _t_kl_log(log_p, log_q, *, axis=-1, reduction="mean"):
    F = _F()
    if reduction == "mean" and log_p.ndim == 2 and axis in (-1, 1):
        return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
    return _reduce(F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(axis), reduction)


def _t_triplet(a, pos, neg, *, margin=1.0, p=2.0, eps=1e-6, swap=False, squared=False, reduction="mean"):
    if squared:
        raise Unsupported("squared distances")
    return _F().triplet_margin_loss(a, pos, neg, margin=margin, p=p, eps=eps, swap=swap, reduction=reduction)


def _t_cosine_proximity(x1, x2, *, axis=-1, reduction="mean"):
    return _reduce(-_F().cosine_similarity(x1, x2, dim=axis), reduction)


def _t_hinge(scores, target, *, reduction="mean"):
    # The guide's own "MarginRankingLoss trick": max(0, -y (s - 0) + 1).
    return _F().margin_ranking_loss(scores, _torch().zeros_like(scores), target, margin=1.0, reduction=reduction)


def _t_binary_focal_tv(logits, target, *, gamma=2.0, alpha=0.25, reduction="mean"):
    from torchvision.ops import sigmoid_focal_loss

    return sigmoid_focal_loss(logits, target, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction=reduction)


TORCH: dict[str, Callable] = {
    "mse": lambda p, t, *, reduction="mean": _F().mse_loss(p, t, reduction=reduction),
    "mae": lambda p, t, *, reduction="mean": _F().l1_loss(p, t, reduction=reduction),
    "huber": lambda p, t, *, delta=1.0, reduction="mean": _F().huber_loss(p, t, delta=delta, reduction=reduction),
    "smooth_l1": lambda p, t, *, beta=1.0, reduction="mean": _F().smooth_l1_loss(p, t, beta=beta, reduction=reduction),
    "poisson_nll": lambda p, t, *, log_input=True, full=False, eps=1e-8, reduction="mean":
        _F().poisson_nll_loss(p, t, log_input=log_input, full=full, eps=eps, reduction=reduction),
    "gaussian_nll": lambda m, t, v, *, full=False, eps=1e-6, reduction="mean":
        _F().gaussian_nll_loss(m, t, v, full=full, eps=eps, reduction=reduction),
    "binary_cross_entropy": lambda p, t, *, weight=None, reduction="mean":
        _F().binary_cross_entropy(p, t, weight=weight, reduction=reduction),
    "binary_cross_entropy_with_logits": lambda x, t, *, weight=None, pos_weight=None, reduction="mean":
        _F().binary_cross_entropy_with_logits(x, t, weight=weight, pos_weight=pos_weight, reduction=reduction),
    "cross_entropy": _t_cross_entropy,
    "nll": _t_nll,
    "hinge": _t_hinge,
    "multiclass_hinge": _t_multiclass_hinge,
    "kl_divergence": _t_kl,
    "kl_divergence_log": _t_kl_log,
    "triplet": _t_triplet,
    "cosine_embedding": lambda x1, x2, y, *, margin=0.0, reduction="mean":
        _F().cosine_embedding_loss(x1, x2, y, margin=margin, reduction=reduction),
    "cosine_proximity": _t_cosine_proximity,
    "margin_ranking": lambda s1, s2, y, *, margin=0.0, reduction="mean":
        _F().margin_ranking_loss(s1, s2, y, margin=margin, reduction=reduction),
}

TORCHVISION: dict[str, Callable] = {"binary_focal": _t_binary_focal_tv}


# =============================================================================
# optax (jax arrays)
# =============================================================================

def _ox():
    import optax

    return optax.losses


def _jnp():
    import jax.numpy as jnp

    return jnp


def _o_cross_entropy(logits, target, *, axis=-1, weight=None, ignore_index=-100, label_smoothing=0.0,
                     reduction="mean"):
    _no({"weight": weight}, "weight")
    ox, jnp = _ox(), _jnp()
    if jnp.issubdtype(target.dtype, jnp.floating):
        if label_smoothing:
            c = logits.shape[axis]
            target = target * (1.0 - label_smoothing) + label_smoothing / c
        return _reduce(ox.softmax_cross_entropy(logits, target, axis=axis), reduction)
    if ignore_index != -100:
        raise Unsupported("optax has no ignore_index (inputs must not contain it)")
    if label_smoothing:
        import jax

        c = logits.shape[axis]
        oh = jnp.moveaxis(jax.nn.one_hot(target, c, dtype=logits.dtype), -1, axis)
        return _reduce(ox.softmax_cross_entropy(logits, ox.smooth_labels(oh, label_smoothing), axis=axis), reduction)
    return _reduce(ox.softmax_cross_entropy_with_integer_labels(logits, target, axis=axis), reduction)


def _o_binary_focal(logits, target, *, gamma=2.0, alpha=0.25, reduction="mean"):
    return _reduce(_ox().sigmoid_focal_loss(logits, target, alpha=alpha, gamma=gamma), reduction)


def _o_multiclass_hinge(scores, labels, *, margin=1.0, form="crammer_singer", reduction="mean"):
    if form != "crammer_singer" or margin != 1.0:
        raise Unsupported("optax multiclass_hinge_loss is Crammer-Singer with margin 1")
    return _reduce(_ox().multiclass_hinge_loss(scores, labels), reduction)


def _o_triplet(a, pos, neg, *, margin=1.0, p=2.0, eps=1e-6, swap=False, squared=False, reduction="mean"):
    if swap or squared:
        raise Unsupported("swap / squared")
    if eps != 0.0:
        # optax adds eps to the sum of powers, torch to every difference.
        raise Unsupported("eps placement differs from torch's; only eps=0 maps")
    return _reduce(_ox().triplet_margin_loss(a, pos, neg, norm_degree=p, margin=margin, eps=0.0), reduction)


def _o_poly1(logits, target, *, epsilon=1.0, axis=-1, reduction="mean"):
    import jax

    oh = _jnp().moveaxis(jax.nn.one_hot(target, logits.shape[axis], dtype=logits.dtype), -1, axis)
    return _reduce(_ox().poly_loss_cross_entropy(logits, oh, epsilon=epsilon, axis=axis), reduction)


def _o_nt_xent(z1, z2, *, temperature=0.5, reduction="mean"):
    if reduction != "mean" or z1.ndim != 2:
        raise Unsupported("optax ntxent returns the mean over a single batch")
    jnp = _jnp()
    n = z1.shape[0]
    labels = jnp.concatenate([jnp.arange(n), jnp.arange(n)])
    return _ox().ntxent(jnp.concatenate([z1, z2], axis=0), labels, temperature=temperature)


def _logit(p):
    jnp = _jnp()
    return jnp.log(p) - jnp.log1p(-p)


def _o_overlap(probs, target, smooth, axis, alpha, beta):
    """optax's (binary) dice/Tversky over the last axis of logits; the class
    axis it wants is added, probabilities are turned back into logits."""
    if axis is None:
        probs, target = probs.reshape(1, -1), target.reshape(1, -1)
        squeeze = True
    elif axis in (-1, probs.ndim - 1):
        squeeze = False
    else:
        raise Unsupported(f"axis={axis!r}")
    v = _ox().dice_loss(_logit(probs)[..., None], target[..., None], smooth=smooth, alpha=alpha, beta=beta)
    return v[0] if squeeze else v


def _o_dice(probs, target, *, smooth=1e-6, axis=None, reduction="mean"):
    # lossapi: (2I + s) / (P + T + s); optax: (I + s') / (I + (P-I)/2 + (T-I)/2 + s') -> s' = s / 2.
    return _reduce(_o_overlap(probs, target, smooth / 2.0, axis, 0.5, 0.5), reduction)


def _o_jaccard(probs, target, *, smooth=1e-6, axis=None, reduction="mean"):
    # Jaccard = Tversky with alpha = beta = 1.
    return _reduce(_o_overlap(probs, target, smooth, axis, 1.0, 1.0), reduction)


def _o_tversky(probs, target, *, alpha=0.5, beta=0.5, gamma=1.0, smooth=1e-6, axis=None, reduction="mean"):
    v = _o_overlap(probs, target, smooth, axis, alpha, beta)
    return _reduce(v ** gamma if gamma != 1.0 else v, reduction)


OPTAX: dict[str, Callable] = {
    "mse": lambda p, t, *, reduction="mean": _reduce(_ox().squared_error(p, t), reduction),
    "huber": lambda p, t, *, delta=1.0, reduction="mean": _reduce(_ox().huber_loss(p, t, delta=delta), reduction),
    "log_cosh": lambda p, t, *, reduction="mean": _reduce(_ox().log_cosh(p, t), reduction),
    "hinge": lambda s, y, *, reduction="mean": _reduce(_ox().hinge_loss(s, y), reduction),
    "multiclass_hinge": _o_multiclass_hinge,
    "binary_cross_entropy_with_logits": lambda x, t, *, weight=None, pos_weight=None, reduction="mean":
        (_no({"weight": weight, "pos_weight": pos_weight}, "weight", "pos_weight")
         or _reduce(_ox().sigmoid_binary_cross_entropy(x, t), reduction)),
    "cross_entropy": _o_cross_entropy,
    "binary_focal": _o_binary_focal,
    "poly1": _o_poly1,
    "kl_divergence": lambda p, q, *, axis=-1, reduction="mean":
        _reduce(_ox().kl_divergence(_jnp().log(q), p, axis=axis), reduction),
    "kl_divergence_log": lambda lp, lq, *, axis=-1, reduction="mean":
        _reduce(_ox().kl_divergence_with_log_targets(lq, lp, axis=axis), reduction),
    "cosine_proximity": lambda x1, x2, *, axis=-1, reduction="mean":
        _reduce(_ox().cosine_distance(x1, x2, axis=axis) - 1.0, reduction),
    "triplet": _o_triplet,
    "nt_xent": _o_nt_xent,
    "dice": _o_dice,
    "jaccard": _o_jaccard,
    "tversky": _o_tversky,
}

ADAPTERS: dict[str, dict[str, Callable]] = {"torch": TORCH, "optax": OPTAX, "torchvision": TORCHVISION}


# =============================================================================
# Running an adapter on NumPy float64 inputs (for the case cross-checks)
# =============================================================================

def to_lib(lib: str, a: np.ndarray):
    if lib in ("torch", "torchvision"):
        import torch

        return torch.from_numpy(np.array(a))
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jnp.asarray(a)


def from_lib(x) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def value_np(lib: str, loss: str, args: list[np.ndarray], options: dict, reduction: str) -> np.ndarray:
    """The peer's float64 value of ``loss`` on NumPy inputs (options may hold arrays)."""
    fn = ADAPTERS[lib].get(loss)
    if fn is None:
        raise Unsupported(f"{lib} has no {loss}")
    conv = [to_lib(lib, a) for a in args]
    opts = {k: (to_lib(lib, v) if isinstance(v, np.ndarray) else v) for k, v in options.items()}
    return from_lib(fn(*conv, **opts, reduction=reduction))


# =============================================================================
# Part 2: seeded random checks
# =============================================================================

def _normal(shape, scale=1.0):
    return ("normal", shape, scale)


@dataclasses.dataclass
class PeerCheck:
    """One loss with one set of options against the peers that have it."""

    id: str
    loss: str
    inputs: list  # [(name, spec)]; spec: ("normal", shape, scale) | ("uniform", shape, lo, hi) | ...
    options: dict = dataclasses.field(default_factory=dict)
    libs: tuple = ("torch",)
    reductions: tuple = ("mean", "sum", "none")
    grad: tuple = (0,)  # positional inputs whose gradient is compared
    option_arrays: dict = dataclasses.field(default_factory=dict)  # option name -> spec
    rtol64: float = 1e-10
    note: str = ""

    def seed(self) -> int:
        return zlib.crc32(self.id.encode())

    def make(self) -> tuple[list[np.ndarray], dict]:
        rng = np.random.default_rng(self.seed())
        args = [_draw(rng, spec) for _, spec in self.inputs]
        opts = dict(self.options)
        for k, spec in self.option_arrays.items():
            opts[k] = _draw(rng, spec)
        return args, opts


def _draw(rng, spec):
    kind = spec[0]
    if kind == "normal":
        return rng.normal(size=spec[1]) * spec[2]
    if kind == "uniform":
        return rng.uniform(spec[2], spec[3], size=spec[1])
    if kind == "probs":  # rows summing to 1 along the last axis
        z = rng.normal(size=spec[1])
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    if kind == "log_probs":
        z = rng.normal(size=spec[1])
        return z - np.log(np.exp(z).sum(-1, keepdims=True))
    if kind == "labels":  # ("labels", shape, num_classes)
        return rng.integers(0, spec[2], size=spec[1]).astype(np.int64)
    if kind == "labels_ignore":  # ("labels_ignore", shape, num_classes, ignore_index)
        y = rng.integers(0, spec[2], size=spec[1]).astype(np.int64)
        y.flat[::3] = spec[3]
        return y
    if kind == "binary":
        return (rng.random(spec[1]) < 0.5).astype(np.float64)
    if kind == "pm1":
        return np.where(rng.random(spec[1]) < 0.5, -1.0, 1.0)
    if kind == "counts":
        return rng.poisson(3.0, size=spec[1]).astype(np.float64)
    if kind == "positive":
        return rng.uniform(0.2, 2.0, size=spec[1])
    if kind == "group_labels":  # ("group_labels", n)
        return np.arange(spec[1]).astype(np.int64) % 3
    raise ValueError(kind)


def _away_from(x, kinks, gap=0.05):
    """Shift values within ``gap`` of a kink (so finite differences/peers agree)."""
    for k in kinks:
        close = np.abs(x - k) < gap
        x = np.where(close, k + np.sign(x - k + 1e-300) * gap * 2, x)
    return x


N, C = 6, 5
CHECKS: list[PeerCheck] = [
    # --- regression
    PeerCheck("mse", "mse", [("pred", _normal((4, 5))), ("target", _normal((4, 5)))], libs=("torch", "optax")),
    PeerCheck("mae", "mae", [("pred", _normal((4, 5))), ("target", _normal((4, 5)))]),
    PeerCheck("huber-d1", "huber", [("pred", _normal((4, 5), 2)), ("target", _normal((4, 5)))],
              {"delta": 1.0}, libs=("torch", "optax")),
    PeerCheck("huber-d1.5", "huber", [("pred", _normal((4, 5), 2)), ("target", _normal((4, 5)))],
              {"delta": 1.5}, libs=("torch", "optax")),
    PeerCheck("smooth_l1-b0.7", "smooth_l1", [("pred", _normal((4, 5), 2)), ("target", _normal((4, 5)))],
              {"beta": 0.7}),
    PeerCheck("smooth_l1-b0", "smooth_l1", [("pred", _normal((4, 5), 2)), ("target", _normal((4, 5)))],
              {"beta": 0.0}),
    PeerCheck("log_cosh", "log_cosh", [("pred", _normal((4, 5), 3)), ("target", _normal((4, 5)))], libs=("optax",)),
    PeerCheck("poisson_nll-log", "poisson_nll", [("pred", _normal((4, 5))), ("target", ("counts", (4, 5)))],
              {"log_input": True, "full": False}),
    PeerCheck("poisson_nll-rate-full", "poisson_nll", [("pred", ("positive", (4, 5))), ("target", ("counts", (4, 5)))],
              {"log_input": False, "full": True}),
    PeerCheck("gaussian_nll", "gaussian_nll",
              [("mean", _normal((4, 3))), ("target", _normal((4, 3))), ("var", ("positive", (4, 3)))],
              {"full": False}, grad=(0, 2)),
    PeerCheck("gaussian_nll-full-var1", "gaussian_nll",
              [("mean", _normal((4, 3))), ("target", _normal((4, 3))), ("var", ("positive", (4, 1)))],
              {"full": True}, grad=(0, 2)),
    # --- classification
    PeerCheck("bce", "binary_cross_entropy", [("probs", ("uniform", (4, 5), 0.05, 0.95)), ("target", ("binary", (4, 5)))]),
    PeerCheck("bce-weight", "binary_cross_entropy",
              [("probs", ("uniform", (4, 5), 0.05, 0.95)), ("target", ("binary", (4, 5)))],
              option_arrays={"weight": ("positive", (4, 5))}),
    PeerCheck("bce-logits", "binary_cross_entropy_with_logits",
              [("logits", _normal((4, 5), 2)), ("target", ("binary", (4, 5)))], libs=("torch", "optax")),
    PeerCheck("bce-logits-weights", "binary_cross_entropy_with_logits",
              [("logits", _normal((4, 5), 2)), ("target", ("uniform", (4, 5), 0.0, 1.0))],
              option_arrays={"weight": ("positive", (4, 5)), "pos_weight": ("positive", (5,))}),
    PeerCheck("ce-labels", "cross_entropy", [("logits", _normal((N, C), 2)), ("target", ("labels", (N,), C))],
              libs=("torch", "optax")),
    PeerCheck("ce-weight", "cross_entropy", [("logits", _normal((N, C), 2)), ("target", ("labels", (N,), C))],
              option_arrays={"weight": ("positive", (C,))}),
    PeerCheck("ce-ignore", "cross_entropy", [("logits", _normal((N, C), 2)), ("target", ("labels_ignore", (N,), C, -100))],
              {"ignore_index": -100}),
    PeerCheck("ce-ls", "cross_entropy", [("logits", _normal((N, C), 2)), ("target", ("labels", (N,), C))],
              {"label_smoothing": 0.1}, libs=("torch", "optax")),
    PeerCheck("ce-ls-weight-ignore", "cross_entropy",
              [("logits", _normal((N, C), 2)), ("target", ("labels_ignore", (N,), C, 2))],
              {"label_smoothing": 0.2, "ignore_index": 2}, option_arrays={"weight": ("positive", (C,))}),
    PeerCheck("ce-probs", "cross_entropy", [("logits", _normal((N, C), 2)), ("target", ("probs", (N, C)))],
              libs=("torch", "optax")),
    PeerCheck("ce-probs-ls", "cross_entropy", [("logits", _normal((N, C), 2)), ("target", ("probs", (N, C)))],
              {"label_smoothing": 0.1}, libs=("torch", "optax")),
    PeerCheck("ce-axis1", "cross_entropy", [("logits", _normal((2, C, 3), 2)), ("target", ("labels", (2, 3), C))],
              {"axis": 1}, libs=("torch", "optax")),
    PeerCheck("nll", "nll", [("log_probs", ("log_probs", (N, C))), ("target", ("labels", (N,), C))]),
    PeerCheck("nll-weight-ignore", "nll", [("log_probs", ("log_probs", (N, C))), ("target", ("labels_ignore", (N,), C, 1))],
              {"ignore_index": 1}, option_arrays={"weight": ("positive", (C,))}),
    PeerCheck("hinge", "hinge", [("scores", _normal((8,), 1.5)), ("target", ("pm1", (8,)))], libs=("optax", "torch")),
    PeerCheck("multiclass_hinge-ww", "multiclass_hinge", [("scores", _normal((N, C))), ("labels", ("labels", (N,), C))],
              {"form": "weston_watkins", "margin": 1.0}),
    PeerCheck("multiclass_hinge-ww-m0.5", "multiclass_hinge",
              [("scores", _normal((N, C))), ("labels", ("labels", (N,), C))], {"form": "weston_watkins", "margin": 0.5}),
    PeerCheck("multiclass_hinge-cs", "multiclass_hinge", [("scores", _normal((N, C))), ("labels", ("labels", (N,), C))],
              {"form": "crammer_singer", "margin": 1.0}, libs=("optax",)),
    PeerCheck("binary_focal", "binary_focal", [("logits", _normal((4, 5), 2)), ("target", ("binary", (4, 5)))],
              {"gamma": 2.0, "alpha": 0.25}, libs=("optax", "torchvision")),
    PeerCheck("binary_focal-noalpha", "binary_focal", [("logits", _normal((4, 5), 2)), ("target", ("binary", (4, 5)))],
              {"gamma": 1.5, "alpha": None}, libs=("optax", "torchvision")),
    PeerCheck("poly1", "poly1", [("logits", _normal((N, C), 2)), ("target", ("labels", (N,), C))],
              {"epsilon": 1.0}, libs=("optax",)),
    # --- divergences
    PeerCheck("kl", "kl_divergence", [("p", ("probs", (4, 5))), ("q", ("probs", (4, 5)))], libs=("torch", "optax"),
              grad=(0, 1)),
    PeerCheck("kl-log", "kl_divergence_log", [("log_p", ("log_probs", (4, 5))), ("log_q", ("log_probs", (4, 5)))],
              libs=("torch", "optax"), grad=(0, 1)),
    # --- embeddings
    PeerCheck("triplet", "triplet", [("a", _normal((5, 4))), ("p", _normal((5, 4))), ("n", _normal((5, 4)))],
              {"margin": 1.0}, grad=(0, 1, 2)),
    PeerCheck("triplet-swap-p1", "triplet", [("a", _normal((5, 4))), ("p", _normal((5, 4))), ("n", _normal((5, 4)))],
              {"margin": 0.5, "p": 1.0, "swap": True}, grad=(0, 1, 2)),
    PeerCheck("triplet-eps0", "triplet", [("a", _normal((5, 4))), ("p", _normal((5, 4))), ("n", _normal((5, 4)))],
              {"margin": 2.0, "eps": 0.0}, libs=("torch", "optax"), grad=(0, 1, 2)),
    PeerCheck("cosine_embedding", "cosine_embedding", [("x1", _normal((6, 4))), ("x2", _normal((6, 4))),
                                                       ("y", ("pm1", (6,)))], {"margin": 0.1}, grad=(0, 1)),
    PeerCheck("cosine_proximity", "cosine_proximity", [("x1", _normal((6, 4))), ("x2", _normal((6, 4)))],
              libs=("torch", "optax"), grad=(0, 1)),
    PeerCheck("nt_xent", "nt_xent", [("z1", _normal((4, 3))), ("z2", _normal((4, 3)))], {"temperature": 0.5},
              libs=("optax",), reductions=("mean",), grad=(0, 1)),
    # --- segmentation
    PeerCheck("dice-all", "dice", [("probs", ("uniform", (3, 6), 0.05, 0.95)), ("target", ("binary", (3, 6)))],
              {"smooth": 1e-3}, libs=("optax",), reductions=("mean",)),
    PeerCheck("dice-axis-1", "dice", [("probs", ("uniform", (3, 6), 0.05, 0.95)), ("target", ("binary", (3, 6)))],
              {"smooth": 1e-3, "axis": -1}, libs=("optax",)),
    PeerCheck("jaccard-axis-1", "jaccard", [("probs", ("uniform", (3, 6), 0.05, 0.95)), ("target", ("binary", (3, 6)))],
              {"smooth": 1e-3, "axis": -1}, libs=("optax",)),
    PeerCheck("tversky-axis-1", "tversky", [("probs", ("uniform", (3, 6), 0.05, 0.95)), ("target", ("binary", (3, 6)))],
              {"smooth": 1e-3, "axis": -1, "alpha": 0.3, "beta": 0.7, "gamma": 1.0}, libs=("optax",)),
    # --- ranking
    PeerCheck("margin_ranking", "margin_ranking", [("s1", _normal((8,))), ("s2", _normal((8,))), ("y", ("pm1", (8,)))],
              {"margin": 0.2}, grad=(0, 1)),
]


def hinge_safe(check: PeerCheck, args: list[np.ndarray], opts: dict) -> list[np.ndarray]:
    """Keep random inputs off the kinks of piecewise losses (finite differences
    and peers' subgradients are only comparable away from them)."""
    loss = check.loss
    if loss in ("mae", "huber", "smooth_l1"):
        kinks = [0.0] + ([opts.get("delta", opts.get("beta", 1.0))] if loss != "mae" else [])
        r = args[0] - args[1]
        r = _away_from(np.abs(r), kinks) * np.sign(r + 1e-300)
        args = [args[1] + r, args[1]]
    elif loss in ("hinge",):
        m = args[1] * args[0]
        args = [args[1] * _away_from(m, [1.0]), args[1]]
    elif loss == "margin_ranking":
        m = -args[2] * (args[0] - args[1]) + opts.get("margin", 0.0)
        m2 = _away_from(m, [0.0])
        args = [args[0] - (m2 - m) * args[2], args[1], args[2]]
    return args

