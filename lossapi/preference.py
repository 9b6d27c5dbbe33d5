"""Preference-optimisation losses: train a policy on pairs of responses, one
chosen and one rejected, from the responses' log-probabilities.

The losses take **per-sequence log-probabilities**, one value per response,
as :func:`sequence_log_probs` computes them from a model's logits: the sum of
the response's token log-probabilities (:func:`dpo`) or their average over
the response's tokens (:func:`simpo`, :func:`orpo`, which length-normalise).
All arrays of one call have the same shape (any shape; usually ``[batch]``)
and pair up element by element. ``where=`` is a boolean mask that broadcasts
to that shape: a masked pair gives 0 and leaves the mean. See the user guide
(README, "Conventions") for reductions and dtypes.

The losses are the preference terms alone. ORPO and SimPO are often trained
with an added supervised term (the chosen response's negative log-likelihood,
:func:`lossapi.cross_entropy`); add it yourself.

Reference log-probabilities (:func:`dpo`) are used as given: compute them
without gradients (``torch.no_grad()``, ``jax.lax.stop_gradient``) as the
reference model is frozen.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from ._core import numerics
from ._core import validate as v
from ._core.loss import loss
from ._core.prepare import Prepared, classes, masks, prepare
from ._core.types import Array, Reduction
from .classification._labels import _gather, _Labels

__all__ = ["dpo", "simpo", "orpo", "sequence_log_probs"]

_DPO_FORMS = ("sigmoid", "hinge", "ipo", "robust")


@loss
def dpo(policy_chosen: Array, policy_rejected: Array, reference_chosen: Array, reference_rejected: Array, /, *,
        beta: float = 0.1, form: Literal["sigmoid", "hinge", "ipo", "robust"] = "sigmoid",
        label_smoothing: float = 0.0, where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Direct preference optimisation (DPO) and its hinge, IPO and robust forms.

    With the implicit reward margin ``h = (policy_chosen - reference_chosen) -
    (policy_rejected - reference_rejected)`` and ``ls = label_smoothing``:

    * ``"sigmoid"`` (DPO; with ``ls > 0`` conservative DPO, cDPO):
      ``-(1 - ls) * log_sigmoid(beta * h) - ls * log_sigmoid(-beta * h)``;
    * ``"hinge"`` (RSO): ``max(0, 1 - beta * h)``, subgradient 0 at the kink;
    * ``"ipo"``: ``(h - 1 / (2 * beta))**2``, ``beta`` being IPO's tau;
    * ``"robust"`` (rDPO): ``((1 - ls) * -log_sigmoid(beta * h) + ls *
      log_sigmoid(-beta * h)) / (1 - 2 * ls)``, unbiased under a label-flip
      rate ``ls`` (it can be negative).

    These are TRL's ``DPOTrainer`` formulas (``loss_type`` = ``form``).
    ``label_smoothing`` is the assumed probability that a pair's labels are
    flipped: in ``[0, 0.5]`` for "sigmoid" (TRL's documented range) and
    ``[0, 0.5)`` for "robust" (the division by ``1 - 2 * ls``). "hinge" and
    "ipo" have no label-noise term: TRL ignores ``label_smoothing`` there with
    a warning, lossapi raises ``ValueError`` unless it is 0. The log-sigmoids
    are computed stably (never the log of a sigmoid): finite for any margin.

    Args:
      policy_chosen: the policy's log-probabilities of the chosen responses
        (summed over their tokens, :func:`sequence_log_probs`), floating,
        any shape (usually ``[batch]``).
      policy_rejected: the policy's log-probabilities of the rejected
        responses, same shape.
      reference_chosen: the frozen reference model's log-probabilities of
        the chosen responses, same shape.
      reference_rejected: the reference model's log-probabilities of the
        rejected responses, same shape.
      beta: the KL-penalty strength (IPO's tau for "ipo"), > 0.
      form: "sigmoid", "hinge", "ipo" or "robust".
      label_smoothing: the label-flip rate of "sigmoid" and "robust" (above).
      where: optional boolean mask broadcasting to the inputs' shape; a
        masked pair gives 0 and leaves the mean.
      reduction: "mean", "sum" or "none" (one value per pair).

    Returns:
      A scalar, or for "none" the inputs' shape.

    References:
      Rafailov et al., "Direct Preference Optimization: Your Language Model is
      Secretly a Reward Model", 2023. Azar et al., "A General Theoretical
      Paradigm to Understand Learning from Human Preferences" (IPO), 2023.
      Liu et al., "Statistical Rejection Sampling Improves Preference
      Optimization" (RSO), 2023. Chowdhury et al., "Provably Robust DPO", 2024.
      Mitchell, "A note on DPO with noisy preferences" (cDPO), 2023.

    Example:
      >>> import numpy as np, lossapi
      >>> pc, pr = np.array([-10.0, -12.0]), np.array([-14.0, -11.0])
      >>> rc, rr = np.array([-11.0, -12.0]), np.array([-13.0, -12.0])
      >>> np.round(lossapi.dpo(pc, pr, rc, rr, beta=0.5, reduction="none"), 4)
      array([0.3133, 0.9741])
      >>> round(float(lossapi.dpo(pc, pr, rc, rr, form="ipo")), 4)
      22.5
    """
    beta = v.positive("beta", beta)
    v.choice("form", form, _DPO_FORMS)
    label_smoothing = v.number("label_smoothing", label_smoothing, low=0.0, high=0.5, high_open=form == "robust")
    if form in ("hinge", "ipo") and (v.is_array(label_smoothing) or label_smoothing != 0.0):
        raise v.BadValue(f"label_smoothing applies to the 'sigmoid' and 'robust' forms only; form={form!r} has no "
                         f"label-noise term and takes 0, got {label_smoothing!r}")
    a = prepare(policy_chosen, policy_rejected, reference_chosen, reference_rejected, reduction=reduction,
                where=where)
    return a.run(_dpo, beta=beta, form=form, label_smoothing=label_smoothing)


def _dpo(a: Prepared, pc: Array, pr: Array, rc: Array, rr: Array, *, beta: Any, form: str,
         label_smoothing: Any) -> Array:
    ops = a.ops
    h = (pc - rc) - (pr - rr)
    if form == "ipo":
        d = h - 1.0 / (2.0 * beta)
        return d * d
    z = beta * h
    if form == "hinge":
        return numerics.hinge(ops, 1.0 - z, at_kink="zero")  # torch.relu's subgradient, as TRL
    # log_sigmoid as one primitive, never the log of a sigmoid that underflows
    # (torch's softplus, unlike its logsigmoid, is off by e^-x above x = 20).
    nll = -ops.log_sigmoid(z)
    if numerics.is_number(label_smoothing, 0.0):
        return nll
    ls = label_smoothing
    flipped = -ops.log_sigmoid(-z)  # the loss if the labels were swapped
    if form == "sigmoid":
        return (1.0 - ls) * nll + ls * flipped
    return ((1.0 - ls) * nll - ls * flipped) / (1.0 - 2.0 * ls)


@loss
def simpo(chosen: Array, rejected: Array, /, *, beta: float = 2.0, gamma: float = 0.5,
          where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Simple preference optimisation (SimPO): DPO without a reference model,
    on length-normalised log-probabilities, with a target reward margin.

    ``-log_sigmoid(beta * (chosen - rejected) - gamma)``.

    ``gamma`` is the margin itself, subtracted after the scaling by ``beta``
    (the paper's ``gamma``; Liger's ``gamma``). TRL's ``CPOTrainer``
    (``loss_type="simpo"``) writes ``beta * (chosen - rejected - gamma /
    beta)``, the same value for the same ``simpo_gamma``; the SimPO authors'
    trainer takes the ratio ``gamma_beta_ratio = gamma / beta`` instead.

    Args:
      chosen: the policy's average per-token log-probabilities of the chosen
        responses (``sequence_log_probs(..., average=True)``), floating, any
        shape (usually ``[batch]``).
      rejected: the same for the rejected responses, same shape.
      beta: the reward scale, > 0 (the paper uses 2.0 to 10.0).
      gamma: the target reward margin, >= 0.
      where: optional boolean mask broadcasting to the inputs' shape; a
        masked pair gives 0 and leaves the mean.
      reduction: "mean", "sum" or "none" (one value per pair).

    Returns:
      A scalar, or for "none" the inputs' shape.

    References:
      Meng, Xia & Chen, "SimPO: Simple Preference Optimization with a
      Reference-Free Reward", 2024.

    Example:
      >>> import numpy as np, lossapi
      >>> chosen, rejected = np.array([-0.8, -1.5]), np.array([-1.2, -1.0])
      >>> np.round(lossapi.simpo(chosen, rejected, reduction="none"), 4)
      array([0.5544, 1.7014])
    """
    beta = v.positive("beta", beta)
    gamma = v.number("gamma", gamma, low=0.0)
    a = prepare(chosen, rejected, reduction=reduction, where=where)
    return a.run(_simpo, beta=beta, gamma=gamma)


def _simpo(a: Prepared, chosen: Array, rejected: Array, *, beta: Any, gamma: Any) -> Array:
    return -a.ops.log_sigmoid(beta * (chosen - rejected) - gamma)


@loss
def orpo(chosen: Array, rejected: Array, /, *, beta: float = 0.1, where: Array | None = None,
         reduction: Reduction = "mean") -> Array:
    """The odds-ratio term of ORPO (monolithic preference optimisation without
    a reference model).

    ``-beta * log_sigmoid(log_odds)`` with ``log_odds = log(odds(chosen) /
    odds(rejected))``, where for an average per-token log-probability ``x``
    the odds are ``p / (1 - p)`` with ``p = exp(x)``, so ``log odds(x) = x -
    log(1 - exp(x))``. This is TRL's ``ORPOTrainer`` term (its loss is the
    chosen responses' NLL minus ``beta`` times the mean log-sigmoid); add the
    NLL yourself.

    Numerics. ``log(1 - exp(x))`` is computed as ``log(-expm1(x))`` above
    ``-log 2`` and ``log1p(-exp(x))`` below (Mächler), so values and gradients
    stay finite and accurate as ``x`` approaches 0 (a confident model's
    log-probability: at ``x = -1e-7`` the odds are 1e7). A log-probability
    too close to 0 for that, within twice the smallest normal number of the
    compute dtype (0 included, which float32 log-softmaxes often give), is
    raised to ``-2 * smallest_normal``: the loss is that of the raised value
    and its gradient with respect to that input is 0, as for a clamp. A
    positive log-probability is no probability: ``ValueError`` where the
    values can be read (NumPy, array-api-strict, torch on the CPU outside
    ``torch.compile``), NaN elsewhere.

    Args:
      chosen: the policy's average per-token log-probabilities of the chosen
        responses (``sequence_log_probs(..., average=True)``), ``<= 0``,
        floating, any shape (usually ``[batch]``).
      rejected: the same for the rejected responses, same shape.
      beta: the weight of the odds-ratio term (the paper's lambda), > 0.
      where: optional boolean mask broadcasting to the inputs' shape; a
        masked pair gives 0 and leaves the mean (and is not checked).
      reduction: "mean", "sum" or "none" (one value per pair).

    Returns:
      A scalar, or for "none" the inputs' shape.

    References:
      Hong, Lee & Thorne, "ORPO: Monolithic Preference Optimization without
      Reference Model", 2024.

    Example:
      >>> import numpy as np, lossapi
      >>> chosen, rejected = np.array([-0.5, -2.0]), np.array([-1.5, -0.1])
      >>> np.round(lossapi.orpo(chosen, rejected, reduction="none"), 4)
      array([0.0171, 0.4123])
    """
    beta = v.positive("beta", beta)
    a = prepare(chosen, rejected, reduction=reduction, where=where)
    keep = a.keep
    a = a._replace(checks=(_log_probs_check(a.arrays[0], keep, "chosen"),
                           _log_probs_check(a.arrays[1], keep, "rejected")))
    return a.run(_orpo, beta=beta)


def _orpo(a: Prepared, chosen: Array, rejected: Array, *, beta: Any) -> Array:
    ops, xp = a.ops, a.xp
    # log1mexp(x) is -inf at x = 0 and has no finite gradient within the
    # smallest normal of it: such inputs are raised to `bound` (gradient 0
    # there, double where: log1mexp never sees them).
    bound = -2.0 * xp.finfo(chosen.dtype).smallest_normal

    def log_odds(x: Array) -> Array:
        live = x < bound
        x = xp.where(live, x, xp.full_like(x, bound))
        return x - numerics.log1mexp(ops, x)

    out = -beta * ops.log_sigmoid(log_odds(chosen) - log_odds(rejected))
    bad = (chosen > 0) | (rejected > 0)  # not log-probabilities: NaN where the check could not read values
    return xp.where(bad, xp.full_like(out, math.nan), out)


def _log_probs_check(x: Array, keep: Array | None, name: str) -> v.ValueCheck:
    """``x <= 0`` (where ``keep``), checked where values can be read."""

    def run(ops: Any) -> None:
        if not ops.values_readable(x) or math.prod(x.shape) == 0:
            return
        xp = ops.xp
        try:
            bad = x > 0
            if keep is not None:
                bad = bad & keep
            if not bool(xp.any(bad)):
                return
            worst = float(xp.max(xp.where(bad, x, xp.zeros_like(x))))
        except RuntimeError:  # torch.func.vmap: values cannot be read; NaN marks them
            return
        raise v.BadValue(f"{name} must hold log-probabilities (<= 0), got {worst:g}")

    return v.ValueCheck("log_probs", run)


@loss
def sequence_log_probs(logits: Array, labels: Array, /, *, ignore_index: int | None = None, average: bool = False,
                       where: Array | None = None) -> Array:
    """Per-sequence log-probabilities of label tokens under a model's logits,
    the inputs of :func:`dpo`, :func:`simpo` and :func:`orpo`.

    ``sum_t log softmax(logits[..., t, :])[labels[..., t]]`` over the counted
    tokens ``t`` (or, with ``average=True``, that sum divided by the number
    of counted tokens). Each token's log-probability is ``logits[y] -
    logsumexp(logits)``: one gather and one log-sum-exp per token, never a
    ``[..., T, V]`` log-softmax.

    A token counts unless its label is ``ignore_index`` or ``where`` masks it;
    the others contribute 0 with zero gradient. A sequence with no counted
    token gives 0 (also with ``average=True``, where its mean would be 0/0).
    Labels are checked to lie in ``[0, V)`` (or equal ``ignore_index``), for
    masked tokens too, where the values can be read; elsewhere an
    out-of-range label gives NaN for its sequence.

    **No shifting.** ``labels[..., t]`` is scored against ``logits[..., t,
    :]``: for a causal language model, whose logits at position ``t``
    predict token ``t + 1``, pass ``logits[:, :-1]`` and ``labels[:, 1:]``
    (with the prompt's tokens set to ``ignore_index`` or masked by ``where``).

    Not a loss: it takes no ``reduction`` and returns one value per sequence.

    Args:
      logits: floating ``[..., T, V]``, the scores over a vocabulary of ``V``
        tokens at each of ``T`` positions.
      labels: integer ``[..., T]``, the token at each position.
      ignore_index: a label value whose tokens are not counted, or None.
      average: False: the sum over counted tokens (DPO's sequence
        log-probability); True: their mean (SimPO's and ORPO's
        length-normalised log-probability).
      where: optional boolean mask broadcasting to ``labels``' shape: the
        tokens to count (e.g. the response's tokens, not the prompt's).

    Returns:
      ``labels``' shape without the last axis (``[...]``), ``logits``' dtype.

    Example:
      >>> import numpy as np, lossapi
      >>> logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]]))
      >>> labels = np.array([[0, 1, -100]])
      >>> np.round(lossapi.sequence_log_probs(logits, labels, ignore_index=-100), 4)  # log 0.5 + log 0.8
      array([-0.9163])
      >>> np.round(lossapi.sequence_log_probs(logits, labels, ignore_index=-100, average=True), 4)
      array([-0.4581])
    """
    ignore_index = v.integer_or_none("ignore_index", ignore_index)
    v.flag("average", average)
    v.array_or_none("where", where)
    a = classes(logits, labels, axis=-1, reduction="none", ignore_index=ignore_index, extra=(where,))
    v.min_ndim(a.arrays[0], "logits", 2, "[..., T, V]")
    token_mask, _ = masks(a.ops, where, tuple(a.arrays[1].shape))
    return a.run(_sequence_log_probs, ignore_index=ignore_index, average=average, token_mask=token_mask)


def _sequence_log_probs(a: Prepared, logits: Array, labels: Array, *, ignore_index: int | None, average: bool,
                        token_mask: Array | None) -> Array:
    ops, xp = a.ops, a.xp
    lab = _Labels(ops, labels, logits.shape[-1], ignore_index)
    # log p[y] = z[y] - logsumexp(z), as cross_entropy's label path.
    tok = _gather(ops, logits, lab.safe, -1) - ops.logsumexp(logits, axis=-1)
    tok = lab.finish(ops, tok)  # 0 at ignored tokens, NaN at out-of-range labels
    counted = lab.keep
    if token_mask is not None:
        tok = xp.where(token_mask, tok, xp.zeros_like(tok))
        counted = counted & token_mask
    total = xp.sum(tok, axis=-1)
    if not average:
        return total
    return numerics.safe_ratio(ops, total, xp.sum(xp.astype(counted, tok.dtype), axis=-1))
