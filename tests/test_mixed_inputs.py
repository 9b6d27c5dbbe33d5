"""Mixed array libraries: NumPy labels, targets, weights and masks next to
JAX or Dask arrays are taken as ``jax.numpy`` / ``dask.array`` take them
(eagerly, and inside ``jax.jit`` with the NumPy arrays closed over); the
result is the JAX / Dask library's array with the reference's value. Torch
or array-api-strict next to NumPy stays a ``TypeError`` ("different array
libraries"), and a Python scalar is never taken as an array."""

from __future__ import annotations

import numpy as np
import pytest

import lossapi
from conformance import reference as R

TOL = 1e-10


def _check(got, want, tol=TOL):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(6, 4)) * 2
    return {
        "z": z,
        "y": rng.integers(0, 4, size=6),
        "w": rng.uniform(0.5, 2.0, size=4),
        "keep": np.array([True, False, True, True, True, False]),
        "mask": rng.uniform(size=(6, 4)) < 0.7,
        "t": rng.uniform(size=(6, 4)),
        "ew": rng.uniform(0.5, 2.0, size=(6, 4)),
        "pw": rng.uniform(0.5, 2.0, size=4),
        "p": _softmax(z),
        "q": _softmax(rng.normal(size=(6, 4))),
        "e": rng.normal(size=(6, 3)),
        "lab": np.array([0, 0, 1, 1, 2, 2]),
    }


def _cases(d):
    """(name, key of the first array, call(first array), reference value): the
    first array comes from the library under test, everything else is NumPy."""
    keep, m = d["keep"], d["mask"]
    m_any = m.any(axis=1)
    return [
        ("cross_entropy labels + weight + per-sample where",
         "z", lambda x: lossapi.cross_entropy(x, d["y"], weight=d["w"], where=keep),
         R.cross_entropy(d["z"][keep], d["y"][keep], weight=d["w"])),
        ("cross_entropy probabilities",
         "z", lambda x: lossapi.cross_entropy(x, d["p"], label_smoothing=0.1, reduction="none"),
         R.cross_entropy(d["z"], d["p"], label_smoothing=0.1, reduction="none")),
        ("mse + elementwise where", "z", lambda x: lossapi.mse(x, d["t"], where=m, reduction="sum"),
         R.mse(d["z"][m], d["t"][m], reduction="sum")),
        ("bce with logits + weight + pos_weight",
         "z", lambda x: lossapi.binary_cross_entropy_with_logits(x, d["t"], weight=d["ew"], pos_weight=d["pw"]),
         R.binary_cross_entropy_with_logits(d["z"], d["t"], weight=d["ew"], pos_weight=d["pw"])),
        ("kl_divergence + element where",
         "p", lambda x: lossapi.kl_divergence(x, d["q"], where=m, reduction="none"),
         np.array([R.kl_divergence(d["p"][i][m[i]], d["q"][i][m[i]]) if m_any[i] else 0.0 for i in range(6)])),
        ("focal + alpha", "z", lambda x: lossapi.focal(x, d["y"], alpha=d["w"], gamma=1.5),
         R.focal(d["z"], d["y"], alpha=d["w"], gamma=1.5)),
        ("batch_triplet + where",
         "e", lambda x: lossapi.batch_triplet(x, d["lab"], where=keep, reduction="sum"),
         R.batch_triplet(d["e"][keep], d["lab"][keep], reduction="sum")),
        ("contrastive", "z", lambda x: lossapi.contrastive(x, d["t"], keep.astype(np.float64)),
         R.contrastive(d["z"], d["t"], keep.astype(np.float64))),
    ]


IDS = [c[0] for c in _cases(_data())]


@pytest.fixture
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("i", range(len(IDS)), ids=IDS)
def test_numpy_next_to_jax(jax, i):
    d = _data()
    name, key, call, want = _cases(d)[i]
    out = call(jax.numpy.asarray(d[key]))
    assert isinstance(out, jax.Array)
    _check(out, want)


@pytest.mark.parametrize("i", range(len(IDS)), ids=IDS)
def test_numpy_closed_over_in_jit(jax, i):
    d = _data()
    name, key, call, want = _cases(d)[i]
    _check(jax.jit(call)(jax.numpy.asarray(d[key])), want)


def test_numpy_first_argument_next_to_jax(jax):
    # The JAX array need not come first: a NumPy prediction with a JAX target gives a JAX result.
    d = _data(1)
    out = lossapi.mse(d["z"], jax.numpy.asarray(d["t"]))
    assert isinstance(out, jax.Array)
    _check(out, R.mse(d["z"], d["t"]))
    out = lossapi.cross_entropy(d["z"], jax.numpy.asarray(d["y"]), where=d["keep"])
    assert isinstance(out, jax.Array)
    _check(out, R.cross_entropy(d["z"][d["keep"]], d["y"][d["keep"]]))


def test_numpy_where_and_weights_under_grad_and_vmap(jax):
    jnp = jax.numpy
    d = _data(2)
    keep = d["keep"]
    g = jax.grad(lambda x: lossapi.cross_entropy(x, d["y"], weight=d["w"], where=keep))(jnp.asarray(d["z"]))
    # d/dz of the weighted mean over the kept samples: w[y] (softmax - onehot) / sum w[y]
    onehot = np.eye(4)[d["y"]]
    wy = d["w"][d["y"]] * keep
    want = wy[:, None] * (_softmax(d["z"]) - onehot) / np.sum(wy)
    _check(g, want)
    # vmap over JAX logits with NumPy labels closed over
    zs = np.stack([d["z"], 2 * d["z"], -d["z"]])
    out = jax.vmap(lambda x: lossapi.cross_entropy(x, d["y"]))(jnp.asarray(zs))
    _check(out, [R.cross_entropy(z, d["y"]) for z in zs])


@pytest.fixture
def da():
    return pytest.importorskip("dask.array")


@pytest.mark.parametrize("i", range(len(IDS)), ids=IDS)
def test_numpy_next_to_dask(da, i):
    d = _data(3)
    name, key, call, want = _cases(d)[i]
    a = d[key]
    out = call(da.from_array(a, chunks=tuple(max(1, (s + 1) // 2) for s in a.shape)))
    assert isinstance(out, da.Array), type(out)
    _check(out.compute(), want)


def test_numpy_first_argument_next_to_dask(da):
    d = _data(4)
    out = lossapi.kl_divergence(d["p"], da.from_array(d["q"], chunks=(3, 2)), reduction="none")
    assert isinstance(out, da.Array)
    _check(out.compute(), R.kl_divergence(d["p"], d["q"], reduction="none"))


# --- still errors ------------------------------------------------------------------------------


def _strict_libraries():
    out = []
    try:
        import torch

        out.append(("torch", torch.from_numpy))
    except ImportError:  # pragma: no cover
        pass
    try:
        import array_api_strict

        out.append(("array_api_strict", array_api_strict.asarray))
    except ImportError:  # pragma: no cover
        pass
    return out


@pytest.mark.parametrize("lib,conv", _strict_libraries(), ids=[x[0] for x in _strict_libraries()])
def test_numpy_next_to_strict_libraries_is_type_error(lib, conv):
    d = _data(5)
    cases = [
        ("mse", lambda: lossapi.mse(conv(d["z"]), d["t"])),
        ("mse", lambda: lossapi.mse(d["z"], conv(d["t"]))),
        ("cross_entropy", lambda: lossapi.cross_entropy(conv(d["z"]), d["y"])),
        ("cross_entropy", lambda: lossapi.cross_entropy(conv(d["z"]), conv(d["y"]), weight=d["w"])),
        ("cross_entropy", lambda: lossapi.cross_entropy(conv(d["z"]), conv(d["y"]), where=d["keep"])),
        ("batch_triplet", lambda: lossapi.batch_triplet(conv(d["e"]), d["lab"])),
        ("mse", lambda: lossapi.mse(conv(d["z"]), conv(d["t"]), where=d["mask"])),
    ]
    for name, call in cases:
        with pytest.raises(TypeError, match=rf"^{name}: inputs come from different array libraries: .*{lib}.*numpy"
                                            rf"|^{name}: inputs come from different array libraries: numpy.*{lib}"):
            call()


def test_jax_next_to_other_libraries_is_type_error(jax, da):
    torch = pytest.importorskip("torch")
    d = _data(6)
    z = jax.numpy.asarray(d["z"])
    with pytest.raises(TypeError, match=r"^mse: inputs come from different array libraries: jax .* and torch"):
        lossapi.mse(z, torch.from_numpy(d["t"]))
    with pytest.raises(TypeError, match=r"^mse: inputs come from different array libraries: jax .* and dask"):
        lossapi.mse(z, da.from_array(d["t"]))
    with pytest.raises(TypeError, match=r"^cross_entropy: inputs come from different array libraries: dask .* "
                                        r"and jax"):
        lossapi.cross_entropy(da.from_array(d["z"]), jax.numpy.asarray(d["y"]))


def test_python_scalars_are_not_arrays(xp):
    # A Python number where an array is expected is the same TypeError on
    # every backend (NumPy's acceptance by JAX / Dask does not extend to it).
    x = xp.asarray(np.ones((3, 4)))
    with pytest.raises(TypeError, match=r"^mse: target must be an array, got float$"):
        lossapi.mse(x, 1.0)
    with pytest.raises(TypeError, match=r"^mse: pred must be a real floating-point array, got float$"):
        lossapi.mse(1.0, x)
    with pytest.raises(TypeError, match=r"^cross_entropy: target must be an array, got int$"):
        lossapi.cross_entropy(x, 1)


def test_only_python_scalars():
    with pytest.raises(TypeError, match=r"^mse: "):
        lossapi.mse(1.0, 2.0)
