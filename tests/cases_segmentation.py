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


# --- include_background / class_axis (MONAI, SMP) ----------------------------------------

_NO_BG = {"class_axis": 1, "include_background": False}
CASES += [
    LossCase("dice_no_background", lossapi.dice, _masks((2, 3, 4)), R.dice, kwargs={"axis": (0, 2), **_NO_BG},
             bad_options=[({"class_axis": None}, ValueError), ({"class_axis": 3}, ValueError),
                          ({"include_background": 0, "class_axis": 1}, TypeError)]),
    LossCase("jaccard_no_background_global", lossapi.jaccard, _masks((2, 3, 4)), R.jaccard, kwargs=_NO_BG),
    LossCase("tversky_no_background_last", lossapi.tversky, _masks((2, 4, 3)), R.tversky,
             kwargs={"alpha": 0.3, "beta": 0.7, "axis": (1,), "class_axis": -1, "include_background": False}),
]


# --- generalized Dice (Sudre et al. 2017; MONAI's GeneralizedDiceLoss) ------------------------

def _one_hot_maps(shape=(3, 4, 5), absent=True, axis=1):
    """Softmax probabilities and one-hot targets with the classes on ``axis``;
    class 2 is absent from sample 0 (MONAI#371's case)."""
    def make(rng):
        n, c, k = shape
        z = rng.normal(size=(n, c, k))
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        y = rng.integers(0, c, size=(n, k))
        if absent:
            y[0][y[0] == 2] = 1
        g = (y[:, None, :] == np.arange(c)[None, :, None]).astype(np.float64)
        return np.moveaxis(p, 1, axis), np.moveaxis(g, 1, axis)
    return make


CASES += [
    LossCase("generalized_dice", lossapi.generalized_dice, _one_hot_maps(), R.generalized_dice,
             bad_options=[({"weight": "cube"}, ValueError), ({"weight": 1}, ValueError),
                          ({"smooth": -1.0}, ValueError), ({"axis": 0}, ValueError), ({"axis": 3}, ValueError),
                          ({"include_background": "no"}, TypeError)]),
    LossCase("generalized_dice_simple_last_axis", lossapi.generalized_dice, _one_hot_maps(axis=2),
             R.generalized_dice, kwargs={"weight": "simple", "axis": -1}),
    LossCase("generalized_dice_uniform_smooth1", lossapi.generalized_dice, _one_hot_maps(), R.generalized_dice,
             kwargs={"weight": "uniform", "smooth": 1.0}),
    LossCase("generalized_dice_no_background", lossapi.generalized_dice, _one_hot_maps((2, 4, 6)),
             R.generalized_dice, kwargs={"include_background": False}),
]


# --- Lovasz hinge and Lovasz-Softmax (Berman et al. 2018) ---------------------------------------

def _binary(shape=(3, 4, 5)):
    def make(rng):
        return rng.normal(scale=2.0, size=shape), (rng.uniform(size=shape) > 0.6).astype(np.float64)
    return make


def _class_probs(shape=(2, 3, 4, 5), axis=1):
    def make(rng):
        z = rng.normal(size=shape)
        p = np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)
        label_shape = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
        y = rng.integers(0, shape[axis], size=label_shape)
        return p, y
    return make


CASES += [
    LossCase("lovasz_hinge", lossapi.lovasz_hinge, _binary(), R.lovasz_hinge,
             bad_options=[({"per_image": 1}, TypeError), ({"per_image": "yes"}, TypeError)]),
    LossCase("lovasz_hinge_batch", lossapi.lovasz_hinge, _binary((2, 3, 2, 3)), R.lovasz_hinge,
             kwargs={"per_image": False}),
    LossCase("lovasz_hinge_flat_images", lossapi.lovasz_hinge, _binary((4, 7)), R.lovasz_hinge),
    LossCase("lovasz_softmax", lossapi.lovasz_softmax, _class_probs(), R.lovasz_softmax, shape_check=False,
             bad_options=[({"classes": "some"}, ValueError), ({"classes": [3]}, ValueError),
                          ({"classes": [0, 0]}, ValueError), ({"classes": []}, ValueError),
                          ({"classes": [0.5]}, TypeError), ({"classes": 2}, TypeError),
                          ({"per_image": 1}, TypeError), ({"axis": 4}, ValueError),
                          ({"ignore_index": "x"}, TypeError)]),
    LossCase("lovasz_softmax_per_image_all", lossapi.lovasz_softmax, _class_probs((3, 4, 6)), R.lovasz_softmax,
             kwargs={"per_image": True, "classes": "all"}, shape_check=False),
    LossCase("lovasz_softmax_list_axis_last", lossapi.lovasz_softmax, _class_probs((2, 3, 5, 3), axis=-1),
             R.lovasz_softmax, kwargs={"per_image": True, "classes": [0, 2], "axis": -1}, shape_check=False),
]
