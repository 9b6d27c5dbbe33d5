"""Kernel rows (a backend's ``KERNELS`` table, ``ops.kernels``) must give the
values and gradients of the generic array-API code they replace.

For every backend and every row of its table, the kernel path and the
generic path (the same call with ``ops.kernels`` emptied) are compared on

* random inputs: the checklist records of the loss (``cases*.py``);
* inputs placed exactly on the loss's kinks and boundaries (``KINKS``
  below): hinge corners, ``|r| == delta``, ``p == 0``, ignored labels, zero
  vectors... Each builder uses small integers or dyadic numbers so that the
  kink holds exactly in floating point, and asserts it on the float64 NumPy
  values. These are the inputs where frameworks' subgradient conventions
  differ (and change between versions): the kernel must follow lossapi's.

Values are compared for every reduction (float64 to 1e-12, float32 to 2e-6),
gradients on autodiff backends (float64, 1e-12). A row whose loss has no
kink builder fails ("no kink inputs for <loss>") unless ``SMOOTH`` lists it
with the reason, so a new kernel row cannot skip this file.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
from collections.abc import Callable

import numpy as np
import pytest

import lossapi
from cases import all_cases
from harness import Backend, selected_backends
from lossapi._core import prepare as prepare_module
from lossapi.backends import resolve

CASES = all_cases()

# Kernel rows exempt from kink inputs, each with the reason. Keep it short:
# a loss with any kink, clamp, mask or boundary gets builders in KINKS.
SMOOTH = {
    "mse": "(pred - target)**2 is smooth everywhere; no kink, clamp or boundary",
}


def _ops(xp):
    return resolve("probe", xp.asarray(np.zeros(2), "float64"))


def _tables() -> list[tuple[Backend, tuple[str, ...] | None]]:
    """Each selected backend's kernel rows, read from its backend module at
    collection (None: the module cannot be imported here; the xp fixture then
    skips, or fails where LOSSAPI_BACKENDS names the backend)."""
    only = selected_backends()
    out = []
    for b in Backend:
        if only is not None and b.value not in only:
            continue
        try:
            mod = importlib.import_module(f"lossapi.backends.{b.value}")
        except Exception:
            out.append((b, None))
            continue
        out.append((b, tuple(getattr(mod, "KERNELS", {}))))
    return out


# --- kink and boundary inputs -----------------------------------------------------


@dataclasses.dataclass
class Inputs:
    """Positional arrays (NumPy; floating ones are cast to the dtype under
    test, integer ones passed as they are), options (NumPy floating arrays
    among them cast alike), the positions to differentiate."""

    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)
    grad_args: tuple[int, ...] = (0,)
    reductions: tuple[str, ...] = ("mean", "sum", "none")


def f(*rows) -> np.ndarray:
    return np.array(rows if len(rows) > 1 else rows[0], dtype=np.float64)


def _residuals(r, t=None, **kwargs) -> Inputs:
    """pred = target + r, with p - t == r exactly (dyadic values)."""
    r = f(r)
    t = f([0.5, -1.0, 2.0, 0.0, 1.0, -3.0, 0.25, 4.0])[: r.size] if t is None else f(t)
    p = t + r
    assert np.array_equal(p - t, r)
    return Inputs((p, t), kwargs, grad_args=(0, 1))


def _mae_r0():
    inp = _residuals([0.0, 0.5, 0.0, -2.0, 0.0, 1.0])
    assert np.count_nonzero(inp.args[0] - inp.args[1] == 0) == 3
    return inp


def _abs_r_eq(width, option):
    # r == 0 and |r| == width (both signs), beside points of both pieces.
    def build():
        r = [0.0, width, -width, 0.0, 3.0 * width, -0.25 * width, 0.5, -2.0]
        inp = _residuals(r, **{option: width})
        d = np.abs(inp.args[0] - inp.args[1])
        assert np.count_nonzero(d == 0) == (6 if width == 0 else 2) and np.count_nonzero(d == width) >= 2
        return inp
    return build


def _pinball(q):
    def build():
        inp = _residuals([0.0, 1.0, -1.0, 0.0, 0.25, -0.5], quantile=q)
        assert np.count_nonzero(inp.args[1] - inp.args[0] == 0) == 2
        return inp
    return build


def _mape_kinks():
    # r == 0, |target| == eps (both signs) and target == 0.
    eps = 0.25
    t = f([0.25, -0.25, 0.0, 1.0, 0.125, 2.0, -0.25, 0.0])
    inp = _residuals([0.0, 0.5, 0.0, 0.0, 1.0, -1.0, 0.0, 0.75], t=t, eps=eps)
    assert np.count_nonzero(np.abs(t) == eps) == 3 and np.count_nonzero(inp.args[0] == inp.args[1]) == 4
    return inp


def _msle_kinks():
    # The clip max(x, 0) at x == 0 for pred and target, clipped negatives, p == t.
    p = f([0.0, -1.0, 0.5, 0.0, 2.0, -0.5, 0.0])
    t = f([0.0, 0.0, 0.5, -2.0, 0.0, 1.0, 3.0])
    assert np.count_nonzero(p == 0) == 3 and np.count_nonzero(t == 0) == 3
    return Inputs((p, t), grad_args=(0, 1))


def _poisson(log_input, eps=1e-8):
    # Rates (or log-rates) of exactly 0 beside targets of 0.
    def build():
        p = f([0.0, -1.0, 2.0, 0.0, 0.5, 0.0]) if log_input else f([0.0, 1.0, 0.5, 0.0, 2.0, 0.0])
        t = f([0.0, 1.0, 3.0, 2.0, 0.0, 0.0])
        assert np.count_nonzero(p == 0) == 3 and np.count_nonzero((p == 0) & (t == 0)) >= 2
        return Inputs((p, t), {"log_input": log_input, "eps": eps}, grad_args=(0, 1))
    return build


# Class scores with ties, integer labels with ignored ones, per-class weights.
_Z = f([[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0], [-2.0, 0.0, 2.0, 0.0], [3.0, -1.0, 0.0, 0.5],
        [0.0, 0.0, 0.0, 0.0]])
_W = f([1.0, 0.5, 2.0, 0.25])


def _classes(labels, z=_Z, **kwargs):
    def build():
        y = np.array(labels)
        ignore = kwargs.get("ignore_index")
        if ignore is not None:
            assert np.count_nonzero(y == ignore) >= 1
        return Inputs((z, y), {"weight": _W, **kwargs})
    return build


def _ce_probs_smoothed():
    # Probability targets with zeros (and one-hot rows), label smoothing.
    t = f([[0.0, 0.0, 1.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 0.0, 1.0],
           [1.0, 0.0, 0.0, 0.0]])
    assert np.all(t.sum(axis=1) == 1.0) and np.count_nonzero(t == 0) == 11
    return Inputs((_Z, t), {"weight": _W, "label_smoothing": 0.25}, grad_args=(0, 1))


def _weston_watkins(scores, labels, margin, axis=-1, **extra):
    # s_j - s_y + margin == 0 for some wrong class j, and ties among scores;
    # ``extra``: p, and weight (a list, made a float array).
    def build():
        s, y = f(scores), np.array(labels)
        sy = np.take_along_axis(s, y[:, None], axis=1)
        terms = s - sy + margin
        terms[np.arange(len(y)), y] = np.nan
        assert np.count_nonzero(terms == 0) >= 2
        args = (s, y) if axis == -1 else (np.ascontiguousarray(s.T), y)
        opts = {k: f(val) if k == "weight" else val for k, val in extra.items()}
        return Inputs(args, {"form": "weston_watkins", "margin": margin, "axis": axis, **opts})
    return build


# Multi-label scores and class-index lists padded with -1: 1 - (x[j] - x[i])
# == 0 for listed j and unlisted i in rows 0, 1, 4 and 5; a repeated class
# (row 1), an empty list (row 2), every class listed (row 3), values after
# the first -1 (rows 0 and 2).
_ML_SCORES = f([[0.0, 1.0, 2.0, 1.0], [3.0, 2.0, 2.0, 0.5], [1.0, 1.0, 1.0, 1.0], [0.0, -1.0, 0.0, 1.0],
                [2.0, 0.0, 1.0, 1.0], [0.5, 1.5, 0.5, 2.5]])
_ML_LISTS = [[1, 3, -1, 0], [0, 0, -1, -1], [-1, 2, 1, 0], [0, 1, 2, 3], [2, -1, -1, -1], [3, 1, -1, -1]]


def _multilabel(shape):
    def build():
        x, t = _ML_SCORES.reshape(shape) if len(shape) > 1 else _ML_SCORES[0], np.array(_ML_LISTS)
        t = t.reshape(shape) if len(shape) > 1 else t[0]
        kinks = 0
        for xr, tr in zip(x.reshape(-1, 4), t.reshape(-1, 4)):
            listed = list(tr[: list(tr).index(-1)] if -1 in tr else tr)
            kinks += sum(1.0 - (xr[j] - xr[i]) == 0 for j in listed for i in range(4) if i not in listed)
        assert kinks >= (1 if len(shape) == 1 else 6)
        return Inputs((x, t))
    return build


def _hinge_embedding(x, t, margin):
    # x == margin (the hinge's kink) with target -1 and with other targets
    # (both terms), beside targets +1.
    def build():
        X, T = f(x), f(t)
        assert np.count_nonzero((X == margin) & (T == -1)) >= 1 and np.count_nonzero((X == margin) & (T != 1)) >= 2
        return Inputs((X, T), {"margin": margin})
    return build


_WW_SCORES = [[2.0, 1.0, 0.0, 3.0], [0.0, 0.0, 1.0, -1.0], [1.0, 2.0, 2.0, 0.5], [4.0, 0.0, 0.0, 0.0]]
_WW_LABELS = [0, 1, 2, 0]


def _bce(p, t, weight=None):
    def build():
        kw = {} if weight is None else {"weight": f(weight)}
        return Inputs((f(p), f(t)), kw, grad_args=(0, 1))
    return build


_SATURATED = [0.0, 40.0, -40.0, 800.0, -800.0, 0.5]


def _logits(**extra):
    def build():
        x, t = f(_SATURATED), f([0.5, 1.0, 0.0, 0.0, 1.0, 1.0])
        return Inputs((x, t), {k: f(v) for k, v in extra.items()}, grad_args=(0, 1))
    return build


def _soft_margin():
    s, t = f(_SATURATED), f([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
    assert np.count_nonzero(s * t == 0) == 1 and np.max(np.abs(s * t)) == 800.0
    return Inputs((s, t), grad_args=(0, 1))


_P = f([[0.5, 0.25, 0.25, 0.0], [0.0, 0.0, 1.0, 0.0], [0.5, 0.0, 0.5, 0.0]])
_Q = f([[0.25, 0.25, 0.25, 0.25], [0.5, 0.25, 0.125, 0.125], [0.5, 0.0, 0.25, 0.25]])


def _kl(axis=-1):
    # p == 0 with q > 0, and p == q == 0 (last row).
    def build():
        assert np.count_nonzero(_P == 0) == 6 and np.count_nonzero((_P == 0) & (_Q == 0)) == 1
        p, q = (_P, _Q) if axis == -1 else (np.ascontiguousarray(_P.T), np.ascontiguousarray(_Q.T))
        return Inputs((p, q), {"axis": axis}, grad_args=(0, 1))
    return build


def _kl_log(q_too):
    # log_p == -inf (p == 0); with q_too also log_q == -inf there.
    def build():
        with np.errstate(divide="ignore"):
            lp, lq = np.log(_P), np.log(np.where((_P == 0) & q_too, 0.0, np.where(_Q == 0, 0.125, _Q)))
        assert np.count_nonzero(np.isneginf(lp)) == 6
        assert np.count_nonzero(np.isneginf(lq)) == (6 if q_too else 0)
        return Inputs((lp, lq), grad_args=(0, 1))
    return build


def _cos_proximity(axis=-1):
    # Zero vectors in x1, in x2, in both.
    def build():
        x1 = f([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0], [0.0, 0.0, 0.0], [3.0, 0.0, 4.0]])
        x2 = f([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-3.0, 0.0, -4.0]])
        assert np.count_nonzero(~x1.any(axis=1)) == 2 and np.count_nonzero(~x2.any(axis=1)) == 2
        args = (x1, x2) if axis == -1 else (np.ascontiguousarray(x1.T), np.ascontiguousarray(x2.T))
        return Inputs(args, {"axis": axis}, grad_args=(0, 1))
    return build


def _cos_embedding(x1, x2, target, margin):
    # cos == margin exactly for the target == -1 pairs: torch's (and
    # lossapi's) cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)) on
    # integer vectors whose squared norms are large enough for the 1e-12 to
    # round away and whose norm product is an exact square.
    def build():
        a, b, t = f(x1), f(x2), np.array(target)
        cos = (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))
        assert np.count_nonzero((cos == margin) & (t == -1)) >= 1
        return Inputs((a, b, t), {"margin": margin}, grad_args=(0, 1))
    return build


def _margin_ranking(s1, s2, t, margin, grad_args=(0, 1, 2)):
    # -t * (s1 - s2) + margin == 0 exactly for some pairs; t == 0 pairs too.
    def build():
        a, b, y = f(s1), f(s2), f(t)
        v = margin - y * (a - b)
        assert np.count_nonzero(v == 0) >= 2 and np.any(v > 0) and np.any(v < 0)
        return Inputs((a, b, y), {"margin": margin}, grad_args=grad_args)
    return build


def _triplet(a, p, n, margin, eps=0.0, swap=False, kinks=1, ties=0):
    # d(a, p) - d(a, n) + margin == 0 exactly (torch's d(x, y) = ||x - y + eps||,
    # Pythagorean integer vectors), swap ties d(a, n) == d(p, n).
    def build():
        A, P, N = f(a), f(p), f(n)

        def d(x, y):
            return np.sqrt(((x - y + eps) ** 2).sum(-1))

        d_ap, d_an, d_pn = d(A, P), d(A, N), d(P, N)
        if swap:
            assert np.count_nonzero(d_an == d_pn) == ties
            d_an = np.minimum(d_an, d_pn)
        assert np.count_nonzero(d_ap - d_an + margin == 0) == kinks
        return Inputs((A, P, N), {"margin": margin, "eps": eps, "swap": swap}, grad_args=(0, 1, 2))
    return build


def _ctc(zero_infinity, blank=0, neg_inf=False):
    # The feasibility boundary: frames == labels + the blanks their repeats
    # need (feasible) and one frame fewer (impossible: inf, or 0 with
    # zero_infinity, gradient 0 either way); no labels; no frames. With
    # ``neg_inf``: -inf log-probabilities that block some paths of a sample,
    # every path of another, and a one-hot path of probability 1 (loss 0).
    def build():
        c, t = 4, 6
        rng = np.random.default_rng(3)
        z = rng.normal(size=(8, t, c))
        lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        other = [k for k in range(c) if k != blank]
        a, b = other[0], other[1]
        labels = np.array([[a, a, b], [a, a, b], [a, b, a], [a, b, b], [b, b, b], [a, a, a], [a, b, b], [a, b, a]])
        input_lengths = np.array([4, 3, 3, 1, 6, 0, 2, 6])
        label_lengths = np.array([3, 3, 3, 2, 0, 0, 1, 2])
        with np.errstate(divide="ignore"):
            if neg_inf:
                lp[7, 0, blank] = lp[7, 5, a] = -np.inf  # some paths of sample 7 blocked
                lp[0, 1, a] = -np.inf  # off the one path of sample 0
                lp[2, :, b] = -np.inf  # every path of sample 2 (exactly feasible) blocked
                lp[6] = np.log(np.eye(c)[[a, blank, blank, a, b, blank]])  # sample 6: p(a, blank) = 1
        needed = label_lengths + [int(np.sum(r[1:n] == r[: n - 1])) if n > 1 else 0
                                  for r, n in zip(labels, label_lengths)]
        assert np.count_nonzero(input_lengths == needed) >= 3 and np.count_nonzero(input_lengths < needed) >= 2
        return Inputs((lp, labels, input_lengths, label_lengths), {"zero_infinity": zero_infinity, "blank": blank})
    return build


_E = 2.0**-10  # a dyadic eps: x - y + eps stays exact

KINKS: dict[str, dict[str, Callable[[], Inputs]]] = {
    "mae": {"r0": _mae_r0},
    "huber": {"r0-r-eq-delta1": _abs_r_eq(1.0, "delta"), "r0-r-eq-delta0.5": _abs_r_eq(0.5, "delta")},
    "smooth_l1": {"r0-r-eq-beta1": _abs_r_eq(1.0, "beta"), "r0-r-eq-beta0.5": _abs_r_eq(0.5, "beta"),
                  "r0-beta0": _abs_r_eq(0.0, "beta")},
    "pinball": {"r0-q0.25": _pinball(0.25), "r0-q0": _pinball(0.0), "r0-q1": _pinball(1.0)},
    "mape": {"r0-target-eq-eps": _mape_kinks},
    "msle": {"clip-at-0": _msle_kinks},
    "poisson_nll": {"log-rate-0": _poisson(True), "rate-0": _poisson(False), "rate-0-eps0": _poisson(False, 0.0)},
    "cross_entropy": {
        "ignored": _classes([2, -100, 0, -100, 3], ignore_index=-100),
        "ignored-in-range-smoothed": _classes([2, 1, 0, 1, 3], ignore_index=1, label_smoothing=0.25),
        "all-ignored": _classes([-1, -1, -1, -1, -1], ignore_index=-1),
        "probs-with-zeros-smoothed": _ce_probs_smoothed,
    },
    "nll": {
        "ignored": _classes([2, -1, 0, -1, 3], z=-_Z * _Z, ignore_index=-1),
        "all-ignored": _classes([-100] * 5, z=-_Z * _Z, ignore_index=-100),
    },
    "multiclass_hinge": {
        "hinge-corner-ties": _weston_watkins(_WW_SCORES, _WW_LABELS, 1.0),
        "hinge-corner-ties-axis0": _weston_watkins(_WW_SCORES, _WW_LABELS, 1.0, axis=0),
        "ties-margin0": _weston_watkins([[1.0, 1.0, 0.0], [2.0, 2.0, 2.0], [0.0, 1.0, 1.0]], [0, 1, 2], 0.0),
        "hinge-corner-ties-p2-weight": _weston_watkins(_WW_SCORES, _WW_LABELS, 1.0, p=2, weight=_W),
        "hinge-corner-ties-weight-axis0": _weston_watkins(_WW_SCORES, _WW_LABELS, 1.0, axis=0, weight=_W),
        "ties-margin0-p2-weight": _weston_watkins([[1.0, 1.0, 0.0], [2.0, 2.0, 2.0], [0.0, 1.0, 1.0]], [0, 1, 2],
                                                  0.0, p=2, weight=[0.5, 2.0, 0.0]),
        "hinge-corner-ties-p2-m0.5": _weston_watkins([[1.5, 1.0, 0.0], [0.0, 0.5, 0.5], [2.0, 1.5, 2.5]],
                                                     [0, 2, 1], 0.5, p=2),
    },
    "multilabel_margin": {"kinks-2d": _multilabel((6, 4)), "kinks-3d": _multilabel((2, 3, 4)),
                          "kinks-1d": _multilabel((4,))},
    "hinge_embedding": {
        "x-eq-margin": _hinge_embedding([1.0, 1.0, 0.5, 1.0, -2.0, 1.0, 3.0], [-1, -1, -1, 0, 1, 2, 1], 1.0),
        "x-eq-margin0.25": _hinge_embedding([0.25, 0.25, 0.25, 0.0, 4.0], [-1, 1, 2, -1, -1], 0.25),
        "x-eq-negative-margin": _hinge_embedding([-0.5, -0.5, -0.5, 0.5], [-1, -1, 3, 1], -0.5),
    },
    "binary_cross_entropy": {
        "p0-p1": _bce([0.0, 1.0, 0.0, 1.0, 0.5, 0.0], [0.0, 1.0, 1.0, 0.0, 0.5, 0.5]),
        "p0-p1-weighted": _bce([0.0, 1.0, 0.0, 1.0, 0.5, 0.0], [0.0, 1.0, 1.0, 0.0, 0.5, 0.5],
                               weight=[1.0, 2.0, 0.5, 0.0, 3.0, 1.0]),
        # float64 and float32 subnormals, the log clamp's edge p == exp(-100)
        # (2**-144 above it, 2**-145 below) and 1 - p rounding to 0.
        "subnormal-p": _bce([2.0**-1074, 2.0**-1060, 2.0**-149, 2.0**-126, 2.0**-144, 2.0**-145, 1.0 - 2.0**-53],
                            [0.0, 1.0, 0.5, 1.0, 1.0, 0.25, 0.0]),
    },
    "binary_cross_entropy_with_logits": {
        "saturated": _logits(),
        "saturated-weights": _logits(weight=[1.0, 2.0, 0.5, 0.0, 3.0, 1.0], pos_weight=[2.0, 0.5, 1.0, 3.0, 0.25, 1.0]),
    },
    "soft_margin": {"saturated": _soft_margin},
    "kl_divergence": {"p0-q0": _kl(), "p0-q0-axis0": _kl(axis=0)},
    "kl_divergence_log": {"log-p-neg-inf": _kl_log(False), "log-p-log-q-neg-inf": _kl_log(True)},
    "cosine_proximity": {"zero-vectors": _cos_proximity(), "zero-vectors-axis0": _cos_proximity(axis=0)},
    "cosine_embedding": {
        # orthogonal pairs and a zero vector: cos == 0 == margin
        "cos-eq-margin0": _cos_embedding([[1.0, 0.0], [0.0, 0.0], [2.0, 2.0], [1.0, 1.0]],
                                         [[0.0, 1.0], [3.0, 4.0], [2.0, -2.0], [1.0, 0.0]], [-1, -1, -1, 1], 0.0),
        # |x1| = 1280, |x2| = 1024, x1.x2 = 1024**2: cos == 0.8
        "cos-eq-margin0.8": _cos_embedding([[1024.0, 768.0], [1024.0, 768.0], [3.0, 1.0]],
                                           [[1024.0, 0.0], [1024.0, 0.0], [1.0, 2.0]], [-1, 1, -1], 0.8),
        # parallel pairs: cos == 1 == margin; antiparallel with margin -1
        "cos-eq-1-margin1": _cos_embedding([[1024.0, 0.0], [0.0, 2048.0], [1.0, 2.0]],
                                           [[2048.0, 0.0], [0.0, 1024.0], [2.0, 1.0]], [-1, -1, 0], 1.0),
        "cos-eq-minus1-margin-minus1": _cos_embedding([[1024.0, 0.0], [3.0, 1.0]], [[-1024.0, 0.0], [1.0, 2.0]],
                                                      [-1, -1], -1.0),
    },
    "margin_ranking": {
        "hinge-corner": _margin_ranking([1.0, 2.0, 0.5, 3.0, 0.0, 1.0, 3.0], [1.0, 1.5, 1.0, 2.0, 0.0, 3.0, 1.0],
                                        [1.0, 1.0, -1.0, 0.0, -1.0, 1.0, 1.0], 0.5),
        "hinge-corner-margin0": _margin_ranking([1.0, 2.0, -1.0, 0.5, 3.0], [1.0, 2.0, 1.0, 0.5, 1.0],
                                                [1.0, -1.0, 1.0, 1.0, 1.0], 0.0),
        # v == -inf (value 0, as clamp_min), v == +inf, beside the corner
        "infinite-gap": _margin_ranking([np.inf, -np.inf, 2.0, 1.0, -np.inf], [0.0, 0.0, 1.5, 1.5, 0.0],
                                        [1.0, 1.0, 1.0, -1.0, -1.0], 0.5, grad_args=(0, 1)),
    },
    "triplet": {
        # rows: a corner (5 - 10 + 5), a corner at a zero distance (a == p), inside
        "hinge-corner": _triplet([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]], [[3.0, 4.0], [1.0, 1.0], [0.0, 1.0]],
                                 [[6.0, 8.0], [4.0, 5.0], [0.0, 3.0]], 5.0, kinks=2),
        "hinge-corner-eps": _triplet([[0.0, 0.0], [1.0, 1.0]], [[-3.0 + _E, -4.0 + _E], [1.0 + _E, 2.0 + _E]],
                                     [[-6.0 + _E, -8.0 + _E], [1.0 + _E, 1.0 + _E]], 5.0, eps=_E),
        # swap ties d(a, n) == d(p, n): at the corner (14 - 25 + 11), active, inactive
        "swap-tie": _triplet([[7.0, 24.0], [0.0, 0.0], [0.0, 0.0]], [[-7.0, 24.0], [10.0, 0.0], [0.0, 1.0]],
                             [[0.0, 0.0], [5.0, 0.0], [20.0, 0.5]], 11.0, swap=True, ties=3),
        "zero-distances": _triplet([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]], [[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]],
                                   [[1.0, 2.0], [4.0, 6.0], [0.0, 0.0]], 1.0, kinks=0),
    },
    "ctc": {
        "feasibility-edge": _ctc(False),
        "feasibility-edge-zero-infinity": _ctc(True),
        "neg-inf-blank2": _ctc(False, blank=2, neg_inf=True),
        "neg-inf-zero-infinity": _ctc(True, neg_inf=True),
    },
}

# --- the comparison ------------------------------------------------------------------


def _as(xp, value, dtype):
    return xp.asarray(value, dtype) if isinstance(value, np.ndarray) else value


def _compare(xp, ops, monkeypatch, count, fn, args, kwargs, reductions, grad_args, what):
    """Kernel path (called twice: the second call may replay a call plan)
    against the generic path, values then gradients. ``count`` counts the
    kernel's calls: none may come from the generic path (a stale call plan)."""
    for dtype in ("float64", "float32"):
        arrays = [xp.asarray(a, dtype) for a in args]
        kw = {k: _as(xp, v, dtype) for k, v in kwargs.items()}
        tol = 1e-12 if dtype == "float64" else 2e-6
        for reduction in reductions:
            with np.errstate(all="ignore"):  # NumPy's warnings for log(0) and the like, on both paths
                kernel = [xp.to_numpy(fn(*arrays, reduction=reduction, **kw)) for _ in range(2)]
                with monkeypatch.context() as m:
                    m.setattr(ops, "kernels", {})
                    n = count.n
                    generic = xp.to_numpy(fn(*arrays, reduction=reduction, **kw))
                    assert count.n == n, f"{what}: the kernel ran with ops.kernels empty"
            for k in kernel:
                np.testing.assert_allclose(k, generic, rtol=tol, atol=tol,
                                           err_msg=f"{what}: values, {dtype}, reduction={reduction!r}; "
                                                   "ACTUAL = kernel, DESIRED = generic")
    if not xp.has_grad:
        return
    arrays = [xp.asarray(a, "float64") for a in args]
    kw = {k: _as(xp, v, "float64") for k, v in kwargs.items()}
    for reduction in [r for r in ("sum", "mean") if r in reductions]:
        loss = functools.partial(fn, reduction=reduction, **kw)
        kernel = xp.grad(loss, arrays, grad_args)
        with monkeypatch.context() as m:
            m.setattr(ops, "kernels", {})
            n = count.n
            generic = xp.grad(loss, arrays, grad_args)
            assert count.n == n, f"{what}: the kernel ran with ops.kernels empty"
        for i, x, y in zip(grad_args, kernel, generic):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{what}: gradient of argument {i}, reduction={reduction!r}; "
                                               "ACTUAL = kernel, DESIRED = generic")


@dataclasses.dataclass
class _Count:
    n: int = 0


def _counting(ops, monkeypatch, name) -> _Count:
    # The kernel row with a counting kernel: proves the kernel path ran.
    row, count = ops.kernels[name], _Count()

    def fn(*args, **kwargs):
        count.n += 1
        return row.fn(*args, **kwargs)

    monkeypatch.setitem(ops.kernels, name, dataclasses.replace(row, fn=fn))
    return count


NO_KINKS = "kinks"  # the kind of a row with neither builders nor a SMOOTH entry: it fails


def _kinds(name):
    if name in KINKS:
        return ["random", *KINKS[name]]
    return ["random"] if name in SMOOTH else ["random", NO_KINKS]


TABLES = _tables()
KERNEL_PARAMS = [pytest.param(b, name, kind, id=f"{b.value}-{name}-{kind}")
                 for b, rows in TABLES for name in rows or () for kind in _kinds(name)]
ROW_PARAMS = [pytest.param(b, name, id=f"{b.value}-{name}") for b, rows in TABLES for name in rows or ()]
BACKEND_PARAMS = [pytest.param(b, rows, id=b.value) for b, rows in TABLES]


@pytest.mark.parametrize("xp, rows", BACKEND_PARAMS, indirect=["xp"])
def test_every_row_is_collected(xp, rows):
    # The rows parametrized here (the backend module's table) are ops.kernels.
    assert rows is not None, f"lossapi.backends.{xp.name} failed to import, yet {xp.name} arrays work"
    assert sorted(_ops(xp).kernels) == sorted(rows)


@pytest.mark.parametrize("xp, name, kind", KERNEL_PARAMS, indirect=["xp"])
def test_kernel_equals_generic(xp, name, kind, monkeypatch):
    ops = _ops(xp)
    assert name in ops.kernels
    if kind == NO_KINKS:
        pytest.fail(f"no kink inputs for {name}: add builders to KINKS in tests/test_kernels.py (or, for a loss "
                    "without kinks or boundaries, an entry in SMOOTH with the reason)")
    count = _counting(ops, monkeypatch, name)
    if kind == "random":
        cases = [c for c in CASES if c.fn.__name__ == name]
        assert cases, f"no checklist case (cases*.py) for {name}"
        for i, case in enumerate(cases):
            inputs = case.make_inputs(np.random.default_rng(7))
            _compare(xp, ops, monkeypatch, count, case.fn, inputs, case.kwargs, case.reductions, case.grad_args,
                     f"{name}, checklist case {i} with {case.kwargs}")
        assert count.n > 0, f"the {xp.name} kernel for {name} ran on none of its checklist cases"
        return
    inp = KINKS[name][kind]()
    _compare(xp, ops, monkeypatch, count, getattr(lossapi, name), inp.args, inp.kwargs, inp.reductions, inp.grad_args,
             f"{name} {kind}")
    assert count.n > 0, f"the {xp.name} kernel for {name} did not run on the {kind!r} inputs (its `when`?)"


@pytest.mark.parametrize("xp, name", ROW_PARAMS, indirect=["xp"])
def test_kernel_options_are_loss_options(xp, name, monkeypatch):
    """A row's ``options`` are keyword parameters of its ``fn`` and names the
    loss passes to ``Prepared.run``; the kernel gets exactly those and
    ``reduction``."""
    ops = _ops(xp)
    row = ops.kernels[name]
    params = inspect.signature(row.fn).parameters
    assert "reduction" in params and not set(row.options) & {"reduction"}
    runs: list[tuple[int, set[str]]] = []
    kernel_calls: list[tuple[int, set[str]]] = []
    dispatch = prepare_module.dispatch

    def spy_dispatch(a, math, options):
        runs.append((len(a.arrays), set(options)))
        return dispatch(a, math, options)

    def recorder(*arrays, **kwargs):
        kernel_calls.append((len(arrays), set(kwargs)))
        return row.fn(*arrays, **kwargs)

    monkeypatch.setattr(prepare_module, "dispatch", spy_dispatch)
    monkeypatch.setitem(ops.kernels, name, dataclasses.replace(row, fn=recorder))
    inputs = [(c.fn, c.make_inputs(np.random.default_rng(0)), c.kwargs) for c in CASES if c.fn.__name__ == name]
    inputs += [(getattr(lossapi, name), k.args, k.kwargs) for k in (b() for b in KINKS.get(name, {}).values())]
    for fn, args, kwargs in inputs:
        with np.errstate(all="ignore"):
            try:
                fn(*[xp.asarray(a, "float64") for a in args], **{k: _as(xp, v, "float64") for k, v in kwargs.items()})
            except KeyError as e:
                pytest.fail(f"the {name} row names option {e} that the loss does not pass to Prepared.run")
    assert kernel_calls, f"the {xp.name} kernel for {name} ran on none of its checklist or kink inputs"
    for n, names in kernel_calls:
        assert names == {"reduction", *row.options}
        dummies = [object()] * n
        inspect.signature(row.fn).bind(*dummies, reduction="mean", **{o: object() for o in row.options})
    for _, names in runs:
        assert set(row.options) <= names, f"{name}: Prepared.run got {sorted(names)}, the row names {row.options}"
