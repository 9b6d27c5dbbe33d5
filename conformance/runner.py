"""Run the conformance cases and the peer cross-checks; write the reports."""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from . import backends as B
from . import data, peers
from .gradcheck import check_grad, close, fd_gradient

PASS, FAIL, SKIP = "pass", "fail", "skip"

# Value tolerances: float64 results are compared with the stored float64
# expected value; float32 results with the reference evaluated (in float64)
# at the float32-rounded inputs, so input rounding is not counted as error.
TOL = {"float64": {"rtol": 1e-9, "atol": 1e-12}, "float32": {"rtol": 2e-5, "atol": 1e-6}}
# Gradients against a float64 central difference of the reference.
GTOL = {"float64": {"rtol": 1e-6, "atol": 1e-8}, "float32": {"rtol": 2e-3, "atol": 2e-4}}
# Peer checks: the same computation in two libraries, same dtype.
PTOL = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 2e-5, "atol": 2e-6}}
PGTOL = {"float64": {"rtol": 1e-8, "atol": 1e-11}, "float32": {"rtol": 2e-4, "atol": 2e-6}}
FD_FULL_MAX = 64  # inputs up to this size get a per-element central difference; larger ones 3 directions



# =============================================================================
# Part 1: the guide cases
# =============================================================================

def _get_lossapi(name: str):
    import lossapi

    fn = getattr(lossapi, name, None)
    if fn is None:
        raise LookupError(f"lossapi has no {name!r}")
    return fn


def _grad_names(case: dict, arrays: dict[str, np.ndarray]) -> list[str]:
    if "grad" in case:
        return list(case["grad"])
    names = []
    for call in data.calls_of(case):
        first = call["args"][0]
        if arrays[first].dtype.kind == "f" and first not in names:
            names.append(first)
    return names


def run_case(case: dict, be: B.Backend, dtype: str, arrays64: dict[str, np.ndarray]) -> tuple[str, list[str]]:
    """One case on one backend in one dtype: (status, messages)."""
    msgs: list[str] = []
    arrays = data.round_to(arrays64, dtype)
    native = {k: be.asarray(v, dtype) for k, v in arrays.items()}
    names = _grad_names(case, arrays) if be.has_grad else []
    keys = list(native)
    pos = tuple(keys.index(n) for n in names)

    def outputs(*vals):
        return data.run_calls(case, _get_lossapi, dict(zip(keys, vals)))

    def scalar_and_outputs(*vals):
        outs = outputs(*vals)
        vals_ = data.combine(case, outs)
        total = be.sum(vals_[0])
        for v in vals_[1:]:
            total = total + be.sum(v)
        return total, outs

    grads = None
    try:
        if names:
            try:
                outs, grads = be.value_and_grad(scalar_and_outputs, [native[k] for k in keys], pos)
            except Exception as e:  # report the gradient failure, still check the value
                msgs.append(f"gradient: {type(e).__name__}: {_short(e)}")
                outs = be.run(outputs, [native[k] for k in keys])
        else:
            outs = be.run(outputs, [native[k] for k in keys])
        got = data.flat(data.combine(case, [np.asarray(be.to_numpy(o), dtype=np.float64) for o in outs]))
    except Exception as e:  # a missing loss, a wrong signature, a backend error
        return FAIL, msgs + [f"value: {type(e).__name__}: {_short(e)}"]
    tol = dict(TOL[dtype])
    for k in ("rtol", "atol"):
        tol[k] = case.get("tol", {}).get(f"{k}{dtype[-2:]}", case.get("tol", {}).get(k, tol[k]))
    want = data.expected_vector(case) if dtype == "float64" else data.reference_value(case, arrays)
    ok, why = close(got, want, tol["rtol"], tol["atol"])
    if not ok:
        msgs.append(f"value: {why}")
    if grads is not None:
        rng = np.random.default_rng(0)
        for name, auto in zip(names, grads):
            def f_ref(x, name=name):
                arrs = dict(arrays)
                arrs[name] = x
                return float(np.sum(data.reference_value(case, arrs)))

            fd = fd_gradient(f_ref, arrays[name], full_max=FD_FULL_MAX, rng=rng)
            ok, why = check_grad(auto, fd, GTOL[dtype]["rtol"], GTOL[dtype]["atol"])
            if not ok:
                msgs.append(f"gradient d/d{name}: {why}")
    return (FAIL if msgs else PASS), msgs


def _short(e: Exception, n: int = 160) -> str:
    s = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return s[:n]


# =============================================================================
# Part 2: peers on seeded random inputs
# =============================================================================

def _peer_column(backend: str, lib: str) -> str:
    return f"{backend} vs {lib}"


def _peer_inputs(check: peers.PeerCheck, dtype: str):
    args, opts = check.make()
    args = peers.hinge_safe(check, args, opts)
    args = [a.astype(dtype) if a.dtype.kind == "f" else a for a in args]
    opts = {k: (v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v) for k, v in opts.items()}
    return args, opts


def _all_reductions(be: B.Backend, fn, check: peers.PeerCheck, conv: list, copts: dict, gidx: tuple[int, ...]):
    """Values of ``fn`` for every reduction of the check, and the gradient of
    the first reduction's sum w.r.t. the check's float inputs, in one
    (for jax: one compiled) call. Returns ({reduction: value}, grads or None)."""
    keys = list(copts)

    def values(*vals):
        args = list(vals[:len(conv)])
        o = dict(zip(keys, vals[len(conv):]))
        return {red: fn(*args, **o, reduction=red) for red in check.reductions}

    flat_args = list(conv) + [copts[k] for k in keys]
    if gidx:
        def scalar_and_values(*vals):
            out = values(*vals)
            return be.sum(out[check.reductions[0]]), out

        out, grads = be.value_and_grad(scalar_and_values, flat_args, gidx)
        return {r: be.to_numpy(v) for r, v in out.items()}, dict(zip(gidx, grads))
    out = be.run(values, flat_args)
    return {r: be.to_numpy(v) for r, v in out.items()}, None


def run_peer_check(check: peers.PeerCheck, lib: str, be: B.Backend, dtype: str, native_lib: bool,
                   lib_backend: B.Backend | None, cache: dict) -> tuple[str, list[str]]:
    """lossapi on ``be`` arrays vs the peer ``lib``. With ``native_lib`` the
    peer runs on the same arrays (values and gradients); otherwise (numpy)
    the peer's values on its own CPU arrays of the same dtype are used."""
    args, opts = _peer_inputs(check, dtype)
    try:
        fn = _get_lossapi(check.loss)
    except LookupError as e:
        return FAIL, [str(e)]
    conv = [be.asarray(a, dtype) for a in args]
    copts = {k: (be.asarray(v, dtype) if isinstance(v, np.ndarray) else v) for k, v in opts.items()}
    arr_opts = {k: v for k, v in copts.items() if isinstance(opts[k], np.ndarray)}
    static = {k: v for k, v in copts.items() if k not in arr_opts}

    def bind(f):
        return lambda *a, reduction, **o: f(*a, **o, **static, reduction=reduction)

    def adapter(*a, reduction, **o):
        return peers.bind(lib, check.loss, **o, **static, reduction=reduction)(*a)

    gidx = tuple(i for i in check.grad if args[i].dtype.kind == "f") if native_lib and be.has_grad else ()
    try:
        got, g_got = _all_reductions(be, bind(fn), check, conv, arr_opts, gidx)
    except Exception as e:
        return FAIL, [f"lossapi {type(e).__name__}: {_short(e)}"]
    try:
        if native_lib:
            want, g_want = _all_reductions(be, adapter, check, conv, arr_opts, gidx)
            if be.name == peers.NATIVE[lib][0]:  # the CPU peer values serve the numpy comparison
                cache[(check.id, lib, dtype)] = want
        else:
            want = cache.get((check.id, lib, dtype))
            g_want = None
            if want is None:
                pconv = [lib_backend.asarray(a, dtype) for a in args]
                popts = {k: lib_backend.asarray(opts[k], dtype) for k in arr_opts}
                want, _ = _all_reductions(lib_backend, adapter, check, pconv, popts, ())
    except peers.Unsupported as e:
        return FAIL, [f"adapter cannot map the options ({e})"]
    msgs = []
    tol = dict(PTOL[dtype])
    if dtype == "float64":
        tol["rtol"] = check.rtol64
    for red in check.reductions:
        ok, why = close(got[red], want[red], tol["rtol"], tol["atol"])
        if not ok:
            msgs.append(f"{red} value: {why}")
    if g_got is not None and g_want is not None:
        for i in g_got:
            ok, why = close(g_got[i], g_want[i], PGTOL[dtype]["rtol"], PGTOL[dtype]["atol"])
            if not ok:
                msgs.append(f"{check.reductions[0]} d/d{check.inputs[i][0]}: {why}")
    return (FAIL if msgs else PASS), msgs


# =============================================================================
# Driver
# =============================================================================

def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Replay the guides' worked examples on every backend (values and gradients) and "
                    "cross-check lossapi against torch / optax. Exit status 1 on any failure.")
    ap.add_argument("--backends", default=",".join(B.ALL),
                    help=f"comma-separated subset of {','.join(B.ALL)} (default: all; absent ones are skipped)")
    ap.add_argument("--dtypes", default=",".join(B.DTYPES), help="comma-separated subset of float32,float64")
    ap.add_argument("--out", default=".", help="directory for conformance-report.md / .json (default: cwd)")
    ap.add_argument("--quiet", action="store_true", help="print only the summary line")
    ap.add_argument("--cases", default="*", help="glob on case ids (default: all)")
    ap.add_argument("--no-peers", action="store_true", help="skip the peer cross-checks")
    ap.add_argument("--peers", default="*", help="glob on peer check ids (default: all)")
    a = ap.parse_args(argv)
    a.backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    a.dtypes = [d.strip() for d in a.dtypes.split(",") if d.strip()]
    for b in a.backends:
        if b not in B.ALL:
            ap.error(f"unknown backend {b!r}; choose from {', '.join(B.ALL)}")
    for d in a.dtypes:
        if d not in B.DTYPES:
            ap.error(f"unknown dtype {d!r}; choose from float32, float64")
    return a


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    # --- backends
    ready: dict[str, B.Backend] = {}
    status: dict[str, dict] = {}
    for name in B.ALL:
        if name not in args.backends:
            status[name] = {"status": "skipped", "reason": "not selected (--backends)"}
            continue
        be = B.get(name)
        try:
            be.check()
        except B.Unavailable as e:
            status[name] = {"status": "skipped", "reason": str(e)}
            continue
        ready[name] = be
        status[name] = {"status": "ran", "reason": ""}
    # --- part 1
    sets = data.load_input_sets()
    cases = [c for c in data.load_cases() if fnmatch.fnmatch(c["id"], args.cases)]
    case_reports = []
    for case in cases:
        rep = {k: case.get(k) for k in ("id", "source", "loss", "printed", "printed_text", "printed_digits",
                                         "expected", "erratum", "explanation", "convention")}
        rep["reproducible"] = case.get("reproducible", True)
        rep["highlight"] = case.get("highlight", False)
        if case.get("snippet"):
            rep["snippet"] = {"fn": case["snippet"]["fn"], "value": case["snippet"].get("value"),
                              "agrees": case["snippet"]["agrees"]}
        rep["source_text"] = f"{case['source']['file']} § {case['source']['section']}"
        rep["results"], rep["details"], rep["skip_reasons"] = {}, {}, {}
        no_example = case.get("status") == "no-example"
        arrays = None if no_example else data.case_inputs(case, sets)
        for name in B.ALL:
            rep["results"][name] = {}
            if no_example:
                rep["skip_reasons"][name] = case["skip_reason"]
            elif name not in ready:
                rep["skip_reasons"][name] = status[name]["reason"]
            for dt in args.dtypes:
                if no_example or name not in ready:
                    rep["results"][name][dt] = SKIP
                    continue
                try:
                    st, msgs = run_case(case, ready[name], dt, arrays)
                except Exception as e:  # harness error: report, never crash the run
                    st, msgs = FAIL, [f"harness: {type(e).__name__}: {_short(e)} "
                                      f"{traceback.format_exc(limit=-1).splitlines()[-2].strip()}"]
                rep["results"][name][dt] = st
                if msgs:
                    rep["details"].setdefault(name, {})[dt] = msgs
        case_reports.append(rep)
    # --- part 2
    peer_reports = []
    if not args.no_peers:
        peer_reports = run_peers(args, ready, status)
    elapsed = time.perf_counter() - t0
    report = make_report(args, status, case_reports, peer_reports, elapsed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "conformance-report.json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
        f.write("\n")
    from . import report as R

    (out / "conformance-report.md").write_text(R.markdown(report), encoding="utf-8")
    text = R.console(report, quiet=args.quiet)
    print(text)
    return 1 if report["summary"]["failed"] else 0


def run_peers(args, ready: dict[str, B.Backend], status: dict[str, dict]) -> list[dict]:
    reports = []
    cache: dict = {}
    lib_reason = {lib: peers.available(lib) for lib in peers.LIBS}
    for check in peers.CHECKS:
        if not fnmatch.fnmatch(check.id, args.peers):
            continue
        rep = {"id": check.id, "loss": check.loss, "options": {k: v for k, v in check.options.items()},
               "option_arrays": sorted(check.option_arrays), "libs": list(check.libs),
               "results": {}, "details": {}, "skip_reasons": {}}
        for lib in check.libs:
            cols = [(b, True) for b in peers.NATIVE[lib]] + [("numpy", False)]
            for bname, native in cols:
                col = _peer_column(bname, lib)
                rep["results"][col] = {}
                reason = lib_reason[lib] or (None if bname in ready else status[bname]["reason"])
                lib_be = None
                if not reason and not native:
                    lib_be = ready.get(peers.NATIVE[lib][0])
                    if lib_be is None:
                        reason = f"{peers.NATIVE[lib][0]} backend not run ({status[peers.NATIVE[lib][0]]['reason']})"
                if reason:
                    rep["skip_reasons"][col] = reason
                for dt in args.dtypes:
                    if reason:
                        rep["results"][col][dt] = SKIP
                        continue
                    try:
                        st, msgs = run_peer_check(check, lib, ready[bname], dt, native, lib_be, cache)
                    except Exception as e:
                        st, msgs = FAIL, [f"harness: {type(e).__name__}: {_short(e)}"]
                    rep["results"][col][dt] = st
                    if msgs:
                        rep["details"].setdefault(col, {})[dt] = msgs
        reports.append(rep)
    return reports


def make_report(args, status, case_reports, peer_reports, elapsed) -> dict:
    def count(reps):
        c = {PASS: 0, FAIL: 0, SKIP: 0}
        for r in reps:
            for per in r["results"].values():
                for st in per.values():
                    c[st] += 1
        return c

    cc, pc = count(case_reports), count(peer_reports)
    failed_cases = [r["id"] for r in case_reports if any(st == FAIL for per in r["results"].values()
                                                         for st in per.values())]
    failed_peers = [r["id"] for r in peer_reports if any(st == FAIL for per in r["results"].values()
                                                         for st in per.values())]
    import platform

    return {
        "summary": {
            "cases": len(case_reports),
            "errata": sum(1 for r in case_reports if r["erratum"]),
            "case_results": cc,
            "peer_checks": len(peer_reports),
            "peer_results": pc,
            "failed": len(failed_cases) + len(failed_peers),
            "failed_cases": failed_cases,
            "failed_peer_checks": failed_peers,
            "seconds": round(elapsed, 1),
        },
        "environment": {"python": platform.python_version(), "machine": platform.machine(),
                        "versions": _versions(status)},
        "dtypes": args.dtypes,
        "backends": status,
        "cases": case_reports,
        "peer_checks": peer_reports,
    }


def _versions(status) -> dict:
    out = {}
    for mod in ("numpy", "array_api_strict", "torch", "jax", "dask", "cupy", "optax", "torchvision"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
    return out


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

