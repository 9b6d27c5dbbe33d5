"""Loops over blocks of rows, for the losses that never hold a whole
``[N, N]`` or ``[N, V]`` matrix (:func:`lossapi.linear_cross_entropy`, the
``chunk_size=`` paths of the embedding losses).

The full blocks run in the backend's ``loop`` primitive: a Python loop, or
``lax.fori_loop`` on JAX, whose body is compiled once, so that the compiled
program holds one block's temporaries (a Python loop under ``jax.jit`` is
unrolled, and XLA keeps every block's temporaries alive at once). Inside the
body the block's first row ``lo`` may then be traced: slice with the
backend's ``rows`` and accumulate with ``add_rows`` (dynamic slices on JAX).
"""

from __future__ import annotations

from typing import Any


def blocks(ops: Any, n: int, size: int, body: Any, carry: Any) -> Any:
    """``carry = body(lo, size, carry)`` for the blocks of ``size`` rows that
    cover ``0:n``: the full blocks in the backend's loop (``ops.loop``: a
    Python loop, ``lax.fori_loop`` on JAX, where ``lo`` is traced and the
    rows are dynamic slices), then the remainder (``size`` is then smaller,
    and ``lo`` a Python int)."""
    full, rest = divmod(n, size)
    if full == 1:
        carry = body(0, size, carry)
    elif full > 1:
        carry = ops.loop(full, lambda i, c: body(i * size, size, c), carry)
    return carry if rest == 0 else body(full * size, rest, carry)


def to_front(xp: Any, x: Any, axis: int) -> Any:
    """``x`` with ``axis`` moved first (a view where the library has views),
    so that the row primitives (axis 0) slice along it."""
    axis %= x.ndim
    return x if axis == 0 else xp.permute_dims(x, (axis, *(d for d in range(x.ndim) if d != axis)))


def from_front(xp: Any, x: Any, axis: int) -> Any:
    """The inverse of :func:`to_front`: axis 0 moved to ``axis``."""
    axis %= x.ndim
    if axis == 0:
        return x
    perm = list(range(1, x.ndim))
    perm.insert(axis, 0)
    return xp.permute_dims(x, tuple(perm))
