"""Memory of the chunked batch losses (issue 14): ``supcon``, ``nt_xent`` and
``batch_triplet`` with ``chunk_size`` against the same loss without it,
forward+backward, ``N = 16384`` embeddings of ``D = 128``, float32, on torch
(CPU) and JAX (XLA:CPU).

    python -m benchmarks.chunked [--n 16384] [--chunk 1024] [--lib all|torch|jax] [--out benchmarks/results]

torch: each measurement runs in a fresh process: the peak resident-set growth
of one step (malloc returns freed blocks: :func:`benchmarks.timing.use_mmap_malloc`)
minus the gradients' bytes, and the step's time. JAX: the temporaries of the
compiled ``jax.jit(jax.value_and_grad(...))`` (``memory_analysis()``, as
``benchmarks.lm`` measures; nothing runs, so no time), in a fresh process.
Writes ``chunked-cpu.{md,json}``; ``--lib torch`` or ``--lib jax`` re-measures
one library and keeps the other's rows from the existing JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LOSSES = ("supcon", "nt_xent", "batch_triplet")


def worker(name: str, n: int, d: int, chunk: int | None) -> dict[str, Any]:
    from . import timing as T

    T.use_mmap_malloc()
    import torch

    import lossapi

    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, n // 8, (n,), generator=g)
    if name == "nt_xent":
        args = [torch.randn(n // 2, d, generator=g).requires_grad_(), torch.randn(n // 2, d, generator=g).requires_grad_()]
    else:
        args = [torch.randn(n, d, generator=g).requires_grad_(), labels]
    fn = getattr(lossapi, name)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = T._proc_status("VmRSS")
    t0 = time.perf_counter()
    fn(*args, chunk_size=chunk).backward()
    seconds = time.perf_counter() - t0
    peak = T._proc_status("VmHWM") - base
    grads = sum(a.numel() * 4 for a in args if a.is_floating_point())
    return {"beyond_bytes": max(0, peak - grads), "seconds": seconds}


def jax_worker(name: str, n: int, d: int, chunk: int | None) -> dict[str, Any]:
    """Temporaries of the compiled forward+backward (XLA's buffer assignment)."""
    import jax
    import jax.numpy as jnp

    import lossapi

    f32 = jnp.float32
    if name == "nt_xent":
        args, argnums = [jax.ShapeDtypeStruct((n // 2, d), f32)] * 2, (0, 1)
    else:
        args, argnums = [jax.ShapeDtypeStruct((n, d), f32), jax.ShapeDtypeStruct((n,), jnp.int32)], (0,)
    fn = getattr(lossapi, name)
    step = jax.jit(jax.value_and_grad(lambda *a: fn(*a, chunk_size=chunk), argnums=argnums))
    t0 = time.perf_counter()
    compiled = step.lower(*args).compile()
    ma = compiled.memory_analysis()
    return {"beyond_bytes": int(ma.temp_size_in_bytes), "compile_seconds": time.perf_counter() - t0}


def _measure(lib: str, a: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for name in LOSSES:
        row: dict[str, Any] = {"loss": name}
        for key, chunk in (("full", None), ("chunked", a.chunk)):
            cmd = [sys.executable, "-m", "benchmarks.chunked", "--worker", name, "--worker-lib", lib,
                   "--n", str(a.n), "--d", str(a.d)]
            if chunk is not None:
                cmd += ["--chunk-size", str(chunk)]
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
            row[key] = (json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0
                        else {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1][:200]})
            print(lib, name, key, row[key], flush=True)
        rows.append(row)
    return rows


def _table(rows: list[dict[str, Any]], timed: bool) -> list[str]:
    head = "| loss | unchunked MiB | chunked MiB | ratio |" + (" unchunked s | chunked s |" if timed else "")
    lines = [head, "|---|---|---|---|" + ("---|---|" if timed else "")]
    for r in rows:
        f, c = r["full"], r["chunked"]
        if "error" in f or "error" in c:
            lines.append(f"| {r['loss']} | {f.get('error', '')} | {c.get('error', '')} | |" + (" | |" if timed else ""))
            continue
        ratio = f["beyond_bytes"] / max(c["beyond_bytes"], 1)
        cells = (f"| {r['loss']} | {f['beyond_bytes'] / 2**20:,.0f} | {c['beyond_bytes'] / 2**20:,.0f} | "
                 f"{'1/' + format(ratio, '.1f') if ratio >= 1 else 'x' + format(1 / ratio, '.2f')} |")
        if timed:
            cells += f" {f['seconds']:.2f} | {c['seconds']:.2f} |"
        lines.append(cells)
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.chunked", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=16384)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--chunk", type=int, default=1024)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--lib", choices=("all", "torch", "jax"), default="all")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-lib", default="torch", help=argparse.SUPPRESS)
    p.add_argument("--chunk-size", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        work = jax_worker if a.worker_lib == "jax" else worker
        print(json.dumps(work(a.worker, a.n, a.d, a.chunk_size)))
        return 0
    path = a.out / "chunked-cpu.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    if old and (old.get("n"), old.get("d"), old.get("chunk")) != (a.n, a.d, a.chunk):
        old = {}  # other sizes: nothing to keep
    data = {"n": a.n, "d": a.d, "chunk": a.chunk,
            "rows": _measure("torch", a) if a.lib in ("all", "torch") else old.get("rows", []),
            "jax_rows": _measure("jax", a) if a.lib in ("all", "jax") else old.get("jax_rows", []),
            "date": {**old.get("date", {}), **{lib: time.strftime("%Y-%m-%d") for lib in ("torch", "jax")
                                               if a.lib in ("all", lib)}}}
    lines = ["# Chunked batch losses: memory (CPU)", "",
             f"`python -m benchmarks.chunked`: N = {a.n} embeddings, D = {a.d}, float32, forward+backward, "
             f"`chunk_size={a.chunk}` against `chunk_size=None`. Memory beyond the inputs and their gradients.", ""]
    if data["rows"]:
        lines += [f"## torch (CPU), {data['date'].get('torch', '?')}", "",
                  "Peak RSS growth of one step in a fresh process, minus the gradients' bytes; the step's time.", ""]
        lines += _table(data["rows"], timed=True) + [""]
    if data["jax_rows"]:
        lines += [f"## JAX (XLA:CPU), {data['date'].get('jax', '?')}", "",
                  "`temp_size_in_bytes` of the compiled `jax.jit(jax.value_and_grad(loss))` (XLA's buffer "
                  "assignment; compiled, not run).", ""]
        lines += _table(data["jax_rows"], timed=False) + [""]
    a.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    (a.out / "chunked-cpu.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
