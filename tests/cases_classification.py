"""Checklist records for the classification family (references: conformance/reference.py)."""

from __future__ import annotations

import numpy as np

import lossapi
from cases import LossCase, keyword_arrays
from conformance import reference as R

# --- inputs -----------------------------------------------------------------------


def _probs(shape=(4, 5), soft=False, weight_shape=None):
    def make(rng):
        p = rng.uniform(0.05, 0.95, size=shape)
        t = rng.uniform(0, 1, size=shape) if soft else rng.integers(0, 2, size=shape).astype(np.float64)
        extra = () if weight_shape is None else (rng.uniform(0.5, 2.0, size=weight_shape),)
        return (p, t, *extra)
    return make


def _logits_binary(shape=(4, 5), soft=False, extra_shapes=()):
    def make(rng):
        x = rng.normal(size=shape) * 2
        t = rng.uniform(0, 1, size=shape) if soft else rng.integers(0, 2, size=shape).astype(np.float64)
        return (x, t, *(rng.uniform(0.5, 2.0, size=s) for s in extra_shapes))
    return make


def _signed(rng):
    s = rng.normal(size=(4, 5)) * 2
    t = rng.choice([-1.0, 1.0], size=(4, 5))
    m = 1 - t * s
    s = np.where(np.abs(m) < 1e-2, s + 0.05 * t, s)  # away from the kink
    return s, t


def _signed_wide(rng):
    s = rng.uniform(-120.0, 120.0, size=(2, 3, 4))
    return s, rng.choice([-1.0, 1.0], size=(2, 3, 4))


def _logits_int(n=6, c=5, axis=-1, extra=(), ignore=None, probs=False):
    """Logits with classes on ``axis`` ([n, c] or [n, c, 3] for axis=1),
    labels (some set to ``ignore``) or probabilities, and per-class arrays."""
    def make(rng):
        shape = (n, c) if axis == -1 else (n, c, 3)
        z = rng.normal(size=shape) * 1.5
        lshape = shape[:1] + shape[2:]
        if probs:
            raw = rng.uniform(0.1, 1.0, size=shape)
            y = raw / raw.sum(axis=1, keepdims=True)
        else:
            y = rng.integers(0, c, size=lshape)
            if ignore is not None:
                y.reshape(-1)[::3] = ignore
        return (z, y, *(rng.uniform(0.5, 2.0, size=(c,)) for _ in extra))
    return make


def _margins(form, margin=1.0):
    """Scores whose margin terms stay away from 0 (the kinks) and, for
    Crammer-Singer, with a unique largest wrong-class score."""
    def make(rng):
        y = rng.integers(0, 4, size=6)
        while True:
            s = rng.normal(size=(6, 4)) * 1.5
            d = margin - s[np.arange(6), y][:, None] + s
            d[np.arange(6), y] = 1.0
            srt = np.sort(np.where(np.eye(4, dtype=bool)[y], -np.inf, s), axis=1)
            if np.abs(d).min() > 2e-2 and np.min(srt[:, -1] - srt[:, -2]) > 2e-2:
                return s, y
    return make


def _sparse_logits(shape=(4, 5), soft=False):
    """Logits over the three pieces of sparse_plus, away from its joins at
    +-1 (where the second derivative jumps)."""
    def make(rng):
        x = rng.uniform(-2.5, 2.5, size=shape)
        x = np.where(np.abs(np.abs(x) - 1.0) < 0.05, x * 1.1, x)
        t = rng.uniform(0, 1, size=shape) if soft else rng.integers(0, 2, size=shape).astype(np.float64)
        return x, t
    return make


def _signed_off_zero(rng):
    """Scores away from perceptron's kink at s == 0, targets in {-1, +1}."""
    s = rng.normal(size=(4, 5)) * 2
    s = np.where(np.abs(s) < 0.05, s + 0.1, s)
    return s, rng.choice([-1.0, 1.0], size=(4, 5))


def _wide_logits(rng):
    """Scores spread enough that sparsemax's support is partial in most rows."""
    return rng.normal(size=(6, 7)) * 0.6, rng.integers(0, 7, size=6)


def _kw(name, *arrays):
    """(loss, reference) taking the keyword arrays ``arrays`` positionally."""
    return keyword_arrays(getattr(lossapi, name), *arrays), keyword_arrays(getattr(R, name), *arrays)


_CE, _CE_R = _kw("cross_entropy", "weight")
_NLL, _NLL_R = _kw("nll", "weight")
_BCE, _BCE_R = _kw("binary_cross_entropy", "weight")
_BCEL_W, _BCEL_W_R = _kw("binary_cross_entropy_with_logits", "weight")
_BCEL_PW, _BCEL_PW_R = _kw("binary_cross_entropy_with_logits", "pos_weight")
_BCEL_BOTH, _BCEL_BOTH_R = _kw("binary_cross_entropy_with_logits", "weight", "pos_weight")
_FOCAL_A, _FOCAL_A_R = _kw("focal", "alpha")
_POLY_W, _POLY_W_R = _kw("poly1", "weight")
_MCH_W, _MCH_W_R = _kw("multiclass_hinge", "weight")
_MLSM_W, _MLSM_W_R = _kw("multilabel_soft_margin", "weight")


def _with_class_weight(make, c=4):
    def wrapped(rng):
        return (*make(rng), rng.uniform(0.5, 2.0, size=(c,)))
    return wrapped


def _label_lists(shape=(6, 5)):
    """Scores and class-index lists padded with -1: one empty list, one with
    every class, one with a repeated class, values after a -1 ignored; every
    hinge 1 - (x[j] - x[i]) away from 0 (its kink)."""
    def make(rng):
        c = shape[-1]
        t = np.full(shape, -1, dtype=np.int64)
        rows = t.reshape(-1, c)
        for i in range(len(rows)):
            k = int(rng.integers(1, c))
            rows[i, :k] = rng.permutation(c)[:k]
        if len(rows) > 3:
            rows[0] = -1  # an empty list
            rows[1] = rng.permutation(c)  # every class listed
            rows[2, :3] = [1, 1, 3]  # a repeated class
            rows[2, 3:] = -1
            rows[3, 2:] = [-1] + list(rng.integers(0, c, size=c - 3))  # values after the first -1
        while True:
            x = rng.normal(size=shape) * 1.5
            d = 1.0 - (x[..., :, None] - x[..., None, :])
            if np.min(np.abs(d)) > 2e-2:
                return x, t
    return make


def _log_probs(make):
    def wrapped(rng):
        z, *rest = make(rng)
        zz = np.moveaxis(z, 1, -1)
        lp = np.moveaxis(zz - np.log(np.sum(np.exp(zz), axis=-1, keepdims=True)), -1, 1)
        return (lp, *rest)
    return wrapped


_CE_BAD = [({"label_smoothing": 1.5}, ValueError), ({"label_smoothing": -0.1}, ValueError),
           ({"ignore_index": 1.5}, TypeError), ({"axis": 3}, ValueError), ({"axis": 1.0}, TypeError)]

CASES = [
    # binary cross-entropy on probabilities
    LossCase("bce", lossapi.binary_cross_entropy, _probs(), R.binary_cross_entropy),
    LossCase("bce_soft", lossapi.binary_cross_entropy, _probs(soft=True), R.binary_cross_entropy),
    LossCase("bce_weight", _BCE, _probs(weight_shape=(5,)), _BCE_R),
    LossCase("bce_weight_full", _BCE, _probs(weight_shape=(4, 5)), _BCE_R),
    # binary cross-entropy on logits
    LossCase("bce_logits", lossapi.binary_cross_entropy_with_logits, _logits_binary(),
             R.binary_cross_entropy_with_logits),
    LossCase("bce_logits_soft", lossapi.binary_cross_entropy_with_logits, _logits_binary(soft=True),
             R.binary_cross_entropy_with_logits),
    LossCase("bce_logits_weight", _BCEL_W, _logits_binary(extra_shapes=[(4, 1)]), _BCEL_W_R),
    LossCase("bce_logits_pos_weight", _BCEL_PW, _logits_binary(extra_shapes=[(5,)]), _BCEL_PW_R),
    LossCase("bce_logits_both_3d", _BCEL_BOTH, _logits_binary((2, 3, 4), soft=True, extra_shapes=[(3, 4), (4,)]),
             _BCEL_BOTH_R),
    # cross-entropy, integer labels
    LossCase("ce", _CE, _logits_int(), _CE_R, bad_options=_CE_BAD),
    LossCase("ce_axis1", _CE, _logits_int(axis=1), _CE_R, kwargs={"axis": 1}),
    LossCase("ce_weight", _CE, _logits_int(extra=("w",)), _CE_R),
    LossCase("ce_ignore", _CE, _logits_int(ignore=-100), _CE_R, kwargs={"ignore_index": -100}),
    LossCase("ce_ignore_in_range", _CE, _logits_int(ignore=2), _CE_R, kwargs={"ignore_index": 2}),
    LossCase("ce_smooth", _CE, _logits_int(), _CE_R, kwargs={"label_smoothing": 0.1}),
    LossCase("ce_weight_ignore_smooth", _CE, _logits_int(extra=("w",), ignore=-1), _CE_R,
             kwargs={"ignore_index": -1, "label_smoothing": 0.2}),
    LossCase("ce_weight_ignore_smooth_axis1", _CE, _logits_int(axis=1, extra=("w",), ignore=-100), _CE_R,
             kwargs={"axis": 1, "ignore_index": -100, "label_smoothing": 0.3}),
    # cross-entropy, probability targets
    LossCase("ce_z_loss", _CE, _logits_int(), _CE_R, kwargs={"z_loss": 1e-2},
             bad_options=[({"z_loss": -0.1}, ValueError), ({"softcap": 0.0}, ValueError),
                          ({"softcap": "30"}, TypeError), ({"z_loss": None}, TypeError)]),
    LossCase("ce_softcap", _CE, _logits_int(), _CE_R, kwargs={"softcap": 1.5}),
    LossCase("ce_z_loss_softcap_weight_ignore_smooth", _CE, _logits_int(extra=("w",), ignore=-1), _CE_R,
             kwargs={"z_loss": 0.05, "softcap": 2.0, "ignore_index": -1, "label_smoothing": 0.1}),
    LossCase("ce_probs_z_loss_softcap", _CE, _logits_int(probs=True), _CE_R, kwargs={"z_loss": 0.05, "softcap": 2.0}),
    LossCase("ce_probs", _CE, _logits_int(probs=True), _CE_R),
    LossCase("ce_probs_weight_smooth", _CE, _logits_int(probs=True, extra=("w",)), _CE_R,
             kwargs={"label_smoothing": 0.15}),
    LossCase("ce_probs_axis1", _CE, _logits_int(axis=1, probs=True), _CE_R, kwargs={"axis": 1}),
    # nll
    LossCase("nll", _NLL, _log_probs(_logits_int()), _NLL_R,
             bad_options=[({"ignore_index": "x"}, TypeError), ({"axis": -3}, ValueError)]),
    LossCase("nll_weight_ignore_axis1", _NLL, _log_probs(_logits_int(axis=1, extra=("w",), ignore=-100)), _NLL_R,
             kwargs={"axis": 1, "ignore_index": -100}),
    # binary focal
    LossCase("binary_focal", lossapi.binary_focal, _logits_binary(), R.binary_focal,
             bad_options=[({"gamma": -1.0}, ValueError), ({"gamma": "2"}, TypeError), ({"alpha": 1.5}, ValueError),
                          ({"alpha": -0.1}, ValueError)]),
    LossCase("binary_focal_g0", lossapi.binary_focal, _logits_binary(), R.binary_focal, kwargs={"gamma": 0.0}),
    LossCase("binary_focal_g05_alpha", lossapi.binary_focal, _logits_binary(), R.binary_focal,
             kwargs={"gamma": 0.5, "alpha": 0.25}),
    LossCase("binary_focal_soft", lossapi.binary_focal, _logits_binary(soft=True), R.binary_focal,
             kwargs={"gamma": 2.0, "alpha": 0.75}),
    LossCase("binary_focal_soft_g05", lossapi.binary_focal, _logits_binary(soft=True), R.binary_focal,
             kwargs={"gamma": 0.5}),
    # multiclass focal
    LossCase("focal", lossapi.focal, _logits_int(), R.focal,
             bad_options=[({"gamma": -0.5}, ValueError), ({"gamma": None}, TypeError)]),
    LossCase("focal_g0", lossapi.focal, _logits_int(), R.focal, kwargs={"gamma": 0.0}),
    LossCase("focal_g05_alpha", _FOCAL_A, _logits_int(extra=("a",)), _FOCAL_A_R, kwargs={"gamma": 0.5}),
    LossCase("focal_alpha_ignore_axis1", _FOCAL_A, _logits_int(axis=1, extra=("a",), ignore=-100), _FOCAL_A_R,
             kwargs={"gamma": 2.0, "axis": 1, "ignore_index": -100}),
    # margins
    LossCase("hinge", lossapi.hinge, _signed, R.hinge),
    LossCase("squared_hinge", lossapi.squared_hinge, _signed, R.squared_hinge),
    LossCase("soft_margin", lossapi.soft_margin, _signed, R.soft_margin),
    # Margins to +-120: log1p(exp(-t s)) overflows float32 beyond ~88; the softplus form does not.
    LossCase("soft_margin_wide_3d", lossapi.soft_margin, _signed_wide, R.soft_margin),
    LossCase("multiclass_hinge_cs", lossapi.multiclass_hinge, _margins("crammer_singer"), R.multiclass_hinge,
             bad_options=[({"margin": -1.0}, ValueError), ({"form": "one_vs_rest"}, ValueError),
                          ({"margin": "1"}, TypeError)]),
    LossCase("multiclass_hinge_ww", lossapi.multiclass_hinge, _margins("weston_watkins"), R.multiclass_hinge,
             kwargs={"form": "weston_watkins"}),
    LossCase("multiclass_hinge_cs_m05", lossapi.multiclass_hinge, _margins("crammer_singer", 0.5),
             R.multiclass_hinge, kwargs={"margin": 0.5}),
    LossCase("multiclass_hinge_ww_m05", lossapi.multiclass_hinge, _margins("weston_watkins", 0.5),
             R.multiclass_hinge, kwargs={"form": "weston_watkins", "margin": 0.5}),
    # Poly-1
    LossCase("poly1", lossapi.poly1, _logits_int(), R.poly1, bad_options=[({"epsilon": -2.0}, ValueError)]),
    LossCase("poly1_weight_ignore_smooth", _POLY_W, _logits_int(extra=("w",), ignore=-100), _POLY_W_R,
             kwargs={"epsilon": 2.0, "ignore_index": -100, "label_smoothing": 0.1}),
    LossCase("poly1_probs", lossapi.poly1, _logits_int(probs=True), R.poly1, kwargs={"epsilon": -0.5}),
    LossCase("poly1_probs_weight_smooth_axis1", _POLY_W, _logits_int(axis=1, probs=True, extra=("w",)), _POLY_W_R,
             kwargs={"axis": 1, "label_smoothing": 0.2}),
    # multiclass hinge: torch's multi_margin_loss options p and weight, both forms
    LossCase("multiclass_hinge_ww_p2", lossapi.multiclass_hinge, _margins("weston_watkins"), R.multiclass_hinge,
             kwargs={"form": "weston_watkins", "p": 2},
             bad_options=[({"p": 3}, ValueError), ({"p": True}, TypeError), ({"p": "2"}, TypeError)]),
    LossCase("multiclass_hinge_ww_weight", _MCH_W, _with_class_weight(_margins("weston_watkins")), _MCH_W_R,
             kwargs={"form": "weston_watkins"}),
    LossCase("multiclass_hinge_ww_p2_weight_m05", _MCH_W, _with_class_weight(_margins("weston_watkins", 0.5)),
             _MCH_W_R, kwargs={"form": "weston_watkins", "p": 2, "margin": 0.5}),
    LossCase("multiclass_hinge_cs_p2_weight", _MCH_W, _with_class_weight(_margins("crammer_singer")), _MCH_W_R,
             kwargs={"p": 2}),
    # multi-label
    LossCase("multilabel_margin", lossapi.multilabel_margin, _label_lists(), R.multilabel_margin),
    LossCase("multilabel_margin_1d", lossapi.multilabel_margin, _label_lists((5,)), R.multilabel_margin),
    LossCase("multilabel_margin_3d", lossapi.multilabel_margin, _label_lists((2, 3, 4)), R.multilabel_margin),
    LossCase("multilabel_soft_margin", lossapi.multilabel_soft_margin, _logits_binary((6, 5)),
             R.multilabel_soft_margin),
    LossCase("multilabel_soft_margin_weight_soft", _MLSM_W, _logits_binary((6, 5), soft=True, extra_shapes=[(5,)]),
             _MLSM_W_R),
    LossCase("multilabel_soft_margin_1d", lossapi.multilabel_soft_margin, _logits_binary((7,)),
             R.multilabel_soft_margin),
    LossCase("multilabel_soft_margin_weight_3d", _MLSM_W, _logits_binary((2, 3, 4), extra_shapes=[(3, 1)]),
             _MLSM_W_R),
    # Keras's binary label smoothing (issue 14)
    LossCase("bce_smooth", lossapi.binary_cross_entropy, _probs(), R.binary_cross_entropy,
             kwargs={"label_smoothing": 0.1},
             bad_options=[({"label_smoothing": 1.5}, ValueError), ({"label_smoothing": "0.1"}, TypeError)]),
    LossCase("bce_smooth_weight_soft", _BCE, _probs(soft=True, weight_shape=(5,)), _BCE_R,
             kwargs={"label_smoothing": 0.3}),
    LossCase("bce_logits_smooth", lossapi.binary_cross_entropy_with_logits, _logits_binary(),
             R.binary_cross_entropy_with_logits, kwargs={"label_smoothing": 0.2},
             bad_options=[({"label_smoothing": -0.1}, ValueError)]),
    LossCase("bce_logits_smooth_both_3d", _BCEL_BOTH, _logits_binary((2, 3, 4), extra_shapes=[(3, 4), (4,)]),
             _BCEL_BOTH_R, kwargs={"label_smoothing": 0.1}),
    LossCase("binary_focal_smooth", lossapi.binary_focal, _logits_binary(), R.binary_focal,
             kwargs={"gamma": 2.0, "alpha": 0.25, "label_smoothing": 0.1},
             bad_options=[({"label_smoothing": 2.0}, ValueError)]),
    LossCase("binary_focal_smooth_g05", lossapi.binary_focal, _logits_binary(), R.binary_focal,
             kwargs={"gamma": 0.5, "label_smoothing": 0.2}),
    # optax's remaining classification losses (issue 14)
    LossCase("sparsemax_loss", lossapi.sparsemax_loss, _sparse_logits(), R.sparsemax_loss),
    LossCase("sparsemax_loss_soft_3d", lossapi.sparsemax_loss, _sparse_logits((2, 3, 4), soft=True),
             R.sparsemax_loss),
    LossCase("perceptron", lossapi.perceptron, _signed_off_zero, R.perceptron),
    LossCase("multiclass_sparsemax", lossapi.multiclass_sparsemax, _logits_int(), R.multiclass_sparsemax,
             bad_options=[({"axis": 2}, ValueError)]),
    LossCase("multiclass_sparsemax_axis1", lossapi.multiclass_sparsemax, _logits_int(axis=1),
             R.multiclass_sparsemax, kwargs={"axis": 1}),
    LossCase("multiclass_sparsemax_wide", lossapi.multiclass_sparsemax, _wide_logits, R.multiclass_sparsemax),
    LossCase("multiclass_perceptron", lossapi.multiclass_perceptron, _margins("crammer_singer", 0.0),
             R.multiclass_perceptron, bad_options=[({"axis": 1.0}, TypeError)]),
    LossCase("generalized_cross_entropy", lossapi.generalized_cross_entropy, _logits_int(),
             R.generalized_cross_entropy,
             bad_options=[({"q": 0.0}, ValueError), ({"q": 1.5}, ValueError), ({"q": "0.7"}, TypeError),
                          ({"ignore_index": 0.5}, TypeError)]),
    LossCase("generalized_cross_entropy_q03_ignore", lossapi.generalized_cross_entropy, _logits_int(ignore=-100),
             R.generalized_cross_entropy, kwargs={"q": 0.3, "ignore_index": -100}),
    LossCase("generalized_cross_entropy_q1_axis1", lossapi.generalized_cross_entropy, _logits_int(axis=1),
             R.generalized_cross_entropy, kwargs={"q": 1.0, "axis": 1}),
    LossCase("asymmetric", lossapi.asymmetric, _logits_binary((6, 5)), R.asymmetric,
             bad_options=[({"gamma_neg": -1.0}, ValueError), ({"gamma_pos": "1"}, TypeError),
                          ({"clip": 1.0}, ValueError), ({"clip": -0.1}, ValueError),
                          ({"detach_weights": 1}, TypeError)]),
    LossCase("asymmetric_clip0", lossapi.asymmetric, _logits_binary((6, 5)), R.asymmetric, kwargs={"clip": 0.0}),
    LossCase("asymmetric_gammas_frac_3d", lossapi.asymmetric, _logits_binary((2, 3, 4)), R.asymmetric,
             kwargs={"gamma_neg": 2.5, "gamma_pos": 0.5, "clip": 0.1}),
    LossCase("asymmetric_clip0_gamma_frac_1d", lossapi.asymmetric, _logits_binary((7,)), R.asymmetric,
             kwargs={"gamma_neg": 1.5, "gamma_pos": 0.0, "clip": 0.0}),
]
