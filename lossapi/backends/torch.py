"""PyTorch overrides: ATen's fused kernels (one pass, native backward)."""

from __future__ import annotations

import math

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
    # gather takes int64 (or int32) indices only; uint8/int16 labels are widened.
    if indices.dtype not in (torch.int64, torch.int32):
        indices = indices.long()
    return torch.gather(x, axis, indices)


def stop_gradient(xp, x):
    return x.detach()


def norm(xp, x, axis=-1, keepdims=False):
    # One reduction kernel instead of the generic square/sum/where/sqrt chain
    # (cosine_proximity on 65536 x 64: 24 ms -> 7 ms on CPU); its backward
    # already gives 0, not NaN, at x == 0, the convention of _generic.norm.
    return torch.linalg.vector_norm(x, dim=axis, keepdim=keepdims)


def relu(xp, x):
    return torch.relu(x)  # derivative 0 at 0


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


# --- classification fast paths ------------------------------------------------
# Integer class labels only (the caller sends probability targets to the
# generic code, checks shapes, options and, where it can, label values).
# torch wants the classes on axis 1.

# ignore_index=None: torch's kernels take an int64 ignore_index, so pass the
# one int64 label value that is never a class (torch skips it rather than
# raising: a label of exactly -2**63 is the single value not reported).
_NO_IGNORE = -(2**63)


def _classes_at_1(x, axis):
    return x if x.ndim < 2 or axis == 1 else torch.movedim(x, axis, 1)


def _long(labels):
    return labels if labels.dtype == torch.int64 else labels.long()


def loss_cross_entropy(logits, labels, reduction, axis, weight, ignore_index, label_smoothing):
    return F.cross_entropy(_classes_at_1(logits, axis), _long(labels), weight=weight,
                           ignore_index=_NO_IGNORE if ignore_index is None else ignore_index,
                           reduction=reduction, label_smoothing=label_smoothing)


def loss_nll(log_probs, labels, reduction, axis, weight, ignore_index):
    return F.nll_loss(_classes_at_1(log_probs, axis), _long(labels), weight=weight,
                      ignore_index=_NO_IGNORE if ignore_index is None else ignore_index, reduction=reduction)


def loss_binary_cross_entropy_with_logits(logits, target, reduction, weight, pos_weight):
    return F.binary_cross_entropy_with_logits(logits, target, weight=weight, pos_weight=pos_weight,
                                              reduction=reduction)


def loss_multiclass_hinge(scores, labels, reduction, axis, margin):
    # Weston-Watkins form only: multi_margin_loss (p=1) is it divided by C.
    # The kernel takes [N, C]: classes moved last, samples flattened.
    num_classes = scores.shape[axis]
    x = torch.movedim(scores, axis, -1).reshape(-1, num_classes)
    out = F.multi_margin_loss(x, _long(labels).reshape(-1), p=1, margin=margin, reduction="none") * num_classes
    if reduction == "none":
        return out.reshape(labels.shape)
    return out.sum() if reduction == "sum" else out.mean()


# --- binary cross-entropy on probabilities --------------------------------------
# torch's kernel computes lossapi's value (each log clamped at -100) in one
# pass, but its backward floors p (1 - p) at 1e-12 where lossapi's gradient
# is that of the clamped value. This Function keeps the kernel's forward and
# supplies lossapi's backward, so values and gradients equal the generic
# code's on every backend (torch.func and torch.compile handle it too).

_EXP_M100 = math.exp(-100.0)  # below it, log(p) is clamped: gradient 0


class _BinaryCrossEntropy(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(p, t):
        return F.binary_cross_entropy(p, t, reduction="none")

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, g):
        p, t = ctx.saved_tensors
        gp = gt = None
        if ctx.needs_input_grad[0]:
            # d/dp = -t / p + (1 - t) / (1 - p), each term 0 where its log is
            # clamped (p == 0 or 1) or 1/p would overflow (subnormal p).
            live = p >= max(torch.finfo(p.dtype).tiny, _EXP_M100)
            inv_p = torch.where(live, torch.where(live, p, 1.0).reciprocal(), 0.0)
            below = p < 1
            inv_q = torch.where(below, torch.where(below, 1.0 - p, 1.0).reciprocal(), 0.0)
            gp = g * ((1.0 - t) * inv_q - t * inv_p)
        if ctx.needs_input_grad[1]:
            # d/dt = log(1 - p) - log(p), both clamped at -100 as in the value.
            gt = g * (torch.log1p(-p).clamp_min(-100.0) - torch.log(p).clamp_min(-100.0))
        return gp, gt


def loss_binary_cross_entropy(p, t, reduction, weight):
    if weight is None and not (torch.is_grad_enabled() and (p.requires_grad or t.requires_grad)):
        return F.binary_cross_entropy(p, t, reduction=reduction)  # no gradient: the fused kernel alone
    out = _BinaryCrossEntropy.apply(p, t)
    if weight is not None:
        out = weight * out
    if reduction == "none":
        return out
    return out.sum() if reduction == "sum" else out.mean()


# --- embedding fast paths -----------------------------------------------------
# p = 2 triplets and the cosine losses, with lossapi's (torch's) conventions:
# clamp_min's subgradient at the hinge, min's even split at a swap tie, norm
# gradients 0 at zero vectors.


def loss_triplet(anchor, positive, negative, reduction, margin, eps, swap):
    return F.triplet_margin_loss(anchor, positive, negative, margin=margin, p=2.0, eps=eps, swap=swap,
                                 reduction=reduction)


def loss_cosine_proximity(x1, x2, reduction, axis):
    out = -F.cosine_similarity(x1, x2, dim=axis, eps=1e-8)
    if reduction == "none":
        return out
    return out.sum() if reduction == "sum" else out.mean()


def loss_cosine_embedding(x1, x2, target, reduction, margin):
    # Not F.cosine_embedding_loss: that one takes sqrt(|x1|^2 |x2|^2), whose
    # product overflows for large norms, and keeps three [..., D] temporaries
    # for its backward. Here only x1 * x2 is materialised; vector_norm is one
    # kernel with gradient 0 at a zero vector.
    dot = torch.linalg.vecdot(x1, x2)
    n1 = torch.sqrt(torch.linalg.vector_norm(x1, dim=-1).square() + 1e-12)  # torch's eps on |x|^2
    n2 = torch.sqrt(torch.linalg.vector_norm(x2, dim=-1).square() + 1e-12)
    cos = dot / (n1 * n2)
    out = torch.where(target == 1, 1.0 - cos, torch.where(target == -1, (cos - margin).clamp_min(0.0), 0.0))
    if reduction == "none":
        return out
    return out.sum() if reduction == "sum" else out.mean()
