"""Checklist records for the segmentation family.

References are float64 NumPy computations of the textbook formulas
(reference-guide section 5; Salehi et al. 2017 for Tversky), written
independently of lossapi (which computes the algebraically equal
``(FP + FN) / denominator`` form).
"""

from __future__ import annotations

import numpy as np

import lossapi
from cases import LossCase, reduce_np


def _masks(shape=(2, 3, 4), soft_target=False):
    def make(rng):
        p = rng.uniform(0.05, 0.95, size=shape)
        if soft_target:
            g = rng.uniform(0.0, 1.0, size=shape)
        else:
            g = (rng.uniform(size=shape) > 0.5).astype(np.float64)
        return p, g
    return make


def _sums(p, g, axis):
    return np.sum(p * g, axis=axis), np.sum(p, axis=axis), np.sum(g, axis=axis)


def ref_dice(p, g, reduction, smooth=1e-6, axis=None):
    inter, sp, sg = _sums(p, g, axis)
    return reduce_np(1 - (2 * inter + smooth) / (sp + sg + smooth), reduction)


def ref_jaccard(p, g, reduction, smooth=1e-6, axis=None):
    inter, sp, sg = _sums(p, g, axis)
    return reduce_np(1 - (inter + smooth) / (sp + sg - inter + smooth), reduction)


def ref_tversky(p, g, reduction, alpha=0.5, beta=0.5, gamma=1.0, smooth=1e-6, axis=None):
    tp = np.sum(p * g, axis=axis)
    fp = np.sum(p * (1 - g), axis=axis)
    fn = np.sum((1 - p) * g, axis=axis)
    ti = (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)
    return reduce_np((1 - ti) ** gamma, reduction)


def _bad(extra=()):
    return [({"smooth": -1.0}, ValueError), ({"axis": 3}, ValueError), ({"axis": (0, 0)}, ValueError),
            ({"axis": ()}, ValueError), ({"axis": "x"}, TypeError), *extra]


CASES = [
    LossCase("dice", lossapi.dice, _masks(), ref_dice, bad_options=_bad()),
    LossCase("dice_per_sample", lossapi.dice, _masks(), ref_dice, kwargs={"axis": (1, 2)}),
    LossCase("dice_per_sample_class", lossapi.dice, _masks((2, 3, 2, 3)), ref_dice, kwargs={"axis": (-2, -1)}),
    LossCase("dice_soft_target_smooth1", lossapi.dice, _masks(soft_target=True), ref_dice,
             kwargs={"smooth": 1.0, "axis": -1}, grad_args=(0, 1)),
    LossCase("jaccard", lossapi.jaccard, _masks(), ref_jaccard, bad_options=_bad()),
    LossCase("jaccard_per_sample", lossapi.jaccard, _masks(), ref_jaccard, kwargs={"axis": (1, 2)}),
    LossCase("jaccard_soft_target_axis0", lossapi.jaccard, _masks(soft_target=True), ref_jaccard,
             kwargs={"axis": 0, "smooth": 0.0}, grad_args=(0, 1)),
    LossCase("tversky", lossapi.tversky, _masks(), ref_tversky, kwargs={"alpha": 0.3, "beta": 0.7},
             bad_options=_bad([({"alpha": -0.1}, ValueError), ({"beta": -1.0}, ValueError),
                               ({"gamma": 0.0}, ValueError), ({"gamma": "2"}, TypeError)])),
    LossCase("tversky_default", lossapi.tversky, _masks(), ref_tversky),
    LossCase("tversky_focal_075_per_sample", lossapi.tversky, _masks(), ref_tversky,
             kwargs={"alpha": 0.3, "beta": 0.7, "gamma": 0.75, "axis": (1, 2)}),
    LossCase("tversky_focal_2_soft", lossapi.tversky, _masks(soft_target=True), ref_tversky,
             kwargs={"alpha": 0.7, "beta": 0.3, "gamma": 2.0, "axis": -1}, grad_args=(0, 1)),
]
