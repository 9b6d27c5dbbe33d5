"""The conformance case files are consistent, and the harness can fail.

Every stored expected value is re-derived from ``conformance/reference.py``
(float64 NumPy written from the definitions) and, where the case names them,
from torch / optax; every erratum flag is re-checked against the printed
rounding; the runner is shown to catch a wrong value, a wrong gradient and a
missing loss.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance import backends as B
from conformance import data, peers, reference, runner

ROOT = Path(__file__).resolve().parents[1]

CASES = data.load_cases()
SETS = data.load_input_sets()
RUNNABLE = [c for c in CASES if c.get("status") != "no-example"]
PRINTED = [c for c in RUNNABLE if c["printed"] is not None]
SNIPPETS = [c for c in RUNNABLE if c.get("snippet")]
PEER_PAIRS = [(c, lib) for c in RUNNABLE for lib in c.get("peers", [])]


def _ids(cases):
    return [c["id"] for c in cases]


def _inputs(case):
    return data.case_inputs(case, SETS)


# --- schema --------------------------------------------------------------------

def test_case_ids_unique_and_fields_present():
    ids = _ids(CASES)
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert len(CASES) >= 60
    import lossapi

    for c in CASES:
        for k in data.REQUIRED:
            assert k in c, f"{c['id']}: missing {k}"
        assert c["source"]["file"] in ("reference-guide.md", "loss-functions-notes.md")
        assert isinstance(c["erratum"], bool)
        if c["erratum"]:
            assert c["explanation"], f"{c['id']}: an erratum needs an explanation"
        if c.get("status") == "no-example":
            assert c["skip_reason"] and c["expected"] is None and c["printed"] is None
            continue
        for call in data.calls_of(c):
            assert call["loss"] in lossapi.__all__, f"{c['id']}: {call['loss']} is not a public lossapi loss"
            assert hasattr(reference, call["loss"]), f"{c['id']}: reference.py lacks {call['loss']}"
            assert call.get("reduction", "mean") in ("mean", "sum", "none")
        for st in c.get("preprocess", []):
            assert st["step"] in data.STEPS
        if c["printed"] is not None:
            d = c["printed_digits"]
            assert isinstance(d, int) and d >= 0
            assert round(c["printed"], d) == c["printed"], f"{c['id']}: printed has more digits than printed_digits"
            assert c["printed_text"]


def test_every_guide_section_with_an_example_has_a_case():
    sections = {(c["source"]["file"], c["source"]["section"].split()[0]) for c in CASES}
    for num in ("1.1", "1.2", "1.3", "1.4", "1.5", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "3.1", "3.2", "4.1",
                "4.2", "4.3", "5.1", "5.2", "6.1", "6.2", "7.1", "7.2"):
        assert ("reference-guide.md", num) in sections, num
    for num in ("1.", "3.", "4.", "5.", "7.", "8.", "9.", "10.", "11.", "15."):
        assert ("loss-functions-notes.md", num) in sections, num


# --- expected values -------------------------------------------------------------

@pytest.mark.parametrize("case", RUNNABLE, ids=_ids(RUNNABLE))
def test_expected_rederived_from_reference(case):
    got = data.reference_value(case, _inputs(case))
    want = data.expected_vector(case)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("case,lib", PEER_PAIRS, ids=[f"{c['id']}-{lib}" for c, lib in PEER_PAIRS])
def test_expected_matches_peer_library(case, lib):
    pytest.importorskip({"torch": "torch", "optax": "optax", "torchvision": "torchvision"}[lib])
    arrays = _inputs(case)
    outs = []
    for call in data.calls_of(case):
        opts = {k: (arrays[v["input"]] if isinstance(v, dict) else v) for k, v in call.get("options", {}).items()}
        outs.append(peers.value_np(lib, call["loss"], [arrays[a] for a in call["args"]], opts,
                                   call.get("reduction", "mean")))
    got = data.flat(data.combine(case, outs))
    np.testing.assert_allclose(got, data.expected_vector(case), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", PRINTED, ids=_ids(PRINTED))
def test_erratum_flag_matches_printed_rounding(case):
    (expected,) = data.expected_vector(case)
    assert data.is_erratum(case["printed"], case["printed_digits"], expected) == case["erratum"], (
        f"printed {case['printed']} (to {case['printed_digits']} decimals) vs expected {expected!r}")


@pytest.mark.parametrize("case", SNIPPETS, ids=_ids(SNIPPETS))
def test_guide_snippet_agrees_as_stated(case):
    arrays = _inputs(case)
    sv = data.snippet_value(case, arrays)
    np.testing.assert_allclose(sv, np.atleast_1d(case["snippet"]["value"]), rtol=1e-13)
    agrees = np.allclose(sv, data.expected_vector(case), rtol=case["snippet"].get("rtol", 1e-6), atol=1e-12)
    assert agrees == case["snippet"]["agrees"]


@pytest.mark.parametrize("printed,digits,expected,err", [
    (0.0202, 4, 0.020135513550688, True),   # KL "original example": rounds to 0.0201
    (0.0012, 4, 0.0012453272142, False),    # JS: within half a unit
    (0.31, 4, 0.3099999999999999, False),
    (0.1446, 4, 0.1448574121948, True),
    (0.0012, 4, 0.00125, False),            # exactly half a unit: the slack keeps it
    (0.0012, 4, 0.0012506, True),
    (100.0, 0, 100.00000000000003, False),
    (1.0, 2, 0.5, True),
    (None, None, 3.0, False),
    (0.5, 2, math.nan, True),
])
def test_is_erratum_rule(printed, digits, expected, err):
    assert data.is_erratum(printed, digits, expected) == err


def test_seeded_inputs_replay_torch_manual_seed_42():
    torch = pytest.importorskip("torch")
    doc = data.read_json(data.CASES_DIR / data.INPUT_SETS_FILE)["sets"]["verify_losses"]
    torch.manual_seed(42)
    for name, kind, shape in doc["draws"]:
        x = torch.randn(*shape).numpy() if kind == "randn" else torch.randint(0, int(kind[7:]), tuple(shape)).numpy()
        np.testing.assert_array_equal(SETS["verify_losses"][name], x.astype(np.float64), err_msg=name)


def test_printed_text_and_sections_appear_in_the_guides():
    guide_dir = Path(os.environ.get("LOSSAPI_GUIDE_DIR", "/work/shared/guide"))
    if not (guide_dir / "reference-guide.md").exists():
        pytest.skip(f"guides not found in {guide_dir} (set LOSSAPI_GUIDE_DIR)")
    text = {f: (guide_dir / f).read_text(encoding="utf-8") for f in ("reference-guide.md", "loss-functions-notes.md")}
    for c in CASES:
        t = text[c["source"]["file"]]
        assert f"# {c['source']['section']}\n" in t, f"{c['id']}: no section {c['source']['section']!r}"
        if c["printed"] is not None:
            assert c["printed_text"] in t, f"{c['id']}: {c['printed_text']!r} is not in the guide"


# --- the harness can fail ----------------------------------------------------------

def _case(cid):
    return next(c for c in CASES if c["id"] == cid)


def _ready(name):
    be = B.get(name)
    try:
        be.check()
    except B.Unavailable as e:
        pytest.skip(str(e))
    return be


def test_runner_passes_a_correct_loss():
    c = _case("rg-1.1-mse")
    assert runner.run_case(c, _ready("numpy"), "float64", _inputs(c)) == (runner.PASS, [])


def test_runner_catches_a_wrong_value(monkeypatch):
    import lossapi

    orig = lossapi.mse
    monkeypatch.setattr(lossapi, "mse", lambda p, t, **k: orig(p, t, **k) * 1.0001)
    c = _case("rg-1.1-mse")
    for dt in ("float32", "float64"):
        st, msgs = runner.run_case(c, _ready("numpy"), dt, _inputs(c))
        assert st == runner.FAIL and "value" in msgs[0]


def test_runner_catches_a_wrong_gradient(monkeypatch):
    pytest.importorskip("torch")
    import lossapi

    orig = lossapi.mse
    # Same value, gradient off by 0.01 per element.
    monkeypatch.setattr(lossapi, "mse", lambda p, t, **k: orig(p, t, **k) + 0.01 * (p.sum() - p.detach().sum()))
    c = _case("rg-1.1-mse")
    st, msgs = runner.run_case(c, _ready("torch"), "float64", _inputs(c))
    assert st == runner.FAIL and len(msgs) == 1 and msgs[0].startswith("gradient")


def test_runner_reports_a_missing_loss(monkeypatch):
    import lossapi

    monkeypatch.delattr(lossapi, "mae")
    c = _case("rg-1.2-mae")
    st, msgs = runner.run_case(c, _ready("numpy"), "float64", _inputs(c))
    assert st == runner.FAIL and "lossapi has no 'mae'" in msgs[0]


def test_peer_check_catches_a_wrong_loss(monkeypatch):
    pytest.importorskip("torch")
    import lossapi

    orig = lossapi.huber
    monkeypatch.setattr(lossapi, "huber", lambda p, t, **k: orig(p, t, **k) * 1.001)
    check = next(c for c in peers.CHECKS if c.id == "huber-d1.5")
    st, msgs = runner.run_peer_check(check, "torch", _ready("torch"), "float64", True, None, {})
    assert st == runner.FAIL and msgs


# --- the command line -------------------------------------------------------------------

def test_cli_writes_reports_and_sets_exit_status(tmp_path, monkeypatch):
    def no_device(self):
        raise B.Unavailable("no CUDA device (test)")

    monkeypatch.setattr(B.CupyBackend, "check", no_device)
    argv = ["--backends", "numpy,cupy", "--dtypes", "float32,float64", "--cases", "rg-1.*", "--no-peers",
            "--quiet", "--out", str(tmp_path)]
    assert runner.main(argv) == 0
    rep = json.loads((tmp_path / "conformance-report.json").read_text(encoding="utf-8"))
    assert rep["backends"]["cupy"] == {"status": "skipped", "reason": "no CUDA device (test)"}
    assert rep["backends"]["torch"]["reason"] == "not selected (--backends)"
    ids = [c["id"] for c in rep["cases"]]
    assert ids and all(i.startswith("rg-1.") for i in ids)
    for c in rep["cases"]:
        for k in ("id", "source", "loss", "printed", "expected", "erratum", "explanation", "results"):
            assert k in c
        assert c["results"]["numpy"] == {"float32": "pass", "float64": "pass"}
        assert c["results"]["cupy"]["float64"] == "skip" and c["skip_reasons"]["cupy"]
    md = (tmp_path / "conformance-report.md").read_text(encoding="utf-8")
    assert "| rg-1.4-log-cosh | log_cosh | ✓ | 0.1734 | **0.143579** |" in md
    assert "## Errata" in md and "rg-1.4-log-cosh" in md.split("## Errata")[1]

    import lossapi

    orig = lossapi.log_cosh
    monkeypatch.setattr(lossapi, "log_cosh", lambda p, t, **k: orig(p, t, **k) + 0.03)  # "matches" 0.1734
    assert runner.main(argv) == 1
    rep = json.loads((tmp_path / "conformance-report.json").read_text(encoding="utf-8"))
    assert rep["summary"]["failed_cases"] == ["rg-1.4-log-cosh"]


def test_no_framework_imported_unless_its_backend_runs(tmp_path):
    code = (
        "import sys; from conformance.runner import main\n"
        f"rc = main(['--backends', 'numpy', '--dtypes', 'float64', '--cases', 'rg-2.*', '--quiet', "
        f"'--no-peers', '--out', {str(tmp_path)!r}])\n"
        "bad = [m for m in ('torch', 'jax', 'dask', 'array_api_strict', 'optax', 'cupy') if m in sys.modules]\n"
        "assert rc == 0 and not bad, (rc, bad)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_peer_checks_are_well_formed():
    import lossapi

    for ch in peers.CHECKS:
        assert ch.loss in lossapi.__all__, ch.id
        for lib in ch.libs:
            assert ch.loss in peers.ADAPTERS[lib], (ch.id, lib)
        args, opts = ch.make()
        assert len(args) == len(ch.inputs)
        again, _ = ch.make()
        for a, b in zip(args, again):
            np.testing.assert_array_equal(a, b)  # seeded: the same inputs every run
