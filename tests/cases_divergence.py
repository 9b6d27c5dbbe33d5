"""Checklist records for the divergence family (references: conformance/reference.py)."""

from __future__ import annotations

import numpy as np

import lossapi
from cases import LossCase
from conformance import reference as R


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


def _measures(shape=(4, 5), zeros_in_p=False):
    """Positive, unnormalised measures (generalized_kl)."""
    def make(rng):
        p = rng.uniform(0.1, 3.0, size=shape)
        q = rng.uniform(0.1, 3.0, size=shape)
        if zeros_in_p:
            p = np.where(rng.uniform(size=shape) > 0.4, p, 0.0)
        return p, q
    return make


def _log_probs(shape=(4, 5)):
    def make(rng):
        p, q = _probs(shape)(rng)
        return np.log(p), np.log(q)
    return make


def _latent(shape=(4, 3)):
    def make(rng):
        return rng.normal(size=shape), rng.normal(size=shape) * 0.8
    return make


# --- VAE ---------------------------------------------------------------------

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


def _vae_ref(part):
    """The reference's value of one field of (total, reconstruction, kl)."""
    i = ("total", "reconstruction", "kl").index(part)

    def ref(*arrays, **kwargs):
        return R.vae_loss(*arrays, **kwargs)[i]
    return ref


def _vae_case(id, part, make, **kwargs):
    # Each part is checked against the inputs it depends on (torch refuses
    # gradients of unused inputs).
    grad_args = {"total": (0, 2, 3), "reconstruction": (0,), "kl": (2, 3)}[part]
    return LossCase(id, _vae_part(part), make, _vae_ref(part), kwargs=kwargs,
                    grad_args=grad_args,
                    bad_options=[({"beta": -1.0}, ValueError), ({"reconstruction": "l1"}, ValueError)])


_KL_BAD = [({"axis": 2}, ValueError), ({"axis": 1.0}, TypeError)]

CASES = [
    LossCase("kl_divergence", lossapi.kl_divergence, _probs(), R.kl_divergence, grad_args=(0, 1), bad_options=_KL_BAD),
    LossCase("kl_divergence_axis1_3d", lossapi.kl_divergence, _probs((2, 4, 3), axis=1), R.kl_divergence,
             kwargs={"axis": 1}, grad_args=(0, 1)),
    LossCase("kl_divergence_1d", lossapi.kl_divergence, _probs((6,)), R.kl_divergence, grad_args=(0, 1)),
    # Zeros in p: the value is finite; only q's gradient is checked (p - h < 0
    # would leave the reference's domain).
    LossCase("kl_divergence_zeros_in_p", lossapi.kl_divergence, _probs(zeros_in_p=True), R.kl_divergence, grad_args=(1,)),
    LossCase("kl_divergence_log", lossapi.kl_divergence_log, _log_probs(), R.kl_divergence_log, grad_args=(0, 1),
             bad_options=_KL_BAD),
    LossCase("kl_divergence_log_axis0", lossapi.kl_divergence_log, _log_probs((5, 3)), R.kl_divergence_log,
             kwargs={"axis": 0}, grad_args=(0, 1)),
    LossCase("js_divergence", lossapi.js_divergence, _probs(), R.js_divergence, grad_args=(0, 1), bad_options=_KL_BAD),
    LossCase("js_divergence_axis0", lossapi.js_divergence, _probs((5, 3), axis=0), R.js_divergence,
             kwargs={"axis": 0}, grad_args=(0, 1)),
    LossCase("gaussian_kl", lossapi.gaussian_kl, _latent(), R.gaussian_kl, grad_args=(0, 1),
             bad_options=[({"axis": -3}, ValueError)]),
    LossCase("gaussian_kl_3d_axis1", lossapi.gaussian_kl, _latent((2, 3, 2)), R.gaussian_kl,
             kwargs={"axis": 1}, grad_args=(0, 1)),
    _vae_case("vae_loss_total_bce", "total", _vae_inputs()),
    _vae_case("vae_loss_recon_bce_binary", "reconstruction", _vae_inputs(binary=True)),
    _vae_case("vae_loss_kl", "kl", _vae_inputs()),
    _vae_case("vae_loss_total_mse_beta", "total", _vae_inputs(), reconstruction="mse", beta=0.25),
    _vae_case("vae_loss_total_bce_3d", "total", _vae_inputs(shape=(3, 2, 4)), beta=2.0),
    # generalized KL between unnormalised measures (issue 14)
    LossCase("generalized_kl", lossapi.generalized_kl, _measures(), R.generalized_kl, grad_args=(0, 1),
             bad_options=_KL_BAD),
    LossCase("generalized_kl_axis1_3d", lossapi.generalized_kl, _measures((2, 4, 3)), R.generalized_kl,
             kwargs={"axis": 1}, grad_args=(0, 1)),
    # zeros in p: those terms are q; only q's gradient is checked (p - h < 0 leaves the domain)
    LossCase("generalized_kl_zeros_in_p", lossapi.generalized_kl, _measures(zeros_in_p=True), R.generalized_kl,
             grad_args=(1,)),
]
