"""Checklist records for the sequence family (reference: conformance/reference.py,
the CTC forward recursion written out per sample in float64)."""

from __future__ import annotations

import numpy as np

import lossapi
from cases import LossCase
from conformance import reference as R


def _ctc_inputs(n=3, t=8, c=5, s=3, blank=0, short=False):
    """log_probs [N, T, C] (log-softmax of normal logits), labels [N, S] with
    a repeat and padding, frames and label lengths per sample (one sample
    with no labels; with ``short``, one with too few frames for its labels)."""
    def make(rng):
        z = rng.normal(size=(n, t, c)) * 1.5
        lp = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
        classes = np.array([k for k in range(c) if k != blank])
        labels = classes[rng.integers(0, len(classes), size=(n, s))]
        labels[0, 1] = labels[0, 0]  # a repeat: needs a blank between
        labels[1, s - 1] = -1  # padding past label_lengths is never read
        labels[2, :] = c + 7
        input_lengths = np.array([t, t - 2, t - 1][:n] + [t] * max(0, n - 3), dtype=np.int64)
        label_lengths = np.array([s, s - 1, 0][:n] + [s] * max(0, n - 3), dtype=np.int64)
        if short:
            input_lengths[1] = 1  # s - 1 >= 2 labels in 1 frame: impossible
        return lp, labels.astype(np.int64), input_lengths, label_lengths
    return make


_BAD = [({"blank": 5}, ValueError), ({"blank": -1}, ValueError), ({"blank": 1.0}, TypeError),
        ({"blank": True}, TypeError), ({"zero_infinity": 1}, TypeError)]

CASES = [
    LossCase("ctc", lossapi.ctc, _ctc_inputs(), R.ctc, bad_options=_BAD),
    LossCase("ctc_blank_last", lossapi.ctc, _ctc_inputs(n=4, t=7, c=4, s=3, blank=3), R.ctc, kwargs={"blank": 3}),
    LossCase("ctc_short_zero_infinity", lossapi.ctc, _ctc_inputs(short=True), R.ctc, kwargs={"zero_infinity": True}),
]
