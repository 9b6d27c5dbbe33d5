"""Checklist records for the ranking family (references: conformance/reference.py;
negative relevance is padding, dropped before computing)."""

from __future__ import annotations

import numpy as np

import lossapi
from cases import LossCase
from conformance import reference as R

# --- inputs -----------------------------------------------------------------


def _pairs(margin, int_target=False):
    def make(rng):
        s1 = rng.normal(size=(4, 5))
        s2 = rng.normal(size=(4, 5))
        y = rng.choice([-1.0, 1.0], size=(4, 5))
        # Keep -y (s1 - s2) + margin away from the hinge's kink.
        v = margin - y * (s1 - s2)
        s1 = np.where(np.abs(v) < 0.02, s1 + 0.1 * y, s1)
        return s1, s2, (y.astype(np.int64) if int_target else y)
    return make


def _lists(shape, levels=4, pad=True, integer=True, axis=-1):
    """Scores and graded relevance ``[..., list_size]``; some padding (-1),
    some ties, and one list of padding only when ``pad``."""
    def make(rng):
        s = rng.normal(size=shape) * 1.5
        if integer:
            r = rng.integers(0, levels, size=shape).astype(np.int64)
        else:
            r = rng.uniform(0.0, 3.0, size=shape)
        if pad:
            r = np.moveaxis(r, axis, -1).copy()
            flat = r.reshape(-1, r.shape[-1])
            flat[0, -2:] = -1          # padded tail
            flat[-1, 1] = -1           # padding in the middle
            if flat.shape[0] > 2:
                flat[1, :] = -1        # a list of padding only
            r = np.moveaxis(flat.reshape(r.shape), -1, axis)
        return s, r
    return make


_AXIS_BAD = [({"axis": 5}, ValueError), ({"axis": 1.5}, TypeError)]
_MARGIN_BAD = [({"margin": "a"}, TypeError), ({"margin": float("nan")}, ValueError)]
_K_BAD = [({"k": 0}, ValueError), ({"k": 1.5}, TypeError), ({"k": True}, TypeError)]

CASES = [
    LossCase("margin_ranking", lossapi.margin_ranking, _pairs(0.3), R.margin_ranking,
             kwargs={"margin": 0.3}, grad_args=(0, 1),
             bad_options=[({"margin": "a"}, TypeError), ({"margin": float("nan")}, ValueError)]),
    LossCase("margin_ranking_int_target", lossapi.margin_ranking, _pairs(0.0, int_target=True),
             R.margin_ranking, grad_args=(0, 1)),
    LossCase("ranknet", lossapi.ranknet, _lists((4, 6)), R.ranknet, bad_options=_AXIS_BAD),
    LossCase("ranknet_axis0_3d", lossapi.ranknet, _lists((5, 2, 3), axis=0), R.ranknet,
             kwargs={"axis": 0}),
    LossCase("listnet", lossapi.listnet, _lists((4, 6), integer=False), R.listnet, bad_options=_AXIS_BAD),
    LossCase("listnet_axis0", lossapi.listnet, _lists((6, 3), integer=False, axis=0), R.listnet,
             kwargs={"axis": 0}),
    LossCase("listmle", lossapi.listmle, _lists((4, 6)), R.listmle, bad_options=_AXIS_BAD),
    LossCase("listmle_axis1_3d", lossapi.listmle, _lists((2, 7, 3), axis=1), R.listmle,
             kwargs={"axis": 1}),
    LossCase("approx_ndcg", lossapi.approx_ndcg, _lists((4, 6)), R.approx_ndcg,
             bad_options=_AXIS_BAD + [({"temperature": 0.0}, ValueError), ({"temperature": -1.0}, ValueError),
                                      ({"temperature": "x"}, TypeError)]),
    LossCase("approx_ndcg_t0.5_axis0", lossapi.approx_ndcg, _lists((6, 3), axis=0), R.approx_ndcg,
             kwargs={"temperature": 0.5, "axis": 0}),
    # issue 14: softmax, Rax's pairwise losses, LambdaLoss, ApproxMRR, NeuralNDCG
    LossCase("ranking_softmax", lossapi.ranking_softmax, _lists((4, 6), integer=False), R.ranking_softmax,
             bad_options=_AXIS_BAD),
    LossCase("ranking_softmax_int_axis0", lossapi.ranking_softmax, _lists((6, 3), levels=2, axis=0),
             R.ranking_softmax, kwargs={"axis": 0}),
    LossCase("pairwise_hinge", lossapi.pairwise_hinge, _lists((4, 6)), R.pairwise_hinge,
             bad_options=_AXIS_BAD + _MARGIN_BAD),
    LossCase("pairwise_hinge_m0.5_axis0", lossapi.pairwise_hinge, _lists((6, 3), integer=False, axis=0),
             R.pairwise_hinge, kwargs={"margin": 0.5, "axis": 0}),
    LossCase("pairwise_logistic", lossapi.pairwise_logistic, _lists((4, 6)), R.pairwise_logistic,
             bad_options=_AXIS_BAD + _MARGIN_BAD),
    LossCase("pairwise_logistic_m0.3", lossapi.pairwise_logistic, _lists((3, 5), integer=False),
             R.pairwise_logistic, kwargs={"margin": 0.3}),
    LossCase("pairwise_soft_zero_one", lossapi.pairwise_soft_zero_one, _lists((4, 6)), R.pairwise_soft_zero_one,
             bad_options=_AXIS_BAD + _MARGIN_BAD),
    LossCase("pairwise_soft_zero_one_m-0.5_axis1", lossapi.pairwise_soft_zero_one, _lists((2, 5, 3), axis=1),
             R.pairwise_soft_zero_one, kwargs={"margin": -0.5, "axis": 1}),
    LossCase("lambda_loss", lossapi.lambda_loss, _lists((4, 6)), R.lambda_loss,
             bad_options=_AXIS_BAD + _K_BAD + [({"weighting": "ndcg3"}, ValueError), ({"weighting": None}, ValueError),
                                               ({"sigma": 0.0}, ValueError), ({"sigma": "a"}, TypeError),
                                               ({"mu": -1.0}, ValueError)]),
    LossCase("lambda_loss_ndcg1", lossapi.lambda_loss, _lists((4, 6)), R.lambda_loss,
             kwargs={"weighting": "ndcg1"}),
    LossCase("lambda_loss_ndcg2pp_k3", lossapi.lambda_loss, _lists((4, 6), integer=False), R.lambda_loss,
             kwargs={"weighting": "ndcg2++", "k": 3, "mu": 5.0}),
    LossCase("lambda_loss_lambdarank_s2_axis0", lossapi.lambda_loss, _lists((6, 3), axis=0), R.lambda_loss,
             kwargs={"weighting": "lambdarank", "sigma": 2.0, "axis": 0}),
    LossCase("lambda_loss_ndcg1_k2", lossapi.lambda_loss, _lists((3, 5)), R.lambda_loss,
             kwargs={"weighting": "ndcg1", "k": 2}),
    LossCase("approx_mrr", lossapi.approx_mrr, _lists((4, 6), levels=2), R.approx_mrr,
             bad_options=_AXIS_BAD + [({"temperature": 0.0}, ValueError), ({"temperature": "x"}, TypeError)]),
    LossCase("approx_mrr_graded_t0.5_axis0", lossapi.approx_mrr, _lists((6, 3), axis=0), R.approx_mrr,
             kwargs={"temperature": 0.5, "axis": 0}),
    LossCase("neural_ndcg", lossapi.neural_ndcg, _lists((4, 6)), R.neural_ndcg,
             bad_options=_AXIS_BAD + _K_BAD + [({"temperature": 0.0}, ValueError),
                                               ({"temperature": "x"}, TypeError)]),
    LossCase("neural_ndcg_k3_t0.5_axis0", lossapi.neural_ndcg, _lists((6, 3), integer=False, axis=0),
             R.neural_ndcg, kwargs={"k": 3, "temperature": 0.5, "axis": 0}),
]
