"""JAX overrides: XLA-fused kernels from jax.nn."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def option_readable(x):
    """A 0-d option's value is checked unless it is traced (jit, vmap, grad)."""
    return not isinstance(x, jax.core.Tracer)


def logsumexp(xp, x, axis=-1, keepdims=False):
    return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)


def log_softmax(xp, x, axis=-1):
    return jax.nn.log_softmax(x, axis=axis)


def softplus(xp, x):
    return jax.nn.softplus(x)


def log_sigmoid(xp, x):
    return jax.nn.log_sigmoid(x)


def sigmoid(xp, x):
    return jax.nn.sigmoid(x)


def take_along_axis(xp, x, indices, axis=-1):
    return jnp.take_along_axis(x, indices, axis=axis, mode="clip")


def matmul(xp, a, b):
    # JAX's default float32 matmul precision on GPU/TPU is reduced (TF32 /
    # bf16 passes): Gram matrices then lose ~1e-4 relative accuracy. Ask for
    # full precision so every backend agrees.
    return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


def sort(xp, x, axis=-1, descending=False):
    # One stable lax.sort carries an iota along, giving the permutation with
    # the values (differentiable: lax.sort's JVP permutes the tangent).
    # Descending is an ascending sort of -x, which keeps ties in their order
    # as a stable descending sort does (floating keys only).
    axis = axis % x.ndim
    iota = jax.lax.broadcasted_iota(jnp.int32, x.shape, axis)
    key, perm = jax.lax.sort((-x if descending else x, iota), dimension=axis, num_keys=1, is_stable=True)
    return (-key if descending else key), perm


def stop_gradient(xp, x):
    return jax.lax.stop_gradient(x)


def relu(xp, x):
    return jax.nn.relu(x)  # a max that XLA fuses into reductions; derivative 0 at 0


def scan(xp, fn, init, xs):
    # One compiled loop body: the trace and the compile time do not grow with
    # the length (the generic Python loop unrolls it under jit).
    return jax.lax.scan(fn, init, xs)


def custom_vjp(xp, primal, fwd, bwd, args, ndiff, once=False):
    # A fresh jax.custom_vjp per call: under jit it is traced once per
    # signature. The non-differentiable arguments get no cotangent (None).
    @jax.custom_vjp
    def f(*a):
        return primal(*a)

    def f_fwd(*a):
        out, res = fwd(*a)
        return out, (a, res)

    def f_bwd(saved, g):
        a, res = saved
        return (*bwd(a, res, g), *([None] * (len(a) - ndiff)))

    f.defvjp(f_fwd, f_bwd)
    return f(*args)


def add_rows(xp, buf, start, val, other=None):
    if other is not None:
        val = matmul(xp, val, other)
    old = jax.lax.dynamic_slice_in_dim(buf, start, val.shape[0], axis=0)
    return jax.lax.dynamic_update_slice_in_dim(buf, old + val, start, axis=0)


def loop(xp, n, body, carry):
    return jax.lax.fori_loop(0, n, body, carry)


def rows(xp, x, start, size):
    return jax.lax.dynamic_slice_in_dim(x, start, size, axis=0)


def add_at(xp, buf, idx, val):
    return buf.at[idx].add(val)


PRIMITIVES = {
    "logsumexp": logsumexp,
    "log_softmax": log_softmax,
    "softplus": softplus,
    "log_sigmoid": log_sigmoid,
    "sigmoid": sigmoid,
    "take_along_axis": take_along_axis,
    "matmul": matmul,
    "stop_gradient": stop_gradient,
    "relu": relu,
    "scan": scan,
    "custom_vjp": custom_vjp,
    "add_rows": add_rows,
    "add_at": add_at,
    "loop": loop,
    "rows": rows,
    "sort": sort,
}
