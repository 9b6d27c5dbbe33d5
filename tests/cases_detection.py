"""Checklist records for the detection family (references: conformance/reference.py).

Box pairs mix overlapping and disjoint boxes and keep every kink (tied
corners, an overlap of zero width or height) at least ``GAP`` away, so finite
differences of the references are valid. The CIoU records pair boxes of equal
aspect ratio: there ``v`` and its gradient are 0, so the finite differences of
the value (which differentiate ``alpha`` too) equal lossapi's gradient, which
holds ``alpha`` constant as torchvision does; ``tests/test_boxes.py`` checks
CIoU with unequal aspect ratios, its detached ``alpha`` included.
"""

from __future__ import annotations

import numpy as np

import lossapi
from cases import LossCase
from conformance import reference as R

GAP = 1e-2


def random_boxes(rng, shape, lo=0.0, hi=6.0, side=(0.5, 4.0)):
    """Valid boxes (x1, y1, x2, y2) of shape ``shape + (4,)``."""
    xy = rng.uniform(lo, hi, size=(*shape, 2))
    wh = rng.uniform(*side, size=(*shape, 2))
    return np.concatenate([xy, xy + wh], axis=-1)


def off_kinks(b1, b2, gap=GAP):
    """No tied corners, no overlap of (nearly) zero width or height."""
    ow = np.minimum(b1[..., 2], b2[..., 2]) - np.maximum(b1[..., 0], b2[..., 0])
    oh = np.minimum(b1[..., 3], b2[..., 3]) - np.maximum(b1[..., 1], b2[..., 1])
    return bool(np.all(np.abs(b1 - b2) > gap) and np.all(np.abs(ow) > gap) and np.all(np.abs(oh) > gap))


def overlapping(b1, b2):
    ow = np.minimum(b1[..., 2], b2[..., 2]) - np.maximum(b1[..., 0], b2[..., 0])
    oh = np.minimum(b1[..., 3], b2[..., 3]) - np.maximum(b1[..., 1], b2[..., 1])
    return (ow > 0) & (oh > 0)


def box_pairs(shape=(6,), same_aspect=False):
    """Pairs off the kinks, some overlapping and some not (when there are
    several); ``same_aspect``: each boxes2 is a scaled copy's shape of boxes1."""
    def make(rng):
        while True:
            b1 = random_boxes(rng, shape)
            if same_aspect:
                xy = rng.uniform(0.0, 6.0, size=(*shape, 2))
                k = rng.uniform(0.5, 2.0, size=(*shape, 1))
                b2 = np.concatenate([xy, xy + k * (b1[..., 2:] - b1[..., :2])], axis=-1)
            else:
                b2 = random_boxes(rng, shape)
            ov = overlapping(b1, b2)
            if off_kinks(b1, b2) and (ov.size < 2 or (np.any(ov) and not np.all(ov))):
                return b1, b2
    return make


_BAD = [({"eps": 0.0}, ValueError), ({"eps": -1e-7}, ValueError), ({"eps": "1e-7"}, TypeError)]

CASES = [
    LossCase("giou", lossapi.giou, box_pairs(), R.giou, grad_args=(0, 1), bad_options=_BAD),
    LossCase("giou_lead_eps", lossapi.giou, box_pairs((2, 3)), R.giou, kwargs={"eps": 1e-3}, grad_args=(0, 1)),
    LossCase("giou_one_pair", lossapi.giou, box_pairs(()), R.giou, grad_args=(0, 1)),
    LossCase("diou", lossapi.diou, box_pairs(), R.diou, grad_args=(0, 1), bad_options=_BAD),
    LossCase("diou_lead_eps", lossapi.diou, box_pairs((2, 3)), R.diou, kwargs={"eps": 1e-3}, grad_args=(0, 1)),
    LossCase("ciou_same_aspect", lossapi.ciou, box_pairs(same_aspect=True), R.ciou, grad_args=(0, 1),
             bad_options=_BAD),
    LossCase("ciou_same_aspect_lead_eps", lossapi.ciou, box_pairs((2, 3), same_aspect=True), R.ciou,
             kwargs={"eps": 1e-3}, grad_args=(0, 1)),
]
