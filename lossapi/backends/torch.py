"""PyTorch: native primitives and ATen's fused loss kernels (one pass, native
backward), declared in the PRIMITIVES and KERNELS tables at the end.

Public APIs only (``torch.*``, ``torch.nn.functional``). The ``F.*`` loss
wrappers re-check what lossapi has already validated (shapes, reduction
names); that costs about a microsecond per call on small inputs (see
benchmarks/README.md), and keeps lossapi off private bindings whose
behaviour may change without notice.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from . import PLAN_TYPES, Kernel


def values_readable(x):
    """Label values are read only on the CPU and outside torch.compile: no
    device sync, no graph break."""
    return x.device.type == "cpu" and not torch.compiler.is_compiling()


def option_readable(x):
    """A 0-d option's value is checked outside torch.compile (where reading
    it would break the graph); under ``torch.func.vmap`` reading it raises,
    and the check is skipped (see ``validate.number``)."""
    return not torch.compiler.is_compiling()


def abs(xp, x):
    # torch's abs already has derivative 0 at 0, the convention we use.
    return torch.abs(x)


def _refuse_split_classes(x, axis, parallel_ok=False):
    """Raise if ``x`` is a ``DTensor`` sharded along ``axis`` (the classes
    of a softmax). DTensor would all-gather every rank's logits to run the
    softmax (measured with ``CommDebugMode``): a silent copy of the whole
    array on each rank, which sharding the classes is meant to avoid. torch
    computes a class-sharded cross-entropy without it only in
    ``F.cross_entropy`` under ``loss_parallel()``: ``parallel_ok`` marks that
    call, which is let through inside the context. A plain tensor costs one
    type comparison here."""
    if type(x) is torch.Tensor:
        return
    import sys

    dtensor = sys.modules.get("torch.distributed.tensor")
    if dtensor is None or not isinstance(x, dtensor.DTensor):
        return
    axes = {a % x.ndim for a in (axis if isinstance(axis, tuple) else (axis,))}
    if any(isinstance(p, dtensor.Shard) and p.dim % x.ndim in axes for p in x.placements):
        if parallel_ok and _in_loss_parallel(dtensor):
            return
        from .._core.validate import BadValue

        raise BadValue(
            f"the classes (axis {axis}) of a torch DTensor are sharded (placements {tuple(x.placements)}); "
            "lossapi's softmax would all-gather them on every rank. Shard the batch axis instead, or call "
            "cross_entropy with integer labels and no z_loss, softcap or where= inside "
            "torch.distributed.tensor.parallel.loss_parallel() (torch's class-parallel kernel)")


def _in_loss_parallel(dtensor):
    """Whether ``loss_parallel()`` is active. torch has no public query: the
    context installs DTensor op handlers for the class-parallel log-softmax,
    which this looks for (absent attributes: False, so the call is refused)."""
    handlers = getattr(getattr(dtensor.DTensor, "_op_dispatcher", None), "_custom_op_handlers", None) or {}
    return torch.ops.aten._log_softmax.default in handlers


def logsumexp(xp, x, axis=-1, keepdims=False):
    _refuse_split_classes(x, axis)
    return torch.logsumexp(x, dim=axis, keepdim=keepdims)


def log_softmax(xp, x, axis=-1):
    _refuse_split_classes(x, axis)
    return torch.log_softmax(x, dim=axis)


def softplus(xp, x):
    # F.softplus switches to the identity above threshold=20, which is exact
    # to float precision there.
    return F.softplus(x)


def log_sigmoid(xp, x):
    if type(x) is not torch.Tensor and not _is_plain_like(x):
        # DTensor (torch 2.13) has no sharding rule for log_sigmoid's
        # backward; -softplus(-x) has one and the same value and gradient.
        return -F.softplus(-x)
    return F.logsigmoid(x)


def _is_plain_like(x):
    """True for a tensor other than a ``DTensor`` (a Parameter, a subclass)."""
    import sys

    dtensor = sys.modules.get("torch.distributed.tensor")
    return dtensor is None or not isinstance(x, dtensor.DTensor)


def sigmoid(xp, x):
    return torch.sigmoid(x)


def sigmoid_cross_entropy(xp, x, t):
    # One fused kernel, forward and backward.
    return F.binary_cross_entropy_with_logits(x, t, reduction="none")


def take_along_axis(xp, x, indices, axis=-1):
    # gather takes int64 (or int32) indices only; uint8/int16 labels are widened.
    if indices.dtype not in (torch.int64, torch.int32):
        indices = indices.long()
    return torch.gather(x, axis, indices)


def sort(xp, x, axis=-1, descending=False):
    # One kernel gives both the values (differentiable) and the permutation;
    # stable, as the generic argsort, so ties break alike on every backend.
    values, perm = torch.sort(x, dim=axis, descending=descending, stable=True)
    return values, perm


def stop_gradient(xp, x):
    return x.detach()


def norm(xp, x, axis=-1, keepdims=False):
    # One reduction kernel instead of the generic square/sum/where/sqrt chain
    # (cosine_proximity on 65536 x 64: 24 ms -> 7 ms on CPU); its backward
    # already gives 0, not NaN, at x == 0, the convention of _generic.norm.
    return torch.linalg.vector_norm(x, dim=axis, keepdim=keepdims)


def relu(xp, x):
    return torch.relu(x)  # derivative 0 at 0


class _Rule:
    """One call's ``fwd`` / ``bwd`` pair for :class:`_CustomVJP` (and which
    residuals were None, as a Function's outputs are tensors)."""

    __slots__ = ("fwd", "bwd", "ndiff", "once", "res_none")

    def __init__(self, fwd, bwd, ndiff, once):
        self.fwd, self.bwd, self.ndiff, self.once, self.res_none = fwd, bwd, ndiff, once, ()


class _CustomVJP(torch.autograd.Function):
    """``custom_vjp`` as an ``autograd.Function`` in the form torch.func
    needs (a static ``forward`` without ``ctx`` and a ``setup_context``):
    the residuals are extra, non-differentiable outputs."""

    generate_vmap_rule = True

    @staticmethod
    def forward(rule, *args):
        out, res = rule.fwd(*args)
        rule.res_none = tuple(r is None for r in res)
        return (out, *(r for r in res if r is not None))

    @staticmethod
    def setup_context(ctx, inputs, output):
        rule, *args = inputs
        _, *res = output
        ctx.rule = rule
        ctx.arg_none = tuple(a is None for a in args)
        # The residual outputs get no gradient: without this, autograd would
        # hand the backward a zero tensor of each one's size (a weight-sized
        # allocation for linear_cross_entropy).
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(*res)
        ctx.save_for_backward(*(a for a in args if a is not None), *res)

    @staticmethod
    def backward(ctx, g, *_):
        rule = ctx.rule
        if rule.once and getattr(ctx, "done", False):
            raise RuntimeError("a lossapi loss with a precomputed gradient (linear_cross_entropy) was "
                               "differentiated twice through one graph (retain_graph=True); call the loss again")
        ctx.done = True
        if g is None:  # no gradient reached the value
            return (None,) * (1 + len(ctx.arg_none))
        saved = iter(ctx.saved_tensors)
        args = tuple(None if none else next(saved) for none in ctx.arg_none)
        res = tuple(None if none else next(saved) for none in rule.res_none)
        grads = rule.bwd(args, res, g)
        return (None, *grads, *([None] * (len(args) - rule.ndiff)))


def custom_vjp(xp, primal, fwd, bwd, args, ndiff, once=False):
    # No Function (and no gradient work in the forward) unless a gradient
    # is wanted.
    if not (torch.is_grad_enabled() and any(a is not None and a.requires_grad for a in args[:ndiff])):
        return primal(*args)
    return _CustomVJP.apply(_Rule(fwd, bwd, ndiff, once), *args)[0]


def add_at(xp, buf, idx, val):
    idx = idx if idx.dtype in (torch.int64, torch.int32) else idx.long()
    try:
        return buf.index_add_(0, idx, val)
    except RuntimeError:  # under torch.func.vmap (see add_rows): out of place
        return buf.index_add(0, idx, val)


def rescale(xp, res, g):
    # In place: the residual belongs to this call's backward alone (a second
    # backward through the same graph is refused in _CustomVJP.backward).
    return res.mul_(g)


def add_rows(xp, buf, start, val, other=None):
    end = start + val.shape[0]
    try:
        if other is None:
            buf[start:end] += val
        else:  # the product accumulates inside the matrix multiply: no temporary
            buf[start:end].addmm_(val, other)
        return buf
    except RuntimeError:
        # Under torch.func.vmap a batched value cannot be added in place into
        # a buffer that is not batched: this one update makes a batched copy.
        val = val if other is None else val @ other
        return torch.slice_scatter(buf, buf[start:end] + val, dim=0, start=start, end=end)


# --- whole-loss kernels -----------------------------------------------------------
# Each takes the prepared arrays (validated, in the compute dtype) and
# returns the reduced value, as lossapi.backends.Kernel describes. Their
# subgradients at the kinks equal lossapi's conventions (tests/test_kernels.py
# checks inputs on every kink).


def mse(pred, target, reduction):
    return F.mse_loss(pred, target, reduction=reduction)


def mae(pred, target, reduction):
    return F.l1_loss(pred, target, reduction=reduction)


def huber(pred, target, reduction, delta):
    return F.huber_loss(pred, target, reduction=reduction, delta=delta)


def smooth_l1(pred, target, reduction, beta):
    return F.smooth_l1_loss(pred, target, reduction=reduction, beta=beta)


def poisson_nll(pred, target, reduction, log_input, eps):
    # full=False only (the row's `when`): torch's Stirling term gives a NaN
    # target gradient at target == 0, the generic code 0.
    return F.poisson_nll_loss(pred, target, log_input=log_input, full=False, eps=eps, reduction=reduction)


# --- classification -------------------------------------------------------------------
# torch wants the classes on axis 1. Its kernels check label values on the
# CPU themselves (the rows declare checks={"labels"}): that saves two
# reductions and a host read per call; on an error the dispatcher runs
# lossapi's check, which raises its ValueError naming the label.

# ignore_index=None: torch's kernels take an int64 ignore_index, so pass the
# one int64 label value that is never a class (torch skips it rather than
# raising: a label of exactly -2**63 is the single value not reported).
_NO_IGNORE = -(2**63)


def _classes_at_1(x, axis):
    return x if x.ndim < 2 or axis == 1 else torch.movedim(x, axis, 1)


def _long(labels):
    return labels if labels.dtype == torch.int64 else labels.long()


def cross_entropy(logits, target, reduction, axis, weight, ignore_index, label_smoothing):
    _refuse_split_classes(logits, axis, parallel_ok=not target.is_floating_point())
    if target.is_floating_point():  # probabilities: torch's own branch of the same composition
        target, ignore_index = _classes_at_1(target, axis), -100
    else:
        target = _long(target)
        ignore_index = _NO_IGNORE if ignore_index is None else ignore_index
    return F.cross_entropy(_classes_at_1(logits, axis), target, weight, ignore_index=ignore_index,
                           reduction=reduction, label_smoothing=label_smoothing)


def nll(log_probs, labels, reduction, axis, weight, ignore_index):
    _refuse_split_classes(log_probs, axis)
    return F.nll_loss(_classes_at_1(log_probs, axis), _long(labels), weight,
                      ignore_index=_NO_IGNORE if ignore_index is None else ignore_index, reduction=reduction)


def _keras_smooth(target, label_smoothing):
    # lossapi's label_smoothing (Keras's): torch's binary kernels have none,
    # so the target is smoothed before them, as the generic code does.
    return target if label_smoothing == 0.0 else target * (1.0 - label_smoothing) + 0.5 * label_smoothing


def binary_cross_entropy_with_logits(logits, target, reduction, weight, pos_weight, label_smoothing):
    return F.binary_cross_entropy_with_logits(logits, _keras_smooth(target, label_smoothing), weight,
                                              reduction=reduction, pos_weight=pos_weight)


_CLASS_COUNT_WEIGHTS: dict[tuple, torch.Tensor] = {}


def _class_count_weight(num_classes, like):
    # A [C] tensor of C, cached per (C, dtype, device): a constant, never an
    # input, so sharing it is safe under autograd and the torch.func transforms.
    key = (num_classes, like.dtype, like.device)
    w = _CLASS_COUNT_WEIGHTS.get(key)
    if w is None:
        if len(_CLASS_COUNT_WEIGHTS) >= 64:
            _CLASS_COUNT_WEIGHTS.clear()
        w = _CLASS_COUNT_WEIGHTS[key] = torch.full((num_classes,), float(num_classes), dtype=like.dtype,
                                                   device=like.device)
    return w


def multiclass_hinge(scores, labels, reduction, axis, margin, p, weight):
    # Weston-Watkins form only: multi_margin_loss is it divided by C. Its
    # class weight w[y] multiplies each sample's terms (the mean stays over
    # samples), so C (times the caller's weight) undoes the division inside
    # the kernel. The kernel takes [N, C]: classes moved last, samples
    # flattened.
    num_classes = scores.shape[axis]
    if scores.ndim == 2 and axis == 1:
        x, y = scores, _long(labels)
    else:
        x, y = torch.movedim(scores, axis, -1).reshape(-1, num_classes), _long(labels).reshape(-1)
    w = _class_count_weight(num_classes, x) if weight is None else weight * num_classes
    out = F.multi_margin_loss(x, y, p=p, margin=margin, weight=w, reduction=reduction)
    return out.reshape(labels.shape) if reduction == "none" and out.shape != labels.shape else out


def _multiclass_hinge_applies(a, o):
    # torch's kernel has no gradient for its weight: a weight that needs one
    # takes the generic code.
    w = o["weight"]
    return o["form"] == "weston_watkins" and (w is None or not w.requires_grad)


def multilabel_margin(scores, target, reduction):
    # torch takes [C] or [N, C] (int64 targets); other ranks are flattened to
    # [N, C]. It checks the targets lie in [-1, C) itself (the row says so).
    num_classes = scores.shape[-1]
    if scores.ndim <= 2:
        return F.multilabel_margin_loss(scores, _long(target), reduction=reduction)
    out = F.multilabel_margin_loss(scores.reshape(-1, num_classes), _long(target).reshape(-1, num_classes),
                                   reduction=reduction)
    return out.reshape(scores.shape[:-1]) if reduction == "none" else out


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
            # d/dp = -t / p + (1 - t) / (1 - p) = (p - t) / (p (1 - p)), each
            # term 0 where its log is clamped (p == 0 or 1) or 1/p would
            # overflow (subnormal p). p (1 - p) is below that threshold only
            # there: then the gradient is 1 - t (p near 0) or -t (p == 1).
            d = p * (1.0 - p)
            live = d >= max(torch.finfo(p.dtype).tiny, _EXP_M100)
            edge = (p <= 0.5).to(p.dtype) - t
            gp = g * torch.where(live, (p - t) / torch.where(live, d, 1.0), edge)
        if ctx.needs_input_grad[1]:
            # d/dt = log(1 - p) - log(p), both clamped at -100 as in the value.
            gt = g * (torch.log1p(-p).clamp_min(-100.0) - torch.log(p).clamp_min(-100.0))
        return gp, gt


def binary_cross_entropy(p, t, reduction, weight, label_smoothing):
    t = _keras_smooth(t, label_smoothing)
    if weight is None and not (torch.is_grad_enabled() and (p.requires_grad or t.requires_grad)):
        return F.binary_cross_entropy(p, t, reduction=reduction)  # no gradient: the kernel alone
    out = _BinaryCrossEntropy.apply(p, t)
    if weight is not None:
        out = weight * out
    if reduction == "none":
        return out
    return out.sum() if reduction == "sum" else out.mean()


def _bce_errors(e):
    if "between 0 and 1" in str(e):  # torch's range check (on CPU; CUDA asserts)
        return "probs must hold probabilities in [0, 1]; pass logits to binary_cross_entropy_with_logits"
    return None


# --- embedding -----------------------------------------------------------------------
# p = 2 triplets and the cosine losses, with lossapi's conventions: the linear
# piece's gradient at a hinge's kink (_hinge), min's even split at a swap tie,
# norm gradients 0 at zero vectors.


def _hinge(v):
    # max(0, v) with gradient 1 at v == 0, the linear piece's (lossapi's
    # "slope" rule, numerics.hinge): where's gradient goes to the branch it
    # picks, on every torch version. Not clamp_min: its gradient at 0 is 1 in
    # torch 2.13 but 0 in 2.14, so F.triplet_margin_loss,
    # F.cosine_embedding_loss and F.margin_ranking_loss (ATen compositions
    # ending in clamp_min) changed their gradient at the kink. v == -inf gives
    # 0 and NaN stays NaN, as clamp_min.
    return torch.where(v < 0, 0.0, v)


def _grad_needed(*xs):
    # Without a gradient to get right, the F.* composition runs in one call
    # (the written-out form costs ~15 us more on small inputs, in Python).
    return torch.is_grad_enabled() and any(x.requires_grad for x in xs)


def triplet(anchor, positive, negative, reduction, margin, eps, swap):
    if not _grad_needed(anchor, positive, negative):  # values to an ulp: ATen adds margin first
        return F.triplet_margin_loss(anchor, positive, negative, margin=margin, p=2.0, eps=eps, swap=swap,
                                     reduction=reduction)
    # ATen's triplet_margin_loss written out (pairwise_distance, minimum for
    # the swap, then the hinge), with lossapi's hinge and its order of terms.
    d_ap = F.pairwise_distance(anchor, positive, 2.0, eps)
    d_an = F.pairwise_distance(anchor, negative, 2.0, eps)
    if swap:
        d_an = torch.minimum(d_an, F.pairwise_distance(positive, negative, 2.0, eps))
    return _reduce_rows(_hinge(d_ap - d_an + margin), reduction)


def hinge_embedding(x, target, reduction, margin):
    if not _grad_needed(x, target):  # the same values, in one call
        return F.hinge_embedding_loss(x, target, margin=margin, reduction=reduction)
    # ATen's hinge_embedding_loss written out (its order of terms), with
    # lossapi's hinge: its clamp_min's gradient at x == margin changed in 2.14.
    out = torch.where(target != 1, _hinge(margin - x), 0.0) + torch.where(target != -1, x, 0.0)
    return _reduce_rows(out, reduction)


def cosine_proximity(x1, x2, reduction, axis):
    out = F.cosine_similarity(x1, x2, axis, 1e-8)
    if reduction == "none":
        return -out
    return -out.sum() if reduction == "sum" else -out.mean()


_COS_EMB_EPS = 9.999999960041972e-13  # ATen's C float 1e-12, as lossapi.embedding


def cosine_embedding(x1, x2, target, reduction, margin):
    if x1.ndim <= 2 and not _grad_needed(x1, x2):  # the same values
        return F.cosine_embedding_loss(x1, x2, target, margin=margin, reduction=reduction)
    # ATen's cosine_embedding_loss written out (any leading axes), with
    # lossapi's hinge.
    dot = (x1 * x2).sum(-1)
    s1 = (x1 * x1).sum(-1) + _COS_EMB_EPS
    s2 = (x2 * x2).sum(-1) + _COS_EMB_EPS
    cos = dot / torch.sqrt(s1 * s2)
    out = torch.where(target == 1, 1.0 - cos, torch.where(target == -1, _hinge(cos - margin), 0.0))
    return _reduce_rows(out, reduction)


# --- ranking and divergence ------------------------------------------------------------


class _MarginRanking(torch.autograd.Function):
    """Elementwise max(0, margin - t (s1 - s2)): torch's forward, and a
    backward with lossapi's rule at the kink (the linear piece's slope, on
    every torch version) from a boolean mask kept by the forward: one pass
    each way, torch's speed."""

    generate_vmap_rule = True

    @staticmethod
    def forward(s1, s2, target, margin):
        # ATen's composition, spelled out (torch.func.vmap has no batching
        # rule for the fused op); the value is torch's to the bit.
        v = torch.sub(s1, s2).mul_(target).neg_().add_(margin)
        live = v >= 0  # the kink included; -inf and NaN are not
        return v.clamp_min_(0.0), live

    @staticmethod
    def setup_context(ctx, inputs, output):
        s1, s2, target, _ = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.save_for_backward(s1, s2, target, output[1])

    @staticmethod
    def backward(ctx, g, _):
        s1, s2, target, live = ctx.saved_tensors
        gl = torch.where(live, g, 0.0)
        g1 = -target * gl if ctx.needs_input_grad[0] or ctx.needs_input_grad[1] else None
        return (g1 if ctx.needs_input_grad[0] else None, -g1 if ctx.needs_input_grad[1] else None,
                (s2 - s1) * gl if ctx.needs_input_grad[2] else None, None)


def margin_ranking(s1, s2, target, reduction, margin):
    if not _grad_needed(s1, s2, target):  # the fused kernel alone
        return F.margin_ranking_loss(s1, s2, target, margin=margin, reduction=reduction)
    return _reduce_rows(_MarginRanking.apply(s1, s2, target, margin)[0], reduction)


def _reduce_rows(rows, reduction):
    if reduction == "none":
        return rows
    return rows.sum() if reduction == "sum" else rows.mean()


class _RowSums(torch.autograd.Function):
    """Row sums of an elementwise term of two inputs along ``axis``: both
    inputs saved, the gradient recomputes what it needs."""

    generate_vmap_rule = True

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, b, axis = inputs
        ctx.save_for_backward(a, b)
        ctx.axis = axis


class _KL(_RowSums):
    """Row sums of p * (log p - log q), 0 where p == 0 (also where q == 0).

    F.kl_div gives NaN there (0 * log 0) and NaN gradients at p == 0; this
    computes lossapi's values in fewer passes than the generic code and
    writes its gradients (0 at p == 0) directly, recomputing the logs rather
    than keeping them.
    """

    @staticmethod
    def forward(p, q, axis):
        # In place, and masked_fill_ / logical_not (p == 0) rather than where
        # and == 0: no Python-scalar tensors, a few us less on small inputs.
        t = torch.log(p)
        t.sub_(torch.log(q)).mul_(p)
        return t.masked_fill_(torch.logical_not(p), 0.0).sum(axis)


    @staticmethod
    def backward(ctx, g):
        p, q = ctx.saved_tensors
        g = g.unsqueeze(ctx.axis)
        absent = p == 0
        gp = gq = None
        if ctx.needs_input_grad[0]:
            gp = torch.log(p)  # d/dp = log p - log q + 1, 0 at p == 0
            gp = torch.where(absent, 0.0, gp.sub_(torch.log(q)).add_(1.0).mul_(g))
        if ctx.needs_input_grad[1]:
            gq = torch.where(absent, 0.0, torch.div(p, q).mul_(g).neg_())  # -p / q, 0 at p == 0
        return gp, gq, None


class _KLLog(_RowSums):
    """Row sums of exp(a) * (a - b), 0 where a == -inf (p == 0)."""

    @staticmethod
    def forward(a, b, axis):
        t = torch.sub(a, b).mul_(torch.exp(a))
        return t.masked_fill_(torch.isneginf(a), 0.0).sum(axis)


    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        g = g.unsqueeze(ctx.axis)
        e = torch.exp(a).mul_(g)  # 0 where a == -inf
        ga = gb = None
        if ctx.needs_input_grad[0]:
            # d/da = exp(a) * (a - b + 1), 0 where a == -inf.
            ga = torch.where(torch.isneginf(a), 0.0, torch.sub(a, b).add_(1.0).mul_(e))
        if ctx.needs_input_grad[1]:
            gb = e.neg_()  # d/db = -exp(a)
        return ga, gb, None


def _rows(fn, x, y, axis):
    # No autograd node when nothing needs a gradient (saves the Function's
    # per-call overhead on small inputs).
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
        return fn.apply(x, y, axis)
    return fn.forward(x, y, axis)


def kl_divergence(p, q, reduction, axis):
    return _reduce_rows(_rows(_KL, p, q, axis), reduction)


def kl_divergence_log(log_p, log_q, reduction, axis):
    return _reduce_rows(_rows(_KLLog, log_p, log_q, axis), reduction)


# --- classification: soft margin --------------------------------------------------------


def soft_margin(scores, target, reduction):
    # Not F.soft_margin_loss: it computes log1p(exp(-t s)), which overflows
    # once -t s exceeds ~88 (float32; ~709 float64): inf value, NaN gradient.
    # F.softplus is the same function without overflow (lossapi's values and
    # gradients exactly); the row lets repeated calls run as call plans. The
    # margin is negated in place: one pass and one buffer fewer than -t * s.
    out = F.softplus(torch.mul(target, scores).neg_())
    if reduction == "none":
        return out
    return out.sum() if reduction == "sum" else out.mean()


# --- sequence: CTC ------------------------------------------------------------------------
# F.ctc_loss (ATen's alpha-beta kernels) with lossapi's semantics around it:
# [N, T, C] in, impossible samples (too few frames for the labels and the
# blanks their repeats need, or only -inf paths) inf or 0 with zero gradient,
# negative rounding 0, and the gradient of the value. ATen's backward returns
# exp(log_probs) - occupancy, the gradient with respect to the logits before
# a log_softmax, not with respect to log_probs: the exp(log_probs) term is
# taken back out (by a term whose value is 0), so the gradient equals the
# generic code's (-occupancy) on every frame used.


def ctc(log_probs, labels, input_lengths, label_lengths, reduction, blank, zero_infinity):
    n, t_max, _ = log_probs.shape
    dt = log_probs.dtype
    # -inf becomes a finite log(0) stand-in, small enough that T of them
    # (and ATen's alpha + beta sums) stay finite: a sample whose every path
    # has one is then found by its loss (> |neg| / 2), never inf inside ATen.
    neg = torch.finfo(dt).min / (4.0 * (t_max + 1))
    x = torch.where(log_probs < neg, neg, log_probs).transpose(0, 1)
    il, ll = _long(input_lengths), _long(label_lengths)
    targets = labels if labels.dtype in (torch.int64, torch.int32) else labels.long()
    # Too few frames: ATen's inf (and NaN gradient) is avoided by giving such
    # a sample no labels; its value is replaced below.
    s_max = labels.shape[1]
    needed = ll
    if s_max > 1:
        k = torch.arange(1, s_max, device=labels.device)
        needed = ll + ((labels[:, 1:] == labels[:, :-1]) & (k < ll[:, None])).sum(1)
    short = il < needed
    per = F.ctc_loss(x, targets, il, torch.where(short, 0, ll), blank=blank, reduction="none", zero_infinity=False)
    if _grad_needed(log_probs):
        used = (torch.arange(t_max, device=il.device)[:, None] < il[None, :]).to(dt)  # [T, N]
        extra = (x.exp().sum(-1) * used).sum(0)
        per = per - (extra - extra.detach())
    impossible = short | (per > -0.5 * neg)
    per = torch.where(per < 0, 0.0, per)
    per = torch.where(impossible, 0.0 if zero_infinity else math.inf, per)
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return (per / ll.clamp_min(1).to(dt)).mean()


# --- the tables ---------------------------------------------------------------------------

PRIMITIVES = {
    "abs": abs,
    "logsumexp": logsumexp,
    "log_softmax": log_softmax,
    "softplus": softplus,
    "log_sigmoid": log_sigmoid,
    "sigmoid": sigmoid,
    "sigmoid_cross_entropy": sigmoid_cross_entropy,
    "take_along_axis": take_along_axis,
    "stop_gradient": stop_gradient,
    "norm": norm,
    "relu": relu,
    "custom_vjp": custom_vjp,
    "add_rows": add_rows,
    "rescale": rescale,
    "add_at": add_at,
    "sort": sort,
}

_LABELS = frozenset({"labels"})

KERNELS = {
    # regression
    "mse": Kernel(mse),
    "mae": Kernel(mae),
    "huber": Kernel(huber, ("delta",)),
    "smooth_l1": Kernel(smooth_l1, ("beta",)),
    "poisson_nll": Kernel(poisson_nll, ("log_input", "eps"), when=lambda a, o: not o["full"]),
    # classification
    "cross_entropy": Kernel(cross_entropy, ("axis", "weight", "ignore_index", "label_smoothing"), checks=_LABELS,
                            when=lambda a, o: o["softcap"] is None and isinstance(o["z_loss"], float) and not o["z_loss"]),
    "nll": Kernel(nll, ("axis", "weight", "ignore_index"), checks=_LABELS),
    "multiclass_hinge": Kernel(multiclass_hinge, ("axis", "margin", "p", "weight"), checks=_LABELS,
                               when=_multiclass_hinge_applies),
    # F.multilabel_margin_loss gives garbage for a mean over no samples: the generic NaN there.
    "multilabel_margin": Kernel(multilabel_margin, checks=_LABELS, when=lambda a, o: a.arrays[0].numel() > 0),
    # label_smoothing: a Python number here (a 0-d array option keeps the generic path)
    "binary_cross_entropy": Kernel(binary_cross_entropy, ("weight", "label_smoothing"), errors=_bce_errors),
    "binary_cross_entropy_with_logits": Kernel(binary_cross_entropy_with_logits,
                                               ("weight", "pos_weight", "label_smoothing")),
    "soft_margin": Kernel(soft_margin),
    # embedding
    "triplet": Kernel(triplet, ("margin", "eps", "swap"),
                      when=lambda a, o: o["p"] == 2.0 and not o["squared"] and o["distance"] is None),
    "hinge_embedding": Kernel(hinge_embedding, ("margin",)),
    "cosine_proximity": Kernel(cosine_proximity, ("axis",)),
    "cosine_embedding": Kernel(cosine_embedding, ("margin",)),
    # ranking and divergence
    "margin_ranking": Kernel(margin_ranking, ("margin",)),
    "kl_divergence": Kernel(kl_divergence, ("axis",)),
    "kl_divergence_log": Kernel(kl_divergence_log, ("axis",)),
    # sequence
    "ctc": Kernel(ctc, ("blank", "zero_infinity"), when=lambda a, o: a.arrays[0].numel() > 0),  # ATen: not empty
}



def _plain_only(when):
    # The generic composition for DTensor inputs: with reduction="mean",
    # torch 2.13's DTensor gives these ATen losses' backwards a gradient
    # multiplied by the number of shards (mse_loss, huber_loss,
    # smooth_l1_loss, binary_cross_entropy; Shard(0) over two gloo ranks:
    # exactly 2x), silently. The generic elementwise ops and sums shard
    # correctly (tests/distributed/test_torch.py). The other rows' kernels
    # gave DTensor the single-process gradients where tried there.
    def applies(a, o):
        for x in a.arrays:
            if x is not None and type(x) is not torch.Tensor and not _is_plain_like(x):
                return False
        return when is None or when(a, o)
    return applies


_WRONG_DTENSOR_MEAN_GRAD = ("mse", "huber", "smooth_l1", "binary_cross_entropy")
KERNELS.update({name: dataclasses.replace(KERNELS[name], when=_plain_only(KERNELS[name].when))
                for name in _WRONG_DTENSOR_MEAN_GRAD})

# Call plans (lossapi._core.loss) for tensors, for the losses with a row
# above; never while torch.compile traces, which must see every check.
PLAN_TYPES[torch.Tensor] = (lambda: not torch.compiler.is_compiling(), KERNELS)
