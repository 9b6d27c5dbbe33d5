"""The one checklist every loss runs through is driven by these records.

A family adds its losses in ``cases_<family>.py`` as ``CASES = [LossCase(...)]``.
``reference`` is the loss's float64 reference in ``conformance/reference.py``
(written from the formula, never by calling lossapi; a ``functools.partial``
where the case fixes options); it returns the reduced value for a given
reduction. ``make_inputs`` returns NumPy arrays: floating ones are cast to the
dtype under test, integer/bool ones are passed as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np


@dataclasses.dataclass
class LossCase:
    id: str
    fn: Callable[..., Any]
    make_inputs: Callable[[np.random.Generator], tuple[np.ndarray, ...]]
    reference: Callable[..., Any]  # reference(*inputs, reduction=..., **kwargs) -> float64 ndarray
    kwargs: dict = dataclasses.field(default_factory=dict)
    grad_args: tuple[int, ...] = (0,)  # inputs whose gradient is checked against finite differences
    reductions: tuple[str, ...] = ("mean", "sum", "none")
    shape_check: bool = True  # pred/target of different shapes must raise ValueError
    half: bool = True  # float16/bfloat16 inputs give finite results
    rtol64: float = 1e-9
    rtol32: float = 2e-5
    fd_eps: float = 1e-6
    grad_rtol: float = 1e-5
    jit: bool = True
    # Options that must be rejected: list of (kwargs, exception type).
    bad_options: list = dataclasses.field(default_factory=list)


def keyword_arrays(fn: Callable[..., Any], *names: str) -> Callable[..., Any]:
    """``fn`` (a loss or its reference) taking its trailing keyword arrays
    (class weights...) positionally, so the checklist converts them to the
    backend like the other inputs."""
    def call(pred, target, *arrays, **kwargs):
        return fn(pred, target, **dict(zip(names, arrays)), **kwargs)
    call.__name__ = fn.__name__
    return call


def all_cases() -> list[LossCase]:
    import importlib
    import pathlib
    import pkgutil

    out: list[LossCase] = []
    here = pathlib.Path(__file__).parent
    for m in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if m.name.startswith("cases_"):
            out.extend(importlib.import_module(m.name).CASES)
    return out
