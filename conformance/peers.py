"""The one table of peer libraries' versions of lossapi's losses.

``bind(lib, loss, **options)`` gives the peer's computation of ``loss`` with
lossapi's options (``reduction`` included) mapped and fixed: a callable taking
the arrays positionally, on that library's arrays (torch tensors for "torch"
and "torchvision", jax arrays for "optax"). It is resolved once: where the
options map directly it is the peer function itself (or a
``functools.partial`` of it), so a benchmark times the peer and nothing else.
An option the peer cannot express raises :class:`Unsupported`. Frameworks are
imported when a peer is bound, so importing this module imports none.

Users: the conformance cross-checks (``CHECKS`` below: lossapi against the
peers on seeded random inputs, values and gradients), ``build_cases.py`` and
the tests' peer checks of the case files (:func:`value_np`), and the benchmark
pairs (``benchmarks/pairs.py``). Adding a peer for a loss: one factory in
``TORCH`` / ``OPTAX`` / ``TORCHVISION``, and a ``PeerCheck``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import inspect
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from . import backends as B


class Unsupported(Exception):
    """The peer has no equivalent of this option combination."""


LIBS = ("torch", "optax", "torchvision")
# Which conformance backends carry each peer library's arrays.
NATIVE = {"torch": ("torch", "torch-cuda"), "torchvision": ("torch", "torch-cuda"), "optax": ("jax", "jax-gpu")}


def available(lib: str) -> str | None:
    """None if ``lib`` can be imported here, else the reason it cannot."""
    if importlib.util.find_spec(lib) is None:
        return f"{lib} is not installed"
    return None


def bind(lib: str, loss: str, /, **options: Any) -> Callable[..., Any]:
    """The peer ``lib``'s ``loss`` with lossapi's ``options`` fixed (see the module doc)."""
    make = ADAPTERS[lib].get(loss)
    if make is None:
        raise Unsupported(f"{lib} has no {loss}")
    return make(**options)


def _partial(fn: Callable[..., Any], **kw: Any) -> Callable[..., Any]:
    """``fn`` with the keywords that differ from its defaults fixed (``fn``
    itself if none do); a keyword ``fn`` does not take is :class:`Unsupported`."""
    params = inspect.signature(fn).parameters
    fixed = {}
    for k, v in kw.items():
        if k not in params:
            raise Unsupported(f"option {k}={v!r}")
        default = params[k].default
        if not (isinstance(v, (bool, int, float, str, type(None))) and type(v) is type(default) and v == default):
            fixed[k] = v
    return functools.partial(fn, **fixed) if fixed else fn


def _no(**opts: Any) -> None:
    """Unsupported unless every option is None or False."""
    for k, v in opts.items():
        if v is not None and v is not False:
            raise Unsupported(f"option {k}={v!r}")


def _reduced(fn: Callable[..., Any], reduction: str, **kw: Any) -> Callable[..., Any]:
    """``fn``'s per-element (or per-sample) values, reduced by ``reduction``."""
    if reduction == "none":
        return functools.partial(fn, **kw) if kw else fn
    if reduction not in ("mean", "sum"):
        raise Unsupported(f"reduction {reduction!r}")
    if reduction == "sum":
        return lambda *a: fn(*a, **kw).sum()
    return lambda *a: fn(*a, **kw).mean()


# =============================================================================
# torch.nn.functional (and torchvision.ops)
# =============================================================================

def _F():
    import torch.nn.functional as F

    return F


def _torch():
    import torch

    return torch


def _direct(name: str) -> Callable[..., Callable[..., Any]]:
    """A torch.nn.functional loss whose options have lossapi's names."""
    def make(**options):
        return _partial(getattr(_F(), name), **options)
    return make


def _classes_to_1(x, axis):
    """Class axis to position 1, torch's layout for (N, C, d1, ...)."""
    a = axis % x.ndim
    return x if x.ndim == 1 or a == 1 else _torch().movedim(x, a, 1)


def _t_cross_entropy(*, axis=-1, weight=None, ignore_index=None, label_smoothing=0.0, reduction="mean"):
    ce = _partial(_F().cross_entropy, weight=weight, ignore_index=-100 if ignore_index is None else ignore_index,
                  label_smoothing=label_smoothing, reduction=reduction)

    def f(logits, target):
        target = _classes_to_1(target, axis) if target.is_floating_point() else target.long()
        return ce(_classes_to_1(logits, axis), target)
    return f


def _t_nll(*, axis=-1, weight=None, ignore_index=None, reduction="mean"):
    nll = _partial(_F().nll_loss, weight=weight, ignore_index=-100 if ignore_index is None else ignore_index,
                   reduction=reduction)
    return lambda log_probs, target: nll(_classes_to_1(log_probs, axis), target.long())


def _t_multiclass_hinge(*, margin=1.0, form="crammer_singer", axis=-1, p=1, weight=None, reduction="mean"):
    if form != "weston_watkins" or axis not in (-1,):
        raise Unsupported("torch multi_margin_loss is the Weston-Watkins sum (divided by C), classes last")
    mm = functools.partial(_F().multi_margin_loss, p=p, margin=margin, weight=weight)

    def f(scores, labels):
        c = scores.shape[-1]
        if reduction != "none" and scores.ndim <= 2:  # torch's own reduction, times C
            return mm(scores, labels.long(), reduction=reduction) * c
        per = mm(scores.reshape(-1, c), labels.reshape(-1).long(), reduction="none")
        return _reduced(lambda: per.reshape(labels.shape) * c, reduction)()
    return f


def _t_multilabel_margin(*, reduction="mean"):
    mm = _F().multilabel_margin_loss
    return lambda scores, target: mm(scores, target.long(), reduction=reduction)


def _t_kl(*, axis=-1, reduction="mean", log=False):
    F, torch = _F(), _torch()
    kl = functools.partial(F.kl_div, log_target=True) if log else F.kl_div

    def f(p, q):
        lq = q if log else torch.log(q)
        if reduction == "mean" and p.ndim == 2 and axis in (-1, 1):
            return kl(lq, p, reduction="batchmean")
        return _reduced(lambda: kl(lq, p, reduction="none").sum(axis), reduction)()
    return f


def _t_distill_kl(*, temperature=1.0, direction="forward", axis=-1, reduction="mean"):
    """The usual KD recipe: ``T**2 * F.kl_div(log_softmax(s / T), log_softmax(t / T), log_target=True)``
    ("forward"; "reverse" swaps the two), "batchmean" for lossapi's "mean" on 2-D inputs."""
    F, T = _F(), temperature

    def f(s, t):
        ls, lt = F.log_softmax(s / T, dim=axis), F.log_softmax(t / T, dim=axis)
        inp, target = (ls, lt) if direction == "forward" else (lt, ls)
        if reduction == "mean" and s.ndim == 2 and axis in (-1, 1):
            return T * T * F.kl_div(inp, target, log_target=True, reduction="batchmean")
        return _reduced(lambda: T * T * F.kl_div(inp, target, log_target=True, reduction="none").sum(axis),
                        reduction)()
    return f


def _t_triplet(*, squared=False, distance=None, **options):
    if squared:
        raise Unsupported("squared distances")
    if distance is None:
        return _partial(_F().triplet_margin_loss, **options)
    # triplet_margin_with_distance_loss: p and eps belong to the p-norm distance it replaces.
    p, eps = options.pop("p", 2.0), options.pop("eps", 1e-6)
    if p != 2.0 or eps != 1e-6:
        raise Unsupported(f"p={p!r}, eps={eps!r} with a distance function")
    return _partial(_F().triplet_margin_with_distance_loss, distance_function=distance, **options)


class Distance(str):
    """A distance for ``triplet(distance=...)`` checks, named so that reports
    can store the option (a ``str``: its name) and callable on the arrays of
    any array-API library (through array-api-compat): ``"l1"`` is
    ``sum |x - y|``, ``"cosine"`` ``1 - cos(x, y)``, along the last axis."""

    def __call__(self, x, y):
        import array_api_compat

        xp = array_api_compat.array_namespace(x, y)
        if self == "l1":
            return xp.sum(xp.abs(x - y), axis=-1)
        if self == "cosine":
            dot, xx, yy = (xp.sum(u * w, axis=-1) for u, w in ((x, y), (x, x), (y, y)))
            return 1.0 - dot / xp.sqrt(xx * yy)
        raise ValueError(f"unknown distance {str(self)!r}")


def _t_cosine_proximity(*, axis=-1, reduction="mean"):
    cos = _F().cosine_similarity
    return _reduced(lambda x1, x2: -cos(x1, x2, dim=axis), reduction)


def _t_hinge(*, reduction="mean"):
    # The guide's own "MarginRankingLoss trick": max(0, -y (s - 0) + 1).
    mr, zeros_like = _F().margin_ranking_loss, _torch().zeros_like
    return lambda scores, target: mr(scores, zeros_like(scores), target, margin=1.0, reduction=reduction)


def _tv_binary_focal(*, gamma=2.0, alpha=None, reduction="mean"):
    from torchvision.ops import sigmoid_focal_loss

    return _partial(sigmoid_focal_loss, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction=reduction)


def _t_ctc(*, blank=0, zero_infinity=False, reduction="mean"):
    # torch takes [T, N, C]; its gradient with respect to log_probs is
    # exp(log_probs) - occupancy (that of the logits under a log_softmax), so
    # the checks below compare values only (tests/test_ctc.py compares
    # gradients with respect to logits).
    ctc = _partial(_F().ctc_loss, blank=blank, zero_infinity=zero_infinity, reduction=reduction)
    return lambda log_probs, labels, input_lengths, label_lengths: ctc(
        log_probs.transpose(0, 1), labels, input_lengths, label_lengths)


def _no_lm_options(z_loss, softcap):
    """Unsupported unless z_loss is 0 and softcap None (no peer has them)."""
    _no(softcap=softcap)
    if not (isinstance(z_loss, float) and z_loss == 0.0):
        raise Unsupported(f"option z_loss={z_loss!r}")


def _t_linear_cross_entropy(*, bias=None, chunk_size=None, ignore_index=None, label_smoothing=0.0, z_loss=0.0,
                            softcap=None, reduction="mean"):
    # F.cross_entropy of the composed logits hidden @ weight.T + bias (all
    # [..., V] of them in memory; chunk_size changes nothing).
    _no_lm_options(z_loss, softcap)
    ce = _t_cross_entropy(ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)

    def f(hidden, weight, labels):
        z = hidden @ weight.T
        return ce(z if bias is None else z + bias, labels)
    return f


TORCH: dict[str, Callable[..., Callable[..., Any]]] = {
    "mse": _direct("mse_loss"),
    "mae": _direct("l1_loss"),
    "huber": _direct("huber_loss"),
    "smooth_l1": _direct("smooth_l1_loss"),
    "poisson_nll": _direct("poisson_nll_loss"),
    "gaussian_nll": _direct("gaussian_nll_loss"),
    "binary_cross_entropy": _direct("binary_cross_entropy"),
    "binary_cross_entropy_with_logits": _direct("binary_cross_entropy_with_logits"),
    "cross_entropy": _t_cross_entropy,
    "nll": _t_nll,
    "hinge": _t_hinge,
    "multiclass_hinge": _t_multiclass_hinge,
    "kl_divergence": _t_kl,
    "kl_divergence_log": functools.partial(_t_kl, log=True),
    "distill_kl": _t_distill_kl,
    "triplet": _t_triplet,
    "hinge_embedding": _direct("hinge_embedding_loss"),
    "multilabel_margin": _t_multilabel_margin,
    "multilabel_soft_margin": _direct("multilabel_soft_margin_loss"),
    "cosine_embedding": _direct("cosine_embedding_loss"),
    "cosine_proximity": _t_cosine_proximity,
    "margin_ranking": _direct("margin_ranking_loss"),
    # log1p(exp(-y s)) as written: inf (and a NaN gradient) once -y s > ~88 in
    # float32, ~709 in float64, where lossapi's softplus form stays finite.
    "soft_margin": _direct("soft_margin_loss"),
    "ctc": _t_ctc,
    "linear_cross_entropy": _t_linear_cross_entropy,
}

def _tv_box(name: str) -> Callable[..., Callable[..., Any]]:
    """A torchvision.ops box IoU loss (boxes (x1, y1, x2, y2) on the last axis)."""
    def make(*, eps=1e-7, reduction="mean"):
        from torchvision import ops

        if name == "complete_box_iou_loss" and not (isinstance(eps, float) and eps == 1e-7):
            # torchvision 0.29 uses eps only in alpha's denominator, 1e-7 in
            # the DIoU part; lossapi uses eps in every denominator.
            raise Unsupported(f"eps={eps!r}: torchvision's complete_box_iou_loss keeps 1e-7 in its DIoU part")
        return _partial(getattr(ops, name), eps=eps, reduction=reduction)
    return make


TORCHVISION: dict[str, Callable[..., Callable[..., Any]]] = {
    "binary_focal": _tv_binary_focal,
    "giou": _tv_box("generalized_box_iou_loss"),
    "diou": _tv_box("distance_box_iou_loss"),
    "ciou": _tv_box("complete_box_iou_loss"),
}


# =============================================================================
# optax (jax arrays); optax losses give per-element or per-sample values
# =============================================================================

def _ox():
    import optax.losses

    return optax.losses


def _jnp():
    import jax.numpy as jnp

    return jnp


def _optax(name: str, **fixed: Any) -> Callable[..., Callable[..., Any]]:
    """An optax loss whose options have lossapi's names, reduced as asked."""
    def make(*, reduction="mean", **options):
        return _reduced(getattr(_ox(), name), reduction, **fixed, **options)
    return make


def _one_hot(labels, c, axis, dtype):
    import jax

    return _jnp().moveaxis(jax.nn.one_hot(labels, c, dtype=dtype), -1, axis)


def _masked(per: Callable[..., Any], reduction: str, where: Any, axis: Any) -> Callable[..., Any]:
    """An optax loss that takes ``where=`` (a mask of the first input's
    shape), reduced with lossapi's semantics: a sample with nothing left is 0
    and leaves the mean, whose denominator counts the samples left (at least 1)."""
    if where is None:
        return _reduced(per, reduction)
    if reduction not in ("mean", "sum", "none"):
        raise Unsupported(f"reduction {reduction!r}")
    jnp = _jnp()

    def f(*a):
        keep = jnp.any(where, axis=axis)
        vals = jnp.where(keep, per(*a, where=where), 0.0)
        if reduction == "none":
            return vals
        if reduction == "sum":
            return vals.sum()
        return vals.sum() / jnp.maximum(keep.sum(), 1).astype(vals.dtype)
    return f


def _o_cross_entropy(*, axis=-1, weight=None, ignore_index=None, label_smoothing=0.0, where=None,
                     reduction="mean"):
    _no(weight=weight)
    if ignore_index is not None:
        raise Unsupported("optax has no ignore_index")
    ox, jnp = _ox(), _jnp()
    e = label_smoothing

    if where is not None and e:
        raise Unsupported("label_smoothing with where: optax smooths over every class")

    def per(logits, target, **w):
        c = logits.shape[axis]
        if jnp.issubdtype(target.dtype, jnp.floating):
            return ox.softmax_cross_entropy(logits, target * (1.0 - e) + e / c if e else target, axis=axis, **w)
        if e:
            return ox.softmax_cross_entropy(logits, ox.smooth_labels(_one_hot(target, c, axis, logits.dtype), e),
                                            axis=axis)
        return ox.softmax_cross_entropy_with_integer_labels(logits, target, axis=axis, **w)
    return _masked(per, reduction, where, axis)


def _o_multiclass_hinge(*, margin=1.0, form="crammer_singer", axis=-1, reduction="mean"):
    if form != "crammer_singer" or margin != 1.0 or axis != -1:
        raise Unsupported("optax multiclass_hinge_loss is Crammer-Singer with margin 1, classes last")
    return _reduced(_ox().multiclass_hinge_loss, reduction)


def _o_bce_logits(*, weight=None, pos_weight=None, reduction="mean"):
    _no(weight=weight, pos_weight=pos_weight)
    return _reduced(_ox().sigmoid_binary_cross_entropy, reduction)


def _o_triplet(*, margin=1.0, p=2.0, eps=1e-6, swap=False, squared=False, distance=None, reduction="mean"):
    _no(swap=swap, squared=squared, distance=distance)
    if eps != 0.0:
        # optax adds eps to the sum of powers, torch to every difference.
        raise Unsupported("eps placement differs from torch's; only eps=0 maps")
    return _reduced(_ox().triplet_margin_loss, reduction, norm_degree=p, margin=margin, eps=0.0)


def _o_poly1(*, epsilon=1.0, axis=-1, weight=None, ignore_index=None, label_smoothing=0.0, where=None,
             reduction="mean"):
    _no(weight=weight, ignore_index=ignore_index)
    if label_smoothing:
        raise Unsupported(f"label_smoothing={label_smoothing!r}")
    ox, jnp = _ox(), _jnp()

    def per(logits, target, **w):  # integer labels, or (one-hot) probabilities as given
        if not jnp.issubdtype(target.dtype, jnp.floating):
            target = _one_hot(target, logits.shape[axis], axis, logits.dtype)
        return ox.poly_loss_cross_entropy(logits, target, epsilon=epsilon, axis=axis, **w)
    return _masked(per, reduction, where, axis)


def _o_kl(*, axis=-1, where=None, reduction="mean"):
    kl, log = _ox().kl_divergence, _jnp().log
    return _masked(lambda p, q, **w: kl(log(q), p, axis=axis, **w), reduction, where, axis)


def _o_kl_log(*, axis=-1, where=None, reduction="mean"):
    kl = _ox().kl_divergence_with_log_targets
    return _masked(lambda lp, lq, **w: kl(lq, lp, axis=axis, **w), reduction, where, axis)


def _o_cosine_proximity(*, axis=-1, where=None, reduction="mean"):
    cos = _ox().cosine_similarity
    return _masked(lambda x1, x2, **w: -cos(x1, x2, axis=axis, **w), reduction, where, axis)


def _o_nt_xent(*, temperature=0.5, reduction="mean"):
    if reduction != "mean":
        raise Unsupported("optax ntxent returns the mean over a single batch")
    ntxent, jnp = _ox().ntxent, _jnp()

    def f(z1, z2):
        if z1.ndim != 2:
            raise Unsupported("optax ntxent takes one [N, D] batch")
        n = z1.shape[0]
        labels = jnp.concatenate([jnp.arange(n), jnp.arange(n)])
        return ntxent(jnp.concatenate([z1, z2], axis=0), labels, temperature=temperature)
    return f


def _o_listnet(*, axis=-1, reduction="mean"):
    """Relevance >= 0 only (no padding): optax takes the labels as the target
    distribution, softmax(relevance) here."""
    jnp = _jnp()
    import jax

    loss, softmax = _ox().ranking_softmax_loss, jax.nn.softmax
    reduce_fn = {"mean": jnp.mean, "sum": jnp.sum, "none": None}[reduction]

    def f(scores, relevance):
        if axis not in (-1, scores.ndim - 1):
            scores, relevance = jnp.moveaxis(scores, axis, -1), jnp.moveaxis(relevance, axis, -1)
        return loss(scores, softmax(relevance, axis=-1), reduce_fn=reduce_fn)
    return f


def _o_ranking_softmax(*, axis=-1, reduction="mean"):
    """Relevance >= 0 only (no padding): optax 0.2.8 takes the labels as given,
    lossapi normalises them by their sum (an all-zero list is 0 on both)."""
    jnp = _jnp()
    loss = _ox().ranking_softmax_loss
    reduce_fn = {"mean": jnp.mean, "sum": jnp.sum, "none": None}[reduction]

    def f(scores, relevance):
        if axis not in (-1, scores.ndim - 1):
            scores, relevance = jnp.moveaxis(scores, axis, -1), jnp.moveaxis(relevance, axis, -1)
        total = jnp.sum(relevance, axis=-1, keepdims=True)
        return loss(scores, relevance / jnp.where(total > 0, total, 1), reduce_fn=reduce_fn)
    return f


def _logit(p):
    jnp = _jnp()
    return jnp.log(p) - jnp.log1p(-p)


def _o_overlap(smooth, axis, alpha, beta, gamma, reduction):
    """optax's (binary) dice/Tversky over the last axis of logits; the class
    axis it wants is added, probabilities are turned back into logits."""
    dice = _ox().dice_loss

    def per(probs, target):
        if axis is None:
            probs, target = probs.reshape(1, -1), target.reshape(1, -1)
        elif axis not in (-1, probs.ndim - 1):
            raise Unsupported(f"axis={axis!r}")
        v = dice(_logit(probs)[..., None], target[..., None], smooth=smooth, alpha=alpha, beta=beta)
        v = v ** gamma if gamma != 1.0 else v
        return v[0] if axis is None else v
    return _reduced(per, reduction)


def _o_dice(*, smooth=1e-6, axis=None, reduction="mean"):
    # lossapi: (2I + s) / (P + T + s); optax: (I + s') / (I + (P-I)/2 + (T-I)/2 + s') -> s' = s / 2.
    return _o_overlap(smooth / 2.0, axis, 0.5, 0.5, 1.0, reduction)


def _o_jaccard(*, smooth=1e-6, axis=None, reduction="mean"):
    # Jaccard = Tversky with alpha = beta = 1.
    return _o_overlap(smooth, axis, 1.0, 1.0, 1.0, reduction)


def _o_tversky(*, alpha=0.5, beta=0.5, gamma=1.0, smooth=1e-6, axis=None, reduction="mean"):
    return _o_overlap(smooth, axis, alpha, beta, gamma, reduction)


def _o_ctc(*, blank=0, zero_infinity=False, reduction="mean"):
    """optax's ctc_loss on log-probabilities (its log_softmax leaves them as
    they are) with paddings from the lengths; torch's "mean" (each loss over
    its label length, at least 1). Feasible samples only: optax gives an
    impossible one a large finite loss (about 1e5 per missing frame)."""
    if zero_infinity:
        raise Unsupported("zero_infinity: optax has no infinite losses to zero")
    ox, jnp = _ox(), _jnp()

    def per(log_probs, labels, input_lengths, label_lengths):
        t, s = log_probs.shape[1], labels.shape[1]
        frame_pad = (jnp.arange(t)[None, :] >= input_lengths[:, None]).astype(log_probs.dtype)
        label_pad = (jnp.arange(s)[None, :] >= label_lengths[:, None]).astype(log_probs.dtype)
        return ox.ctc_loss(log_probs, frame_pad, labels, label_pad, blank_id=blank)

    if reduction == "mean":
        return lambda lp, lab, il, ll: jnp.mean(per(lp, lab, il, ll) / jnp.maximum(ll, 1).astype(lp.dtype))
    return _reduced(per, reduction)


def _o_linear_cross_entropy(*, bias=None, chunk_size=None, ignore_index=None, label_smoothing=0.0, z_loss=0.0,
                            softcap=None, where=None, reduction="mean"):
    # optax's cross-entropy of the composed logits hidden @ weight.T + bias
    # (softmax_cross_entropy_with_integer_labels; with smoothing, of
    # smooth_labels); chunk_size changes nothing. where= masks tokens here,
    # classes in _o_cross_entropy.
    _no_lm_options(z_loss, softcap)
    _no(where=where)
    ce = _o_cross_entropy(ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction)

    def f(hidden, weight, labels):
        z = hidden @ weight.T
        return ce(z if bias is None else z + bias, labels)
    return f


def _o_multiclass_sparsemax(*, reduction="mean"):
    # optax 0.2.8's simplex projection returns float64 for float32 scores
    # under jax_enable_x64, and its custom JVP then fails on the dtype
    # mismatch: there the peer computes in float64 and casts back.
    import jax

    loss, jnp = _ox().multiclass_sparsemax_loss, _jnp()

    def per(z, y):
        if jax.config.read("jax_enable_x64") and z.dtype == jnp.float32:
            return loss(z.astype(jnp.float64), y).astype(z.dtype)
        return loss(z, y)
    return _reduced(per, reduction)


def _o_generalized_kl(*, axis=-1, where=None, reduction="mean"):
    # optax: the prediction first, in log space; lossapi: generalized_kl(p, q), p the target
    gkl, log = _ox().generalized_kl_divergence, _jnp().log
    return _masked(lambda p, q, **w: gkl(log(q), p, axis=axis, **w), reduction, where, axis)


OPTAX: dict[str, Callable[..., Callable[..., Any]]] = {
    "mse": _optax("squared_error"),
    "huber": _optax("huber_loss"),
    "log_cosh": _optax("log_cosh"),
    "hinge": _optax("hinge_loss"),
    "multiclass_hinge": _o_multiclass_hinge,
    "binary_cross_entropy_with_logits": _o_bce_logits,
    "cross_entropy": _o_cross_entropy,
    "binary_focal": _optax("sigmoid_focal_loss"),
    "poly1": _o_poly1,
    "kl_divergence": _o_kl,
    "kl_divergence_log": _o_kl_log,
    "cosine_proximity": _o_cosine_proximity,
    "triplet": _o_triplet,
    "nt_xent": _o_nt_xent,
    "dice": _o_dice,
    "jaccard": _o_jaccard,
    "tversky": _o_tversky,
    "listnet": _o_listnet,
    "ranking_softmax": _o_ranking_softmax,
    "ctc": _o_ctc,
    "linear_cross_entropy": _o_linear_cross_entropy,
    "sparsemax_loss": _optax("sparsemax_loss"),
    "perceptron": _optax("perceptron_loss"),
    "multiclass_sparsemax": _o_multiclass_sparsemax,  # classes last
    "multiclass_perceptron": _optax("multiclass_perceptron_loss"),  # classes last
    "generalized_kl": _o_generalized_kl,
}

ADAPTERS: dict[str, dict[str, Callable[..., Callable[..., Any]]]] = {
    "torch": TORCH, "optax": OPTAX, "torchvision": TORCHVISION}


# =============================================================================
# Running a peer on NumPy float64 inputs (the case files' cross-checks)
# =============================================================================

def value_np(lib: str, loss: str, args: list[np.ndarray], options: dict, reduction: str) -> np.ndarray:
    """The peer's float64 value of ``loss`` on NumPy inputs (options may hold arrays)."""
    be = B.ready(NATIVE[lib][0])
    opts = {k: (be.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in options.items()}
    out = bind(lib, loss, **opts, reduction=reduction)(*[be.asarray(a) for a in args])
    return np.asarray(be.to_numpy(out), dtype=np.float64)


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
    if kind == "mask":  # ("mask", shape): a where= mask, about 70% True, one row entirely False
        m = rng.random(spec[1]) < 0.7
        m[0] = False
        return m
    if kind == "ctc_labels":  # ("ctc_labels", (N, S), C): classes 1..C-1 (0 is the blank)
        return rng.integers(1, spec[2], size=spec[1]).astype(np.int64)
    if kind == "lengths":  # ("lengths", (N,), lo, hi): integers in [lo, hi]
        return rng.integers(spec[2], spec[3] + 1, size=spec[1]).astype(np.int64)
    if kind == "boxes":  # ("boxes", shape): valid (x1, y1, x2, y2) boxes of shape (*shape, 4)
        xy = rng.uniform(0.0, 6.0, size=(*spec[1], 2))
        return np.concatenate([xy, xy + rng.uniform(0.5, 4.0, size=(*spec[1], 2))], axis=-1)
    if kind == "group_labels":  # ("group_labels", n)
        return np.arange(spec[1]).astype(np.int64) % 3
    if kind == "label_lists":  # ("label_lists", (N, C)): distinct classes per row, padded with -1 (some empty)
        n, c = spec[1]
        out = np.full((n, c), -1, dtype=np.int64)
        for i in range(n):
            k = int(rng.integers(0, c + 1)) if i else 0
            out[i, :k] = rng.permutation(c)[:k]
        return out
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
    # where= masks (optax's semantics: masked logits leave the log-softmax; a
    # sample with nothing left is 0 and leaves the mean)
    PeerCheck("ce-labels-where", "cross_entropy", [("logits", _normal((N, C), 2)), ("target", ("labels", (N,), C))],
              libs=("optax",), option_arrays={"where": ("mask", (N, C))}),
    PeerCheck("ce-probs-where", "cross_entropy", [("logits", _normal((N, C), 2)), ("target", ("probs", (N, C)))],
              libs=("optax",), option_arrays={"where": ("mask", (N, C))}, grad=(0, 1)),
    PeerCheck("poly1-where", "poly1", [("logits", _normal((N, C), 2)), ("target", ("probs", (N, C)))],
              {"epsilon": 1.0}, libs=("optax",), option_arrays={"where": ("mask", (N, C))}),
    PeerCheck("kl-where", "kl_divergence", [("p", ("probs", (4, 5))), ("q", ("probs", (4, 5)))], libs=("optax",),
              grad=(0, 1), option_arrays={"where": ("mask", (4, 5))}),
    PeerCheck("kl-log-where", "kl_divergence_log", [("log_p", ("log_probs", (4, 5))), ("log_q", ("log_probs", (4, 5)))],
              libs=("optax",), grad=(0, 1), option_arrays={"where": ("mask", (4, 5))}),
    PeerCheck("cosine_proximity-where", "cosine_proximity", [("x1", _normal((6, 4))), ("x2", _normal((6, 4)))],
              libs=("optax",), grad=(0, 1), option_arrays={"where": ("mask", (6, 4))}),
    PeerCheck("nll", "nll", [("log_probs", ("log_probs", (N, C))), ("target", ("labels", (N,), C))]),
    PeerCheck("nll-weight-ignore", "nll", [("log_probs", ("log_probs", (N, C))), ("target", ("labels_ignore", (N,), C, 1))],
              {"ignore_index": 1}, option_arrays={"weight": ("positive", (C,))}),
    PeerCheck("hinge", "hinge", [("scores", _normal((8,), 1.5)), ("target", ("pm1", (8,)))], libs=("optax", "torch")),
    PeerCheck("soft_margin", "soft_margin", [("scores", _normal((4, 5), 2)), ("target", ("pm1", (4, 5)))]),
    PeerCheck("multiclass_hinge-ww", "multiclass_hinge", [("scores", _normal((N, C))), ("labels", ("labels", (N,), C))],
              {"form": "weston_watkins", "margin": 1.0}),
    PeerCheck("multiclass_hinge-ww-m0.5", "multiclass_hinge",
              [("scores", _normal((N, C))), ("labels", ("labels", (N,), C))], {"form": "weston_watkins", "margin": 0.5}),
    PeerCheck("multiclass_hinge-cs", "multiclass_hinge", [("scores", _normal((N, C))), ("labels", ("labels", (N,), C))],
              {"form": "crammer_singer", "margin": 1.0}, libs=("optax",)),
    PeerCheck("multiclass_hinge-ww-p2-weight", "multiclass_hinge",
              [("scores", _normal((N, C))), ("labels", ("labels", (N,), C))], {"form": "weston_watkins", "p": 2},
              option_arrays={"weight": ("positive", (C,))}),
    PeerCheck("multiclass_hinge-ww-m0.5-weight", "multiclass_hinge",
              [("scores", _normal((N, C))), ("labels", ("labels", (N,), C))], {"form": "weston_watkins", "margin": 0.5},
              option_arrays={"weight": ("positive", (C,))}),
    PeerCheck("multilabel_margin", "multilabel_margin", [("scores", _normal((N, C))), ("target", ("label_lists", (N, C)))]),
    PeerCheck("multilabel_soft_margin", "multilabel_soft_margin",
              [("logits", _normal((N, C), 2)), ("target", ("binary", (N, C)))]),
    PeerCheck("multilabel_soft_margin-weight-soft", "multilabel_soft_margin",
              [("logits", _normal((N, C), 2)), ("target", ("uniform", (N, C), 0.0, 1.0))],
              option_arrays={"weight": ("positive", (C,))}),
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
    # --- distillation (torch: T**2 * F.kl_div on log-softmaxes, log_target=True)
    PeerCheck("distill_kl-T2", "distill_kl", [("student_logits", _normal((N, C), 2)),
                                             ("teacher_logits", _normal((N, C), 2))],
              {"temperature": 2.0}, grad=(0, 1)),
    PeerCheck("distill_kl-reverse-T0.5-tokens", "distill_kl",
              [("student_logits", _normal((2, 3, C), 2)), ("teacher_logits", _normal((2, 3, C), 2))],
              {"direction": "reverse", "temperature": 0.5}, grad=(0, 1)),
    # --- embeddings
    PeerCheck("triplet", "triplet", [("a", _normal((5, 4))), ("p", _normal((5, 4))), ("n", _normal((5, 4)))],
              {"margin": 1.0}, grad=(0, 1, 2)),
    PeerCheck("triplet-swap-p1", "triplet", [("a", _normal((5, 4))), ("p", _normal((5, 4))), ("n", _normal((5, 4)))],
              {"margin": 0.5, "p": 1.0, "swap": True}, grad=(0, 1, 2)),
    PeerCheck("triplet-eps0", "triplet", [("a", _normal((5, 4))), ("p", _normal((5, 4))), ("n", _normal((5, 4)))],
              {"margin": 2.0, "eps": 0.0}, libs=("torch", "optax"), grad=(0, 1, 2)),
    PeerCheck("triplet-distance-l1", "triplet", [("a", _normal((5, 4))), ("p", _normal((5, 4))), ("n", _normal((5, 4)))],
              {"margin": 1.0, "distance": Distance("l1")}, grad=(0, 1, 2)),
    PeerCheck("triplet-distance-cosine-swap", "triplet",
              [("a", _normal((5, 4))), ("p", _normal((5, 4))), ("n", _normal((5, 4)))],
              {"margin": 0.5, "swap": True, "distance": Distance("cosine")}, grad=(0, 1, 2)),
    PeerCheck("hinge_embedding", "hinge_embedding", [("x", _normal((6, 5))), ("target", ("pm1", (6, 5)))],
              {"margin": 1.0}),
    PeerCheck("hinge_embedding-m0.5-other-targets", "hinge_embedding",
              [("x", _normal((6, 5))), ("target", ("labels", (6, 5), 3))], {"margin": 0.5},
              note="integer targets 0, 1, 2: torch adds both terms for targets other than +-1"),
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
    # --- detection (independent random boxes: some pairs overlap, some do not)
    PeerCheck("giou", "giou", [("boxes1", ("boxes", (8,))), ("boxes2", ("boxes", (8,)))], libs=("torchvision",),
              grad=(0, 1)),
    PeerCheck("giou-eps-lead", "giou", [("boxes1", ("boxes", (2, 4))), ("boxes2", ("boxes", (2, 4)))],
              {"eps": 1e-3}, libs=("torchvision",), grad=(0, 1)),
    PeerCheck("diou", "diou", [("boxes1", ("boxes", (8,))), ("boxes2", ("boxes", (8,)))], libs=("torchvision",),
              grad=(0, 1)),
    PeerCheck("diou-eps-lead", "diou", [("boxes1", ("boxes", (2, 4))), ("boxes2", ("boxes", (2, 4)))],
              {"eps": 1e-3}, libs=("torchvision",), grad=(0, 1)),
    PeerCheck("ciou", "ciou", [("boxes1", ("boxes", (8,))), ("boxes2", ("boxes", (8,)))], libs=("torchvision",),
              grad=(0, 1), note="torchvision computes alpha under no_grad; lossapi holds it constant too"),
    # --- ranking
    PeerCheck("margin_ranking", "margin_ranking", [("s1", _normal((8,))), ("s2", _normal((8,))), ("y", ("pm1", (8,)))],
              {"margin": 0.2}, grad=(0, 1)),
    PeerCheck("listnet", "listnet", [("scores", _normal((4, 6))), ("relevance", ("uniform", (4, 6), 0.0, 3.0))],
              libs=("optax",)),
    PeerCheck("ranking_softmax", "ranking_softmax",
              [("scores", _normal((4, 6))), ("relevance", ("uniform", (4, 6), 0.0, 3.0))], libs=("optax",)),
    PeerCheck("ranking_softmax-axis0", "ranking_softmax",
              [("scores", _normal((6, 3))), ("relevance", ("uniform", (6, 3), 0.0, 3.0))], {"axis": 0},
              libs=("optax",)),
    # --- sequence (values only: see _t_ctc; T >= 2S + 1, so every sample is feasible)
    PeerCheck("ctc", "ctc", [("log_probs", ("log_probs", (4, 12, 5))), ("labels", ("ctc_labels", (4, 5), 5)),
                             ("input_lengths", ("lengths", (4,), 11, 12)), ("label_lengths", ("lengths", (4,), 0, 5))],
              libs=("torch", "optax"), grad=(), note="gradients differ by exp(log_probs): see _t_ctc"),
    # few frames for the labels: impossible samples zeroed (the seed draws some, and some feasible ones)
    PeerCheck("ctc-zero_infinity", "ctc",
              [("log_probs", ("log_probs", (6, 5, 4))), ("labels", ("ctc_labels", (6, 3), 4)),
               ("input_lengths", ("lengths", (6,), 0, 5)), ("label_lengths", ("lengths", (6,), 0, 3))],
              {"zero_infinity": True}, grad=(), note="gradients differ by exp(log_probs): see _t_ctc"),
    # --- language models (the peers: cross-entropy of the composed logits hidden @ weight.T + bias)
    PeerCheck("linear_cross_entropy", "linear_cross_entropy",
              [("hidden", _normal((N, 4))), ("weight", _normal((7, 4), 0.6)), ("labels", ("labels", (N,), 7))],
              {"chunk_size": 3}, libs=("torch", "optax"), grad=(0, 1)),
    PeerCheck("linear_cross_entropy-bias-ls-tokens", "linear_cross_entropy",
              [("hidden", _normal((2, 3, 4))), ("weight", _normal((7, 4), 0.6)), ("labels", ("labels", (2, 3), 7))],
              {"chunk_size": 2, "label_smoothing": 0.1}, libs=("torch", "optax"), grad=(0, 1),
              option_arrays={"bias": _normal((7,), 0.5)}),
    PeerCheck("linear_cross_entropy-ignore-ls", "linear_cross_entropy",
              [("hidden", _normal((N, 4))), ("weight", _normal((7, 4), 0.6)),
               ("labels", ("labels_ignore", (N,), 7, -100))],
              {"chunk_size": 4, "ignore_index": -100, "label_smoothing": 0.2}, grad=(0, 1)),
    # --- optax's remaining losses (issue 14)
    PeerCheck("sparsemax_loss", "sparsemax_loss", [("logits", _normal((4, 5), 1.5)), ("target", ("binary", (4, 5)))],
              libs=("optax",)),
    PeerCheck("perceptron", "perceptron", [("scores", _normal((4, 5), 1.5)), ("target", ("pm1", (4, 5)))],
              libs=("optax",)),
    PeerCheck("multiclass_sparsemax", "multiclass_sparsemax",
              [("logits", _normal((N, C), 0.8)), ("labels", ("labels", (N,), C))], libs=("optax",)),
    PeerCheck("multiclass_perceptron", "multiclass_perceptron",
              [("scores", _normal((N, C))), ("labels", ("labels", (N,), C))], libs=("optax",)),
    PeerCheck("generalized_kl", "generalized_kl", [("p", ("positive", (4, 5))), ("q", ("positive", (4, 5)))],
              libs=("optax",), grad=(0, 1)),
    PeerCheck("generalized_kl-where", "generalized_kl", [("p", ("positive", (4, 5))), ("q", ("positive", (4, 5)))],
              libs=("optax",), grad=(0, 1), option_arrays={"where": ("mask", (4, 5))}),
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

