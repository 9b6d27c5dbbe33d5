"""Checklist records for the language family (reference: conformance/reference.py,
the naive float64 composition ``cross_entropy(hidden @ weight.T + bias)``)."""

from __future__ import annotations

import lossapi
from cases import LossCase
from conformance import reference as R


def _inputs(tokens=(9,), h=6, v=13, bias=False, ignore=None):
    """Hidden states, an output projection and labels (one of them ignored
    when ``ignore`` is given); scales that give logits of a few units."""
    def make(rng):
        hid = rng.normal(size=(*tokens, h))
        w = rng.normal(size=(v, h)) * 0.6
        y = rng.integers(0, v, size=tokens)
        if ignore is not None:
            y.reshape(-1)[1] = ignore
        out = (hid, w, y)
        return (*out, rng.normal(size=(v,))) if bias else out
    return make


def _with_bias(fn):
    """``fn`` (the loss or its reference) taking ``bias`` as a fourth
    positional array, so the checklist converts it like the others."""
    def call(hidden, weight, labels, bias, **kwargs):
        return fn(hidden, weight, labels, bias=bias, **kwargs)
    call.__name__ = fn.__name__
    return call


_LCE_B, _LCE_B_R = _with_bias(lossapi.linear_cross_entropy), _with_bias(R.linear_cross_entropy)


_BAD = [({"chunk_size": 0}, ValueError), ({"chunk_size": 2.0}, TypeError), ({"z_loss": -1.0}, ValueError),
        ({"softcap": -2.0}, ValueError), ({"label_smoothing": 2.0}, ValueError), ({"ignore_index": 1.5}, TypeError)]

CASES = [
    LossCase("lce", lossapi.linear_cross_entropy, _inputs(), R.linear_cross_entropy, kwargs={"chunk_size": 4},
             grad_args=(0, 1), shape_check=False, bad_options=_BAD),
    LossCase("lce_default_chunk", lossapi.linear_cross_entropy, _inputs(tokens=(2, 5)), R.linear_cross_entropy,
             grad_args=(0, 1), shape_check=False),
    LossCase("lce_bias_ignore_smooth", _LCE_B, _inputs(bias=True, ignore=-100), _LCE_B_R,
             kwargs={"chunk_size": 5, "ignore_index": -100, "label_smoothing": 0.1}, grad_args=(0, 1, 3),
             shape_check=False),
    LossCase("lce_z_loss_softcap", _LCE_B, _inputs(bias=True), _LCE_B_R,
             kwargs={"chunk_size": 3, "z_loss": 0.02, "softcap": 2.5, "label_smoothing": 0.05},
             grad_args=(0, 1, 3), shape_check=False),
]
