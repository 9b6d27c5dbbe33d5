"""Checklist records for the preference family (references: conformance/reference.py).

``sequence_log_probs`` is no loss: it has no ``reduction`` and returns one
value per sequence. Its records go through a checklist view that returns
that value for ``reduction="none"`` and adds it up (``"sum"``) or averages it
(``"mean"``) over the sequences, as a loss's reductions would; the reference
is viewed the same way.
"""

from __future__ import annotations

import array_api_compat
import numpy as np

import lossapi
from cases import LossCase
from conformance import reference as R

# --- inputs -----------------------------------------------------------------


def _dpo_inputs(shape=(6,), beta=0.1, hinge=False):
    """Summed log-probabilities of the policy and reference models."""
    def make(rng):
        pc, pr, rc, rr = (-rng.uniform(5.0, 40.0, size=shape) for _ in range(4))
        if hinge:  # keep 1 - beta * h away from the kink
            h = (pc - rc) - (pr - rr)
            pc = np.where(np.abs(1.0 - beta * h) < 0.05, pc + 1.0, pc)
        return pc, pr, rc, rr
    return make


def _avg_inputs(shape=(6,), low=0.05, high=3.0):
    """Average per-token log-probabilities (< 0) of chosen and rejected responses."""
    def make(rng):
        return -rng.uniform(low, high, size=shape), -rng.uniform(low, high, size=shape)
    return make


def _tokens(shape=(3, 5), vocab=7, ignore=None, where=False):
    """Logits [..., T, V] and labels [..., T]; with ``ignore`` some labels are
    that value (one sequence entirely); with ``where`` a token mask too."""
    def make(rng):
        logits = rng.normal(size=(*shape, vocab)) * 2.0
        labels = rng.integers(0, vocab, size=shape).astype(np.int64)
        if ignore is not None:
            flat = labels.reshape(-1, shape[-1])
            flat[0, :2] = ignore
            flat[-1, :] = ignore
            labels = flat.reshape(shape)
        if not where:
            return logits, labels
        mask = rng.uniform(size=shape) < 0.7
        mask.reshape(-1, shape[-1])[0, -1] = False
        return logits, labels, mask
    return make


# --- the checklist's view of sequence_log_probs -------------------------------------


def _reduced(fn, sums, means):
    def view(logits, labels, *where, reduction="none", **kwargs):
        if where:
            kwargs["where"] = where[0]
        out = fn(logits, labels, **kwargs)
        if reduction == "none":
            return out
        if reduction == "sum":
            return sums(out)
        if reduction == "mean":
            return means(out)
        raise ValueError(f"sequence_log_probs: it has no reduction (one value per sequence), got {reduction!r}")
    view.__name__ = "sequence_log_probs"
    return view


_seq = _reduced(lossapi.sequence_log_probs, lambda out: array_api_compat.array_namespace(out).sum(out),
                lambda out: array_api_compat.array_namespace(out).mean(out))
_seq_ref = _reduced(R.sequence_log_probs, np.sum, np.mean)

_SEQ_BAD = [({"ignore_index": 1.5}, TypeError), ({"ignore_index": "x"}, TypeError), ({"average": 1}, TypeError)]

# --- records --------------------------------------------------------------------

_DPO_BAD = [({"beta": 0.0}, ValueError), ({"beta": -1.0}, ValueError), ({"beta": "x"}, TypeError),
            ({"form": "kto"}, ValueError), ({"label_smoothing": -0.1}, ValueError),
            ({"label_smoothing": 0.6}, ValueError), ({"form": "robust", "label_smoothing": 0.5}, ValueError),
            ({"form": "hinge", "label_smoothing": 0.1}, ValueError),
            ({"form": "ipo", "label_smoothing": 0.1}, ValueError)]

CASES = [
    LossCase("dpo", lossapi.dpo, _dpo_inputs(), R.dpo, grad_args=(0, 1, 2, 3), bad_options=_DPO_BAD),
    LossCase("dpo_sigmoid_ls", lossapi.dpo, _dpo_inputs((2, 3)), R.dpo,
             kwargs={"beta": 0.3, "label_smoothing": 0.2}, grad_args=(0, 1, 2, 3)),
    LossCase("dpo_hinge", lossapi.dpo, _dpo_inputs(hinge=True), R.dpo, kwargs={"form": "hinge"},
             grad_args=(0, 1, 2, 3)),
    LossCase("dpo_ipo", lossapi.dpo, _dpo_inputs(), R.dpo, kwargs={"form": "ipo", "beta": 0.5},
             grad_args=(0, 1, 2, 3)),
    LossCase("dpo_robust", lossapi.dpo, _dpo_inputs(), R.dpo,
             kwargs={"form": "robust", "label_smoothing": 0.1}, grad_args=(0, 1, 2, 3)),
    LossCase("simpo", lossapi.simpo, _avg_inputs(), R.simpo, grad_args=(0, 1),
             bad_options=[({"beta": 0.0}, ValueError), ({"gamma": -0.5}, ValueError),
                          ({"gamma": "x"}, TypeError)]),
    LossCase("simpo_beta10_3d", lossapi.simpo, _avg_inputs((2, 3, 2)), R.simpo,
             kwargs={"beta": 10.0, "gamma": 1.2}, grad_args=(0, 1)),
    LossCase("orpo", lossapi.orpo, _avg_inputs(), R.orpo, grad_args=(0, 1),
             bad_options=[({"beta": 0.0}, ValueError), ({"beta": -0.1}, ValueError)]),
    LossCase("orpo_near_zero", lossapi.orpo, _avg_inputs((2, 4), low=1e-3, high=0.2), R.orpo,
             kwargs={"beta": 0.25}, grad_args=(0, 1), fd_eps=1e-8),
    LossCase("sequence_log_probs", _seq, _tokens(), _seq_ref, bad_options=_SEQ_BAD),
    LossCase("sequence_log_probs_ignore_average", _seq, _tokens((2, 3, 6), ignore=-100), _seq_ref,
             kwargs={"ignore_index": -100, "average": True}),
    LossCase("sequence_log_probs_where", _seq, _tokens((4, 5), where=True), _seq_ref,
             kwargs={"average": True}),
]
