"""Checklist records for the regression family (references: conformance/reference.py)."""

from __future__ import annotations

import numpy as np

import lossapi
from cases import LossCase
from conformance import reference as R


def _pair(shape=(4, 5), scale=2.0, positive=False):
    def make(rng):
        p = rng.normal(size=shape) * scale
        t = rng.normal(size=shape) * scale
        if positive:
            p, t = np.abs(p) + 0.1, np.abs(t) + 0.1
        return p, t
    return make


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
    LossCase("mse", lossapi.mse, _pair(), R.mse),
    LossCase("mae", lossapi.mae, _away_from([0.0]), R.mae),
    LossCase("huber", lossapi.huber, _away_from([0.0, 1.0]), R.huber,
             bad_options=[({"delta": 0.0}, ValueError), ({"delta": -1.0}, ValueError), ({"delta": "1"}, TypeError)]),
    LossCase("huber_d2", lossapi.huber, _away_from([0.0, 2.0]), R.huber, kwargs={"delta": 2.0}),
    LossCase("smooth_l1", lossapi.smooth_l1, _away_from([0.0, 1.0]), R.smooth_l1,
             bad_options=[({"beta": -0.5}, ValueError)]),
    LossCase("smooth_l1_b0", lossapi.smooth_l1, _away_from([0.0]), R.smooth_l1, kwargs={"beta": 0.0}),
    LossCase("smooth_l1_b05", lossapi.smooth_l1, _away_from([0.0, 0.5]), R.smooth_l1, kwargs={"beta": 0.5}),
    LossCase("log_cosh", lossapi.log_cosh, _pair(), R.log_cosh),
    LossCase("mape", lossapi.mape, _away_from([0.0]), R.mape, bad_options=[({"eps": 0.0}, ValueError)]),
    LossCase("smape", lossapi.smape, _away_from([0.0]), R.smape),
    LossCase("msle", lossapi.msle, _pair(positive=True), R.msle),
    LossCase("pinball", lossapi.pinball, _away_from([0.0]), R.pinball, kwargs={"quantile": 0.9},
             bad_options=[({"quantile": 1.5}, ValueError), ({"quantile": -0.1}, ValueError)]),
    LossCase("poisson_nll", lossapi.poisson_nll, _counts, R.poisson_nll),
    LossCase("poisson_nll_full", lossapi.poisson_nll, _counts, R.poisson_nll, kwargs={"full": True}),
    LossCase("poisson_nll_rate", lossapi.poisson_nll, _rates, R.poisson_nll, kwargs={"log_input": False}),
    LossCase("gaussian_nll", lossapi.gaussian_nll, _gauss((3, 4)), R.gaussian_nll, grad_args=(0, 2)),
    LossCase("gaussian_nll_full_homo", lossapi.gaussian_nll, _gauss((3, 1)), R.gaussian_nll,
             kwargs={"full": True}, grad_args=(0, 2)),
    LossCase("gaussian_nll_dropped_axis", lossapi.gaussian_nll, _gauss((3,)), R.gaussian_nll, grad_args=(0, 2),
             shape_check=False),
]
