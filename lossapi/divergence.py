"""Divergence losses: distances between probability distributions.

Distributions lie along ``axis`` (the last one by default): ``p[..., k]`` is
the probability of outcome ``k``. ``reduction="none"`` returns one value per
distribution (the input shape without ``axis``); "mean" averages those values,
which for 2-D ``[batch, num_classes]`` inputs is torch's ``"batchmean"``.
``axis`` may be a tuple of axes (reduced together). ``where=`` has the
inputs' shape (a masked element counts as probability 0 in both
distributions, i.e. leaves the sum) or the per-distribution shape;
:func:`vae_loss` takes one per sample or one per element of ``x``. See the
user guide (README, "Conventions") for reductions and dtypes.

The order of arguments is the order in the formula: ``kl_divergence(p, q)``
is KL(p ‖ q). **torch's ``kl_div(input, target)`` is the other way round**: it
computes KL(target ‖ input) with ``input`` given as log-probabilities.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

from ._core import numerics
from ._core import validate as v
from ._core.loss import loss
from ._core.prepare import Prepared, prepare
from ._core.types import Array, Reduction

__all__ = [
    "kl_divergence",
    "kl_divergence_log",
    "js_divergence",
    "generalized_kl",
    "gaussian_kl",
    "vae_loss",
]


@loss
def kl_divergence(p: Array, q: Array, /, *, axis: int | tuple[int, ...] = -1,
        where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Kullback-Leibler divergence KL(p ‖ q) between probability vectors.

    ``KL(p ‖ q) = sum_k p_k * (log p_k - log q_k)`` along ``axis``.

    Terms with ``p_k == 0`` are 0 (``0 log 0 = 0``), with finite gradients
    with respect to both arguments (the gradient of ``p log p`` at ``p == 0``
    is taken as 0). Where ``q_k == 0`` but ``p_k > 0`` the divergence is
    truly infinite and the result is ``+inf``: nothing is clipped. To smooth
    ``q``, mix it with the uniform distribution yourself, e.g.
    ``q = (1 - eps) * q + eps / num_classes``, or work in log space with
    :func:`kl_divergence_log`.

    **Argument order.** ``torch.nn.functional.kl_div(input, target)`` computes
    KL(target ‖ input) from ``input = log q``: ``kl_divergence(p, q)`` equals
    ``kl_div(q.log(), p, reduction="batchmean")`` for 2-D inputs.

    Args:
      p: probabilities, floating array ``[..., num_classes]`` (the
        distribution the expectation is taken under, e.g. the target).
      q: probabilities, same shape as ``p`` (e.g. the model).
      axis: the axis holding the distributions.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or for "none" one value per distribution (``p``'s
      shape without ``axis``).

    References:
      Kullback & Leibler, "On Information and Sufficiency", 1951.

    Example:
      >>> import numpy as np, lossapi
      >>> p = np.array([[0.5, 0.5], [1.0, 0.0]])
      >>> q = np.array([[0.25, 0.75], [0.5, 0.5]])
      >>> np.round(lossapi.kl_divergence(p, q, reduction="none"), 4)
      array([0.1438, 0.6931])
    """
    a = prepare(p, q, reduction=reduction, where=where, axis=axis)
    return a.run(_kl_divergence, axis=a.axis)


def _kl_divergence(a: Prepared, p: Array, q: Array, *, axis: int) -> Array:
    return a.xp.sum(_kl_terms(a, p, q), axis=axis)


def _kl_terms(a: Prepared, p: Array, q: Array) -> Array:
    """``p * (log p - log q)`` elementwise, 0 where ``p == 0`` or masked."""
    xp = a.xp
    # log p - log q rather than log(p / q): no division by a zero q, no
    # overflow of p / q. Double where: where p == 0 the logs see 1 (finite
    # gradients, 0 log 0 = 0 even where q == 0). The outer where (the value is
    # already 0 there) lets XLA fuse the whole term into one loop.
    zero = p == 0 if a.where is None else (p == 0) | ~a.where  # a masked element counts as p == 0
    one = xp.ones_like(p)
    return xp.where(zero, xp.zeros_like(p), p * (xp.log(xp.where(zero, one, p)) - xp.log(xp.where(zero, one, q))))


@loss
def kl_divergence_log(log_p: Array, log_q: Array, /, *, axis: int | tuple[int, ...] = -1,
        where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """KL(p ‖ q) from log-probabilities ``log_p`` and ``log_q``.

    ``sum_k exp(log_p_k) * (log_p_k - log_q_k)`` along ``axis``. The
    preferred form when the model outputs ``log_softmax``: no ``log`` of a
    tiny probability is ever taken. Entries with ``log_p == -inf`` (``p == 0``)
    contribute 0 with finite gradients; ``log_q == -inf`` where ``p > 0``
    gives ``+inf``, the true value.

    **Argument order.** This equals
    ``torch.nn.functional.kl_div(log_q, log_p, log_target=True,
    reduction="batchmean")`` for 2-D inputs: torch's first argument is the
    *second* distribution of the divergence.

    Args:
      log_p: log-probabilities, floating array ``[..., num_classes]``.
      log_q: log-probabilities, same shape as ``log_p``.
      axis: the axis holding the distributions.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or for "none" one value per distribution.

    Example:
      >>> import numpy as np, lossapi
      >>> log_p = np.log(np.array([0.5, 0.5]))
      >>> log_q = np.log(np.array([0.25, 0.75]))
      >>> round(float(lossapi.kl_divergence_log(log_p, log_q)), 4)
      0.1438
    """
    a = prepare(log_p, log_q, reduction=reduction, where=where, axis=axis)
    return a.run(_kl_divergence_log, axis=a.axis)


def _kl_divergence_log(a: Prepared, log_p: Array, log_q: Array, *, axis: int) -> Array:
    xp = a.xp
    # Double where: exp(-inf) * (-inf - log_q) would be 0 * inf = NaN, so
    # p == 0 entries see finite stand-ins and are then replaced by 0. A NaN
    # log_p is not == -inf and propagates.
    absent = log_p == -math.inf
    if a.where is not None:  # a masked element counts as p == 0
        absent = absent | ~a.where
    zero = xp.zeros_like(log_p)
    lp = xp.where(absent, zero, log_p)
    lq = xp.where(absent, zero, log_q)
    terms = xp.where(absent, zero, xp.exp(lp) * (lp - lq))
    return xp.sum(terms, axis=axis)


@loss
def js_divergence(p: Array, q: Array, /, *, axis: int | tuple[int, ...] = -1,
        where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Jensen-Shannon divergence between probability vectors.

    ``JS(p, q) = 0.5 KL(p ‖ m) + 0.5 KL(q ‖ m)`` with ``m = (p + q) / 2``,
    along ``axis``. Symmetric, and for probability vectors bounded by
    ``log 2`` (natural log), reached on disjoint supports. Values and
    gradients stay finite there: every ``0 log 0`` term is 0 with a finite
    gradient (``m > 0`` wherever ``p > 0`` or ``q > 0``).

    Args:
      p: probabilities, floating array ``[..., num_classes]``.
      q: probabilities, same shape as ``p``.
      axis: the axis holding the distributions.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or for "none" one value per distribution.

    References:
      Lin, "Divergence Measures Based on the Shannon Entropy", 1991.

    Example:
      >>> import numpy as np, lossapi
      >>> round(float(lossapi.js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0]))), 6)
      0.693147
    """
    a = prepare(p, q, reduction=reduction, where=where, axis=axis)
    return a.run(_js_divergence, axis=a.axis)


def _js_divergence(a: Prepared, p: Array, q: Array, *, axis: int) -> Array:
    ops, xp = a.ops, a.xp
    if a.where is not None:  # masked elements count as p == q == 0
        p = xp.where(a.where, p, xp.zeros_like(p))
        q = xp.where(a.where, q, xp.zeros_like(q))
    m = 0.5 * (p + q)
    # xlogy keeps 0 log 0 = 0 with finite gradients (also where m == 0).
    terms = ops.xlogy(p, p) + ops.xlogy(q, q) - ops.xlogy(p, m) - ops.xlogy(q, m)
    return 0.5 * a.xp.sum(terms, axis=axis)


@loss
def generalized_kl(p: Array, q: Array, /, *, axis: int | tuple[int, ...] = -1,
        where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Generalized KL divergence between non-negative (unnormalised) measures.

    ``sum_k p_k log(p_k / q_k) - p_k + q_k`` along ``axis``: the Bregman
    divergence of ``x log x - x``, non-negative and 0 only at ``p == q``; for
    probability vectors (both summing to 1) it is :func:`kl_divergence`.
    Terms with ``p_k == 0`` are ``q_k`` (``0 log 0 = 0``, finite gradients);
    ``q_k == 0 < p_k`` gives ``+inf``, the true value.

    **optax.** ``generalized_kl(p, q)`` equals
    ``optax.losses.generalized_kl_divergence(log(q), p)`` (formerly
    ``convex_kl_divergence``): optax takes the *prediction* first and in log
    space, the target second as probabilities. Here both are plain measures,
    in the formula's order, as in :func:`kl_divergence`.

    Args:
      p: non-negative values, floating array ``[..., n]`` (e.g. the target).
      q: non-negative values, same shape as ``p`` (e.g. the model).
      axis: the axis (or axes) summed over.
      where: optional mask of the inputs' shape (a masked element leaves the
        sum) or of the per-measure shape.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar array, or for "none" one value per measure (``p``'s shape
      without ``axis``).

    References:
      Boyd & Vandenberghe, "Convex Optimization", 2004 (p. 90). Lee & Seung,
      "Algorithms for Non-negative Matrix Factorization", 2001.

    Example:
      >>> import numpy as np, lossapi
      >>> p, q = np.array([[2.0, 0.0, 1.0]]), np.array([[1.0, 0.5, 1.0]])
      >>> round(float(lossapi.generalized_kl(p, q)), 6)
      0.886294
    """
    a = prepare(p, q, reduction=reduction, where=where, axis=axis)
    return a.run(_generalized_kl, axis=a.axis)


def _generalized_kl(a: Prepared, p: Array, q: Array, *, axis: int) -> Array:
    # kl_divergence's terms plus the mass difference q - p.
    return a.sum(_kl_terms(a, p, q) + (q - p), axis=axis)


def _gaussian_kl_terms(xp: Any, mu: Array, log_var: Array) -> Array:
    # expm1(v) - v rather than exp(v) - v - 1: no cancellation for small v.
    return 0.5 * (mu * mu + (xp.expm1(log_var) - log_var))


@loss
def gaussian_kl(mu: Array, log_var: Array, /, *, axis: int | tuple[int, ...] = -1,
        where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """KL(N(mu, diag(exp(log_var))) ‖ N(0, I)) in closed form, the VAE prior term.

    ``0.5 * sum_j (mu_j**2 + exp(log_var_j) - log_var_j - 1)`` over the latent
    ``axis``. Computed with ``expm1`` so it stays accurate when ``log_var`` is
    near 0.

    Args:
      mu: means, floating array ``[batch, latent_dim]`` (any leading axes).
      log_var: log-variances ``log sigma**2``, same shape as ``mu``.
      axis: the latent axis summed over.
      reduction: "mean" (average over the other axes, i.e. the batch; for
        2-D inputs the guide's ``sum / batch_size``), "sum" or "none" (one
        value per sample).

    Returns:
      A scalar array, or for "none" ``mu``'s shape without ``axis``.

    References:
      Kingma & Welling, "Auto-Encoding Variational Bayes", 2014.

    Example:
      >>> import numpy as np, lossapi
      >>> mu = np.array([[1.0, 0.0]]); log_var = np.array([[0.0, np.log(2.0)]])
      >>> round(float(lossapi.gaussian_kl(mu, log_var)), 4)
      0.6534
    """
    a = prepare(mu, log_var, reduction=reduction, where=where, axis=axis)
    return a.run(_gaussian_kl, axis=a.axis)


def _gaussian_kl(a: Prepared, mu: Array, log_var: Array, *, axis: int) -> Array:
    return a.sum(_gaussian_kl_terms(a.xp, mu, log_var), axis=axis)


class VAELoss(NamedTuple):
    """The three terms returned by :func:`vae_loss`, each reduced alike."""

    total: Any
    reconstruction: Any
    kl: Any


def _per_sample_sum(xp: Any, x: Array) -> Array:
    """Sum over every axis but the first (no sum for 1-D arrays)."""
    if x.ndim <= 1:
        return x
    return xp.sum(x, axis=tuple(range(1, x.ndim)))


@loss
def vae_loss(recon: Array, x: Array, mu: Array, log_var: Array, /, *, beta: float = 1.0,
             reconstruction: Literal["bce", "mse"] = "bce", where: Array | None = None,
             reduction: Reduction = "mean") -> VAELoss:
    """The (beta-)VAE loss: reconstruction plus ``beta`` times the prior KL.

    Per sample (axis 0 is the batch):

    * reconstruction: binary cross-entropy of the probabilities ``recon``
      against ``x`` (``reconstruction="bce"``, logs clamped at -100 as in
      torch), or the squared error (``"mse"``), summed over all non-batch
      elements;
    * kl: :func:`gaussian_kl` of ``(mu, log_var)`` summed over all non-batch
      elements;
    * total: ``reconstruction + beta * kl``.

    ``reduction`` applies to all three alike: "none" gives per-sample values
    of shape ``[batch]``, "sum" their sum over the batch, "mean" their mean,
    i.e. ``sum / batch_size`` as in the guide's ``VAELoss`` (the usual VAE
    convention, not a mean over pixels).

    Args:
      recon: decoder output, floating ``[batch, ...]``; probabilities in
        [0, 1] for "bce" (apply the sigmoid yourself; values outside give NaN).
      x: the inputs, same shape as ``recon``; in [0, 1] for "bce".
      mu: encoder means ``[batch, latent_dim]``.
      log_var: encoder log-variances, same shape as ``mu``.
      beta: non-negative weight of the KL term (beta-VAE).
      reconstruction: "bce" or "mse".
      reduction: "mean", "sum" or "none".

    Returns:
      ``VAELoss(total, reconstruction, kl)``, a NamedTuple of arrays with
      ``recon``'s dtype: scalars, or shape ``[batch]`` for "none".

    References:
      Kingma & Welling, "Auto-Encoding Variational Bayes", 2014.
      Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a
      Constrained Variational Framework", 2017.

    Example:
      >>> import numpy as np, lossapi
      >>> out = lossapi.vae_loss(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]),
      ...                        np.array([[1.0]]), np.array([[0.0]]))
      >>> [round(float(v), 4) for v in out]
      [1.8863, 1.3863, 0.5]
    """
    beta = v.number("beta", beta, low=0.0)
    v.choice("reconstruction", reconstruction, ("bce", "mse"))
    a = prepare(recon, x, mu, log_var, reduction=reduction, same_shape=False)
    recon, x, mu, log_var = a.arrays
    v.same_shape(recon, x, ("recon", "x"))
    v.same_shape(mu, log_var, ("mu", "log_var"))
    if recon.ndim < 1 or mu.ndim < 1 or recon.shape[0] != mu.shape[0]:
        raise v.BadValue(
            f"recon has shape {tuple(recon.shape)} and mu has shape {tuple(mu.shape)}; "
            "both need the same batch size along axis 0"
        )
    a = a.masked(where, tuple(range(1, recon.ndim)))  # per sample ([batch]) or per element of x
    return a.run(_vae_loss, beta=beta, reconstruction=reconstruction)


def _vae_loss(a: Prepared, recon: Array, x: Array, mu: Array, log_var: Array, *, beta: float,
              reconstruction: str) -> VAELoss:
    xp = a.xp
    if reconstruction == "bce":
        # binary_cross_entropy's clamped logs (-100, as torch), with the
        # gradients of the clamped value: finite also where recon is 0, 1 or
        # subnormal. recon outside [0, 1] gives NaN, never a silent finite value.
        rec = numerics.binary_cross_entropy(a.ops, recon, x)
    else:
        r = recon - x
        rec = r * r
    if a.where is not None:
        rec = xp.where(a.where, rec, xp.zeros_like(rec))
    rec = _per_sample_sum(xp, rec)
    kl = _per_sample_sum(xp, _gaussian_kl_terms(xp, mu, log_var))
    return VAELoss(total=rec + beta * kl, reconstruction=rec, kl=kl)
