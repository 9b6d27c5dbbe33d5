"""PyTorch overrides: ATen's fused kernels (one pass, native backward)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def abs(xp, x):
    # torch's abs already has derivative 0 at 0, the convention we use.
    return torch.abs(x)


def logsumexp(xp, x, axis=-1, keepdims=False):
    return torch.logsumexp(x, dim=axis, keepdim=keepdims)


def log_softmax(xp, x, axis=-1):
    return torch.log_softmax(x, dim=axis)


def softplus(xp, x):
    # F.softplus switches to the identity above threshold=20, which is exact
    # to float precision there.
    return F.softplus(x)


def log_sigmoid(xp, x):
    return F.logsigmoid(x)


def sigmoid(xp, x):
    return torch.sigmoid(x)


def take_along_axis(xp, x, indices, axis=-1):
    return torch.gather(x, axis, indices)


def stop_gradient(xp, x):
    return x.detach()


# --- whole-loss fast paths ---------------------------------------------------
# Each takes validated arrays already in the compute dtype and returns the
# reduced value. ATen fuses each into one kernel (forward and backward); their
# subgradients at the kinks equal lossapi's conventions (0 at r == 0, the
# linear piece's slope at |r| == delta).


def loss_mse(pred, target, reduction):
    return F.mse_loss(pred, target, reduction=reduction)


def loss_mae(pred, target, reduction):
    return F.l1_loss(pred, target, reduction=reduction)


def loss_huber(pred, target, reduction, delta):
    return F.huber_loss(pred, target, reduction=reduction, delta=delta)


def loss_smooth_l1(pred, target, reduction, beta):
    return F.smooth_l1_loss(pred, target, reduction=reduction, beta=beta)
