"""The console table and the Markdown report, both made from the JSON report."""

from __future__ import annotations

from .backends import ALL

SHORT = {"numpy": "numpy", "array_api_strict": "strict", "torch": "torch", "jax": "jax", "dask": "dask",
         "cupy": "cupy", "torch-cuda": "t-cuda", "jax-gpu": "j-gpu"}


def _cell(per: dict, dtypes: list[str], sep: str = "") -> str:
    marks = {"pass": "✓", "fail": "✗", "skip": "–"}
    return sep.join(marks[per.get(d, "skip")] for d in dtypes)


def _combined(per: dict) -> str:
    sts = set(per.values())
    if "fail" in sts:
        return "✗"
    if sts == {"skip"} or not sts:
        return "–"
    return "✓"


def fmt_value(v, digits=None) -> str:
    if v is None:
        return "–"
    if isinstance(v, list):
        return f"[{len(v)} values]"
    if digits is not None:
        return f"{v:.{int(digits) + 2}f}"
    return f"{v:.6g}"


def _true(case: dict) -> str:
    """The true value, to two more decimals than the guide printed."""
    d = None if case["printed"] is None else int(case.get("printed_digits") or 0)
    return fmt_value(case["expected"], d)


def console(rep: dict, quiet: bool = False) -> str:
    s = rep["summary"]
    dts = rep["dtypes"]
    lines = []
    cr, pr = s["case_results"], s["peer_results"]
    summary = (f"conformance: {s['cases']} guide cases ({s['errata']} errata), {s['peer_checks']} peer checks; "
               f"case runs {cr['pass']} pass / {cr['fail']} fail / {cr['skip']} skip; "
               f"peer runs {pr['pass']} pass / {pr['fail']} fail / {pr['skip']} skip; {s['seconds']} s")
    if quiet:
        if s["failed"]:
            summary += "\nFAILED: " + ", ".join(s["failed_cases"] + s["failed_peer_checks"])
        return summary
    dt_label = "/".join(d.replace("float", "f") for d in dts)
    lines.append(f"Guide cases x backends (each cell {dt_label}: ✓ pass, ✗ fail, – skipped)")
    w = max(len(c["id"]) for c in rep["cases"]) if rep["cases"] else 10
    cw = max(6, len(dts) + 1)
    header = f"{'case':<{w}}  " + " ".join(f"{SHORT[b]:<{cw}}" for b in ALL) + "  printed     true"
    lines.append(header)
    lines.append("-" * len(header))
    for c in rep["cases"]:
        cells = " ".join(f"{_cell(c['results'][b], dts):<{cw}}" for b in ALL)
        tail = ""
        if c["printed"] is not None:
            tail = f"  {c['printed']:<10g}  {_true(c)}" + ("  ERRATUM" if c["erratum"] else "")
        elif c["erratum"]:
            tail = f"  {'–':<10}  {_true(c)}  ERRATUM"
        lines.append(f"{c['id']:<{w}}  {cells}{tail}")
    skipped = {b: v["reason"] for b, v in rep["backends"].items() if v["status"] != "ran"}
    if skipped:
        lines.append("skipped backends: " + "; ".join(f"{b}: {r}" for b, r in skipped.items()))
    if rep["peer_checks"]:
        lines.append("")
        lines.append("Peer cross-checks (lossapi on <backend> vs <peer>; each cell " + dt_label + ")")
        cols = _peer_columns(rep)
        w2 = max(len(p["id"]) for p in rep["peer_checks"])
        lines.append(f"{'check':<{w2}}  " + "  ".join(cols))
        for p in rep["peer_checks"]:
            cells = "  ".join(f"{_cell(p['results'][col], dts) if col in p['results'] else '':<{len(col)}}"
                              for col in cols)
            lines.append(f"{p['id']:<{w2}}  {cells}")
        reasons = {}
        for p in rep["peer_checks"]:
            for col, r in p["skip_reasons"].items():
                reasons.setdefault(col, r)
        if reasons:
            lines.append("skipped: " + "; ".join(f"{k}: {v}" for k, v in reasons.items()))
    fails = _failure_lines(rep, limit=40)
    if fails:
        lines.append("")
        lines.append("Failures:")
        lines.extend(fails)
    lines.append("")
    lines.append(summary)
    return "\n".join(lines)


def _peer_columns(rep: dict) -> list[str]:
    cols: list[str] = []
    for p in rep["peer_checks"]:
        for col in p["results"]:
            if col not in cols:
                cols.append(col)
    return cols


def _failure_lines(rep: dict, limit: int) -> list[str]:
    out = []
    for c in rep["cases"] + rep["peer_checks"]:
        for b, per in c["details"].items():
            for dt, msgs in per.items():
                for m in msgs:
                    out.append(f"  {c['id']} [{b} {dt}] {m}")
    if len(out) > limit:
        out = out[:limit] + [f"  ... {len(out) - limit} more in the JSON report"]
    return out


def _printed(c: dict) -> str:
    if c["printed"] is None:
        return "–"
    return f"{c['printed']:.{int(c.get('printed_digits') or 0)}f}"


def markdown(rep: dict) -> str:
    s = rep["summary"]
    cr, pr = s["case_results"], s["peer_results"]
    ran = [b for b, v in rep["backends"].items() if v["status"] == "ran"]
    skipped = {b: v["reason"] for b, v in rep["backends"].items() if v["status"] != "ran"}
    L = ["# lossapi conformance report", ""]
    L.append(f"{s['cases']} worked examples from the two guides ({s['errata']} errata) and "
             f"{s['peer_checks']} peer cross-checks, in {' and '.join(rep['dtypes'])}. "
             f"Case runs: {cr['pass']} pass, {cr['fail']} fail, {cr['skip']} skipped; "
             f"peer runs: {pr['pass']} pass, {pr['fail']} fail, {pr['skip']} skipped.")
    L.append("")
    L.append("Cases are data (`conformance/cases/`); expected values are float64 computations from the "
             "definitions (`conformance/reference.py`), cross-checked with torch/optax where they have the loss. "
             "✓: every dtype passes (value; gradient vs finite differences on autodiff backends); ✗: a failure; "
             "–: skipped. **Bold**: the guide's printed value is wrong.")
    L.append("")
    L.append("## Guide examples")
    L.append("")
    L.append("| case | loss | " + " | ".join(ran) + " | printed | true |")
    L.append("|---|---|" + "---|" * len(ran) + "---|---|")
    for c in rep["cases"]:
        true = _true(c)
        if c["erratum"]:
            true = f"**{true}**"
        L.append(f"| {c['id']} | {c['loss']} | " + " | ".join(_combined(c["results"][b]) for b in ran)
                 + f" | {_printed(c)} | {true} |")
    if skipped:
        L.append("")
        L.append("Not run here: " + "; ".join(f"{b} ({r})" for b, r in skipped.items()) + ".")
    L.append("")
    L.append("## Errata")
    L.append("")
    for c in rep["cases"]:
        if not c["erratum"]:
            continue
        src = c["source"]
        what = f"printed {_printed(c)}, true {_true(c)}" if c["printed"] is not None else f"value {_true(c)}"
        if not c.get("reproducible", True):
            what += " (random inputs)"
        L.append(f"- **{c['id']}** ({src['file']} § {src['section']}): {what}. {c['explanation']}.")
    notes = [c for c in rep["cases"] if c.get("highlight")]
    if notes:
        L.append("")
        L.append("## Conventions where the guides, torch and lossapi differ")
        L.append("")
        for c in notes:
            L.append(f"- {c['id']}: {c['convention']}.")
    if rep["peer_checks"]:
        cols = [col for col in _peer_columns(rep)
                if any(p["results"].get(col, {}).get(d) in ("pass", "fail")
                       for p in rep["peer_checks"] for d in rep["dtypes"])]
        L.append("")
        L.append("## Peer cross-checks (seeded random inputs; lossapi on a backend vs the peer library)")
        L.append("")
        L.append("| check | loss | " + " | ".join(cols) + " |")
        L.append("|---|---|" + "---|" * len(cols))
        for p in rep["peer_checks"]:
            L.append(f"| {p['id']} | {p['loss']} | "
                     + " | ".join(_combined(p["results"][c]) if c in p["results"] else "" for c in cols) + " |")
        reasons = {}
        for p in rep["peer_checks"]:
            for col, r in p["skip_reasons"].items():
                reasons.setdefault(col, r)
        if reasons:
            L.append("")
            L.append("Skipped: " + "; ".join(f"{k} ({v})" for k, v in reasons.items()) + ".")
    fails = _failure_lines(rep, limit=30)
    if fails:
        L.append("")
        L.append("## Failures")
        L.append("")
        L.extend(f"- {f.strip()}" for f in fails)
    L.append("")
    return "\n".join(L)
