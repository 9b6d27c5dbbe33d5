"""Language-model losses: cross-entropy through the output projection, in
vocabulary chunks, never holding the ``[N, V]`` logits.

:func:`linear_cross_entropy` equals ``cross_entropy(hidden @ weight.T +
bias, labels, ...)`` in value and in every gradient, but computes the logits
one tile (a block of tokens by a chunk of the vocabulary) at a time:

* the forward keeps a running log-sum-exp over the vocabulary chunks (the
  running maximum and the sum of exponentials rescaled to it) and, for label
  smoothing, the sum of the logits; each tile is dropped once read. The
  label's logit is one row-wise dot, ``hidden . weight[label]``;
* the backward recomputes each tile from ``hidden`` and the chunk of
  ``weight``, turns it into the logits' gradient and accumulates the
  gradients of ``hidden``, ``weight`` and ``bias`` (``dlogits @ W_chunk``,
  ``dlogits.T @ hidden_block``, ``sum(dlogits)``). The labels' term of that
  gradient is a gather of ``weight``'s label rows and a scatter-add into the
  weight's gradient, never a one-hot tile.

The loops over token blocks and vocabulary chunks are the backend's ``loop``
primitive: a Python loop, or ``lax.fori_loop`` with dynamic slices on JAX, so
that the compiled program holds one iteration's temporaries.

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
from ._core.blocks import blocks as _blocks
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

    def _rows(self, x: Any, lo: Any, size: int) -> Any:
        """Rows ``lo:lo + size`` of an array, in the compute dtype (``lo`` may
        be a loop index: see :func:`_blocks`)."""
        x = self.ops.rows(x, lo, size)
        return x if x.dtype == self.cdt else self.ops.xp.astype(x, self.cdt)

    def _tile(self, h: Any, w: Any, b: Any, lo: Any, size: int) -> Any:
        """The raw logits (before any cap) of ``h``'s tokens for ``size``
        classes from ``lo``."""
        z = self.ops.matmul(h, self.ops.xp.permute_dims(self._rows(w, lo, size), (1, 0)))
        return z if b is None else z + self._rows(b, lo, size)

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

    def _zeros(self, shape: tuple, like: Any) -> Any:
        return self.ops.xp.zeros(shape, dtype=self.cdt, device=device(like))

    def _stats(self, h: Any, w: Any, b: Any, o: dict, chunk: int, keep: bool) -> tuple[Any, Any, Any]:
        """Online log-sum-exp over the vocabulary chunks for ``h``'s tokens:
        ``(lse, sum(z) or None, kept)`` of the capped logits ``z``. With
        ``keep``, each chunk's ``exp(z - max)`` and ``max`` (with a cap, its
        raw logits) are kept for the gradient pass: the full chunks in one
        ``[chunks, n, chunk]`` buffer (written in the backend's loop), the
        last, shorter one apart (see :class:`_Kept`)."""
        ops, xp = self.ops, self.ops.xp
        n, vocab, cap = h.shape[0], w.shape[0], o["softcap"]
        smooth = not numerics.is_number(o["eps"], 0.0)
        full = vocab // chunk
        kept = _Kept(self._zeros((full, n, chunk), h) if keep and full else None,
                     self._zeros((full, n), h) if keep and full and cap is None else None)

        def step(lo: Any, size: int, carry: tuple) -> tuple:
            m, s, zsum, tiles, tops = carry
            r = self._tile(h, w, b, lo, size)
            z = _capped(xp, r, cap)
            top = xp.max(z, axis=1)
            e = xp.exp(z - top[:, None])
            new = xp.maximum(m, top)  # rescale both sums to the larger maximum
            s = s * xp.exp(m - new) + xp.sum(e, axis=1) * xp.exp(top - new)
            if smooth:
                zsum = zsum + xp.sum(z, axis=1)
            if keep:
                tile = e if cap is None else r
                if size == chunk:  # a full chunk: into the buffer (the remainder is shorter)
                    tiles = ops.add_rows(tiles, lo // chunk, tile[None, ...])
                    if tops is not None:
                        tops = ops.add_rows(tops, lo // chunk, top[None, ...])
                else:
                    kept.last = (tile, top if cap is None else None)
            return new, s, zsum, tiles, tops

        init = (xp.full((n,), -math.inf, dtype=self.cdt, device=device(h)), self._zeros((n,), h),
                self._zeros((n,), h) if smooth else None, kept.tiles, kept.tops)
        m, s, zsum, kept.tiles, kept.tops = _blocks(ops, vocab, chunk, step, init)
        return m + xp.log(s), zsum, kept if keep else None

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
        ops, xp = self.ops, self.ops.xp
        h = self._h(h)
        n, vocab = h.shape[0], w.shape[0]
        lab = self._labels(y, vocab, where)
        t = _tiling(n, h.shape[1], vocab, self.chunk_size, False)
        smooth = not numerics.is_number(o["eps"], 0.0)

        def block(lo: Any, size: int, carry: tuple) -> tuple:
            lse_all, zsum_all = carry
            lse, zsum, _ = self._stats(ops.rows(h, lo, size), w, b, o, t.chunk, False)
            return ops.add_rows(lse_all, lo, lse), None if zsum is None else ops.add_rows(zsum_all, lo, zsum)

        lse, zsum = _blocks(ops, n, t.block, block, (self._zeros((n,), h), self._zeros((n,), h) if smooth else None))
        zy = _capped(xp, self._at_labels(h, w, b, lab.safe)[1], o["softcap"])
        per, deps = self._loss(o, lse, zy, zsum, vocab)
        return lab.finish(ops, per), lse, deps, lab

    def _fused(self, h0: Any, w: Any, b: Any, o: dict, y: Any, where: Any) -> tuple[Any, tuple, _Labels]:
        """Per-token losses and the gradients of the reduced loss (for an
        upstream 1), block of tokens by block, each block's tiles kept until
        its gradient is taken."""
        ops, xp = self.ops, self.ops.xp
        h = self._h(h0)
        n, vocab = h.shape[0], w.shape[0]
        lab = self._labels(y, vocab, where)
        gw = xp.astype(lab.keep, self.cdt)
        if self.reduction == "mean":
            count = xp.sum(gw)
            gw = gw / xp.where(count == 0, xp.ones_like(count), count)
        t = _tiling(n, h.shape[1], vocab, self.chunk_size, True)
        smooth = not numerics.is_number(o["eps"], 0.0)

        def block(lo: Any, size: int, carry: tuple) -> tuple:
            dh_all, lse_all, zsum_all, grads = carry
            hb = ops.rows(h, lo, size)
            lse, zsum, kept = self._stats(hb, w, b, o, t.chunk, True)
            dh, *grads = self._dense_grads(hb, w, b, o, lse, ops.rows(gw, lo, size), kept, t.chunk, grads)
            return (ops.add_rows(dh_all, lo, dh), ops.add_rows(lse_all, lo, lse),
                    None if zsum is None else ops.add_rows(zsum_all, lo, zsum), tuple(grads))

        init = (self._zeros(tuple(h.shape), h), self._zeros((n,), h), self._zeros((n,), h) if smooth else None,
                self._grads0(w, b))
        dh, lse, zsum, (dw, db, dcap) = _blocks(ops, n, t.block, block, init)
        wy, ry = self._at_labels(h, w, b, lab.safe)
        per, deps = self._loss(o, lse, _capped(xp, ry, o["softcap"]), zsum, vocab)
        dh, dw, db, dcap = self._label_grads(h, wy, ry, o, lab.safe, gw, (dh, dw, db, dcap))
        grads = (_cast(xp, dh, h0.dtype), dw, db, *self._option_grads(gw, lse, deps, dcap))
        return lab.finish(ops, per), grads, lab

    def _gradients(self, h: Any, w: Any, b: Any, o: dict, lab: _Labels, lse: Any, deps: Any, gw: Any) -> tuple:
        """The gradients for per-token weights ``gw``, tiles recomputed."""
        ops = self.ops
        n, vocab = h.shape[0], w.shape[0]
        t = _tiling(n, h.shape[1], vocab, self.chunk_size, False)

        def block(lo: Any, size: int, carry: tuple) -> tuple:
            dh_all, grads = carry
            dh, *grads = self._dense_grads(ops.rows(h, lo, size), w, b, o, ops.rows(lse, lo, size),
                                           ops.rows(gw, lo, size), None, t.chunk, grads)
            return ops.add_rows(dh_all, lo, dh), tuple(grads)

        dh, (dw, db, dcap) = _blocks(ops, n, t.block, block, (self._zeros(tuple(h.shape), h), self._grads0(w, b)))
        wy, ry = self._at_labels(h, w, b, lab.safe)
        dh, dw, db, dcap = self._label_grads(h, wy, ry, o, lab.safe, gw, (dh, dw, db, dcap))
        return (dh, dw, db, *self._option_grads(gw, lse, deps, dcap))

    def _grads0(self, w: Any, b: Any) -> tuple:
        """Zero ``weight``, ``bias`` and ``softcap`` gradients (None where not wanted)."""
        return (self._zeros(tuple(w.shape), w), None if b is None else self._zeros(tuple(b.shape), w),
                self._zeros((), w) if "softcap" in self.names else None)

    def _option_grads(self, gw: Any, lse: Any, deps: Any, dcap: Any) -> tuple:
        """The array options' gradients, in ``self.names``' order."""
        xp = self.ops.xp
        found = {"z_loss": lambda: xp.sum(gw * lse * lse), "eps": lambda: xp.sum(gw * deps), "softcap": lambda: dcap}
        return tuple(found[k]() for k in self.names)

    def _dense_grads(self, hb: Any, w: Any, b: Any, o: dict, lse: Any, gw: Any, kept: _Kept | None, chunk: int,
                     grads: Any) -> tuple:
        """One block of tokens, every class but the label's term: the
        logits' gradient ``gw * (p * (1 + 2 z_loss lse) - eps / V)`` through
        the cap; returns the block's ``hidden`` gradient and ``grads`` (the
        ``weight``, ``bias`` and ``softcap`` gradients) with its share added.
        The tiles come from ``kept`` (see :meth:`_stats`) or are recomputed."""
        ops, xp = self.ops, self.ops.xp
        vocab = w.shape[0]
        eps, zl, cap = o["eps"], o["z_loss"], o["softcap"]
        scale = gw if numerics.is_number(zl, 0.0) else gw * (1.0 + 2.0 * zl * lse)

        def step(lo: Any, size: int, carry: tuple) -> tuple:
            dh, dw, db, dcap = carry
            if kept is None:
                e, top = self._tile(hb, w, b, lo, size), None
            elif size == chunk:
                e = ops.rows(kept.tiles, lo // chunk, 1)[0, ...]
                top = None if kept.tops is None else ops.rows(kept.tops, lo // chunk, 1)[0, ...]
            else:
                e, top = kept.last
            if top is not None:  # kept exp(z - max): p = e * exp(max - lse)
                dz = e * (xp.exp(top - lse) * scale)[:, None]
            else:  # raw logits (kept or recomputed)
                r, z = e, _capped(xp, e, cap)
                dz = xp.exp(z - lse[:, None]) * scale[:, None]
            if not numerics.is_number(eps, 0.0):
                dz = dz - (gw * (eps / vocab))[:, None]
            if cap is not None:
                t = z / cap
                if dcap is not None:
                    dcap = dcap + xp.sum(dz * _dcap(r, t, cap))
                dz = dz * (1.0 - t * t)
            dh = dh + ops.matmul(dz, self._rows(w, lo, size))
            dw = ops.add_rows(dw, lo, xp.permute_dims(dz, (1, 0)), hb)
            if db is not None:
                db = ops.add_rows(db, lo, xp.sum(dz, axis=0))
            return dh, dw, db, dcap

        return _blocks(ops, vocab, chunk, step, (self._zeros(tuple(hb.shape), hb), *grads))

    def _label_grads(self, h: Any, wy: Any, ry: Any, o: dict, y: Any, gw: Any, grads: tuple) -> tuple:
        """The labels' term, ``-gw * (1 - eps)`` at each token's label (through
        the cap), added to ``(dh, dw, db, dcap)`` by a gather and a
        scatter-add of rows: no one-hot tile."""
        ops, xp = self.ops, self.ops.xp
        dh, dw, db, dcap = grads
        eps, cap = o["eps"], o["softcap"]
        q = gw if numerics.is_number(eps, 0.0) else gw * (1.0 - eps)
        if cap is not None:
            t = _capped(xp, ry, cap) / cap
            if dcap is not None:
                dcap = dcap - xp.sum(q * _dcap(ry, t, cap))
            q = q * (1.0 - t * t)
        dw = ops.add_at(dw, y, -(q[:, None] * h))
        if db is not None:
            db = ops.add_at(db, y, -q)
        return dh - q[:, None] * wy, dw, db, dcap

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


class _Kept:
    """A block's tiles between the forward and the gradient pass: ``tiles``
    ``[chunks, n, chunk]`` (``exp(z - max)``, or the raw logits under a
    cap) and ``tops`` ``[chunks, n]`` (the maxima) for the full chunks;
    ``last`` the same pair for the shorter last chunk."""

    def __init__(self, tiles: Any, tops: Any):
        self.tiles, self.tops = tiles, tops
        self.last: tuple[Any, Any] = (None, None)


def _capped(xp: Any, r: Any, cap: Any) -> Any:
    return r if cap is None else cap * xp.tanh(r / cap)


def _dcap(r: Any, t: Any, cap: Any) -> Any:
    """``d (c * tanh(r / c)) / d c`` with ``t = tanh(r / c)``."""
    return t - (r / cap) * (1.0 - t * t)


def _cast(xp: Any, x: Any, dtype: Any) -> Any:
    return x if x is None or x.dtype == dtype else xp.astype(x, dtype)
