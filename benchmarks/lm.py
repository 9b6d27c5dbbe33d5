"""Language-model benchmarks (issue 13): ``linear_cross_entropy`` against the
naive composition ``cross_entropy(hidden @ weight.T, labels)`` in the same
framework, and ``cross_entropy(z_loss=...)`` against the composed expression.

    python -m benchmarks.lm --out benchmarks/results [--quick] [--threads 2]

Measured, per framework (torch and JAX on the CPU; CUDA where present):

* memory of one forward+backward (``mean``), beyond the inputs and their
  gradients: on torch the peak resident-set growth during the step (malloc
  returns freed blocks to the system: :func:`benchmarks.timing.use_mmap_malloc`)
  minus the gradients' bytes, each run in a fresh process; on JAX the compiled
  step's temporaries (``memory_analysis().temp_size_in_bytes``); over
  ``V`` in {32k, 64k, 128k, 256k} at ``N = 4096, H = 1024``. A naive run that
  does not fit is reported as such.
* time of forward+backward at the goal size ``N = 4096, H = 1024, V =
  128256``: lossapi and naive alternated, the median of each; tokens/s.
* ``cross_entropy(z_loss=1e-4)`` against ``F.cross_entropy + 1e-4 *
  mean(logsumexp**2)`` (torch) and optax's ``softmax_cross_entropy_with_integer_labels``
  plus the same term (JAX), forward+backward, ``N = 4096, V = 32768``.

Goals (issue 13): memory at most 1/8 of the naive one's at the goal size; time
at most 1.25x the naive one on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

N, H = 4096, 1024
GOAL_V = 128256
CURVE = (32768, 65536, 128256, 262144)
GOAL_MEMORY = 1 / 8
GOAL_TIME = 1.25


def _torch_inputs(n: int, h: int, v: int, device: str = "cpu"):
    import torch

    g = torch.Generator(device="cpu").manual_seed(0)
    hid = torch.randn(n, h, generator=g).to(device).requires_grad_()
    w = (torch.randn(v, h, generator=g) * 0.02).to(device).requires_grad_()
    y = torch.randint(0, v, (n,), generator=g).to(device)
    return hid, w, y


def _torch_fns():
    import torch.nn.functional as F

    import lossapi

    return {"ours": lambda h, w, y: lossapi.linear_cross_entropy(h, w, y),
            "naive": lambda h, w, y: F.cross_entropy(h @ w.T, y)}


def torch_memory_worker(impl: str, v: int) -> dict[str, Any]:
    """One forward+backward in this (fresh) process: peak RSS growth beyond
    the inputs, minus the gradients' bytes."""
    from . import timing as T

    T.use_mmap_malloc()
    import torch

    h, w, y = _torch_inputs(N, H, v)
    fn = _torch_fns()[impl]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = T._proc_status("VmRSS")
    t0 = time.perf_counter()
    fn(h, w, y).backward()
    seconds = time.perf_counter() - t0
    peak = T._proc_status("VmHWM") - base
    grads = (h.numel() + w.numel()) * 4
    del torch
    return {"peak_bytes": peak, "grad_bytes": grads, "beyond_bytes": max(0, peak - grads), "seconds": seconds}


def _subprocess(args: list[str], timeout: float) -> dict[str, Any]:
    env = {**os.environ}
    try:
        out = subprocess.run([sys.executable, "-m", "benchmarks.lm", *args], capture_output=True, text=True,
                             timeout=timeout, env=env, cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if out.returncode != 0:
        tail = (out.stderr or "").strip().splitlines()[-1:] or [f"exit {out.returncode}"]
        why = "killed (out of memory)" if out.returncode in (-9, 137) else tail[0][:200]
        return {"error": why}
    return json.loads(out.stdout.strip().splitlines()[-1])


def torch_memory_curve(curve: tuple[int, ...], threads: int) -> list[dict[str, Any]]:
    rows = []
    for v in curve:
        row: dict[str, Any] = {"lib": "torch", "V": v}
        for impl in ("ours", "naive"):
            row[impl] = _subprocess(["--worker", "torch-memory", "--impl", impl, "--vocab", str(v),
                                     "--threads", str(threads)], timeout=1800)
            print(f"torch memory V={v} {impl}: {row[impl]}", flush=True)
        rows.append(row)
    return rows


def jax_memory_curve(curve: tuple[int, ...]) -> list[dict[str, Any]]:
    rows = []
    for v in curve:
        row: dict[str, Any] = {"lib": "jax", "V": v}
        for impl in ("ours", "naive"):
            row[impl] = _subprocess(["--worker", "jax-memory", "--impl", impl, "--vocab", str(v)], timeout=1800)
            print(f"jax memory V={v} {impl}: {row[impl]}", flush=True)
        rows.append(row)
    return rows


def _jax_fns():
    import jax
    import jax.numpy as jnp
    import optax

    import lossapi

    def ours(h, w, y):
        return lossapi.linear_cross_entropy(h, w, y)

    def naive(h, w, y):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(h @ w.T, y))

    return {k: jax.jit(jax.value_and_grad(f, argnums=(0, 1))) for k, f in (("ours", ours), ("naive", naive))}


def _jax_inputs(v: int):
    import jax
    import jax.numpy as jnp

    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    return (jax.random.normal(k1, (N, H), jnp.float32), jax.random.normal(k2, (v, H), jnp.float32) * 0.02,
            jax.random.randint(k3, (N,), 0, v))


def jax_memory_worker(impl: str, v: int) -> dict[str, Any]:
    """The compiled forward+backward's temporaries (nothing runs)."""
    import jax

    fn = _jax_fns()[impl]
    args = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in _jax_inputs(min(v, 8))]
    args[1] = jax.ShapeDtypeStruct((v, H), args[1].dtype)
    t0 = time.perf_counter()
    ma = fn.lower(*args).compile().memory_analysis()
    return {"beyond_bytes": int(ma.temp_size_in_bytes), "compile_seconds": time.perf_counter() - t0}


def _alternate(run_ours, run_naive, repeats: int) -> dict[str, Any]:
    run_ours(), run_naive()  # warm-up (compilation, first-touch allocation)
    ours, naive = [], []
    for _ in range(repeats):
        for fn, acc in ((run_ours, ours), (run_naive, naive)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    o, n = statistics.median(ours), statistics.median(naive)
    return {"ours_s": o, "naive_s": n, "ratio": o / n, "ours_tokens_per_s": N / o, "naive_tokens_per_s": N / n,
            "ours_all": ours, "naive_all": naive}


def torch_time_worker(v: int, repeats: int) -> dict[str, Any]:
    h, w, y = _torch_inputs(N, H, v)
    fns = _torch_fns()

    def step(f):
        def run():
            f(h, w, y).backward()
            h.grad = w.grad = None
        return run

    return _alternate(step(fns["ours"]), step(fns["naive"]), repeats)


def jax_time_worker(v: int, repeats: int) -> dict[str, Any]:
    import jax

    args = _jax_inputs(v)
    fns = _jax_fns()

    def step(f):
        return lambda: jax.block_until_ready(f(*args))

    return _alternate(step(fns["ours"]), step(fns["naive"]), repeats)


def z_loss_worker(repeats: int) -> dict[str, Any]:
    """cross_entropy(z_loss=1e-4) against the composed expression, fwd+bwd."""
    import jax
    import jax.numpy as jnp
    import optax
    import torch
    import torch.nn.functional as F

    import lossapi

    n, v, s = 4096, 32768, 1e-4
    out = {}
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(n, v, generator=g) * 3).requires_grad_()
    y = torch.randint(0, v, (n,), generator=g)

    def t_step(f):
        def run():
            f().backward()
            z.grad = None
        return run

    out["torch"] = _alternate(t_step(lambda: lossapi.cross_entropy(z, y, z_loss=s)),
                              t_step(lambda: F.cross_entropy(z, y) + s * torch.logsumexp(z, -1).square().mean()),
                              repeats)
    zj, yj = jnp.asarray(z.detach().numpy()), jnp.asarray(y.numpy())
    ours = jax.jit(jax.value_and_grad(lambda z: lossapi.cross_entropy(z, yj, z_loss=s)))
    naive = jax.jit(jax.value_and_grad(
        lambda z: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z, yj)
                           + s * jax.nn.logsumexp(z, axis=-1) ** 2)))
    out["jax"] = _alternate(lambda: jax.block_until_ready(ours(zj)), lambda: jax.block_until_ready(naive(zj)),
                            repeats)
    for k in out:
        out[k].pop("ours_tokens_per_s"), out[k].pop("naive_tokens_per_s")
    return out


def _mib(b: Any) -> str:
    return "—" if b is None else f"{b / 2**20:,.0f}"


def report(res: dict[str, Any]) -> str:
    lines = ["# Language-model benchmarks (CPU)", "",
             f"`python -m benchmarks.lm` on {res['machine']}, {res['threads']} threads, {res['date']}. "
             f"N = {N} tokens, H = {H}, float32, `reduction=\"mean\"`, forward+backward.", "",
             "## Memory beyond the inputs and their gradients", "",
             "torch: peak RSS growth of one step in a fresh process, minus the gradients' bytes; JAX: the "
             "compiled step's temporaries. Goal at V = 128256: lossapi at most 1/8 of naive.", "",
             "| lib | V | lossapi MiB | naive MiB | ratio | goal |", "|---|---|---|---|---|---|"]
    for row in res["memory"]:
        o, n = row["ours"], row["naive"]
        ob, nb = o.get("beyond_bytes"), n.get("beyond_bytes")
        ratio = f"1/{nb / ob:.1f}" if ob and nb else "—"
        goal = ""
        if row["V"] == GOAL_V:
            goal = "pass" if ob is not None and nb is not None and ob <= nb * GOAL_MEMORY else "MISS"
        naive = _mib(nb) if nb is not None else f"did not run: {n.get('error')}"
        lines.append(f"| {row['lib']} | {row['V']} | {_mib(ob) if ob is not None else o.get('error')} | {naive} | "
                     f"{ratio} | {goal} |")
    lines += ["", f"## Time at V = {GOAL_V} (median of alternated runs)", "",
              "| lib | lossapi s | naive s | ratio | lossapi tokens/s | naive tokens/s | goal (<= 1.25) |",
              "|---|---|---|---|---|---|---|"]
    for lib, t in res["time"].items():
        if "error" in t:
            lines.append(f"| {lib} | {t['error']} | | | | | |")
            continue
        lines.append(f"| {lib} | {t['ours_s']:.2f} | {t['naive_s']:.2f} | {t['ratio']:.2f} | "
                     f"{t['ours_tokens_per_s']:,.0f} | {t['naive_tokens_per_s']:,.0f} | "
                     f"{'pass' if t['ratio'] <= GOAL_TIME else 'MISS'} |")
    lines += ["", "## cross_entropy(z_loss=1e-4) against the composed expression (N = 4096, V = 32768)", "",
              "| lib | lossapi ms | composed ms | ratio |", "|---|---|---|---|"]
    for lib, t in res.get("z_loss", {}).items():
        lines.append(f"| {lib} | {t['ours_s'] * 1e3:.1f} | {t['naive_s'] * 1e3:.1f} | {t['ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, lib in zip(axes, ("torch", "jax")):
        rows = [r for r in res["memory"] if r["lib"] == lib]
        for impl, style in (("ours", "o-"), ("naive", "s--")):
            pts = [(r["V"], r[impl]["beyond_bytes"] / 2**30) for r in rows if r[impl].get("beyond_bytes") is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style,
                        label="lossapi.linear_cross_entropy" if impl == "ours" else "naive logits + cross_entropy")
        ax.set_title(f"{lib} (CPU): N={N}, H={H}, fwd+bwd")
        ax.set_xlabel("vocabulary size V")
        ax.set_ylabel("GiB beyond inputs and gradients")
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.lm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="small vocabularies only (a smoke run)")
    p.add_argument("--only", choices=("memory", "time", "z_loss"), action="append")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--impl", help=argparse.SUPPRESS)
    p.add_argument("--vocab", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={a.threads}")
    try:
        import torch

        torch.set_num_threads(a.threads)
    except ImportError:  # pragma: no cover
        pass
    if a.worker:
        fn = {"torch-memory": lambda: torch_memory_worker(a.impl, a.vocab),
              "jax-memory": lambda: jax_memory_worker(a.impl, a.vocab),
              "torch-time": lambda: torch_time_worker(a.vocab, a.repeats),
              "jax-time": lambda: jax_time_worker(a.vocab, a.repeats),
              "z_loss": lambda: z_loss_worker(a.repeats)}[a.worker]
        print(json.dumps(fn()))
        return 0
    from .machine import describe, one_line

    curve = (4096, 8192) if a.quick else CURVE
    goal_v = 8192 if a.quick else GOAL_V
    only = set(a.only or ("memory", "time", "z_loss"))
    out = a.out / ("lm-cpu-quick.json" if a.quick else "lm-cpu.json")
    res: dict[str, Any] = json.loads(out.read_text()) if out.exists() and a.only else {}
    res.update({"machine": one_line(describe("cpu")), "threads": a.threads, "date": time.strftime("%Y-%m-%d"), "N": N, "H": H})
    if "memory" in only:
        res["memory"] = torch_memory_curve(curve, a.threads) + jax_memory_curve(curve)
    if "time" in only:
        res["time"] = {}
        for lib in ("torch", "jax"):
            t = _subprocess(["--worker", f"{lib}-time", "--vocab", str(goal_v), "--repeats", str(a.repeats),
                             "--threads", str(a.threads)], timeout=3600)
            print(f"{lib} time V={goal_v}: {t}", flush=True)
            res["time"][lib] = t
    if "z_loss" in only:
        res["z_loss"] = _subprocess(["--worker", "z_loss", "--repeats", str(max(a.repeats, 5)),
                                     "--threads", str(a.threads)], timeout=1800)
        print(f"z_loss: {res['z_loss']}", flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    md = report(res)
    out.with_suffix(".md").write_text(md)
    if "memory" in res:
        plot(res, out.with_name(out.stem + "-memory.png"))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
