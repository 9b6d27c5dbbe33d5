"""Reading the case files and turning a case into inputs and loss calls.

The case files (``cases/*.json``) are data. This module gives them meaning:

* ``inputs``: named arrays. A bare (nested) list is a float array; an object
  ``{"data": [...], "dtype": "int64"}`` gives another dtype. ``inputs_from``
  takes arrays from a named set in ``cases/inputs-seeded.json`` (seeded random
  inputs generated once by ``build_cases.py`` and stored).
* ``preprocess``: named steps applied in float64 NumPy, in order, before any
  loss is called (the guide's own preprocessing, e.g. a sigmoid on logits).
* ``call`` (one) or ``calls`` (several) name the loss, its positional
  arguments (input names), its options and reduction. An option written
  ``{"input": NAME}`` is the array NAME.
* ``combine``: how the calls' outputs make the case's value: absent (the
  outputs themselves, a tuple output giving several values) or ``"ratio"``
  (first output divided by the second).

The value of a case is a flat float64 vector (one entry for a scalar).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
CASES_DIR = HERE / "cases"
CASE_FILES = ("reference-guide.json", "loss-functions-notes.json")
INPUT_SETS_FILE = "inputs-seeded.json"

REQUIRED = ("id", "source", "loss", "printed", "expected", "erratum", "explanation", "convention")


# --- files ---------------------------------------------------------------------

def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_case_files() -> dict[str, dict]:
    return {name: read_json(CASES_DIR / name) for name in CASE_FILES}


def load_cases() -> list[dict]:
    out = []
    for name, doc in load_case_files().items():
        for case in doc["cases"]:
            case = dict(case)
            case["_file"] = name
            out.append(case)
    return out


def load_input_sets() -> dict[str, dict[str, np.ndarray]]:
    path = CASES_DIR / INPUT_SETS_FILE
    if not path.exists():
        return {}
    doc = read_json(path)
    return {name: {k: array_from_json(v) for k, v in s["arrays"].items()} for name, s in doc["sets"].items()}


def array_from_json(v: Any) -> np.ndarray:
    """A bare list is float64; {"data", "dtype"} another dtype. dtype "float32"
    means the decimals are float32 values (rounded to float32 on load, then
    held in float64 so the float64 run sees exactly the float32 numbers)."""
    if isinstance(v, dict):
        dt = v.get("dtype", "float64")
        a = np.asarray(v["data"])
        if dt == "float32":
            return np.asarray(a, dtype=np.float32).astype(np.float64)
        return np.asarray(a, dtype=dt)
    return np.asarray(v, dtype=np.float64)


# --- preprocessing -------------------------------------------------------------

def _log_softmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def _smooth_labels(y, eps, num_classes, off):
    y = np.asarray(y).astype(np.int64)
    c = num_classes
    if off == "eps/(C-1)":  # the notes' LabelSmoothingCrossEntropy
        q = np.full(y.shape + (c,), eps / (c - 1))
        np.put_along_axis(q, y[..., None], 1.0 - eps, axis=-1)
    elif off == "eps/C":  # Szegedy et al. / torch
        q = np.full(y.shape + (c,), eps / c)
        np.put_along_axis(q, y[..., None], 1.0 - eps + eps / c, axis=-1)
    else:
        raise ValueError(f"smooth_labels: off must be 'eps/(C-1)' or 'eps/C', got {off!r}")
    return q


STEPS: dict[str, Callable[..., np.ndarray]] = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "logit": lambda p: np.log(p) - np.log1p(-p),
    "log": lambda x: np.log(x),
    "softmax": lambda x, axis=-1: np.exp(_log_softmax(x, axis)),
    "log_softmax": lambda x, axis=-1: _log_softmax(x, axis),
    # torch.nn.functional.normalize: x / max(||x||, eps)
    "l2_normalize": lambda x, axis=-1, eps=1e-12: x / np.maximum(np.sqrt(np.sum(x * x, axis=axis, keepdims=True)), eps),
    "pm1_to_01": lambda y: (np.asarray(y, dtype=np.float64) + 1.0) / 2.0,  # +1/-1 labels -> 1/0
    "flip01": lambda y: 1.0 - np.asarray(y, dtype=np.float64),  # 0 = similar -> 1 = similar
    "one_hot": lambda y, num_classes: np.eye(num_classes)[np.asarray(y).astype(np.int64)],
    "smooth_labels": lambda y, eps, num_classes, off: _smooth_labels(y, eps, num_classes, off),
}


def preprocess(arrays: dict[str, np.ndarray], steps: list[dict]) -> dict[str, np.ndarray]:
    arrays = dict(arrays)
    for st in steps or []:
        st = dict(st)
        name = st.pop("step")
        src = st.pop("input")
        dst = st.pop("output", src)
        if name not in STEPS:
            raise ValueError(f"unknown preprocessing step {name!r}")
        x = arrays[src]
        if x.dtype.kind == "f":
            x = x.astype(np.float64)
        arrays[dst] = np.asarray(STEPS[name](x, **st))
    return arrays


def case_inputs(case: dict, sets: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The case's arrays after preprocessing (floats in float64)."""
    arrays: dict[str, np.ndarray] = {}
    src = case.get("inputs_from")
    if src:
        s = sets[src["set"]]
        for mine, theirs in src["arrays"].items():
            arrays[mine] = s[theirs].copy()
    for k, v in (case.get("inputs") or {}).items():
        arrays[k] = array_from_json(v)
    return preprocess(arrays, case.get("preprocess", []))


def round_to(arrays: dict[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    """Float arrays rounded to ``dtype`` and held in float64 (what a run in
    that dtype actually feeds the loss)."""
    return {k: (v.astype(dtype).astype(np.float64) if v.dtype.kind == "f" else v) for k, v in arrays.items()}


# --- calls ---------------------------------------------------------------------

def calls_of(case: dict) -> list[dict]:
    if "calls" in case:
        return case["calls"]
    return [case["call"]]


def run_calls(case: dict, get_fn: Callable[[str], Callable], arrays: dict[str, Any]) -> list[Any]:
    """Call each loss of the case on ``arrays`` (any library's arrays);
    returns the flat list of outputs (a tuple output contributes each item)."""
    outs = []
    for call in calls_of(case):
        fn = get_fn(call["loss"])
        args = [arrays[a] for a in call["args"]]
        opts = {k: (arrays[v["input"]] if isinstance(v, dict) and "input" in v else v)
                for k, v in (call.get("options") or {}).items()}
        out = fn(*args, **opts, reduction=call.get("reduction", "mean"))
        outs.extend(out if isinstance(out, tuple) else [out])
    return outs


def combine(case: dict, outs: list[Any]) -> list[Any]:
    """The case's values from the outputs; works on any array type with ``/``."""
    how = case.get("combine")
    if how is None:
        return outs
    if how == "ratio":
        if len(outs) != 2:
            raise ValueError(f"{case['id']}: combine 'ratio' needs two outputs, got {len(outs)}")
        return [outs[0] / outs[1]]
    raise ValueError(f"{case['id']}: unknown combine {how!r}")


def flat(values: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in values]) if values else np.zeros(0)


def reference_value(case: dict, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The case's value from conformance.reference, in float64."""
    from . import reference

    return flat(combine(case, run_calls(case, lambda n: getattr(reference, n), arrays)))


def snippet_value(case: dict, arrays: dict[str, np.ndarray]) -> np.ndarray | None:
    """The value of the guide's snippet, transcribed in conformance.reference."""
    sn = case.get("snippet")
    if not sn:
        return None
    from . import reference

    fn = reference.SNIPPETS[sn["fn"]]
    out = fn(*[arrays[a] for a in sn["args"]], **sn.get("kwargs", {}))
    return flat(list(out) if isinstance(out, tuple) else [out])


# --- printed values -----------------------------------------------------------

SLACK = 0.01  # fraction of half a unit of the last printed digit


def printed_tolerance(digits: int) -> float:
    """Half a unit of the last printed decimal, plus a small slack for a value
    printed from float32 arithmetic sitting right on a rounding boundary."""
    return 0.5 * 10.0 ** (-digits) * (1.0 + SLACK)


def is_erratum(printed: float | None, digits: int | None, expected: float) -> bool:
    """True iff the printed value differs from ``expected`` by more than its
    printed rounding allows. ``printed=None`` is never an erratum by number."""
    if printed is None:
        return False
    return not math.isfinite(expected) or abs(printed - expected) > printed_tolerance(int(digits))


def expected_vector(case: dict) -> np.ndarray:
    e = case["expected"]
    return np.atleast_1d(np.asarray(e, dtype=np.float64))
