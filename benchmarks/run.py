"""Run the benchmark suite: lossapi against native peers, same process.

Usage::

    python -m benchmarks [--device cpu|cuda] [--quick] [--only NAME,...] [--out DIR]
                         [--threads N] [--reps N] [--no-memory] [--no-plot]
    python -m benchmarks --device cuda --merge part1.json part2.json

Writes ``<out>/<device>.md``, ``<device>.json`` and ``<device>.png``
(``<device>-quick.*`` with --quick, ``<device>-only.*`` with --only, so a
partial run never overwrites the full results). See benchmarks/README.md for
the method and the goals.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "benchmarks"

import numpy as np  # noqa: E402

from . import machine, report  # noqa: E402
from . import pairs as P  # noqa: E402
from . import timing as T  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Goals (see README): lossapi / peer time ratio on large inputs, NumPy vs
# scikit-learn, per-call overhead on small torch inputs, peak memory.
GOAL_RATIO = 1.10
GOAL_SKLEARN = 0.50
GOAL_OVERHEAD_US = 5.0
GOAL_MEMORY = 1.10
MEMORY_SLACK = {"rss": 256 * 1024, "xla": 4096, "tracemalloc": 4096, "cuda": 4096}
TORCH_CPU_MEM = ("torch", "torch-composition")  # rows whose CPU memory the torch worker measures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--quick", action="store_true", help="few repetitions and small 'large' inputs (CI smoke)")
    p.add_argument("--only", default=None, help="comma list of loss names, peer libraries or pair ids")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="output folder")
    p.add_argument("--reps", type=int, default=None, help="paired repetitions (default: adaptive)")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads for torch and XLA:CPU (default: the libraries' own choice); "
                        "1 is steadier on a loaded machine")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.add_argument("--stem", default=None,
                   help="output file name without extension (default: <device>[-quick][-only])")
    p.add_argument("--merge", nargs="+", metavar="JSON", default=None,
                   help="instead of running, merge result files (later files win for the same row) and write "
                        "<out>/<device>.{md,json,png}; e.g. a GPU run split over two jobs")
    return p.parse_args(argv)


def goal_of(lib: str, size: str, mode: str) -> tuple[str, float] | None:
    """(metric, bound) that a row is held to, or None (reported only)."""
    if lib == "sklearn":
        return ("ratio", GOAL_SKLEARN)
    if lib in ("torch", "optax", "torch-composition", "jax-composition") and size != "small":
        return ("ratio", GOAL_RATIO)
    if lib == "torch" and size == "small" and mode == "fwd":
        return ("overhead_us", GOAL_OVERHEAD_US)
    return None


def _status(row: dict[str, Any]) -> str:
    g = row.get("goal")
    if not g:
        return "-"
    metric, bound = g
    return "PASS" if row[metric] <= bound else "MISS"


def _mem_status(row: dict[str, Any]) -> str:
    o, p, how = row.get("mem_ours"), row.get("mem_peer"), row.get("mem_method")
    if o is None or p is None:
        return "-"
    return "PASS" if o <= GOAL_MEMORY * p + MEMORY_SLACK.get(how, 0) else "MISS"


def _fmt_t(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:8.1f} us"
    if s < 1:
        return f"{s * 1e3:8.2f} ms"
    return f"{s:8.3f} s "


def _nbytes(arrays) -> int:
    return int(sum(a.nbytes for a in arrays))


class Runner:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.device = args.device
        self.quick = args.quick
        self.mods = P.Mods()
        import lossapi

        self.L = lossapi
        self.rows: list[dict[str, Any]] = []
        self.pair_seconds: dict[str, float] = {}
        self.errors: list[dict[str, str]] = []
        self.large = "quick" if self.quick else ("gpu" if self.device == "cuda" else "large")

    # -- one pair ---------------------------------------------------------
    def libs_for(self, pair: P.Pair) -> tuple[str, str]:
        """(array library lossapi runs on, array library the peer runs on)."""
        lib = pair.array_lib
        return lib, lib

    def run_pair(self, pair: P.Pair, ours_lib: str | None = None, tag: str | None = None) -> None:
        lib = tag or pair.lib
        olib, plib = self.libs_for(pair)
        if ours_lib:
            olib = ours_lib
        pid = pair.id if not tag else f"{tag}:{pair.loss}" + (f"[{pair.variant}]" if pair.variant else "")
        if not hasattr(self.L, pair.loss):
            self.errors.append({"pair": pid, "kind": "missing", "message": f"lossapi has no {pair.loss!r} yet"})
            print(f"{pid:48s} SKIP  lossapi has no {pair.loss!r}")
            return
        try:
            if not tag:  # values and gradients (the timed sizes are checked for values below)
                P.check_pair(pair, "tiny", device=self.device, mods=self.mods)
                if not self.quick:
                    P.check_pair(pair, "small", device=self.device, mods=self.mods)
        except Exception as e:  # a mismatch is a bug in the mapping (or lossapi): report, go on
            kind = "mismatch" if isinstance(e, P.Mismatch) else "error"
            self.errors.append({"pair": pid, "kind": kind, "message": f"{type(e).__name__}: {e}"})
            print(f"{pid:48s} FAIL  {kind}: {e}")
            return
        ours_fn, peer_fn = P.bound(pair, self.L, self.mods)
        modes = ["fwd"] + (["fwdbwd"] if pair.grad and olib in ("torch", "jax") and not tag else [])
        for size in ("small", self.large):
            base = P.make_inputs(pair, size, seed=0)
            pbase = pair.peer_prep(list(base)) if pair.peer_prep else base
            a = P.to_lib(olib, base, device=self.device)
            b = P.to_lib(plib, pbase, device=self.device)
            del base, pbase
            try:
                # Value agreement on the very arrays that are timed, too (JAX:
                # jitted, which also compiles what the timed step reuses).
                fo, fp = (ours_fn, peer_fn) if olib != "jax" else (_jit(ours_fn), _jit(peer_fn))
                if pair.peer_check_eager:
                    fp = peer_fn
                vo, vp = float(P._to_np(fo(*a))), float(P._to_np(fp(*b)))
                if not np.isclose(vo, vp, rtol=2e-4, atol=1e-7):
                    raise P.Mismatch(f"{pid}: value {vo!r} (lossapi) != {vp!r} (peer) at {size} size")
                for mode in modes:
                    self.rows.append(self.time_one(pair, pid, lib, olib, plib, size, mode, ours_fn, peer_fn, a, b))
            except Exception as e:
                kind = "mismatch" if isinstance(e, P.Mismatch) else "error"
                self.errors.append({"pair": pid, "kind": kind, "message": f"{type(e).__name__}: {e}"})
                print(f"{pid:48s} FAIL  {kind}: {e}")
                return
            finally:
                del a, b
                gc.collect()

    def time_one(self, pair, pid, lib, olib, plib, size, mode, ours_fn, peer_fn, a, b) -> dict[str, Any]:
        grad = pair.grad
        if mode == "fwdbwd" and olib == "torch":
            a, b = T.torch_leaves(a, grad), T.torch_leaves(b, grad)
        so = T.make_step(olib, ours_fn, a, mode, grad)
        sp = T.make_step(plib, peer_fn, b, mode, grad)
        sync = T.make_sync(self.device, {olib, plib})
        small = size == "small"
        if self.quick:
            res = T.paired(so, sp, sync, reps=self.args.reps or 3, budget_s=0.1,
                           min_sample_s=0.002 if small else 0.005, min_reps=3, max_reps=3)
        else:
            scale = 0.6 if self.device == "cuda" else 1.0  # a GPU run must fit in one 10-minute job
            res = T.paired(so, sp, sync, reps=self.args.reps, budget_s=scale * (0.6 if small else 1.5),
                           min_sample_s=0.01 if small else 0.02)
        row: dict[str, Any] = {
            "pair": pid, "loss": pair.loss, "lib": lib, "variant": pair.variant, "peer": pair.peer_name,
            "ours_array_lib": olib, "size": size, "shape": list(pair.shape(size)), "mode": mode,
            "note": pair.note, **res.summary(),
        }
        row["goal"] = goal_of(lib, size, mode)
        row["status"] = _status(row)
        # Physical limit: inputs read once (plus gradients written once for
        # forward+backward) at the measured copy bandwidth.
        nbytes = _nbytes(a)
        if pair.gather and mode == "fwd":  # reads one element per row, and the labels
            nbytes = a[0].nbytes // a[0].shape[-1] + _nbytes(a[1:])
        if mode == "fwdbwd":
            nbytes += sum(a[i].nbytes for i in grad)
        row["bytes_min"] = nbytes
        bw = self.bandwidth.get("copy_Bps")
        if bw:
            row["limit_s"] = nbytes / bw
            row["bw_frac_ours"] = row["limit_s"] / row["ours_s"]
            row["bw_frac_peer"] = row["limit_s"] / row["peer_s"]
        if not small and not self.args.no_memory:
            self.memory_inline(row, olib, plib, ours_fn, peer_fn, a, b, so, sp, mode, grad)
        self.print_row(row)
        return row

    def memory_inline(self, row, olib, plib, ours_fn, peer_fn, a, b, so, sp, mode, grad) -> None:
        try:
            if olib == "jax" and plib == "jax":
                row["mem_ours"] = T.jax_peak_bytes(ours_fn, a, mode, grad)
                row["mem_peer"] = T.jax_peak_bytes(peer_fn, b, mode, grad)
                row["mem_method"] = "xla"
            elif olib == "numpy" and plib == "numpy":
                row["mem_ours"] = T.tracemalloc_peak_bytes(so)
                row["mem_peer"] = T.tracemalloc_peak_bytes(sp)
                row["mem_method"] = "tracemalloc"
            elif self.device == "cuda" and olib == "torch":
                row["mem_ours"] = T.cuda_peak_bytes(so)
                row["mem_peer"] = T.cuda_peak_bytes(sp)
                row["mem_method"] = "cuda"
            # torch on CPU: measured afterwards in a worker process (memory_torch_cpu)
        except Exception as e:  # pragma: no cover - reported, not fatal
            row["mem_error"] = f"{type(e).__name__}: {e}"
        self._finish_mem(row)

    def _finish_mem(self, row) -> None:
        o, p = row.get("mem_ours"), row.get("mem_peer")
        if o is not None and p is not None:
            row["mem_ratio"] = (o / p) if p else (None if o else 1.0)  # None: peer allocated nothing
            row["mem_status"] = _mem_status(row)

    def memory_torch_cpu(self) -> None:
        todo = sorted({r["pair"] for r in self.rows if r["lib"] in TORCH_CPU_MEM and r["size"] != "small"})
        if not todo:
            return
        print(f"\npeak memory of torch CPU calls ({len(todo)} pairs) in a worker process ...", flush=True)
        job = {"pairs": todo, "size": self.large}
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        proc = subprocess.run([sys.executable, "-m", "benchmarks._memworker"], input=json.dumps(job),
                              capture_output=True, text=True, cwd=str(ROOT), env=env)
        if proc.returncode != 0:
            self.errors.append({"pair": "torch memory worker", "kind": "error", "message": proc.stderr[-2000:]})
            print("memory worker failed:\n" + proc.stderr[-2000:])
            return
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        for row in self.rows:
            m = res.get(row["pair"], {}).get(row["mode"])
            if row["lib"] in TORCH_CPU_MEM and row["size"] != "small" and m:
                row.update(mem_ours=m["ours"], mem_peer=m["peer"], mem_method="rss")
                self._finish_mem(row)
                if "error" in m:
                    row["mem_error"] = m["error"]

    def print_row(self, r: dict[str, Any]) -> None:
        extra = ""
        if r["size"] == "small" and r["lib"] == "torch":
            extra = f"  +{r['overhead_us']:6.1f} us/call"
        if "bw_frac_ours" in r and r["size"] != "small":
            extra += f"  bw {100 * r['bw_frac_ours']:5.1f}% (peer {100 * r['bw_frac_peer']:5.1f}%)"
        if "mem_ratio" in r:
            extra += f"  mem {report.mem_ratio_text(r)} {r['mem_status']}"
        g = r["goal"]
        gtxt = f"{g[0]}<={g[1]:g}" if g else ""
        print(f"{r['pair']:48s} {r['size']:5s} {r['mode']:6s} lossapi {_fmt_t(r['ours_s'])} peer {_fmt_t(r['peer_s'])}"
              f"  ratio {r['ratio']:5.2f} [{r['ratio_q1']:.2f}-{r['ratio_q3']:.2f}]  {gtxt:16s} {r['status']:4s}{extra}",
              flush=True)

    # -- whole run ----------------------------------------------------------
    def run(self) -> int:
        t0 = time.time()
        pairs = P.select(P.all_pairs(), self.args.only)
        keys = {k.strip() for k in (self.args.only or "").split(",")}
        # CuPy rows: lossapi on CuPy for every selected torch pair, or for all
        # torch pairs when "cupy" is named in --only (or nothing is).
        cupy_pairs = [p for p in (P.all_pairs() if not self.args.only or "cupy" in keys else pairs)
                      if p.lib == "torch"]
        if self.device == "cuda":
            pairs = [p for p in pairs if p.lib != "sklearn"]
        self.machine = machine.describe(self.device)
        print(machine.one_line(self.machine), flush=True)
        self.bandwidth = T.copy_bandwidth(self.device, self.quick)
        print(f"copy bandwidth {self.bandwidth['copy_Bps'] / 1e9:.1f} GB/s (bytes read + written)\n", flush=True)
        for pair in pairs:
            tp = time.time()
            self.run_pair(pair)
            self.pair_seconds[pair.id] = round(time.time() - tp, 1)
            self.write(final=False)  # a run cut short still leaves its results so far
        if self.device == "cuda" and _has("cupy"):
            # CuPy has no loss kernels: lossapi on CuPy against torch's native
            # kernel on the same GPU, forward only (a cross-library reference).
            for pair in cupy_pairs:
                self.run_pair(pair, ours_lib="cupy", tag="cupy")
                self.write(final=False)
        if self.device == "cpu" and not self.args.no_memory:
            self.memory_torch_cpu()
        self.machine["load_after"] = machine.loadavg()
        self.machine["wall_s"] = round(time.time() - t0, 1)
        data, out, stem = self.write(final=True)
        print("\n" + report.summary_text(data))
        print(f"wrote {out / stem}.{{md,json{'' if self.args.no_plot else ',png'}}} in {self.machine['wall_s']} s")
        bad = [e for e in self.errors if e["kind"] in ("mismatch", "error")]
        return 1 if bad else 0

    def write(self, final: bool) -> tuple[dict[str, Any], Path, str]:
        stem = self.args.stem or (self.args.device + ("-quick" if self.quick else "") +
                                  ("-only" if self.args.only else ""))
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        data = {
            "machine": self.machine,
            "settings": {"device": self.device, "quick": self.quick, "only": self.args.only, "reps": self.args.reps,
                         "threads": self.args.threads, "stem": stem,
                         "goals": {"ratio": GOAL_RATIO, "sklearn_ratio": GOAL_SKLEARN,
                                   "overhead_us": GOAL_OVERHEAD_US, "memory": GOAL_MEMORY},
                         "memory_slack_bytes": MEMORY_SLACK},
            "bandwidth": self.bandwidth,
            "pair_seconds": self.pair_seconds,
            "rows": self.rows,
            "errors": self.errors,
            "complete": final,
        }
        (out / f"{stem}.json").write_text(json.dumps(data, indent=1, default=_json_default) + "\n")
        (out / f"{stem}.md").write_text(report.markdown(data))
        if final and not self.args.no_plot:
            report.plot(data, out / f"{stem}.png")
        return data, out, stem


def _jit(fn):
    import jax

    return jax.jit(fn)


def _has(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def set_threads(n: int) -> None:
    """Pin torch's and XLA:CPU's intra-op thread pools to ``n`` threads.

    XLA reads its flags when JAX first creates the CPU backend, so this runs
    before anything imports jax; the memory worker inherits the environment.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'} " \
                              f"intra_op_parallelism_threads={n}".strip()
    os.environ["OMP_NUM_THREADS"] = str(n)
    os.environ["LOSSAPI_BENCH_THREADS"] = str(n)
    if "jax" in sys.modules:
        print("warning: jax was imported before --threads took effect", file=sys.stderr)
    import torch

    torch.set_num_threads(n)


def merge(args: argparse.Namespace) -> int:
    """Combine result files; for each pair, the last file that has it wins."""
    datas = [json.loads(Path(f).read_text()) for f in args.merge]
    base = datas[0]
    latest: dict[str, tuple[list, list]] = {}
    for d in datas:
        pids = {r["pair"] for r in d["rows"]} | {e["pair"] for e in d["errors"]}
        for pid in pids:
            latest[pid] = ([r for r in d["rows"] if r["pair"] == pid], [e for e in d["errors"] if e["pair"] == pid])
    order = list(dict.fromkeys([r["pair"] for d in datas for r in d["rows"]]))
    base["rows"] = [r for pid in order if pid in latest for r in latest[pid][0]]
    base["errors"] = [e for rows_errs in latest.values() for e in rows_errs[1]]
    base["complete"] = True
    base["settings"]["merged_from"] = [str(f) for f in args.merge]
    base["settings"]["only"] = None
    walls = [d["machine"].get("wall_s") for d in datas if d["rows"]]
    base["machine"]["wall_s"] = round(sum(walls), 1) if None not in walls else None
    base.setdefault("pair_seconds", {})
    for d in datas[1:]:
        base["pair_seconds"].update(d.get("pair_seconds", {}))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = base["settings"]["device"]
    base["settings"]["stem"] = stem
    (out / f"{stem}.json").write_text(json.dumps(base, indent=1, default=_json_default) + "\n")
    (out / f"{stem}.md").write_text(report.markdown(base))
    if not args.no_plot:
        report.plot(base, out / f"{stem}.png")
    print(report.summary_text(base))
    print(f"wrote {out / stem}.{{md,json,png}} from {len(datas)} files")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.merge:
        return merge(args)
    if args.device == "cuda":
        # JAX would otherwise take 75% of the GPU up front, starving torch and CuPy.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if args.threads:
        set_threads(args.threads)
    return Runner(args).run()


if __name__ == "__main__":
    raise SystemExit(main())
