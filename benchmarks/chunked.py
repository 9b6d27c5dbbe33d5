"""Memory of the chunked batch losses (issue 14): ``supcon``, ``nt_xent`` and
``batch_triplet`` with ``chunk_size`` against the same loss without it, on
torch (CPU), forward+backward, ``N = 16384`` embeddings of ``D = 128``.

    python -m benchmarks.chunked [--n 16384] [--chunk 1024] [--out benchmarks/results]

Each measurement runs in a fresh process: the peak resident-set growth of one
step (malloc returns freed blocks: :func:`benchmarks.timing.use_mmap_malloc`)
minus the gradients' bytes, and the step's time. Writes ``chunked-cpu.{md,json}``.
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.chunked", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=16384)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--chunk", type=int, default=1024)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--chunk-size", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker, a.n, a.d, a.chunk_size)))
        return 0
    rows = []
    for name in LOSSES:
        row: dict[str, Any] = {"loss": name}
        for key, chunk in (("full", None), ("chunked", a.chunk)):
            cmd = [sys.executable, "-m", "benchmarks.chunked", "--worker", name, "--n", str(a.n), "--d", str(a.d)]
            if chunk is not None:
                cmd += ["--chunk-size", str(chunk)]
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
            row[key] = (json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0
                        else {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1][:200]})
            print(name, key, row[key], flush=True)
        rows.append(row)
    lines = ["# Chunked batch losses: memory (torch CPU)", "",
             f"`python -m benchmarks.chunked`, {time.strftime('%Y-%m-%d')}: N = {a.n} embeddings, D = {a.d}, "
             f"float32, forward+backward, `chunk_size={a.chunk}` against `chunk_size=None`. Memory beyond the "
             "inputs and their gradients (peak RSS growth of one step in a fresh process).", "",
             "| loss | unchunked MiB | chunked MiB | ratio | unchunked s | chunked s |", "|---|---|---|---|---|---|"]
    for r in rows:
        f, c = r["full"], r["chunked"]
        if "error" in f or "error" in c:
            lines.append(f"| {r['loss']} | {f.get('error', '')} | {c.get('error', '')} | | | |")
            continue
        ratio = f["beyond_bytes"] / max(c["beyond_bytes"], 1)
        lines.append(f"| {r['loss']} | {f['beyond_bytes'] / 2**20:,.0f} | {c['beyond_bytes'] / 2**20:,.0f} | "
                     f"1/{ratio:.1f} | {f['seconds']:.2f} | {c['seconds']:.2f} |")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "chunked-cpu.json").write_text(json.dumps({"n": a.n, "d": a.d, "chunk": a.chunk, "rows": rows},
                                                      indent=1) + "\n")
    (a.out / "chunked-cpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
