"""One axis rule for every loss that takes ``axis``: any integer (Python
``int`` or a NumPy integer) is accepted and gives the same result; ``bool``
and ``float`` are a ``TypeError`` that names the loss."""

from __future__ import annotations

import numpy as np
import pytest

import lossapi

SHAPE = (3, 4, 5)


def _softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _labels(rng, axis):
    # Integer class labels: the scores' shape without the class axis.
    shape = list(SHAPE)
    c = shape.pop(axis)
    return rng.integers(0, c, size=shape)


def _inputs(name, axis, rng):
    z = rng.normal(size=SHAPE)
    if name in ("kl_divergence", "js_divergence"):
        return _softmax(z, axis), _softmax(rng.normal(size=SHAPE), axis)
    if name == "kl_divergence_log":
        return np.log(_softmax(z, axis)), np.log(_softmax(rng.normal(size=SHAPE), axis))
    if name in ("gaussian_kl", "cosine_proximity"):
        return z, rng.normal(size=SHAPE)
    if name in ("dice", "jaccard", "tversky"):
        return rng.uniform(size=SHAPE), (rng.uniform(size=SHAPE) > 0.5).astype(np.float64)
    if name in ("listnet", "listmle", "ranknet", "approx_ndcg"):
        return z, rng.integers(-1, 3, size=SHAPE)
    if name == "nll":
        return np.log(_softmax(z, axis)), _labels(rng, axis)
    if name in ("cross_entropy", "focal", "multiclass_hinge", "poly1"):
        return z, _labels(rng, axis)
    raise AssertionError(name)


AXIS_LOSSES = [
    "kl_divergence",
    "kl_divergence_log",
    "js_divergence",
    "gaussian_kl",
    "dice",
    "jaccard",
    "tversky",
    "listnet",
    "listmle",
    "ranknet",
    "approx_ndcg",
    "cross_entropy",
    "nll",
    "focal",
    "multiclass_hinge",
    "poly1",
    "cosine_proximity",
]


@pytest.mark.parametrize("k", [0, 1, -1])
@pytest.mark.parametrize("name", AXIS_LOSSES)
def test_numpy_integer_axis_equals_int_axis(name, k):
    fn = getattr(lossapi, name)
    args = _inputs(name, k, np.random.default_rng(abs(k) + 7))
    want = fn(*args, axis=k, reduction="none")
    for ax in (np.int64(k), np.int32(k), np.intp(k)):
        got = fn(*args, axis=ax, reduction="none")
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bad", [True, False, 1.0], ids=["True", "False", "1.0"])
@pytest.mark.parametrize("name", AXIS_LOSSES)
def test_bool_and_float_axis_are_type_errors_naming_the_loss(name, bad):
    fn = getattr(lossapi, name)
    args = _inputs(name, 1, np.random.default_rng(0))
    with pytest.raises(TypeError, match=rf"^{name}: axis must be "):
        fn(*args, axis=bad)
