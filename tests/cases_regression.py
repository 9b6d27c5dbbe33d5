"""Checklist records for the regression family.

References are written from the formulas in the guides / torch docs, in
float64 NumPy, independently of lossapi.
"""

from __future__ import annotations

import math

import numpy as np

import lossapi
from cases import LossCase, reduce_np


def _pair(shape=(4, 5), scale=2.0, positive=False):
    def make(rng):
        p = rng.normal(size=shape) * scale
        t = rng.normal(size=shape) * scale
        if positive:
            p, t = np.abs(p) + 0.1, np.abs(t) + 0.1
        return p, t
    return make


def ref_mse(p, t, reduction):
    return reduce_np((p - t) ** 2, reduction)


def ref_mae(p, t, reduction):
    return reduce_np(np.abs(p - t), reduction)


def ref_huber(p, t, reduction, delta=1.0):
    r = np.abs(p - t)
    return reduce_np(np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta)), reduction)


def ref_smooth_l1(p, t, reduction, beta=1.0):
    r = np.abs(p - t)
    if beta == 0:
        return reduce_np(r, reduction)
    return reduce_np(np.where(r < beta, 0.5 * r**2 / beta, r - 0.5 * beta), reduction)


def ref_log_cosh(p, t, reduction):
    # log(cosh(r)) via logaddexp(r, -r) - log 2: exact in float64 for |r| < 700.
    r = p - t
    return reduce_np(np.logaddexp(r, -r) - math.log(2), reduction)


def ref_mape(p, t, reduction, eps=1.17e-6):
    return reduce_np(100 * np.abs(p - t) / np.maximum(np.abs(t), eps), reduction)


def ref_smape(p, t, reduction, eps=1.17e-6):
    return reduce_np(200 * np.abs(p - t) / np.maximum(np.abs(p) + np.abs(t), eps), reduction)


def ref_msle(p, t, reduction):
    return reduce_np((np.log(1 + np.clip(p, 0, None)) - np.log(1 + np.clip(t, 0, None))) ** 2, reduction)


def ref_pinball(p, t, reduction, quantile=0.5):
    r = t - p
    return reduce_np(np.maximum(quantile * r, (quantile - 1) * r), reduction)


def ref_poisson(p, t, reduction, log_input=True, full=False, eps=1e-8):
    loss = np.exp(p) - t * p if log_input else p - t * np.log(p + eps)
    if full:
        with np.errstate(divide="ignore", invalid="ignore"):
            st = t * np.log(t) - t + 0.5 * np.log(2 * np.pi * t)
        loss = loss + np.where(t > 1, st, 0.0)
    return reduce_np(loss, reduction)


def ref_gaussian(m, t, v, reduction, full=False, eps=1e-6):
    if v.shape != t.shape:
        v = v.reshape(t.shape[:-1] + (1,))
    v = np.maximum(v, eps)
    loss = 0.5 * (np.log(v) + (m - t) ** 2 / v)
    if full:
        loss = loss + 0.5 * np.log(2 * np.pi)
    return reduce_np(loss, reduction)


def _counts(rng):
    p = rng.normal(size=(3, 4)) * 0.5
    t = rng.poisson(3.0, size=(3, 4)).astype(np.float64)
    return p, t


def _rates(rng):
    p = rng.uniform(0.2, 3.0, size=(3, 4))
    t = rng.poisson(2.0, size=(3, 4)).astype(np.float64)
    return p, t


def _gauss(shape_v):
    def make(rng):
        m = rng.normal(size=(3, 4))
        t = rng.normal(size=(3, 4))
        v = rng.uniform(0.3, 2.0, size=shape_v)
        return m, t, v
    return make


# Residuals away from the kinks so finite differences are meaningful.
def _away_from(points):
    def make(rng):
        p = rng.normal(size=(4, 5)) * 2
        t = rng.normal(size=(4, 5)) * 2
        r = p - t
        for k in points:
            close = np.abs(np.abs(r) - k) < 1e-3
            p = np.where(close, p + 0.01, p)
            r = p - t
        return p, t
    return make


CASES = [
    LossCase("mse", lossapi.mse, _pair(), ref_mse),
    LossCase("mae", lossapi.mae, _away_from([0.0]), ref_mae),
    LossCase("huber", lossapi.huber, _away_from([0.0, 1.0]), ref_huber,
             bad_options=[({"delta": 0.0}, ValueError), ({"delta": -1.0}, ValueError), ({"delta": "1"}, TypeError)]),
    LossCase("huber_d2", lossapi.huber, _away_from([0.0, 2.0]), ref_huber, kwargs={"delta": 2.0}),
    LossCase("smooth_l1", lossapi.smooth_l1, _away_from([0.0, 1.0]), ref_smooth_l1,
             bad_options=[({"beta": -0.5}, ValueError)]),
    LossCase("smooth_l1_b0", lossapi.smooth_l1, _away_from([0.0]), ref_smooth_l1, kwargs={"beta": 0.0}),
    LossCase("smooth_l1_b05", lossapi.smooth_l1, _away_from([0.0, 0.5]), ref_smooth_l1, kwargs={"beta": 0.5}),
    LossCase("log_cosh", lossapi.log_cosh, _pair(), ref_log_cosh),
    LossCase("mape", lossapi.mape, _away_from([0.0]), ref_mape, bad_options=[({"eps": 0.0}, ValueError)]),
    LossCase("smape", lossapi.smape, _away_from([0.0]), ref_smape),
    LossCase("msle", lossapi.msle, _pair(positive=True), ref_msle),
    LossCase("pinball", lossapi.pinball, _away_from([0.0]), ref_pinball, kwargs={"quantile": 0.9},
             bad_options=[({"quantile": 1.5}, ValueError), ({"quantile": -0.1}, ValueError)]),
    LossCase("poisson_nll", lossapi.poisson_nll, _counts, ref_poisson),
    LossCase("poisson_nll_full", lossapi.poisson_nll, _counts, ref_poisson, kwargs={"full": True}),
    LossCase("poisson_nll_rate", lossapi.poisson_nll, _rates, ref_poisson, kwargs={"log_input": False}),
    LossCase("gaussian_nll", lossapi.gaussian_nll, _gauss((3, 4)), ref_gaussian, grad_args=(0, 2)),
    LossCase("gaussian_nll_full_homo", lossapi.gaussian_nll, _gauss((3, 1)), ref_gaussian,
             kwargs={"full": True}, grad_args=(0, 2)),
    LossCase("gaussian_nll_dropped_axis", lossapi.gaussian_nll, _gauss((3,)), ref_gaussian, grad_args=(0, 2),
             shape_check=False),
]
