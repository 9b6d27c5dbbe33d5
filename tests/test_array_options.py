"""Numeric options as 0-d arrays: every numeric option (``delta``, ``gamma``,
``margin``, ``temperature``, ``label_smoothing``, ...) takes a 0-d array of the
inputs' library as well as a Python number, with the same value (checked
against the float64 reference of ``conformance/reference.py`` with the Python
number), the same validation where the value can be read, and a gradient
with respect to the option (``torch.nn.Parameter``, ``jax.grad``) equal to
finite differences of the reference in the option."""

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


def _inputs(kind, rng):
    if kind == "regression":
        return rng.normal(size=(4, 5)) * 2, rng.normal(size=(4, 5))
    if kind == "mape":  # targets near 0, where eps matters
        return rng.normal(size=(4, 5)), rng.uniform(-1.0, 1.0, size=(4, 5))
    if kind == "poisson":
        return rng.uniform(0.0, 0.5, size=(4, 5)), rng.poisson(1.0, size=(4, 5)).astype(np.float64)
    if kind == "gaussian":
        return rng.normal(size=(4, 5)), rng.normal(size=(4, 5)), rng.uniform(0.01, 1.0, size=(4, 5))
    if kind == "binary":
        return rng.normal(size=(4, 5)) * 2, (rng.uniform(size=(4, 5)) > 0.5).astype(np.float64)
    if kind == "labels":
        return rng.normal(size=(6, 4)) * 2, rng.integers(0, 4, size=6)
    if kind == "probs":
        return rng.normal(size=(6, 4)) * 2, _softmax(rng.normal(size=(6, 4)))
    if kind == "pairs":
        return rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), (rng.uniform(size=6) > 0.5).astype(np.float64)
    if kind == "cos_pairs":
        return rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), rng.choice([-1.0, 1.0], size=6)
    if kind == "triplets":
        return rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    if kind == "ranking_pairs":
        return rng.normal(size=8), rng.normal(size=8), rng.choice([-1.0, 1.0], size=8)
    if kind == "views":
        z = rng.normal(size=(5, 3))
        return z, z + 0.5 * rng.normal(size=(5, 3))
    if kind == "batch":
        return rng.normal(size=(6, 3)), np.array([0, 0, 1, 1, 2, 2])
    if kind == "lists":
        return rng.normal(size=(3, 5)), rng.integers(0, 3, size=(3, 5)).astype(np.float64)
    if kind == "masks":
        return rng.uniform(size=(3, 4, 4)), (rng.uniform(size=(3, 4, 4)) > 0.5).astype(np.float64)
    if kind == "vae":
        return (rng.uniform(0.05, 0.95, size=(3, 4)), rng.uniform(size=(3, 4)), rng.normal(size=(3, 2)),
                rng.normal(scale=0.5, size=(3, 2)))
    if kind == "boxes":
        xy = rng.uniform(0.0, 3.0, size=(5, 2))
        b1 = np.concatenate([xy, xy + rng.uniform(0.5, 2.0, size=(5, 2))], axis=-1)
        return b1, b1 + rng.normal(scale=0.5, size=b1.shape)
    if kind == "distances":
        return rng.uniform(0.0, 2.0, size=(4, 5)), rng.choice([-1.0, 1.0], size=(4, 5))
    raise AssertionError(kind)


# (loss, input kind, option, values, other options)
CASES = [
    ("huber", "regression", "delta", (0.7, 2.0), {}),
    ("smooth_l1", "regression", "beta", (0.5, 0.0), {}),
    ("pinball", "regression", "quantile", (0.3,), {}),
    ("mape", "mape", "eps", (0.5,), {}),
    ("smape", "mape", "eps", (0.5,), {}),
    ("poisson_nll", "poisson", "eps", (0.1,), {"log_input": False}),
    ("gaussian_nll", "gaussian", "eps", (0.5,), {}),
    ("binary_focal", "binary", "gamma", (2.0, 1.5, 0.0), {}),
    ("binary_focal", "binary", "alpha", (0.25,), {}),
    ("focal", "labels", "gamma", (2.0, 1.5, 0.0), {}),
    ("cross_entropy", "labels", "label_smoothing", (0.1,), {}),
    ("cross_entropy", "probs", "label_smoothing", (0.2,), {}),
    ("poly1", "labels", "epsilon", (0.5,), {}),
    ("poly1", "probs", "label_smoothing", (0.2,), {}),
    ("multiclass_hinge", "labels", "margin", (0.5,), {}),
    ("contrastive", "pairs", "margin", (1.5,), {}),
    ("cosine_embedding", "cos_pairs", "margin", (0.2,), {}),
    ("triplet", "triplets", "margin", (0.8,), {}),
    ("triplet", "triplets", "eps", (0.1,), {}),
    ("margin_ranking", "ranking_pairs", "margin", (0.3,), {}),
    ("hinge_embedding", "distances", "margin", (0.5,), {}),
    ("nt_xent", "views", "temperature", (0.3,), {}),
    ("batch_triplet", "batch", "margin", (0.5,), {}),
    ("circle", "batch", "gamma", (16.0,), {}),
    ("circle", "batch", "margin", (0.3,), {}),
    ("approx_ndcg", "lists", "temperature", (0.7,), {}),
    ("dice", "masks", "smooth", (0.5,), {"axis": (1, 2)}),
    ("tversky", "masks", "alpha", (0.3,), {"axis": (1, 2)}),
    ("tversky", "masks", "beta", (0.7,), {"axis": (1, 2)}),
    ("tversky", "masks", "gamma", (0.75, 2.0), {"axis": (1, 2)}),
    ("giou", "boxes", "eps", (1e-3,), {}),
    ("vae_loss", "vae", "beta", (0.5,), {}),
]


def _case_id(case):
    return f"{case[0]}-{case[2]}-{case[1]}"


def _run(xp, name, arrays, option, value, kw, reduction="mean"):
    out = getattr(lossapi, name)(*(xp.asarray(a) for a in arrays), **{option: value}, **kw, reduction=reduction)
    return tuple(out) if name == "vae_loss" else (out,)


def _ref(name, arrays, option, value, kw, reduction="mean"):
    out = getattr(R, name)(*arrays, **{option: float(value)}, **kw, reduction=reduction)
    return tuple(out) if name == "vae_loss" else (out,)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_array_option_value(xp, case):
    name, kind, option, values, kw = case
    arrays = _inputs(kind, np.random.default_rng(1))
    for value in values:
        got = _run(xp, name, arrays, option, xp.asarray(np.asarray(value)), kw)
        for g, w in zip(got, _ref(name, arrays, option, value, kw)):
            assert xp.is_native(g), type(g)
            assert g.dtype == xp.dtype("float64")
            _check(xp.to_numpy(g), w)


@pytest.mark.parametrize("name,option,kind", [("huber", "delta", "regression"), ("focal", "gamma", "labels"),
                                              ("nt_xent", "temperature", "views")])
def test_array_option_none_reduction(xp, name, option, kind):
    arrays = _inputs(kind, np.random.default_rng(2))
    (got,) = _run(xp, name, arrays, option, xp.asarray(np.asarray(0.6)), {}, "none")
    _check(xp.to_numpy(got), _ref(name, arrays, option, 0.6, {}, "none")[0])


def test_option_dtypes_follow_the_inputs(xp):
    # A float32 or integer 0-d option next to float64 inputs: computed in
    # float64 with the option's value (the float32 value, rounded once).
    x, y = _inputs("labels", np.random.default_rng(3))
    for opt, want_gamma in ((np.asarray(1.3, np.float32), float(np.float32(1.3))), (np.asarray(2), 2.0)):
        got = lossapi.focal(xp.asarray(x), xp.asarray(y), gamma=xp.asarray(opt))
        assert got.dtype == xp.dtype("float64")
        _check(xp.to_numpy(got), R.focal(x, y, gamma=want_gamma))
    # float32 inputs with a float64 option: the result stays float32
    p, t = _inputs("regression", np.random.default_rng(4))
    got = lossapi.huber(xp.asarray(p, "float32"), xp.asarray(t, "float32"), delta=xp.asarray(np.asarray(0.7)))
    assert got.dtype == xp.dtype("float32")
    _check(xp.to_numpy(got), R.huber(p.astype(np.float32), t.astype(np.float32), delta=0.7), tol=2e-6)


# --- validation -------------------------------------------------------------------------


BAD = [
    ("huber", "regression", "delta", -1.0, r"^huber: delta must be > 0, got -1$"),
    ("huber", "regression", "delta", 0.0, r"^huber: delta must be > 0, got 0$"),
    ("pinball", "regression", "quantile", 1.5, r"^pinball: quantile must be <= 1, got 1.5$"),
    ("focal", "labels", "gamma", -0.5, r"^focal: gamma must be >= 0, got -0.5$"),
    ("cross_entropy", "labels", "label_smoothing", 1.2, r"^cross_entropy: label_smoothing must be <= 1, got 1.2$"),
    ("nt_xent", "views", "temperature", 0.0, r"^nt_xent: temperature must be > 0, got 0$"),
    ("circle", "batch", "margin", 1.0, r"^circle: margin must be < 1, got 1$"),
    ("huber", "regression", "delta", float("nan"), r"^huber: delta must not be NaN$"),
]


@pytest.mark.parametrize("name,kind,option,value,msg", BAD, ids=[f"{b[0]}-{b[3]}" for b in BAD])
def test_bad_concrete_value(xp, name, kind, option, value, msg):
    arrays = [xp.asarray(a) for a in _inputs(kind, np.random.default_rng(5))]
    fn = getattr(lossapi, name)
    with pytest.raises(ValueError, match=msg):  # the Python number's error ...
        fn(*arrays, **{option: value})
    opt = xp.asarray(np.asarray(value))
    if xp.name == "dask":
        # ... but a Dask array is lazy and lossapi never computes one to
        # check it (README): the call goes through unchecked.
        fn(*arrays, **{option: opt})
        return
    with pytest.raises(ValueError, match=msg):  # ... and the concrete array's, the same
        fn(*arrays, **{option: opt})


def test_option_with_dimensions_is_value_error(xp):
    p, t = (xp.asarray(a) for a in _inputs("regression", np.random.default_rng(6)))
    for shape in ((1,), (2,), (1, 1)):
        with pytest.raises(ValueError, match=rf"^huber: delta must be a real number or a 0-d array, got an array "
                                             rf"of shape \({shape[0]},"):
            lossapi.huber(p, t, delta=xp.asarray(np.full(shape, 0.5)))
    z, y = (xp.asarray(a) for a in _inputs("labels", np.random.default_rng(6)))
    with pytest.raises(ValueError, match=r"^focal: gamma must be a real number or a 0-d array, got an array of shape"):
        lossapi.focal(z, y, gamma=xp.asarray(np.full((4,), 2.0)))


def test_boolean_option_array_is_type_error(xp):
    p, t = (xp.asarray(a) for a in _inputs("regression", np.random.default_rng(7)))
    with pytest.raises(TypeError, match=r"^huber: delta must be a real number or a real 0-d array, got dtype"):
        lossapi.huber(p, t, delta=xp.asarray(np.asarray(True)))


def test_option_of_another_library_is_type_error(xp):
    # A NumPy option next to torch / array-api-strict inputs; the backend's
    # own 0-d option next to NumPy inputs. (NumPy next to JAX or Dask is
    # accepted: tests/test_mixed_inputs.py.)
    p, t = _inputs("regression", np.random.default_rng(8))
    if xp.name in ("torch", "array_api_strict"):
        with pytest.raises(TypeError, match=r"^huber: inputs come from different array libraries"):
            lossapi.huber(xp.asarray(p), xp.asarray(t), delta=np.asarray(0.5))
        with pytest.raises(TypeError, match=r"^focal: inputs come from different array libraries"):
            z, y = _inputs("labels", np.random.default_rng(8))
            lossapi.focal(xp.asarray(z), xp.asarray(y), gamma=np.asarray(2.0))
    if xp.name != "numpy":
        with pytest.raises(TypeError, match=r"^huber: inputs come from different array libraries: numpy and "):
            lossapi.huber(p, t, delta=xp.asarray(np.asarray(0.5)))


def test_form_options_stay_python_values(xp):
    # Options that select a formula or a shape are not taken as arrays.
    a, b, c = (xp.asarray(x) for x in _inputs("triplets", np.random.default_rng(9)))
    two = xp.asarray(np.asarray(2.0))
    with pytest.raises(TypeError, match=r"^triplet: p must be a Python number"):
        lossapi.triplet(a, b, c, p=two)
    e, lab = (xp.asarray(x) for x in _inputs("batch", np.random.default_rng(9)))
    with pytest.raises(TypeError, match=r"^batch_triplet: p must be a Python number"):
        lossapi.batch_triplet(e, lab, p=two)
    z, y = (xp.asarray(x) for x in _inputs("labels", np.random.default_rng(9)))
    with pytest.raises(TypeError, match=r"^multiclass_hinge: p must be a Python number"):
        lossapi.multiclass_hinge(z, y, p=xp.asarray(np.asarray(1.0)))


# --- gradients with respect to an option ---------------------------------------------------

GRAD = [
    ("huber", "regression", "delta", 0.7, {}),
    ("pinball", "regression", "quantile", 0.3, {}),
    ("focal", "labels", "gamma", 1.5, {}),
    ("focal", "labels", "gamma", 0.0, {}),
    ("binary_focal", "binary", "gamma", 2.0, {}),
    ("cross_entropy", "labels", "label_smoothing", 0.1, {}),
    ("contrastive", "pairs", "margin", 1.5, {}),
    ("cosine_embedding", "cos_pairs", "margin", 0.2, {}),
    ("triplet", "triplets", "margin", 0.8, {}),
    ("margin_ranking", "ranking_pairs", "margin", 0.3, {}),
    ("nt_xent", "views", "temperature", 0.3, {}),
    ("approx_ndcg", "lists", "temperature", 0.7, {}),
    ("tversky", "masks", "alpha", 0.3, {"axis": (1, 2), "gamma": 0.75}),
    ("vae_loss", "vae", "beta", 0.5, {}),
]


def _fd_option(name, arrays, option, value, kw, h=1e-6):
    def f(x):
        return float(_ref(name, arrays, option, x, kw)[0])
    return (f(value + h) - f(value - h)) / (2 * h)


@pytest.mark.parametrize("case", GRAD, ids=lambda c: f"{c[0]}-{c[2]}-{c[3]}")
def test_option_gradient(xp, case):
    if not xp.has_grad:
        pytest.skip(f"{xp.name} has no autodiff")
    name, kind, option, value, kw = case
    arrays = _inputs(kind, np.random.default_rng(10))
    args = [xp.asarray(a) for a in arrays] + [xp.asarray(np.asarray(value))]

    def f(*args):
        out = getattr(lossapi, name)(*args[:-1], **{option: args[-1]}, **kw)
        return out[0] if name == "vae_loss" else out

    (g,) = xp.grad(f, args, [len(args) - 1])
    np.testing.assert_allclose(g, _fd_option(name, arrays, option, value, kw), rtol=1e-6, atol=1e-9)


def test_torch_parameters_learn():
    # nn.Parameter options (a learnable temperature, margin, delta): their
    # .grad after backward is the derivative of the reference in the option.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    for name, kind, option, value, kw in [("nt_xent", "views", "temperature", 0.4, {}),
                                          ("contrastive", "pairs", "margin", 1.2, {}),
                                          ("huber", "regression", "delta", 0.8, {}),
                                          ("triplet", "triplets", "margin", 0.5, {})]:
        arrays = _inputs(kind, rng)
        param = torch.nn.Parameter(torch.tensor(value, dtype=torch.float64))
        out = getattr(lossapi, name)(*(torch.from_numpy(a) for a in arrays), **{option: param}, **kw)
        out.backward()
        assert param.grad is not None, name
        np.testing.assert_allclose(param.grad.item(), _fd_option(name, arrays, option, value, kw), rtol=1e-6,
                                   atol=1e-9, err_msg=name)
        _check(out.detach().numpy(), _ref(name, arrays, option, value, kw)[0])


def test_torch_float32_parameter_with_float64_inputs():
    torch = pytest.importorskip("torch")
    z1, z2 = _inputs("views", np.random.default_rng(12))
    t = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float32))
    out = lossapi.nt_xent(torch.from_numpy(z1), torch.from_numpy(z2), temperature=t)
    assert out.dtype == torch.float64
    out.backward()
    assert t.grad.dtype == torch.float32
    np.testing.assert_allclose(t.grad.item(), _fd_option("nt_xent", (z1, z2), "temperature", 0.5, {}), rtol=1e-5)


# --- jax: jit, vmap and grad over options -----------------------------------------------------


@pytest.fixture
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def test_jit_with_option_argument(jax):
    jnp = jax.numpy
    p, t = _inputs("regression", np.random.default_rng(13))
    f = jax.jit(lambda x, y, d: lossapi.huber(x, y, delta=d))
    for d in (0.5, 1.7):
        _check(f(jnp.asarray(p), jnp.asarray(t), jnp.asarray(d)), R.huber(p, t, delta=d))
    # A traced value cannot be checked (README): a bad delta passes through
    # jit without an error (the result is the formula's, whatever it means).
    out = f(jnp.asarray(p), jnp.asarray(t), jnp.asarray(-1.0))
    assert out.shape == ()
    # ... while the same concrete value outside jit is the Python number's error.
    with pytest.raises(ValueError, match=r"^huber: delta must be > 0, got -1$"):
        lossapi.huber(jnp.asarray(p), jnp.asarray(t), delta=jnp.asarray(-1.0))


def test_vmap_over_gamma(jax):
    jnp = jax.numpy
    z, y = _inputs("labels", np.random.default_rng(14))
    gammas = np.array([0.0, 0.5, 1.0, 2.0, 3.5])
    got = jax.vmap(lambda g: lossapi.focal(jnp.asarray(z), jnp.asarray(y), gamma=g))(jnp.asarray(gammas))
    _check(got, [R.focal(z, y, gamma=float(g)) for g in gammas])
    x, b = _inputs("binary", np.random.default_rng(14))
    got = jax.jit(jax.vmap(lambda g: lossapi.binary_focal(jnp.asarray(x), jnp.asarray(b), gamma=g)))(
        jnp.asarray(gammas))
    _check(got, [R.binary_focal(x, b, gamma=float(g)) for g in gammas])


def test_jax_grad_over_temperature_under_jit(jax):
    jnp = jax.numpy
    z1, z2 = _inputs("views", np.random.default_rng(15))
    g = jax.jit(jax.grad(lambda t: lossapi.nt_xent(jnp.asarray(z1), jnp.asarray(z2), temperature=t)))
    np.testing.assert_allclose(g(jnp.asarray(0.3)), _fd_option("nt_xent", (z1, z2), "temperature", 0.3, {}),
                               rtol=1e-6)


def test_numpy_option_next_to_jax_inputs(jax):
    # JAX takes a NumPy 0-d array as it takes NumPy inputs.
    jnp = jax.numpy
    p, t = _inputs("regression", np.random.default_rng(16))
    got = lossapi.huber(jnp.asarray(p), jnp.asarray(t), delta=np.asarray(0.7))
    assert isinstance(got, jax.Array)
    _check(got, R.huber(p, t, delta=0.7))
    f = jax.jit(lambda x, y: lossapi.huber(x, y, delta=np.asarray(0.7)))
    _check(f(jnp.asarray(p), jnp.asarray(t)), R.huber(p, t, delta=0.7))


