"""Checklist records for the classification family.

References are float64 NumPy written from the definitions (torch's documented
semantics for binary_cross_entropy[_with_logits], cross_entropy and nll_loss;
torchvision's sigmoid_focal_loss; Lin et al. 2017; Crammer & Singer 2001;
Weston & Watkins 1999; Leng et al. 2022), with per-sample loops where a loop
reads more plainly, never by calling lossapi.
"""

from __future__ import annotations

import numpy as np

import lossapi
from cases import LossCase, reduce_np


def _kw(fn, *names):
    """``fn`` taking its trailing keyword arrays (class weights...) positionally,
    so the checklist converts them to the backend like the other inputs."""
    def call(pred, target, *arrays, **kwargs):
        return fn(pred, target, **dict(zip(names, arrays)), **kwargs)
    call.__name__ = fn.__name__
    return call


# --- references -----------------------------------------------------------------


def _f64(ref):
    """Floating inputs as float64 (ml_dtypes.bfloat16 arrays have dtype kind
    "V", so the checklist's rounding hands them over unconverted)."""
    def wrapped(*arrays, **kwargs):
        conv = [a if a is None or a.dtype.kind in "iub" else np.asarray(a, dtype=np.float64) for a in arrays]
        return ref(*conv, **kwargs)
    return wrapped


def _logsig(x):
    return -np.logaddexp(0.0, -x)  # log(sigmoid(x)), exact in float64


@_f64
def ref_bce(p, t, weight=None, *, reduction):
    lp = np.maximum(np.log(p), -100.0)
    lq = np.maximum(np.log(1.0 - p), -100.0)
    loss = -(t * lp + (1 - t) * lq)
    if weight is not None:
        loss = loss * weight
    return reduce_np(loss, reduction)


@_f64
def ref_bce_logits(x, t, weight=None, pos_weight=None, *, reduction):
    pw = 1.0 if pos_weight is None else pos_weight
    loss = -(pw * t * _logsig(x) + (1 - t) * _logsig(-x))
    if weight is not None:
        loss = loss * weight
    return reduce_np(loss, reduction)


def _samples(z, axis):
    """Scores with the class axis last, flattened to [n, C]."""
    z = np.moveaxis(z, axis, -1)
    return z.reshape(-1, z.shape[-1]), z.shape[:-1]


def _log_softmax_rows(z):
    out = np.empty_like(z)
    for i, row in enumerate(z):
        m = row.max()
        out[i] = row - (m + np.log(np.sum(np.exp(row - m))))
    return out


@_f64
def ref_ce(z, y, weight=None, *, axis=-1, ignore_index=None, label_smoothing=0.0, reduction):
    rows, shape = _samples(z, axis)
    logp = _log_softmax_rows(rows)
    n, c = logp.shape
    w = np.ones(c) if weight is None else weight
    eps = label_smoothing
    losses, denom = np.zeros(n), 0.0
    if y.dtype.kind == "f":  # probabilities
        q = _samples(y, axis)[0] * (1 - eps) + eps / c
        for i in range(n):
            losses[i] = -sum(w[k] * q[i, k] * logp[i, k] for k in range(c))
        return reduce_np(losses.reshape(shape), reduction)
    labels = y.reshape(-1)
    for i in range(n):
        if ignore_index is not None and labels[i] == ignore_index:
            continue
        k = labels[i]
        losses[i] = (1 - eps) * w[k] * -logp[i, k] + eps / c * sum(-w[j] * logp[i, j] for j in range(c))
        denom += w[k]
    if reduction == "mean":
        return np.asarray(losses.sum() / denom)
    return reduce_np(losses.reshape(shape), reduction)


@_f64
def ref_nll(lp, y, weight=None, *, axis=-1, ignore_index=None, reduction):
    rows, shape = _samples(lp, axis)
    n, c = rows.shape
    w = np.ones(c) if weight is None else weight
    labels = y.reshape(-1)
    losses, denom = np.zeros(n), 0.0
    for i in range(n):
        if ignore_index is not None and labels[i] == ignore_index:
            continue
        losses[i] = -w[labels[i]] * rows[i, labels[i]]
        denom += w[labels[i]]
    if reduction == "mean":
        return np.asarray(losses.sum() / denom)
    return reduce_np(losses.reshape(shape), reduction)


@_f64
def ref_binary_focal(x, t, *, gamma=2.0, alpha=None, reduction):
    # torchvision.ops.sigmoid_focal_loss, written out in float64.
    p = 1.0 / (1.0 + np.exp(-x))
    ce = -(t * _logsig(x) + (1 - t) * _logsig(-x))
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return reduce_np(loss, reduction)


@_f64
def ref_focal(z, y, alpha=None, *, gamma=2.0, axis=-1, ignore_index=None, reduction):
    rows, shape = _samples(z, axis)
    logp = _log_softmax_rows(rows)
    labels = y.reshape(-1)
    losses, count = np.zeros(len(labels)), 0
    for i, k in enumerate(labels):
        if ignore_index is not None and k == ignore_index:
            continue
        p = np.exp(logp[i, k])
        a = 1.0 if alpha is None else alpha[k]
        losses[i] = -a * (1 - p) ** gamma * logp[i, k]
        count += 1
    if reduction == "mean":
        return np.asarray(losses.sum() / count)
    return reduce_np(losses.reshape(shape), reduction)


@_f64
def ref_hinge(s, t, *, reduction):
    return reduce_np(np.maximum(0.0, 1 - t * s), reduction)


@_f64
def ref_squared_hinge(s, t, *, reduction):
    return reduce_np(np.maximum(0.0, 1 - t * s) ** 2, reduction)


@_f64
def ref_multiclass_hinge(s, y, *, margin=1.0, form="crammer_singer", axis=-1, reduction):
    rows, shape = _samples(s, axis)
    labels = y.reshape(-1)
    losses = np.zeros(len(labels))
    for i, k in enumerate(labels):
        viol = [max(0.0, margin - rows[i, k] + rows[i, j]) for j in range(rows.shape[1]) if j != k]
        losses[i] = (max(viol) if viol else 0.0) if form == "crammer_singer" else sum(viol)
    return reduce_np(losses.reshape(shape), reduction)


@_f64
def ref_poly1(z, y, weight=None, *, epsilon=1.0, axis=-1, ignore_index=None, label_smoothing=0.0, reduction):
    rows, shape = _samples(z, axis)
    logp = _log_softmax_rows(rows)
    n, c = logp.shape
    w = np.ones(c) if weight is None else weight
    eps = label_smoothing
    if y.dtype.kind == "f":
        q = _samples(y, axis)[0]
    else:
        q = np.zeros((n, c))
        for i, k in enumerate(y.reshape(-1)):
            if ignore_index is None or k != ignore_index:
                q[i, k] = 1.0
    qs = q * (1 - eps) + eps / c
    losses, denom = np.zeros(n), 0.0
    for i in range(n):
        if not q[i].any():  # ignored sample
            continue
        ce = -np.sum(w * qs[i] * logp[i])
        pt = np.sum(qs[i] * np.exp(logp[i]))
        wt = np.sum(w * q[i])
        losses[i] = ce + epsilon * wt * (1 - pt)
        denom += wt
    if reduction == "mean":
        return np.asarray(losses.sum() / (denom if y.dtype.kind != "f" else n))
    return reduce_np(losses.reshape(shape), reduction)


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


_CE = _kw(lossapi.cross_entropy, "weight")
_NLL = _kw(lossapi.nll, "weight")
_BCE = _kw(lossapi.binary_cross_entropy, "weight")
_BCEL_W = _kw(lossapi.binary_cross_entropy_with_logits, "weight")
_BCEL_PW = _kw(lossapi.binary_cross_entropy_with_logits, "pos_weight")
_BCEL_BOTH = _kw(lossapi.binary_cross_entropy_with_logits, "weight", "pos_weight")
_FOCAL_A = _kw(lossapi.focal, "alpha")
_POLY_W = _kw(lossapi.poly1, "weight")


def _ref_bcel_pw(x, t, pw, *, reduction):
    return ref_bce_logits(x, t, None, pw, reduction=reduction)


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
    LossCase("bce", lossapi.binary_cross_entropy, _probs(), ref_bce),
    LossCase("bce_soft", lossapi.binary_cross_entropy, _probs(soft=True), ref_bce),
    LossCase("bce_weight", _BCE, _probs(weight_shape=(5,)), ref_bce),
    LossCase("bce_weight_full", _BCE, _probs(weight_shape=(4, 5)), ref_bce),
    # binary cross-entropy on logits
    LossCase("bce_logits", lossapi.binary_cross_entropy_with_logits, _logits_binary(), ref_bce_logits),
    LossCase("bce_logits_soft", lossapi.binary_cross_entropy_with_logits, _logits_binary(soft=True), ref_bce_logits),
    LossCase("bce_logits_weight", _BCEL_W, _logits_binary(extra_shapes=[(4, 1)]), ref_bce_logits),
    LossCase("bce_logits_pos_weight", _BCEL_PW, _logits_binary(extra_shapes=[(5,)]), _ref_bcel_pw),
    LossCase("bce_logits_both_3d", _BCEL_BOTH, _logits_binary((2, 3, 4), soft=True, extra_shapes=[(3, 4), (4,)]),
             ref_bce_logits),
    # cross-entropy, integer labels
    LossCase("ce", _CE, _logits_int(), ref_ce, bad_options=_CE_BAD),
    LossCase("ce_axis1", _CE, _logits_int(axis=1), ref_ce, kwargs={"axis": 1}),
    LossCase("ce_weight", _CE, _logits_int(extra=("w",)), ref_ce),
    LossCase("ce_ignore", _CE, _logits_int(ignore=-100), ref_ce, kwargs={"ignore_index": -100}),
    LossCase("ce_ignore_in_range", _CE, _logits_int(ignore=2), ref_ce, kwargs={"ignore_index": 2}),
    LossCase("ce_smooth", _CE, _logits_int(), ref_ce, kwargs={"label_smoothing": 0.1}),
    LossCase("ce_weight_ignore_smooth", _CE, _logits_int(extra=("w",), ignore=-1), ref_ce,
             kwargs={"ignore_index": -1, "label_smoothing": 0.2}),
    LossCase("ce_weight_ignore_smooth_axis1", _CE, _logits_int(axis=1, extra=("w",), ignore=-100), ref_ce,
             kwargs={"axis": 1, "ignore_index": -100, "label_smoothing": 0.3}),
    # cross-entropy, probability targets
    LossCase("ce_probs", _CE, _logits_int(probs=True), ref_ce),
    LossCase("ce_probs_weight_smooth", _CE, _logits_int(probs=True, extra=("w",)), ref_ce,
             kwargs={"label_smoothing": 0.15}),
    LossCase("ce_probs_axis1", _CE, _logits_int(axis=1, probs=True), ref_ce, kwargs={"axis": 1}),
    # nll
    LossCase("nll", _NLL, _log_probs(_logits_int()), ref_nll,
             bad_options=[({"ignore_index": "x"}, TypeError), ({"axis": -3}, ValueError)]),
    LossCase("nll_weight_ignore_axis1", _NLL, _log_probs(_logits_int(axis=1, extra=("w",), ignore=-100)), ref_nll,
             kwargs={"axis": 1, "ignore_index": -100}),
    # binary focal
    LossCase("binary_focal", lossapi.binary_focal, _logits_binary(), ref_binary_focal,
             bad_options=[({"gamma": -1.0}, ValueError), ({"gamma": "2"}, TypeError), ({"alpha": 1.5}, ValueError),
                          ({"alpha": -0.1}, ValueError)]),
    LossCase("binary_focal_g0", lossapi.binary_focal, _logits_binary(), ref_binary_focal, kwargs={"gamma": 0.0}),
    LossCase("binary_focal_g05_alpha", lossapi.binary_focal, _logits_binary(), ref_binary_focal,
             kwargs={"gamma": 0.5, "alpha": 0.25}),
    LossCase("binary_focal_soft", lossapi.binary_focal, _logits_binary(soft=True), ref_binary_focal,
             kwargs={"gamma": 2.0, "alpha": 0.75}),
    LossCase("binary_focal_soft_g05", lossapi.binary_focal, _logits_binary(soft=True), ref_binary_focal,
             kwargs={"gamma": 0.5}),
    # multiclass focal
    LossCase("focal", lossapi.focal, _logits_int(), ref_focal,
             bad_options=[({"gamma": -0.5}, ValueError), ({"gamma": None}, TypeError)]),
    LossCase("focal_g0", lossapi.focal, _logits_int(), ref_focal, kwargs={"gamma": 0.0}),
    LossCase("focal_g05_alpha", _FOCAL_A, _logits_int(extra=("a",)), ref_focal, kwargs={"gamma": 0.5}),
    LossCase("focal_alpha_ignore_axis1", _FOCAL_A, _logits_int(axis=1, extra=("a",), ignore=-100), ref_focal,
             kwargs={"gamma": 2.0, "axis": 1, "ignore_index": -100}),
    # margins
    LossCase("hinge", lossapi.hinge, _signed, ref_hinge),
    LossCase("squared_hinge", lossapi.squared_hinge, _signed, ref_squared_hinge),
    LossCase("multiclass_hinge_cs", lossapi.multiclass_hinge, _margins("crammer_singer"), ref_multiclass_hinge,
             bad_options=[({"margin": -1.0}, ValueError), ({"form": "one_vs_rest"}, ValueError),
                          ({"margin": "1"}, TypeError)]),
    LossCase("multiclass_hinge_ww", lossapi.multiclass_hinge, _margins("weston_watkins"), ref_multiclass_hinge,
             kwargs={"form": "weston_watkins"}),
    LossCase("multiclass_hinge_cs_m05", lossapi.multiclass_hinge, _margins("crammer_singer", 0.5),
             ref_multiclass_hinge, kwargs={"margin": 0.5}),
    LossCase("multiclass_hinge_ww_m05", lossapi.multiclass_hinge, _margins("weston_watkins", 0.5),
             ref_multiclass_hinge, kwargs={"form": "weston_watkins", "margin": 0.5}),
    # Poly-1
    LossCase("poly1", lossapi.poly1, _logits_int(), ref_poly1, bad_options=[({"epsilon": -2.0}, ValueError)]),
    LossCase("poly1_weight_ignore_smooth", _POLY_W, _logits_int(extra=("w",), ignore=-100), ref_poly1,
             kwargs={"epsilon": 2.0, "ignore_index": -100, "label_smoothing": 0.1}),
    LossCase("poly1_probs", lossapi.poly1, _logits_int(probs=True), ref_poly1, kwargs={"epsilon": -0.5}),
    LossCase("poly1_probs_weight_smooth_axis1", _POLY_W, _logits_int(axis=1, probs=True, extra=("w",)), ref_poly1,
             kwargs={"axis": 1, "label_smoothing": 0.2}),
]
