"""Checklist records for the divergence family.

References are float64 NumPy computations written from the formulas in the
guides (reference-guide section 3, loss-functions-notes sections 7 and 15),
independently of lossapi.
"""

from __future__ import annotations

import functools

import numpy as np

import lossapi
from cases import LossCase, reduce_np


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _probs(shape=(4, 5), axis=-1, zeros_in_p=False):
    def make(rng):
        p = _softmax(rng.normal(size=shape), axis)
        q = _softmax(rng.normal(size=shape), axis)
        if zeros_in_p:
            # Knock out some entries of p and renormalise; q stays positive.
            keep = rng.uniform(size=shape) > 0.4
            keep[..., 0] = True
            p = p * keep
            p = p / p.sum(axis=axis, keepdims=True)
        return p, q
    return make


def _log_probs(shape=(4, 5)):
    def make(rng):
        p, q = _probs(shape)(rng)
        return np.log(p), np.log(q)
    return make


def _plogp_over_q(p, q):
    # p * log(p / q) with 0 log 0 = 0, written without lossapi's xlogy.
    out = np.zeros_like(p)
    pos = p > 0
    out[pos] = p[pos] * (np.log(p[pos]) - np.log(q[pos]))
    return out


def ref_kl(p, q, reduction, axis=-1):
    return reduce_np(np.sum(_plogp_over_q(p, q), axis=axis), reduction)


def ref_kl_log(lp, lq, reduction, axis=-1):
    return reduce_np(np.sum(np.exp(lp) * (lp - lq), axis=axis), reduction)


def ref_js(p, q, reduction, axis=-1):
    m = (p + q) / 2
    js = 0.5 * np.sum(_plogp_over_q(p, m), axis=axis) + 0.5 * np.sum(_plogp_over_q(q, m), axis=axis)
    return reduce_np(js, reduction)


def ref_gaussian_kl(mu, lv, reduction, axis=-1):
    # The notes' closed form, written as in its VAELoss: -0.5 * (1 + lv - mu^2 - e^lv).
    return reduce_np(-0.5 * np.sum(1 + lv - mu**2 - np.exp(lv), axis=axis), reduction)


def _latent(shape=(4, 3)):
    def make(rng):
        return rng.normal(size=shape), rng.normal(size=shape) * 0.8
    return make


# --- VAE ---------------------------------------------------------------------

def ref_vae(recon, x, mu, lv, reduction, beta=1.0, reconstruction="bce", part="total"):
    """The notes' VAELoss (section 15) per sample, in float64 loops."""
    n = recon.shape[0]
    rec = np.zeros(n)
    kl = np.zeros(n)
    for i in range(n):
        r, t = recon[i].ravel(), x[i].ravel()
        if reconstruction == "bce":
            # torch's binary_cross_entropy: each log clamped at -100.
            lr = np.maximum(np.log(r), -100.0)
            l1r = np.maximum(np.log(1 - r), -100.0)
            rec[i] = -np.sum(t * lr + (1 - t) * l1r)
        else:
            rec[i] = np.sum((r - t) ** 2)
        m, v = mu[i].ravel(), lv[i].ravel()
        kl[i] = -0.5 * np.sum(1 + v - m**2 - np.exp(v))
    vals = {"total": rec + beta * kl, "reconstruction": rec, "kl": kl}[part]
    if reduction == "none":
        return vals
    return vals.sum() if reduction == "sum" else vals.sum() / n


def _vae_inputs(shape=(4, 6), latent=3, binary=False):
    def make(rng):
        recon = rng.uniform(0.05, 0.95, size=shape)
        x = (rng.uniform(size=shape) > 0.5).astype(np.float64) if binary else rng.uniform(size=shape)
        mu = rng.normal(size=(shape[0], latent))
        lv = rng.normal(size=(shape[0], latent)) * 0.5
        return recon, x, mu, lv
    return make


def _vae_part(part):
    """A checklist view of one field of vae_loss's NamedTuple (the checklist
    expects an array); named vae_loss so error-message checks still match."""
    def fn(*args, **kwargs):
        return getattr(lossapi.vae_loss(*args, **kwargs), part)
    fn.__name__ = "vae_loss"
    return fn


def _vae_case(id, part, make, **kwargs):
    # Each part is checked against the inputs it depends on (torch refuses
    # gradients of unused inputs).
    grad_args = {"total": (0, 2, 3), "reconstruction": (0,), "kl": (2, 3)}[part]
    return LossCase(id, _vae_part(part), make, functools.partial(ref_vae, part=part), kwargs=kwargs,
                    grad_args=grad_args,
                    bad_options=[({"beta": -1.0}, ValueError), ({"reconstruction": "l1"}, ValueError)])


_KL_BAD = [({"axis": 2}, ValueError), ({"axis": 1.0}, TypeError)]

CASES = [
    LossCase("kl_divergence", lossapi.kl_divergence, _probs(), ref_kl, grad_args=(0, 1), bad_options=_KL_BAD),
    LossCase("kl_divergence_axis1_3d", lossapi.kl_divergence, _probs((2, 4, 3), axis=1), ref_kl,
             kwargs={"axis": 1}, grad_args=(0, 1)),
    LossCase("kl_divergence_1d", lossapi.kl_divergence, _probs((6,)), ref_kl, grad_args=(0, 1)),
    # Zeros in p: the value is finite; only q's gradient is checked (p - h < 0
    # would leave the reference's domain).
    LossCase("kl_divergence_zeros_in_p", lossapi.kl_divergence, _probs(zeros_in_p=True), ref_kl, grad_args=(1,)),
    LossCase("kl_divergence_log", lossapi.kl_divergence_log, _log_probs(), ref_kl_log, grad_args=(0, 1),
             bad_options=_KL_BAD),
    LossCase("kl_divergence_log_axis0", lossapi.kl_divergence_log, _log_probs((5, 3)), ref_kl_log,
             kwargs={"axis": 0}, grad_args=(0, 1)),
    LossCase("js_divergence", lossapi.js_divergence, _probs(), ref_js, grad_args=(0, 1), bad_options=_KL_BAD),
    LossCase("js_divergence_axis0", lossapi.js_divergence, _probs((5, 3), axis=0), ref_js,
             kwargs={"axis": 0}, grad_args=(0, 1)),
    LossCase("gaussian_kl", lossapi.gaussian_kl, _latent(), ref_gaussian_kl, grad_args=(0, 1),
             bad_options=[({"axis": -3}, ValueError)]),
    LossCase("gaussian_kl_3d_axis1", lossapi.gaussian_kl, _latent((2, 3, 2)), ref_gaussian_kl,
             kwargs={"axis": 1}, grad_args=(0, 1)),
    _vae_case("vae_loss_total_bce", "total", _vae_inputs()),
    _vae_case("vae_loss_recon_bce_binary", "reconstruction", _vae_inputs(binary=True)),
    _vae_case("vae_loss_kl", "kl", _vae_inputs()),
    _vae_case("vae_loss_total_mse_beta", "total", _vae_inputs(), reconstruction="mse", beta=0.25),
    _vae_case("vae_loss_total_bce_3d", "total", _vae_inputs(shape=(3, 2, 4)), beta=2.0),
]
