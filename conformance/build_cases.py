"""Fill the case files' derived fields from conformance.reference.

    python -m conformance.build_cases            # recompute expected values, check, write
    python -m conformance.build_cases --inputs   # also regenerate the seeded input sets
    python -m conformance.build_cases --check    # recompute and compare, write nothing

For every case: the expected value (float64, from ``reference.py``), the
value of the guide's snippet when the case names one, a cross-check against
the peer libraries the case names (torch, optax; skipped when not installed),
and the erratum flag against the printed rounding. A disagreement is an
error: the authored fields (erratum, snippet ``agrees``) are judgments the
builder verifies, never overwrites.

The seeded input sets (``cases/inputs-seeded.json``) are generated once:
``verify_losses`` replays the notes' ``torch.manual_seed(42)`` draws (needs
torch), ``guide_randn`` replaces the reference guide's unseeded
``torch.randn`` embeddings by NumPy draws (seed 2025) rounded to float32.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from . import data, jsonfmt, peers

SNIPPET_RTOL = 1e-6  # a snippet "agrees" if within this (its own epsilons aside)


def _f32_list(a: np.ndarray):
    """Float32 values as the shortest decimals that read back to the same float32."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 0:
        return float(str(a))
    if a.ndim == 1:
        return [float(str(x)) for x in a]
    return [_f32_list(x) for x in a]


def generate_input_sets() -> dict:
    sets: dict = {}
    # --- loss-functions-notes.md, verify_losses(): the same draws in the same order.
    import torch

    torch.manual_seed(42)
    draws = [("pred", "randn", (10, 1)), ("target", "randn", (10, 1)), ("logits", "randn", (32,)),
             ("targets", "randint2", (32,)), ("a", "randn", (8, 16)), ("p", "randn", (8, 16)),
             ("n", "randn", (8, 16)), ("recon_raw", "randn", (16, 784)), ("x_raw", "randn", (16, 784)),
             ("mu", "randn", (16, 8)), ("log_var", "randn", (16, 8)), ("logits_clf", "randn", (16, 10)),
             ("targets_clf", "randint10", (16,))]
    arrays = {}
    for name, kind, shape in draws:
        if kind == "randn":
            arrays[name] = {"dtype": "float32", "data": _f32_list(torch.randn(*shape).numpy())}
        else:
            hi = int(kind[len("randint"):])
            arrays[name] = {"dtype": "int64", "data": torch.randint(0, hi, shape).tolist()}
    sets["verify_losses"] = {
        "about": "torch.manual_seed(42), then the draws of loss-functions-notes.md verify_losses() in order "
                 "(randn unless int64: randint); a/p/n before F.normalize, recon_raw/x_raw before sigmoid. "
                 f"Generated with torch {torch.__version__} (CPU).",
        "draws": [[n, k, list(s)] for n, k, s in draws],
        "arrays": arrays,
    }
    # --- reference-guide.md sections 4.x / 7.2: unseeded torch.randn(5, 128) in the guide.
    rng = np.random.default_rng(2025)
    sets["guide_randn"] = {
        "about": "Stand-ins for the reference guide's unseeded torch.randn(5, 128) embeddings: "
                 "numpy.random.default_rng(2025).normal, drawn e1, e2, e3, rounded to float32.",
        "arrays": {k: {"dtype": "float32", "data": _f32_list(rng.normal(size=(5, 128)))} for k in ("e1", "e2", "e3")},
    }
    return {"about": "Seeded inputs used by the case files (inputs_from). Written by build_cases.py --inputs.",
            "sets": sets}


def _number(v: np.ndarray):
    v = np.asarray(v, dtype=np.float64).ravel()
    return float(v[0]) if v.size == 1 else [float(x) for x in v]


def peer_check(case: dict, arrays: dict) -> list[str]:
    """Messages for the peers named by the case that disagree with the reference."""
    problems = []
    want = data.reference_value(case, arrays)
    for lib in case.get("peers", []):
        why = peers.available(lib)
        if why:
            print(f"  {case['id']}: peer {lib} skipped ({why})")
            continue
        outs = []
        try:
            for call in data.calls_of(case):
                args = [arrays[a] for a in call["args"]]
                opts = {k: (arrays[v["input"]] if isinstance(v, dict) else v) for k, v in call.get("options", {}).items()}
                outs.append(peers.value_np(lib, call["loss"], args, opts, call.get("reduction", "mean")))
        except peers.Unsupported as e:
            problems.append(f"{case['id']}: peer {lib} cannot express the case ({e})")
            continue
        got = data.flat(data.combine(case, outs))
        if not np.allclose(got, want, rtol=1e-9, atol=1e-12):
            problems.append(f"{case['id']}: peer {lib} gives {got} but reference gives {want}")
    return problems


def build(check_only: bool = False, regenerate_inputs: bool = False) -> int:
    path_sets = data.CASES_DIR / data.INPUT_SETS_FILE
    if regenerate_inputs or not path_sets.exists():
        if check_only:
            print("input sets missing; run without --check")
            return 1
        jsonfmt.write(path_sets, generate_input_sets())
        print(f"wrote {path_sets}")
    sets = data.load_input_sets()
    problems: list[str] = []
    changed = 0
    for fname, doc in data.load_case_files().items():
        for case in doc["cases"]:
            if case.get("status") == "no-example":
                continue
            arrays = data.case_inputs(case, sets)
            value = data.reference_value(case, arrays)
            new = _number(value)
            if case.get("expected") != new:
                changed += 1
                if check_only:
                    problems.append(f"{case['id']}: stored expected {case.get('expected')} != reference {new}")
            case["expected"] = new
            sv = data.snippet_value(case, arrays)
            if sv is not None:
                agrees = bool(np.allclose(sv, value, rtol=case["snippet"].get("rtol", SNIPPET_RTOL), atol=1e-12))
                if agrees != case["snippet"]["agrees"]:
                    problems.append(f"{case['id']}: snippet {case['snippet']['fn']} gives {sv}, reference {value}: "
                                    f"agrees={agrees} but the case says {case['snippet']['agrees']}")
                case["snippet"]["value"] = _number(sv)
            if case["printed"] is not None:
                if value.size != 1:
                    problems.append(f"{case['id']}: a printed number needs a scalar case value")
                else:
                    err = data.is_erratum(case["printed"], case["printed_digits"], float(value[0]))
                    if err != case["erratum"]:
                        problems.append(f"{case['id']}: printed {case['printed']} vs expected {value[0]:.6g}: "
                                        f"erratum should be {err}")
            if case["erratum"] and not case["explanation"]:
                problems.append(f"{case['id']}: an erratum needs an explanation")
            problems += peer_check(case, arrays)
        if not check_only:
            jsonfmt.write(data.CASES_DIR / fname, doc)
    for p in problems:
        print("PROBLEM:", p)
    print(f"{changed} expected value(s) {'differ' if check_only else 'updated'}; {len(problems)} problem(s)")
    return 1 if problems else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.build_cases", description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare only, write nothing")
    ap.add_argument("--inputs", action="store_true", help="regenerate the seeded input sets (needs torch)")
    a = ap.parse_args(argv)
    return build(check_only=a.check, regenerate_inputs=a.inputs)


if __name__ == "__main__":
    sys.exit(main())
