"""Checklist records for the segmentation family (references: conformance/reference.py,
the textbook formulas; lossapi computes the algebraically equal
``(FP + FN) / denominator`` form)."""

from __future__ import annotations

import numpy as np

import lossapi
from cases import LossCase
from conformance import reference as R


def _masks(shape=(2, 3, 4), soft_target=False):
    def make(rng):
        p = rng.uniform(0.05, 0.95, size=shape)
        if soft_target:
            g = rng.uniform(0.0, 1.0, size=shape)
        else:
            g = (rng.uniform(size=shape) > 0.5).astype(np.float64)
        return p, g
    return make


def _bad(extra=()):
    return [({"smooth": -1.0}, ValueError), ({"axis": 3}, ValueError), ({"axis": (0, 0)}, ValueError),
            ({"axis": ()}, ValueError), ({"axis": "x"}, TypeError), *extra]


CASES = [
    LossCase("dice", lossapi.dice, _masks(), R.dice, bad_options=_bad()),
    LossCase("dice_per_sample", lossapi.dice, _masks(), R.dice, kwargs={"axis": (1, 2)}),
    LossCase("dice_per_sample_class", lossapi.dice, _masks((2, 3, 2, 3)), R.dice, kwargs={"axis": (-2, -1)}),
    LossCase("dice_soft_target_smooth1", lossapi.dice, _masks(soft_target=True), R.dice,
             kwargs={"smooth": 1.0, "axis": -1}, grad_args=(0, 1)),
    LossCase("jaccard", lossapi.jaccard, _masks(), R.jaccard, bad_options=_bad()),
    LossCase("jaccard_per_sample", lossapi.jaccard, _masks(), R.jaccard, kwargs={"axis": (1, 2)}),
    LossCase("jaccard_soft_target_axis0", lossapi.jaccard, _masks(soft_target=True), R.jaccard,
             kwargs={"axis": 0, "smooth": 0.0}, grad_args=(0, 1)),
    LossCase("tversky", lossapi.tversky, _masks(), R.tversky, kwargs={"alpha": 0.3, "beta": 0.7},
             bad_options=_bad([({"alpha": -0.1}, ValueError), ({"beta": -1.0}, ValueError),
                               ({"gamma": 0.0}, ValueError), ({"gamma": "2"}, TypeError)])),
    LossCase("tversky_default", lossapi.tversky, _masks(), R.tversky),
    LossCase("tversky_focal_075_per_sample", lossapi.tversky, _masks(), R.tversky,
             kwargs={"alpha": 0.3, "beta": 0.7, "gamma": 0.75, "axis": (1, 2)}),
    LossCase("tversky_focal_2_soft", lossapi.tversky, _masks(soft_target=True), R.tversky,
             kwargs={"alpha": 0.7, "beta": 0.3, "gamma": 2.0, "axis": -1}, grad_args=(0, 1)),
]
