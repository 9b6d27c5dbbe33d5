"""Checklist records for the distillation family (references: conformance/reference.py)."""

from __future__ import annotations

import lossapi
from cases import LossCase, keyword_arrays
from conformance import reference as R


def _logits(shape=(6, 5), scale=2.0):
    """Student and teacher logits."""
    def make(rng):
        return rng.normal(size=shape) * scale, rng.normal(size=shape) * scale
    return make


def _tokens(shape=(2, 4, 7), ignore=-100, scale=2.0):
    """Token-level logits ``[batch, seq_len, vocab]`` and labels ``[batch, seq_len]``
    (every third position set to ``ignore``)."""
    def make(rng):
        s, t = _logits(shape, scale)(rng)
        y = rng.integers(0, shape[-1], size=shape[:-1])
        y.reshape(-1)[::3] = ignore
        return s, t, y
    return make


_KD, _KD_R = keyword_arrays(lossapi.distill_kl, "labels"), keyword_arrays(R.distill_kl, "labels")

_AXIS_BAD = [({"axis": 2}, ValueError), ({"axis": 1.0}, TypeError)]
_KD_BAD = [*_AXIS_BAD, ({"temperature": 0.0}, ValueError), ({"temperature": -1.0}, ValueError),
           ({"temperature": "2"}, TypeError), ({"direction": "backward"}, ValueError),
           ({"ignore_index": -100}, ValueError), ({"ignore_index": 1.5}, TypeError)]
_JSD_BAD = [*_AXIS_BAD, ({"beta": 0.0}, ValueError), ({"beta": 1.0}, ValueError), ({"beta": 1.5}, ValueError),
            ({"beta": "0.5"}, TypeError), ({"temperature": 0.0}, ValueError)]

CASES = [
    # distill_kl
    LossCase("distill_kl", lossapi.distill_kl, _logits(), R.distill_kl, grad_args=(0, 1), bad_options=_KD_BAD),
    LossCase("distill_kl_T2", lossapi.distill_kl, _logits(), R.distill_kl, kwargs={"temperature": 2.0},
             grad_args=(0, 1)),
    LossCase("distill_kl_reverse_T05", lossapi.distill_kl, _logits(), R.distill_kl,
             kwargs={"direction": "reverse", "temperature": 0.5}, grad_args=(0, 1)),
    LossCase("distill_kl_axis1_3d", lossapi.distill_kl, _logits((2, 5, 3)), R.distill_kl,
             kwargs={"axis": 1, "temperature": 3.0}, grad_args=(0, 1)),
    LossCase("distill_kl_1d", lossapi.distill_kl, _logits((7,)), R.distill_kl, grad_args=(0, 1)),
    # token-level: [batch, seq_len, vocab] with labels, -100 skipped
    LossCase("distill_kl_tokens_ignore", _KD, _tokens(), _KD_R, kwargs={"ignore_index": -100, "temperature": 2.0},
             grad_args=(0, 1),
             bad_options=[({"ignore_index": None}, ValueError)]),  # labels without ignore_index
    LossCase("distill_kl_tokens_reverse_ignore_in_range", _KD, _tokens(ignore=2), _KD_R,
             kwargs={"ignore_index": 2, "direction": "reverse", "temperature": 1.5}, grad_args=(0, 1)),
    # generalized_jsd
    LossCase("generalized_jsd", lossapi.generalized_jsd, _logits(), R.generalized_jsd, grad_args=(0, 1),
             bad_options=_JSD_BAD),
    LossCase("generalized_jsd_b01_T2", lossapi.generalized_jsd, _logits(), R.generalized_jsd,
             kwargs={"beta": 0.1, "temperature": 2.0}, grad_args=(0, 1)),
    LossCase("generalized_jsd_b09_axis0", lossapi.generalized_jsd, _logits((5, 3)), R.generalized_jsd,
             kwargs={"beta": 0.9, "axis": 0}, grad_args=(0, 1)),
    LossCase("generalized_jsd_tokens_T05", lossapi.generalized_jsd, _logits((2, 3, 6)), R.generalized_jsd,
             kwargs={"beta": 0.3, "temperature": 0.5}, grad_args=(0, 1)),
    # tvd (random logits: no class with P == Q, the kink)
    LossCase("tvd", lossapi.tvd, _logits(), R.tvd, grad_args=(0, 1), bad_options=_AXIS_BAD),
    LossCase("tvd_axis1_3d", lossapi.tvd, _logits((2, 5, 3)), R.tvd, kwargs={"axis": 1}, grad_args=(0, 1)),
    LossCase("tvd_1d", lossapi.tvd, _logits((6,)), R.tvd, grad_args=(0, 1)),
]
