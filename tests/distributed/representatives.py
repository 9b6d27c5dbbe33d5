"""One or two losses per family of ``lossapi.FAMILIES``, with NumPy inputs
whose leading axis is the batch (16 rows, so 8 devices or 2 processes shard
it evenly). Every engine's test runs these sharded and compares with the
same call on unsharded arrays."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import lossapi

N = 16  # the batch, divisible by 8 (JAX host devices) and 2 (gloo processes)


@dataclass(frozen=True)
class Rep:
    id: str
    fn: Callable[..., Any]
    make: Callable[[np.random.Generator], tuple[np.ndarray, ...]]
    diff: tuple[int, ...] = (0,)  # floating inputs differentiated
    shared: tuple[int, ...] = ()  # inputs without a batch axis (a weight matrix): replicated, not split
    kwargs: dict = field(default_factory=dict)

    def call(self, *arrays, **kwargs):
        return self.fn(*arrays, **{**self.kwargs, **kwargs})


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _boxes(rng):
    lo = rng.uniform(0, 4, (N, 2))
    return np.concatenate([lo, lo + rng.uniform(0.5, 3, (N, 2))], axis=-1)


def _ctc(rng):
    t, c, s = 12, 5, 4
    logits = rng.normal(size=(N, t, c))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    labels = rng.integers(1, c, (N, s))
    return (log_probs, labels, rng.integers(8, t + 1, N), rng.integers(1, s + 1, N))


REPS = [
    # regression
    Rep("huber", lossapi.huber, lambda r: (r.normal(size=(N, 8)), r.normal(size=(N, 8))), kwargs={"delta": 0.5}),
    Rep("gaussian_nll", lossapi.gaussian_nll,
        lambda r: (r.normal(size=(N, 8)), r.normal(size=(N, 8)), r.uniform(0.5, 2, (N, 8)))),
    # classification
    Rep("cross_entropy", lossapi.cross_entropy, lambda r: (r.normal(size=(N, 10)), r.integers(0, 10, N))),
    Rep("cross_entropy_smooth_probs", lossapi.cross_entropy,
        lambda r: (r.normal(size=(N, 10)), _softmax(r.normal(size=(N, 10)))), kwargs={"label_smoothing": 0.1}),
    Rep("focal", lossapi.focal, lambda r: (r.normal(size=(N, 10)), r.integers(0, 10, N))),
    Rep("bce_with_logits", lossapi.binary_cross_entropy_with_logits,
        lambda r: (r.normal(size=(N, 6)), r.integers(0, 2, (N, 6)).astype(np.float64))),
    # divergence
    Rep("kl_divergence", lossapi.kl_divergence,
        lambda r: (_softmax(r.normal(size=(N, 7))), _softmax(r.normal(size=(N, 7)))), diff=(0, 1)),
    # embedding (supcon compares every pair of the batch: the shards must talk)
    Rep("supcon", lossapi.supcon, lambda r: (r.normal(size=(N, 4)), r.integers(0, 3, N)), kwargs={"temperature": 0.5}),
    Rep("triplet", lossapi.triplet, lambda r: tuple(r.normal(size=(N, 4)) for _ in range(3)), diff=(0, 1, 2)),
    # segmentation
    Rep("dice", lossapi.dice, lambda r: (r.uniform(size=(N, 3, 4, 4)), r.integers(0, 2, (N, 3, 4, 4))),
        kwargs={"axis": (2, 3)}),
    # ranking
    Rep("listnet", lossapi.listnet, lambda r: (r.normal(size=(N, 10)), r.integers(0, 4, (N, 10)).astype(np.float64))),
    # detection
    Rep("giou", lossapi.giou, lambda r: (_boxes(r), _boxes(r)), diff=(0, 1)),
    # sequence
    Rep("ctc", lossapi.ctc, _ctc),
    # language: hidden [N, H], weight [V, H]
    Rep("linear_cross_entropy", lossapi.linear_cross_entropy,
        lambda r: (r.normal(size=(N, 8)), 0.3 * r.normal(size=(24, 8)), r.integers(0, 24, N)), diff=(0, 1),
        shared=(1,), kwargs={"chunk_size": 8}),
    # distillation
    Rep("distill_kl", lossapi.distill_kl, lambda r: (r.normal(size=(N, 9)), r.normal(size=(N, 9))), diff=(0, 1),
        kwargs={"temperature": 2.0}),
    # preference
    Rep("dpo", lossapi.dpo, lambda r: tuple(r.normal(size=N) - 5 for _ in range(4)), diff=(0, 1)),
]


def _check_families():
    covered = {rep.fn.__name__ for rep in REPS}
    missing = [f for f, names in lossapi.FAMILIES.items() if covered.isdisjoint(names)]
    assert not missing, f"no representative for families {missing}"


_check_families()


@functools.cache
def inputs(rep_id: str) -> tuple[np.ndarray, ...]:
    rep = next(r for r in REPS if r.id == rep_id)
    return rep.make(np.random.default_rng(sum(map(ord, rep_id))))
