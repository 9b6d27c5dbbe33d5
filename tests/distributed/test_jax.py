"""JAX: lossapi's losses on arrays sharded over 8 host CPU devices, under
``jax.jit``. The reference is the same call on unsharded arrays (one
device); values and gradients must agree, and each gradient must keep its
input's sharding."""

from __future__ import annotations

import numpy as np
import pytest
from representatives import REPS, inputs

import lossapi

jax = pytest.importorskip("jax")
jnp = jax.numpy
P = jax.sharding.PartitionSpec

RTOL, ATOL = 2e-5, 1e-6  # float32; a sharded sum adds in another order


# On a mesh with Explicit axes JAX wants every op's output sharding settled
# at trace time; where lossapi's code leaves one open, JAX raises its
# ShardingTypeError (never a wrong value): supcon's [N, N] similarities of a
# batch-sharded [N, D], and linear_cross_entropy's per-chunk buffers (created
# unsharded, then updated with batch-sharded tiles). Auto axes run both.
EXPLICIT_RAISES = {"supcon", "linear_cross_entropy"}


def _mesh(kind="Auto"):
    devices = jax.devices("cpu")
    assert len(devices) == 8, (
        f"expected 8 host devices, got {len(devices)}: XLA_FLAGS must hold "
        "--xla_force_host_platform_device_count=8 before jax is imported (tests/distributed/conftest.py)")
    return jax.make_mesh((8,), ("d",), devices=devices, axis_types=(getattr(jax.sharding.AxisType, kind),))


@pytest.fixture(scope="module")
def mesh():
    """Auto axes (GSPMD propagation, what ``jit`` with ``in_shardings`` uses)."""
    return _mesh()


def _put(x, mesh, spec):
    return jax.device_put(jnp.asarray(x), jax.sharding.NamedSharding(mesh, spec))


def _f32(a):
    return a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a


def _value_and_grads(fn, arrays, diff):
    # Every array is an argument of the jitted function (labels too), so
    # each enters the computation with its own sharding.
    return jax.jit(jax.value_and_grad(fn, argnums=tuple(diff)))(*arrays)


def _same_sharding(g, x):
    return g.sharding.is_equivalent_to(x.sharding, x.ndim)


def _explicit_cases():
    # Every representative on Auto axes; on Explicit axes, a few elementwise
    # ones and the two that raise (each mesh kind compiles anew: time).
    explicit = {"huber", "cross_entropy", "kl_divergence", "dpo"} | EXPLICIT_RAISES
    return ([pytest.param(r, "Auto", id=f"Auto-{r.id}") for r in REPS]
            + [pytest.param(r, "Explicit", id=f"Explicit-{r.id}") for r in REPS if r.id in explicit])


@pytest.mark.parametrize(("rep", "kind"), _explicit_cases())
def test_batch_sharded(rep, kind, reduction="mean"):
    mesh = _mesh(kind)
    host = [_f32(a) for a in inputs(rep.id)]
    one = [jnp.asarray(a) for a in host]
    # Every input split along its batch axis, a weight matrix replicated.
    sharded = [_put(a, mesh, P() if i in rep.shared else P("d")) for i, a in enumerate(host)]

    def fn(*a):
        return rep.call(*a, reduction=reduction)

    v0, g0 = _value_and_grads(fn, one, rep.diff)
    if rep.id in EXPLICIT_RAISES and mesh.axis_types[0] == jax.sharding.AxisType.Explicit:
        with pytest.raises(Exception, match="shard") as e:  # jax._src.core.ShardingTypeError
            _value_and_grads(fn, sharded, rep.diff)
        assert type(e.value).__name__ == "ShardingTypeError"
        return
    v1, g1 = _value_and_grads(fn, sharded, rep.diff)
    np.testing.assert_allclose(np.asarray(v1), np.asarray(v0), rtol=RTOL, atol=ATOL)
    for i, a, b in zip(rep.diff, g0, g1):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=RTOL, atol=ATOL, err_msg=f"grad {i}")
        assert _same_sharding(b, sharded[i]), f"grad {i}: {b.sharding} != input's {sharded[i].sharding}"


def test_batch_sharded_none_keeps_sharding(mesh):
    # reduction="none" returns per-sample values, still split over the devices.
    logits, labels = inputs("cross_entropy")
    x = _put(logits.astype(np.float32), mesh, P("d"))
    y = _put(labels, mesh, P("d"))
    out = jax.jit(lambda a, b: lossapi.cross_entropy(a, b, reduction="none"))(x, y)
    np.testing.assert_allclose(np.asarray(out), np.asarray(lossapi.cross_entropy(
        jnp.asarray(logits.astype(np.float32)), jnp.asarray(labels), reduction="none")), rtol=RTOL, atol=ATOL)
    assert out.sharding.is_equivalent_to(y.sharding, 1), out.sharding


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_class_sharded(mesh, smoothing):
    # Logits [16, 64] split along the classes, labels replicated: the
    # log-sum-exp and the label's logit need values from every device.
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(16, 64)).astype(np.float32)
    labels = rng.integers(0, 64, 16)

    def fn(x):
        return lossapi.cross_entropy(x, jnp.asarray(labels), label_smoothing=smoothing, z_loss=1e-3)

    x = _put(logits, mesh, P(None, "d"))
    (v0, (g0,)), (v1, (g1,)) = (_value_and_grads(fn, [a], (0,)) for a in (jnp.asarray(logits), x))
    np.testing.assert_allclose(np.asarray(v1), np.asarray(v0), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g0), rtol=RTOL, atol=ATOL)
    assert _same_sharding(g1, x), g1.sharding


@pytest.mark.parametrize("chunk_size", [None, 16])
@pytest.mark.parametrize("hidden_spec", [P(), P("d")], ids=["hidden_replicated", "hidden_batch_sharded"])
def test_linear_cross_entropy_vocab_sharded(mesh, hidden_spec, chunk_size):
    # The output projection [V, H] split along the vocabulary (as tensor-
    # parallel language models keep it), V = 64 over 8 devices. chunk_size
    # None takes the whole vocabulary in one chunk here; 16 loops over four
    # chunks (lax.fori_loop with dynamic slices across the sharded axis):
    # the values and gradients stay right, but XLA then returns the weight's
    # gradient replicated (gathered), so only the one-chunk case keeps its
    # sharding.
    rng = np.random.default_rng(1)
    hidden = rng.normal(size=(16, 32)).astype(np.float32)
    weight = (0.2 * rng.normal(size=(64, 32))).astype(np.float32)
    labels = rng.integers(0, 64, 16)

    def fn(h, w):
        return lossapi.linear_cross_entropy(h, w, jnp.asarray(labels), chunk_size=chunk_size)

    h, w = _put(hidden, mesh, hidden_spec), _put(weight, mesh, P("d", None))
    v0, (gh0, gw0) = _value_and_grads(fn, [jnp.asarray(hidden), jnp.asarray(weight)], (0, 1))
    v1, (gh1, gw1) = _value_and_grads(fn, [h, w], (0, 1))
    np.testing.assert_allclose(np.asarray(v1), np.asarray(v0), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(np.asarray(gh1), np.asarray(gh0), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(np.asarray(gw1), np.asarray(gw0), rtol=RTOL, atol=ATOL)
    assert _same_sharding(gh1, h), gh1.sharding
    assert _same_sharding(gw1, w) == (chunk_size is None), gw1.sharding


def test_shard_map_psum_of_sums(mesh):
    # Each device computes reduction="sum" on its rows; psum adds the 8
    # partial sums. The float64 NumPy sum of the whole batch is the reference.
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(64, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 64)

    def local(x, y):
        return jax.lax.psum(lossapi.cross_entropy(x, y, reduction="sum"), "d")

    f = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P("d"), P("d")), out_specs=P()))
    total = f(_put(logits, mesh, P("d")), _put(labels, mesh, P("d")))
    z = logits.astype(np.float64)
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    expected = float(np.sum(lse - z[np.arange(64), labels]))
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)
    # The mean is the psum of sums over the global count.
    np.testing.assert_allclose(float(total) / 64, float(lossapi.cross_entropy(jnp.asarray(logits), jnp.asarray(labels))),
                               rtol=1e-5)
