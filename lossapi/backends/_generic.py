"""Generic array-API implementations of the primitives.

Every function takes the namespace ``xp`` first. They use only the Python
array API standard (2023.12), so they run on any compliant library; backend
modules override them where a native kernel is faster or more stable.
"""

from __future__ import annotations


def abs(xp, x):
    # x * sign(x) equals |x| and has derivative sign(x): 0 at x == 0 on every
    # backend (torch's abs gives 0 there, jax's gives 1).
    return x * xp.sign(x)


def logsumexp(xp, x, axis=-1, keepdims=False):
    # Shift by the (gradient-free) max so exp never overflows; a max of -inf
    # (an all -inf slice) is replaced by 0 to avoid inf - inf.
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    m = stop_gradient(xp, m)
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def log_softmax(xp, x, axis=-1):
    return x - logsumexp(xp, x, axis=axis, keepdims=True)


def softplus(xp, x):
    # log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}): no overflow for large |x|.
    return xp.maximum(x, xp.zeros_like(x)) + xp.log1p(xp.exp(-abs(xp, x)))


def log_sigmoid(xp, x):
    return -softplus(xp, -x)


def sigmoid(xp, x):
    # exp(-|x|) <= 1, so neither branch overflows.
    e = xp.exp(-abs(xp, x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def xlogy(xp, x, y):
    # x * log(y) with 0 * log(0) = 0. The "double where" keeps the gradient
    # finite: log never sees 0 where x == 0.
    zero = x == 0
    safe_y = xp.where(zero, xp.ones_like(y), y)
    return xp.where(zero, xp.zeros_like(x * y), x * xp.log(safe_y))


def take_along_axis(xp, x, indices, axis=-1):
    if hasattr(xp, "take_along_axis"):
        return xp.take_along_axis(x, indices, axis=axis)
    # Dask has no take_along_axis: select with a comparison against arange.
    # The boolean (…, C) mask is lazy and chunked; no one-hot float array.
    axis = axis % x.ndim
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    classes = xp.reshape(xp.arange(x.shape[axis], dtype=indices.dtype), tuple(shape))
    hit = indices == classes if indices.shape[axis] == 1 else None
    if hit is None:
        raise ValueError("take_along_axis fallback supports one index per slice")
    return xp.sum(xp.where(hit, x, xp.zeros_like(x)), axis=axis, keepdims=True)


def norm(xp, x, axis=-1, keepdims=False):
    # Euclidean norm whose gradient is 0 (not NaN) at x == 0: sqrt only sees
    # a positive argument where the squared norm is 0.
    sq = xp.sum(x * x, axis=axis, keepdims=keepdims)
    pos = sq > 0
    safe = xp.where(pos, sq, xp.ones_like(sq))
    return xp.where(pos, xp.sqrt(safe), xp.zeros_like(sq))


def matmul(xp, a, b):
    return xp.matmul(a, b)


def stop_gradient(xp, x):
    return x


def relu(xp, x):
    # max(x, 0) with derivative 0 at x == 0 (a hinge's kink). Backends
    # override it with a native max so XLA can fuse it into a reduction,
    # which it does not do for a select.
    return xp.where(x > 0, x, xp.zeros_like(x))


def sigmoid_cross_entropy(xp, x, t):
    # Elementwise binary cross-entropy on logits, t * softplus(-x) + (1 - t) *
    # softplus(x): two softplus terms (never x - log_sigmoid(x)), so no
    # cancellation for x << 0.
    return t * softplus(xp, -x) + (1.0 - t) * softplus(xp, x)


def scan(xp, fn, init, xs):
    """A carry-scan over the leading axis of ``xs`` (``jax.lax.scan``'s contract).

    ``fn(carry, x) -> (carry, y)`` is applied to ``x = xs[i]`` for ``i = 0, 1,
    ...`` in order, threading ``carry`` (any value: an array or a tuple of
    arrays, of a fixed structure, shapes and dtypes). ``xs`` is an array or a
    tuple of arrays of equal leading length (then ``x`` is the tuple of their
    ``i``-th slices). Returns ``(final carry, ys)``: ``ys`` stacks the ``y``
    along a new leading axis (a tuple of stacks if ``y`` is a tuple), or is
    None when ``fn`` returns ``y = None`` (then nothing is kept per step).

    Here a Python loop (cost and, on autodiff backends, memory linear in the
    length); JAX overrides it with ``jax.lax.scan``, which compiles the body
    once, so the compile time does not grow with the length.
    """
    seq = tuple(xs) if isinstance(xs, (tuple, list)) else (xs,)
    # unstack (torch: unbind), not xs[i] per step: the gradient of T slices
    # is then one stack, not T full-size zero arrays each with one slice set.
    slices = [_unstack(xp, a) for a in seq]
    steps = zip(*slices) if isinstance(xs, (tuple, list)) else slices[0]
    carry, ys = init, []
    for x in steps:
        carry, y = fn(carry, x)
        ys.append(y)
    if not ys or ys[0] is None:
        return carry, None
    if isinstance(ys[0], tuple):
        return carry, tuple(xp.stack([y[k] for y in ys], axis=0) for k in range(len(ys[0])))
    return carry, xp.stack(ys, axis=0)


def _unstack(xp, a):
    if hasattr(xp, "unstack"):  # the standard's 2023.12 revision
        return xp.unstack(a, axis=0)
    return [a[i, ...] for i in range(a.shape[0])]


def custom_vjp(xp, primal, fwd, bwd, args, ndiff, once=False):
    """``primal(*args)``, with the gradient that ``fwd`` and ``bwd`` define
    on a backend with autodiff.

    ``args``: arrays (or None); the first ``ndiff`` are differentiable.
    ``fwd(*args) -> (out, res)`` computes the value and the residuals
    (arrays or None) that ``bwd(args, res, g) -> grads`` (one per
    differentiable argument, None for an argument that is None) turns,
    with the upstream gradient ``g`` of ``out``, into gradients. ``once``:
    ``bwd`` consumes the residuals (scales them in place, see ``rescale``),
    so a second backward through one torch graph is an error. Here (no
    autodiff) the primal alone runs; torch overrides it with an
    ``autograd.Function``, JAX with ``jax.custom_vjp``.
    """
    return primal(*args)


def add_rows(xp, buf, start, val, other=None):
    """``buf`` with ``val`` (or the product ``val @ other``) added to its rows
    ``start:start + len(val)``; in place here (NumPy, CuPy), so an
    accumulator costs no copy per update. torch accumulates the product in
    the matrix multiply itself (``addmm_``); JAX uses a functional
    ``.at[].add`` (in place under ``jit``)."""
    buf[start:start + val.shape[0], ...] += val if other is None else xp.matmul(val, other)
    return buf


def rescale(xp, res, g):
    """A ``custom_vjp`` residual (an array the call owns) times the upstream
    gradient ``g``. torch overrides it with an in-place product, so a
    precomputed gradient the size of ``weight`` is not copied."""
    return res * g


def add_at(xp, buf, idx, val):
    """``buf`` with ``val[i]`` added to row ``idx[i]`` for each ``i``
    (repeated indices add up): a scatter-add, which the standard lacks. Here
    one row at a time (torch overrides it with ``index_add_``, JAX with
    ``.at[].add``); only the backward passes of autodiff backends use it."""
    for i in range(idx.shape[0]):
        k = int(idx[i])
        buf[k:k + 1, ...] += val[i:i + 1, ...]
    return buf


def loop(xp, n, body, carry):
    """``carry = body(i, carry)`` for ``i`` in ``range(n)``: a Python loop
    here; JAX overrides it with ``lax.fori_loop``, which compiles the body
    once and keeps one iteration's temporaries (``i`` is then traced: index
    with :func:`rows`)."""
    for i in range(n):
        carry = body(i, carry)
    return carry


def rows(xp, x, start, size):
    """``x[start:start + size]`` along the first axis, for a ``start`` that may
    be a loop index (JAX: ``lax.dynamic_slice_in_dim``)."""
    return x[start:start + size, ...]


def sort(xp, x, axis=-1, descending=False):
    """``(values, perm)``: ``x`` sorted along ``axis`` and the permutation that
    sorts it (``values == take_along_axis(x, perm, axis)``).

    The sort is stable (equal values keep their order, descending too), so
    every backend picks the same permutation at ties and so the same
    subgradient. ``values`` carries ``x``'s gradient through the gather (the
    permutation is piecewise constant); ``perm`` gathers companion arrays
    with :func:`take_along_axis`. torch overrides it with one ``torch.sort``,
    JAX with ``lax.sort`` carrying an iota; Dask sorts only along an axis in
    one chunk (its module makes that chunk, lazily).
    """
    perm = xp.argsort(x, axis=axis, descending=descending, stable=True)
    return take_along_axis(xp, x, perm, axis=axis), perm


def cumsum(xp, x, axis=-1):
    """Inclusive cumulative sum along ``axis`` (the standard's
    ``cumulative_sum``, 2023.12; array-api-compat provides it for NumPy,
    torch and Dask). A namespace without it gets a triangular matrix product
    (quadratic in the axis length, exact for the 0/1 counts the losses sum)."""
    if hasattr(xp, "cumulative_sum"):
        return xp.cumulative_sum(x, axis=axis)
    from array_api_compat import device

    axis = axis % x.ndim
    i = xp.arange(x.shape[axis], device=device(x))
    upper = xp.astype(i[:, None] <= i[None, :], x.dtype)  # upper[j, k] = 1 for j <= k
    y = xp.matmul(xp.moveaxis(x, axis, -1), upper)
    return xp.moveaxis(y, -1, axis)
