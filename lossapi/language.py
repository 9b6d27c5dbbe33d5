"""Language-model losses: cross-entropy through the output projection, in
vocabulary chunks, never holding the ``[N, V]`` logits.

:func:`linear_cross_entropy` equals ``cross_entropy(hidden @ weight.T +
bias, labels, ...)`` in value and in every gradient, but computes the logits
one tile (a block of tokens by a chunk of the vocabulary) at a time:

* the forward keeps a running log-sum-exp over the vocabulary chunks (the
  running maximum and the sum of exponentials rescaled to it), the label's
  logit and, for label smoothing, the sum of the logits; each tile is dropped
  once read;
* the backward recomputes each tile from ``hidden`` and the chunk of
  ``weight``, turns it into the logits' gradient and accumulates the
  gradients of ``hidden``, ``weight`` and ``bias`` (``dlogits @ W_chunk``,
  ``dlogits.T @ hidden_block``, ``sum(dlogits)``).

With ``reduction="mean"`` or ``"sum"`` the gradient of the loss with respect
to each logit is known in the forward pass up to the one upstream scalar, so
when gradients are wanted the forward computes them right away, block of
tokens by block (every vocabulary chunk of a block is kept until the block's
log-sum-exp is known) and the backward only scales them: three matrix
products in all, as many as the naive composition. With ``reduction="none"``
the upstream gradient differs per token, so the backward recomputes the tiles
(a fourth product; the gradient is right, which is Liger#968's bug).

The algorithm is written once against the array API; each framework's
autodiff sees it through its own custom-gradient mechanism (the backend
primitive ``custom_vjp``: ``torch.autograd.Function``, ``jax.custom_vjp``).
Backends without autodiff (NumPy, CuPy, Dask, array-api-strict) run the
forward only.

float16 / bfloat16 inputs are computed in float32: ``hidden`` is cast once,
each chunk of ``weight`` as it is used; the log-sum-exp and every gradient
accumulate in float32 and are cast back to each input's dtype at the end.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ._core import numerics
from ._core import validate as v
from ._core.loss import _array_options, current, loss
from ._core.prepare import Prepared, backend, compute_dtype, device, float_array
from ._core.types import Array, Reduction
from .classification._labels import _Labels
from .classification.multiclass import lm_options

__all__ = ["linear_cross_entropy"]

# The logits held at once: at most this many (128 MiB in float32), or N * V /
# 64 when that is larger, so that a call never has more than 64 token blocks.
_TILE = 1 << 25
_MAX_TILES = 64


class _Tiling(NamedTuple):
    block: int  # tokens per block
    chunk: int  # vocabulary rows per chunk


def _tiling(n: int, h: int, vocab: int, chunk_size: int | None, keep_rows: bool) -> _Tiling:
    """Tile sizes for ``n`` tokens, hidden size ``h`` and ``vocab`` classes.

    ``keep_rows``: the fused forward-and-gradient pass, which holds a block's
    whole row of logits (``block * vocab``) until its log-sum-exp is known.
    The vocabulary chunk also keeps its slice of the weight (``chunk * h``)
    within the budget (cast to float32 for half-precision weights).
    """
    budget = max(_TILE, -(-n * vocab // _MAX_TILES))
    if chunk_size is None:
        # A chunk's weight slice (and its gradient's product) stays at a
        # quarter of the budget; without kept rows, its tile within it too.
        chunk = budget // max(4 * h, 1)
        if not keep_rows:
            chunk = min(chunk, budget // max(n, 1))
        chunk = min(vocab, max(chunk, 128))
    else:
        chunk = min(chunk_size, vocab)
    row = vocab if keep_rows else chunk
    return _Tiling(max(1, min(n, budget // max(row, 1))), max(chunk, 1))


@loss
def linear_cross_entropy(hidden: Array, weight: Array, labels: Array, /, *, bias: Array | None = None,
                         chunk_size: int | None = None, ignore_index: int | None = None,
                         label_smoothing: float = 0.0, z_loss: float = 0.0, softcap: float | None = None,
                         where: Array | None = None, reduction: Reduction = "mean") -> Array:
    """Cross-entropy of the logits ``hidden @ weight.T + bias``, computed in
    vocabulary chunks without ever holding the ``[N, V]`` logits or their
    gradient (Wijmans et al.'s Cut Cross-Entropy; Liger Kernel's fused linear
    cross-entropy), on every backend.

    The value and the gradients with respect to ``hidden``, ``weight`` and
    ``bias`` equal ``cross_entropy(hidden @ weight.T + bias, labels, ...)``
    with the same options, for every reduction: per token
    ``lse - (1 - eps) * z[y] - eps * mean(z) + z_loss * lse**2`` with ``z``
    the (soft-capped) logits and ``lse`` their log-sum-exp; ``"mean"``
    divides by the number of counted tokens (not ignored, not masked).

    Memory: at most 2**25 logits at a time (128 MiB in float32; or ``N * V /
    64`` when larger), beyond the inputs and their gradients. With
    ``"mean"``/``"sum"`` and gradients wanted, the forward also computes the
    gradients (three matrix products in all, as the naive code); with
    ``"none"`` the backward recomputes the tiles (four). See
    :mod:`lossapi.language`.

    Args:
      hidden: ``[..., H]`` floating, the final hidden states.
      weight: ``[V, H]`` floating, the output projection (as
        ``torch.nn.Linear.weight``).
      labels: integer ``[...]`` (``hidden``'s shape without ``H``), in
        ``[0, V)`` or ``ignore_index``.
      bias: optional ``[V]``.
      chunk_size: vocabulary rows per chunk, or None to pick one from the
        number of tokens, ``H`` and ``V``.
      ignore_index: a label value to skip (0 loss, 0 gradient, out of the
        mean), or None.
      label_smoothing: ``eps`` in [0, 1] (torch's definition).
      z_loss: ``>= 0``, the weight of ``lse**2`` per counted token (PaLM).
      softcap: ``c > 0``: logits ``c * tanh(z / c)`` (Gemma 2), or None.
      where: optional boolean mask of ``labels``' shape: False drops the
        token (as ``ignore_index`` does, but a mean over nothing is 0).
      reduction: "mean", "sum" or "none" (one value per token).

    Returns:
      A scalar, or the per-token losses (``labels``' shape), in ``hidden``'s
      dtype.

    Example:
      >>> import numpy as np, lossapi
      >>> h = np.array([[1.0, 0.5], [-0.3, 2.0], [0.2, 0.1]])
      >>> w = np.array([[0.3, -1.0], [1.2, 0.4], [-0.5, 0.8], [0.1, 0.1]])
      >>> y = np.array([1, 2, 0])
      >>> round(float(lossapi.linear_cross_entropy(h, w, y, chunk_size=3)), 4)
      0.8128
      >>> round(float(lossapi.cross_entropy(h @ w.T, y)), 4)
      0.8128
    """
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
            raise v.BadType(f"chunk_size must be a positive int or None, got {type(chunk_size).__name__}")
        if chunk_size < 1:
            raise v.BadValue(f"chunk_size must be a positive int or None, got {chunk_size}")
    ignore_index = v.integer_or_none("ignore_index", ignore_index)
    eps = v.number("label_smoothing", label_smoothing, low=0.0, high=1.0)
    z_loss, softcap = lm_options(z_loss, softcap)
    v.reduction(reduction)
    for name, x in (("hidden", hidden), ("weight", weight), ("labels", labels)):
        v.array(name, x)
    v.array_or_none("bias", bias)
    v.array_or_none("where", where)
    ops = backend(hidden, weight, labels, bias, where)
    hidden, weight, labels, bias, where = (None if x is None else ops.own(x)
                                           for x in (hidden, weight, labels, bias, where))
    float_array(ops, hidden, "hidden")
    float_array(ops, weight, "weight")
    if hidden.ndim < 1:
        raise v.BadValue("hidden must have a feature axis [..., H], got a 0-d array")
    size = hidden.shape[-1]
    if weight.ndim != 2 or weight.shape[1] != size:
        raise v.BadValue(f"weight must have shape (V, {size}) (as torch.nn.Linear.weight), "
                         f"got shape {tuple(weight.shape)}")
    vocab = weight.shape[0]
    if vocab < 1:
        raise v.BadValue("weight must have at least one row (class), got shape (0, ...)")
    if bias is not None:
        float_array(ops, bias, "bias")
        if tuple(bias.shape) != (vocab,):
            raise v.BadValue(f"bias must have shape ({vocab},), one value per class, got shape {tuple(bias.shape)}")
    tokens = tuple(hidden.shape[:-1])
    if ops.kind(labels.dtype) != "i":
        raise v.BadType(f"labels must hold integer class labels, got dtype {labels.dtype}")
    if tuple(labels.shape) != tokens:
        raise v.BadValue(f"hidden has shape {tuple(hidden.shape)} but labels has shape {tuple(labels.shape)}; "
                         f"labels must have shape {tokens} (hidden's shape without H)")
    if where is not None:
        if ops.kind(where.dtype) != "b":
            raise v.BadType(f"where must be a boolean array, got dtype {where.dtype}")
        if tuple(where.shape) != tokens:
            raise v.BadValue(f"where has shape {tuple(where.shape)}; it must have labels' shape {tokens}")
    xp = ops.xp
    out_dtype = hidden.dtype
    cdt = compute_dtype(ops, out_dtype)
    a = Prepared(ops, out_dtype, reduction, (xp.astype(hidden, cdt) if hidden.dtype != cdt else hidden,))
    opts = {"eps": eps, "z_loss": z_loss, "softcap": softcap}
    call = current()
    if call.options:
        opts = _array_options(call, a, opts)
    v.label_range(labels, vocab, ignore_index, "labels").run(ops)
    n = math.prod(tokens)
    spec = _Spec(ops, cdt, reduction, opts, ignore_index, where is not None, chunk_size)
    args = spec.args(xp.reshape(hidden, (n, size)), weight, bias, xp.reshape(labels, (n,)),
                     None if where is None else xp.reshape(where, (n,)), opts)
    out = ops.custom_vjp(spec.primal, spec.fwd, spec.bwd, args, spec.ndiff, reduction != "none")
    if reduction == "none":
        out = xp.reshape(out, tokens)
    return out if out.dtype == out_dtype else xp.astype(out, out_dtype)


class _Spec:
    """One call's static options and the three functions ``custom_vjp``
    takes. The arrays are ``(hidden [N, H], weight [V, H], bias [V] | None,
    *option arrays, labels [N], where [N] | None)``: every one before the
    labels is differentiable (a 0-d array option too: ``z_loss``,
    ``label_smoothing`` and ``softcap`` have gradients)."""

    def __init__(self, ops: Any, cdt: Any, reduction: str, opts: dict, ignore_index: int | None, masked: bool,
                 chunk_size: int | None):
        self.ops, self.cdt, self.reduction = ops, cdt, reduction
        self.ignore_index, self.masked, self.chunk_size = ignore_index, masked, chunk_size
        self.names = tuple(k for k, val in opts.items() if hasattr(val, "ndim"))  # the array options
        self.static = {k: val for k, val in opts.items() if k not in self.names}
        self.ndiff = 3 + len(self.names)

    def args(self, h: Any, w: Any, b: Any, y: Any, where: Any, opts: dict) -> tuple:
        return (h, w, b, *(opts[k] for k in self.names), y, where)

    def _split(self, args: tuple) -> tuple[Any, Any, Any, dict, Any, Any]:
        h, w, b = args[:3]
        o = dict(self.static)
        o.update(zip(self.names, args[3:self.ndiff]))
        y, where = args[self.ndiff:]
        return h, w, b, o, y, where

    # --- the three functions -----------------------------------------------------------

    def primal(self, *args: Any) -> Any:
        """The value alone (no gradient wanted): tiles of a vocabulary chunk."""
        h, w, b, o, y, where = self._split(args)
        per, _, _, lab = self._forward(h, w, b, o, y, where)
        return self._reduce(per, lab)

    def fwd(self, *args: Any) -> tuple[Any, Any]:
        """The value and what the backward needs: for a scalar reduction, the
        gradients themselves (computed now); for "none", the log-sum-exp
        (and, for a ``label_smoothing`` array, ``d loss / d eps`` per token)."""
        h, w, b, o, y, where = self._split(args)
        if self.reduction == "none":
            per, lse, deps, lab = self._forward(h, w, b, o, y, where)
            return self._reduce(per, lab), (lse, deps)
        per, grads, lab = self._fused(h, w, b, o, y, where)
        return self._reduce(per, lab), grads

    def bwd(self, args: tuple, res: tuple, g: Any) -> tuple:
        xp = self.ops.xp
        g = xp.astype(g, self.cdt) if g.dtype != self.cdt else g
        if self.reduction != "none":  # the gradients for an upstream 1, scaled (in place where the backend can)
            grads = tuple(None if d is None else self.ops.rescale(d, g) for d in res)
        else:
            h, w, b, o, y, where = self._split(args)
            lse, deps = res
            lab = self._labels(y, w.shape[0], where)
            gw = xp.where(lab.keep, g, 0.0)
            grads = self._gradients(self._h(h), w, b, o, lab, lse, deps, gw)
        return tuple(None if d is None else _cast(xp, d, x.dtype) for d, x in zip(grads, args))

    # --- the algorithm -----------------------------------------------------------------

    def _h(self, h: Any) -> Any:
        return h if h.dtype == self.cdt else self.ops.xp.astype(h, self.cdt)

    def _labels(self, y: Any, vocab: int, where: Any) -> _Labels:
        lab = _Labels(self.ops, y, vocab, self.ignore_index)
        if where is not None:
            lab.keep = lab.keep & where
            lab.ignoring = True
            lab.safe = self.ops.xp.where(lab.keep, y, 0)
        return lab

    def _tile(self, h: Any, w: Any, b: Any, lo: int, hi: int) -> Any:
        """The raw logits (before any cap) of ``h``'s tokens for classes ``lo:hi``."""
        xp = self.ops.xp
        z = self.ops.matmul(h, xp.permute_dims(self._rows(w, lo, hi), (1, 0)))
        return z if b is None else z + self._rows(b, lo, hi)

    def _rows(self, x: Any, lo: int, hi: int) -> Any:
        """Rows ``lo:hi`` of ``weight`` or ``bias``, in the compute dtype."""
        x = x[lo:hi, ...]
        return x if x.dtype == self.cdt else self.ops.xp.astype(x, self.cdt)

    def _at_labels(self, h: Any, w: Any, b: Any, y: Any) -> tuple[Any, Any]:
        """``weight[y]`` and the raw logits at the labels, ``h . weight[y] +
        bias[y]`` (one row-wise dot: no tile is searched for the label)."""
        xp = self.ops.xp
        wy = xp.take(w, y, axis=0)
        wy = wy if wy.dtype == self.cdt else xp.astype(wy, self.cdt)
        ry = xp.sum(h * wy, axis=1)
        if b is not None:
            by = xp.take(b, y, axis=0)
            ry = ry + (by if by.dtype == self.cdt else xp.astype(by, self.cdt))
        return wy, ry

    def _stats(self, h: Any, w: Any, b: Any, o: dict, chunk: int, tiles: list | None) -> tuple[Any, Any]:
        """Online log-sum-exp over the vocabulary chunks for ``h``'s tokens:
        ``(lse, sum(z) or None)`` of the capped logits ``z``. With ``tiles``
        a list, each chunk's ``(exp(z - max), max)`` is kept (with a cap, its
        raw logits), for the gradient pass."""
        xp = self.ops.xp
        vocab = w.shape[0]
        cap = o["softcap"]
        m = s = zsum = None
        smooth = not numerics.is_number(o["eps"], 0.0)
        for lo in range(0, vocab, chunk):
            r = self._tile(h, w, b, lo, min(lo + chunk, vocab))
            z = _capped(xp, r, cap)
            top = xp.max(z, axis=1)
            e = xp.exp(z - top[:, None])
            part = xp.sum(e, axis=1)
            if m is None:
                m, s = top, part
            else:  # rescale both sums to the larger maximum
                new = xp.maximum(m, top)
                s = s * xp.exp(m - new) + part * xp.exp(top - new)
                m = new
            if smooth:
                zs = xp.sum(z, axis=1)
                zsum = zs if zsum is None else zsum + zs
            if tiles is not None:
                tiles.append((e, top) if cap is None else (r, None))
        return m + xp.log(s), zsum

    def _loss(self, o: dict, lse: Any, zy: Any, zsum: Any, vocab: int) -> tuple[Any, Any]:
        """Per-token losses and ``d loss / d eps`` (None without smoothing)."""
        eps, zl = o["eps"], o["z_loss"]
        if zsum is None:
            out, deps = lse - zy, None
        else:
            deps = zy - zsum / vocab
            out = lse - zy + eps * deps
        return (out if numerics.is_number(zl, 0.0) else out + zl * lse * lse), deps

    def _forward(self, h: Any, w: Any, b: Any, o: dict, y: Any, where: Any) -> tuple[Any, Any, Any, _Labels]:
        """Per-token losses (masked: 0 where not counted, NaN for a label out
        of range), log-sum-exps and ``d loss / d eps``, block of tokens by
        block, one vocabulary chunk at a time."""
        xp = self.ops.xp
        h = self._h(h)
        n, vocab = h.shape[0], w.shape[0]
        lab = self._labels(y, vocab, where)
        t = _tiling(n, h.shape[1], vocab, self.chunk_size, False)
        lses, sums = [], []
        for lo in range(0, n, t.block):
            lse, zsum = self._stats(h[lo:min(lo + t.block, n), ...], w, b, o, t.chunk, None)
            lses.append(lse)
            sums.append(zsum)
        lse = _joined(xp, lses)
        zy = _capped(xp, self._at_labels(h, w, b, lab.safe)[1], o["softcap"])
        per, deps = self._loss(o, lse, zy, None if sums[0] is None else _joined(xp, sums), vocab)
        return lab.finish(self.ops, per), lse, deps, lab

    def _fused(self, h0: Any, w: Any, b: Any, o: dict, y: Any, where: Any) -> tuple[Any, tuple, _Labels]:
        """Per-token losses and the gradients of the reduced loss (for an
        upstream 1), block by block, each block's tiles kept until used."""
        xp = self.ops.xp
        h = self._h(h0)
        n, vocab = h.shape[0], w.shape[0]
        lab = self._labels(y, vocab, where)
        gw = xp.astype(lab.keep, self.cdt)
        if self.reduction == "mean":
            count = xp.sum(gw)
            gw = gw / xp.where(count == 0, xp.ones_like(count), count)
        t = _tiling(n, h.shape[1], vocab, self.chunk_size, True)
        lses, sums, dhs = [], [], []
        acc = _Acc(self.names)
        for lo in range(0, n, t.block):
            hi = min(lo + t.block, n)
            tiles: list = []
            hb = h[lo:hi, ...]
            lse, zsum = self._stats(hb, w, b, o, t.chunk, tiles)
            lses.append(lse)
            sums.append(zsum)
            dhs.append(self._dense_grads(hb, w, b, o, lse, gw[lo:hi], tiles, t.chunk, acc))
        lse = _joined(xp, lses)
        wy, ry = self._at_labels(h, w, b, lab.safe)
        per, deps = self._loss(o, lse, _capped(xp, ry, o["softcap"]), None if sums[0] is None else _joined(xp, sums),
                               vocab)
        acc.tokens(xp, gw, lse, deps)
        dh = self._label_grads(h, wy, ry, o, lab.safe, gw, _joined(xp, dhs), acc)
        return lab.finish(self.ops, per), (_cast(xp, dh, h0.dtype), *acc.result(b)), lab

    def _gradients(self, h: Any, w: Any, b: Any, o: dict, lab: _Labels, lse: Any, deps: Any, gw: Any) -> tuple:
        """The gradients for per-token weights ``gw``, tiles recomputed."""
        xp = self.ops.xp
        n, vocab = h.shape[0], w.shape[0]
        t = _tiling(n, h.shape[1], vocab, self.chunk_size, False)
        dhs: list = []
        acc = _Acc(self.names)
        acc.tokens(xp, gw, lse, deps)
        for lo in range(0, n, t.block):
            hi = min(lo + t.block, n)
            dhs.append(self._dense_grads(h[lo:hi, ...], w, b, o, lse[lo:hi], gw[lo:hi], None, t.chunk, acc))
        wy, ry = self._at_labels(h, w, b, lab.safe)
        return (self._label_grads(h, wy, ry, o, lab.safe, gw, _joined(xp, dhs), acc), *acc.result(b))

    def _dense_grads(self, hb: Any, w: Any, b: Any, o: dict, lse: Any, gw: Any, tiles: list | None, chunk: int,
                     acc: _Acc) -> Any:
        """One block of tokens, every class but the label's term: the
        logits' gradient ``gw * (p * (1 + 2 z_loss lse) - eps / V)`` through
        the cap, its ``hidden`` gradient (returned) and its ``weight``,
        ``bias`` and ``softcap`` gradients (accumulated in ``acc``)."""
        ops, xp = self.ops, self.ops.xp
        vocab = w.shape[0]
        eps, zl, cap = o["eps"], o["z_loss"], o["softcap"]
        scale = gw if numerics.is_number(zl, 0.0) else gw * (1.0 + 2.0 * zl * lse)
        acc.start(xp, w, b, self.cdt)
        dh = None
        for k, lo in enumerate(range(0, vocab, chunk)):
            hi = min(lo + chunk, vocab)
            e, top = tiles[k] if tiles is not None else (self._tile(hb, w, b, lo, hi), None)
            if tiles is not None:
                tiles[k] = None  # read for the last time
            if top is not None:  # kept exp(z - max): p = e * exp(max - lse)
                dz = e * (xp.exp(top - lse) * scale)[:, None]
            else:  # raw logits (kept or recomputed)
                r, z = e, _capped(xp, e, cap)
                dz = xp.exp(z - lse[:, None]) * scale[:, None]
            if not numerics.is_number(eps, 0.0):
                dz = dz - (gw * (eps / vocab))[:, None]
            if cap is not None:
                t = z / cap
                if "softcap" in acc.names:
                    acc.add("softcap", xp.sum(dz * _dcap(r, t, cap)))
                dz = dz * (1.0 - t * t)
            part = ops.matmul(dz, self._rows(w, lo, hi))
            dh = part if dh is None else dh + part
            acc.dw = ops.add_rows(acc.dw, lo, xp.permute_dims(dz, (1, 0)), hb)
            if b is not None:
                acc.db = ops.add_rows(acc.db, lo, xp.sum(dz, axis=0))
        return dh

    def _label_grads(self, h: Any, wy: Any, ry: Any, o: dict, y: Any, gw: Any, dh: Any, acc: _Acc) -> Any:
        """The labels' term, ``-gw * (1 - eps)`` at each token's label (through
        the cap), added to ``dh`` (returned) and to ``acc``'s gradients by a
        gather and a scatter-add of rows: no one-hot tile."""
        ops, xp = self.ops, self.ops.xp
        eps, cap = o["eps"], o["softcap"]
        q = gw if numerics.is_number(eps, 0.0) else gw * (1.0 - eps)
        if cap is not None:
            t = _capped(xp, ry, cap) / cap
            if "softcap" in acc.names:
                acc.add("softcap", -xp.sum(q * _dcap(ry, t, cap)))
            q = q * (1.0 - t * t)
        acc.dw = ops.add_at(acc.dw, y, -(q[:, None] * h))
        if acc.db is not None:
            acc.db = ops.add_at(acc.db, y, -q)
        return dh - q[:, None] * wy

    def _reduce(self, per: Any, lab: _Labels) -> Any:
        xp = self.ops.xp
        if self.reduction == "none":
            return per
        total = xp.sum(per)
        if self.reduction == "sum":
            return total
        count = xp.sum(xp.astype(lab.keep, per.dtype))
        if self.masked:  # a mean over nothing is 0 with where= (the reduce() convention)
            count = xp.where(count == 0, xp.ones_like(count), count)
        return total / count


class _Acc:
    """The gradients that accumulate over blocks: ``weight``, ``bias`` and
    the array options'."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.dw = self.db = None
        self.opts: dict[str, Any] = {}

    def start(self, xp: Any, w: Any, b: Any, dtype: Any) -> None:
        """Zero ``weight`` and ``bias`` gradients, once."""
        if self.dw is None:
            self.dw = xp.zeros(w.shape, dtype=dtype, device=device(w))
            if b is not None:
                self.db = xp.zeros(b.shape, dtype=dtype, device=device(w))

    def add(self, name: str, value: Any) -> None:
        self.opts[name] = value if name not in self.opts else self.opts[name] + value

    def tokens(self, xp: Any, gw: Any, lse: Any, deps: Any) -> None:
        """The options' gradients that are sums over tokens."""
        if "z_loss" in self.names:
            self.add("z_loss", xp.sum(gw * lse * lse))
        if "eps" in self.names:
            self.add("eps", xp.sum(gw * deps))

    def result(self, b: Any) -> tuple:
        return (self.dw, self.db, *(self.opts[k] for k in self.names))


def _capped(xp: Any, r: Any, cap: Any) -> Any:
    return r if cap is None else cap * xp.tanh(r / cap)


def _dcap(r: Any, t: Any, cap: Any) -> Any:
    """``d (c * tanh(r / c)) / d c`` with ``t = tanh(r / c)``."""
    return t - (r / cap) * (1.0 - t * t)


def _joined(xp: Any, parts: list) -> Any:
    return parts[0] if len(parts) == 1 else xp.concat(parts)


def _cast(xp: Any, x: Any, dtype: Any) -> Any:
    return x if x is None or x.dtype == dtype else xp.astype(x, dtype)
