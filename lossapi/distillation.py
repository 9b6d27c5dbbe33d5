"""Distillation losses: a student's class distribution against a teacher's.

Both models give unnormalised scores (logits) with the classes on ``axis``
(the last by default; a tuple of axes is reduced together); each loss turns
them into distributions with a softmax, in log space (``log_softmax``), and
sums over the classes. ``reduction="mean"`` averages the per-sample values
over the samples (positions): for ``[batch, seq_len, vocab]`` inputs it
divides by ``batch * seq_len``, never by the number of elements (DeiT's
distillation divided by ``numel``, i.e. by ``vocab`` once more: deit#61).

``where=`` has the logits' shape (a masked class leaves both softmaxes and
every sum; a sample with nothing left contributes 0 and leaves the mean) or
the per-sample shape (whole samples dropped). A ``-inf`` logit (a class the
model excludes, e.g. by a vocabulary mask) counts as the lowest finite score:
probability 0 with zero gradient, never NaN. See the user guide (README,
"Conventions") for reductions and dtypes.

Gradients flow into **both** arguments: these functions never stop the
teacher's gradient. Detach the teacher's logits yourself (``.detach()`` or
``torch.no_grad()`` in PyTorch, ``jax.lax.stop_gradient`` in JAX) when only the
student learns.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from ._core import numerics
from ._core import validate as v
from ._core.loss import loss
from ._core.prepare import Prepared, prepare
from ._core.types import Array, Reduction
from .classification._labels import _masked_logits

__all__ = ["distill_kl", "generalized_jsd", "tvd"]

_DIRECTIONS = ("forward", "reverse")


def _log_probs(a: Prepared, z: Array, temperature: Any) -> Array:
    """``log_softmax(z / temperature)`` over ``a.axis`` and the classes
    ``a.where`` keeps."""
    xp = a.xp
    if not numerics.is_number(temperature, 1.0):
        z = z / temperature
    # Floor at the large finite value that also fills masked classes (after
    # the division: a small T would push the floor to -inf). A -inf logit
    # then has probability 0, and no -inf reaches exp(lp) * (lp - lq), where
    # 0 * inf is NaN, or the gradient (clip's is 0 below the floor).
    z = xp.clip(z, min=-0.25 * xp.finfo(z.dtype).max)
    return a.ops.log_softmax(_masked_logits(a.ops, z, a.where), axis=a.axis)


def _kl(a: Prepared, lp: Array, lq: Array) -> Array:
    """KL(p ‖ q) = ``sum_k p_k (log p_k - log q_k)`` from finite log-probabilities."""
    return a.sum(a.xp.exp(lp) * (lp - lq), axis=a.axis)


def _skip_ignored(a: Prepared, labels: Any, ignore_index: int | None) -> Prepared:
    """``a`` with the positions whose label is ``ignore_index`` left out
    (their value 0, outside the mean's denominator)."""
    if labels is None and ignore_index is None:
        return a
    if labels is None:
        raise v.BadValue("ignore_index needs labels (integer labels, one per position) to say which positions to skip")
    if ignore_index is None:
        raise v.BadValue("labels are only read to skip the positions equal to ignore_index; pass ignore_index "
                         "(e.g. -100) or leave labels out")
    ops = a.ops
    labels = ops.own(labels)
    if ops.kind(labels.dtype) != "i":
        raise v.BadType(f"labels must be an integer array, got dtype {labels.dtype}")
    sample = tuple(n for i, n in enumerate(a.arrays[0].shape) if i != a.axis)
    if tuple(labels.shape) != sample:
        raise v.BadValue(f"labels has shape {tuple(labels.shape)}; it must have the per-position shape {sample} "
                         "(the logits' shape without the class axis)")
    keep = labels != ignore_index
    return a._replace(keep=keep if a.keep is None else a.keep & keep)


@loss
def distill_kl(student_logits: Array, teacher_logits: Array, /, *, temperature: float = 1.0,
               direction: Literal["forward", "reverse"] = "forward", axis: int | tuple[int, ...] = -1,
               where: Array | None = None, ignore_index: int | None = None, labels: Array | None = None,
               reduction: Reduction = "mean") -> Array:
    """Knowledge-distillation KL divergence between temperature-softened softmaxes.

    With ``P_t = softmax(teacher_logits / T)`` and ``P_s = softmax(student_logits / T)``
    over ``axis``, per sample:

    * ``"forward"``: ``T**2 * KL(P_t ‖ P_s) = T**2 * sum_k P_t[k] (log P_t[k] - log P_s[k])``
      (Hinton et al.; mass-covering);
    * ``"reverse"``: ``T**2 * KL(P_s ‖ P_t)`` (mode-seeking, as in MiniLLM).

    The ``T**2`` factor keeps the gradients' scale independent of ``T``
    (Hinton et al.). Both distributions are computed as ``log_softmax``, so
    the value and the gradients stay finite for saturated logits (``±1e4``)
    and no ``0 * log 0`` appears.

    "mean" averages over the samples (positions), torch's ``"batchmean"``:
    forward equals ``T**2 * F.kl_div(F.log_softmax(s / T), F.log_softmax(t / T),
    log_target=True, reduction="batchmean")`` for 2-D inputs. For
    ``[batch, seq_len, vocab]`` token-level distillation it divides by
    ``batch * seq_len``, not by the element count (deit#61's bug).

    ``labels`` with ``ignore_index`` skip positions (prompt or padding tokens
    in language-model distillation, labels -100): a skipped position gives 0
    and leaves the mean's denominator; if every position is skipped the mean
    is 0 with zero gradient (not NaN). Only ``labels == ignore_index`` is read.

    Gradients flow into both arguments; detach the teacher yourself when it
    is fixed (module documentation).

    Args:
      student_logits: floating ``[..., num_classes]`` (classes on ``axis``).
      teacher_logits: same shape as ``student_logits``.
      temperature: ``T > 0``; a Python number or a 0-d array.
      direction: "forward" (KL(teacher ‖ student)) or "reverse".
      axis: the class axis (or a tuple of axes).
      ignore_index: the label value of positions to skip; needs ``labels``.
      labels: integer array of the logits' shape without ``axis``; needs
        ``ignore_index``.
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar, or for "none" one value per position (the logits' shape
      without ``axis``).

    References:
      Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network",
      2015. Gu et al., "MiniLLM: Knowledge Distillation of Large Language
      Models", 2024.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]])
      >>> t = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0]])
      >>> np.round(lossapi.distill_kl(s, t, temperature=2.0, reduction="none"), 4)
      array([0.4185, 0.3563])
      >>> y = np.array([5, -100])
      >>> round(float(lossapi.distill_kl(s, t, temperature=2.0, labels=y, ignore_index=-100)), 4)
      0.4185
    """
    temperature = v.positive("temperature", temperature)
    v.choice("direction", direction, _DIRECTIONS)
    ignore_index = v.integer_or_none("ignore_index", ignore_index)
    v.array_or_none("labels", labels)
    a = prepare(student_logits, teacher_logits, reduction=reduction, where=where, axis=axis, extra=(labels,),
                what="logits")
    a = _skip_ignored(a, labels, ignore_index)
    return a.run(_distill_kl, temperature=temperature, direction=direction)


def _distill_kl(a: Prepared, s: Array, t: Array, *, temperature: Any, direction: str) -> Array:
    ls, lt = _log_probs(a, s, temperature), _log_probs(a, t, temperature)
    kl = _kl(a, lt, ls) if direction == "forward" else _kl(a, ls, lt)
    return kl if numerics.is_number(temperature, 1.0) else (temperature * temperature) * kl


@loss
def generalized_jsd(student_logits: Array, teacher_logits: Array, /, *, beta: float = 0.5,
                    temperature: float = 1.0, axis: int | tuple[int, ...] = -1, where: Array | None = None,
                    reduction: Reduction = "mean") -> Array:
    """Generalized Jensen-Shannon divergence of GKD between student and teacher.

    With ``P_t = softmax(teacher_logits / T)``, ``P_s = softmax(student_logits / T)``
    and the mixture ``M = beta * P_t + (1 - beta) * P_s``, per sample:

    ``beta * KL(P_t ‖ M) + (1 - beta) * KL(P_s ‖ M)``.

    This is TRL's ``GKDTrainer.generalized_jsd_loss`` and Liger Kernel's
    ``jsd`` for ``0 < beta < 1`` (the same formula, ``beta`` weighting the
    teacher). ``beta = 0.5`` is the Jensen-Shannon divergence (at most
    ``log 2``). ``M`` is computed in log space, ``logaddexp(log(beta) + log
    P_t, log(1 - beta) + log P_s)``, so nothing underflows to ``log 0``.

    ``beta`` must lie strictly inside (0, 1): at 0 and 1 the formula is 0
    for every input. TRL and Liger substitute the forward and reverse KL
    there, which are the limits of this loss divided by ``beta`` and by
    ``1 - beta``; use :func:`distill_kl` for them.

    The temperature divides the logits and nothing else: no ``T**2`` factor,
    as in TRL and Liger (multiply by ``T**2`` yourself to follow Hinton's
    scaling).

    "mean" averages over samples (positions), as :func:`distill_kl`.
    Gradients flow into both arguments (module documentation).

    Args:
      student_logits: floating ``[..., num_classes]`` (classes on ``axis``).
      teacher_logits: same shape as ``student_logits``.
      beta: the teacher's weight in the mixture, in (0, 1); a Python number
        or a 0-d array.
      temperature: ``T > 0``; a Python number or a 0-d array.
      axis: the class axis (or a tuple of axes).
      reduction: "mean", "sum" or "none".

    Returns:
      A scalar, or for "none" one value per sample (the logits' shape
      without ``axis``).

    References:
      Agarwal et al., "On-Policy Distillation of Language Models: Learning
      from Self-Generated Mistakes" (GKD), ICLR 2024.

    Example:
      >>> import numpy as np, lossapi
      >>> s = np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]])
      >>> t = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0]])
      >>> np.round(lossapi.generalized_jsd(s, t, beta=0.5, reduction="none"), 4)
      array([0.1012, 0.051 ])
      >>> round(float(lossapi.generalized_jsd(np.array([100.0, 0.0]), np.array([0.0, 100.0]))), 6)
      0.693147
    """
    beta = v.number("beta", beta, low=0.0, high=1.0, low_open=True, high_open=True)
    temperature = v.positive("temperature", temperature)
    a = prepare(student_logits, teacher_logits, reduction=reduction, where=where, axis=axis, what="logits")
    return a.run(_generalized_jsd, beta=beta, temperature=temperature)


def _generalized_jsd(a: Prepared, s: Array, t: Array, *, beta: Any, temperature: Any) -> Array:
    xp = a.xp
    ls, lt = _log_probs(a, s, temperature), _log_probs(a, t, temperature)
    if isinstance(beta, float):
        log_b, log_1mb = math.log(beta), math.log1p(-beta)
    else:  # a 0-d array option
        log_b, log_1mb = xp.log(beta), xp.log1p(-beta)
    # log M without leaving log space: both terms are finite (the floor in
    # _log_probs), so logaddexp's value and gradient are too.
    lm = xp.logaddexp(lt + log_b, ls + log_1mb)
    return beta * _kl(a, lt, lm) + (1.0 - beta) * _kl(a, ls, lm)


@loss
def tvd(p_logits: Array, q_logits: Array, /, *, axis: int | tuple[int, ...] = -1, where: Array | None = None,
        reduction: Reduction = "mean") -> Array:
    """Total variation distance between the softmaxes of two sets of logits.

    ``0.5 * sum_k |softmax(p_logits)[k] - softmax(q_logits)[k]|`` over
    ``axis``: the largest difference in probability the two distributions
    give one event, between 0 (equal) and 1 (disjoint supports). Symmetric
    in its arguments.

    At ``P[k] == Q[k]`` the absolute value has a kink; its subgradient there
    is 0 on every backend, so the gradient at ``p_logits == q_logits`` is 0.

    Args:
      p_logits: floating ``[..., num_classes]`` (classes on ``axis``).
      q_logits: same shape as ``p_logits``.
      axis: the class axis (or a tuple of axes).
      reduction: "mean" (over samples), "sum" or "none".

    Returns:
      A scalar, or for "none" one value per sample (the logits' shape
      without ``axis``).

    References:
      Wen et al., "f-Divergence Minimization for Sequence-Level Knowledge
      Distillation", ACL 2023 (TVD as a distillation objective).

    Example:
      >>> import numpy as np, lossapi
      >>> p = np.array([[0.0, 0.0, -np.inf], [1.0, 2.0, 3.0]])
      >>> q = np.array([[-np.inf, 0.0, 0.0], [1.0, 2.0, 3.0]])
      >>> np.round(lossapi.tvd(p, q, reduction="none"), 6)
      array([0.5, 0. ])
    """
    a = prepare(p_logits, q_logits, reduction=reduction, where=where, axis=axis, what="logits")
    return a.run(_tvd)


def _tvd(a: Prepared, p: Array, q: Array) -> Array:
    xp = a.xp
    diff = xp.exp(_log_probs(a, p, 1.0)) - xp.exp(_log_probs(a, q, 1.0))
    return 0.5 * a.sum(a.ops.abs(diff), axis=a.axis)  # ops.abs: subgradient 0 at P == Q
