"""Scaling out on one machine (issue 15): throughput of a loss with 1 and 2
workers / devices for JAX (host devices), torch.distributed (gloo processes,
DTensor) and Dask (LocalCluster workers), and the peak memory of a Dask
worker as the array grows. Writes results/scaling-cpu.{md,json,png}.

    python -m benchmarks.scaling            # ~5 min on 2 cores
    python -m benchmarks.scaling --quick    # small sizes -> results/scaling-cpu-quick.*

Every engine runs in its own subprocess(es), so one engine's threads and
memory do not weigh on the next. Throughput counts samples (rows of the
loss) per second of one forward+backward step (JAX, torch) or one computed
mean (Dask, forward only: dask has no autodiff).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

JAX_CHILD = r"""
import os, sys, time, json
n_dev, rows, classes, reps = map(int, sys.argv[1:5])
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n_dev}"
import jax, jax.numpy as jnp, numpy as np, lossapi
P = jax.sharding.PartitionSpec
mesh = jax.make_mesh((n_dev,), ("d",), axis_types=(jax.sharding.AxisType.Auto,))
put = lambda a: jax.device_put(jnp.asarray(a), jax.sharding.NamedSharding(mesh, P("d")))
rng = np.random.default_rng(0)
x, y = put(rng.normal(size=(rows, classes)).astype(np.float32)), put(rng.integers(0, classes, rows))
step = jax.jit(jax.value_and_grad(lambda x: lossapi.cross_entropy(x, y)))
jax.block_until_ready(step(x))
ts = []
for _ in range(reps):
    t = time.perf_counter(); jax.block_until_ready(step(x)); ts.append(time.perf_counter() - t)
print(json.dumps(ts))
"""

TORCH_CHILD = r"""
import os, sys, time, json
import torch, torch.distributed as dist, torch.multiprocessing as mp

def run(rank, world, port, rows, classes, reps, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor
    import lossapi
    mesh = init_device_mesh("cpu", (world,))
    g = torch.Generator().manual_seed(0)
    x = distribute_tensor(torch.randn(rows, classes, generator=g), mesh, [Shard(0)]).requires_grad_(True)
    y = distribute_tensor(torch.randint(0, classes, (rows,), generator=g), mesh, [Shard(0)])
    ts = []
    for i in range(reps + 1):
        dist.barrier(); t = time.perf_counter()
        lossapi.cross_entropy(x, y).backward(); x.grad = None
        dist.barrier(); ts.append(time.perf_counter() - t)
    if rank == 0:
        out.put(ts[1:])
    dist.destroy_process_group()

if __name__ == "__main__":
    import socket
    world, rows, classes, reps = map(int, sys.argv[1:5])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    ctx = mp.get_context("spawn"); q = ctx.Queue()
    mp.start_processes(run, args=(world, port, rows, classes, reps, q), nprocs=world, join=True, start_method="spawn")
    print(json.dumps(q.get(timeout=10)))
"""

DASK_CHILD = r"""
import sys, time, json, resource
import numpy as np, dask.array as da, distributed, lossapi


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def main():
    workers, limit = int(sys.argv[1]), sys.argv[2]
    sizes = [int(s) for s in sys.argv[3].split(",")]
    reps = int(sys.argv[4])
    out = []
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=limit,
                                  host="127.0.0.1", dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        for n in sizes:
            c.restart()  # fresh workers: ru_maxrss is the peak of this size's run alone
            base = max(c.run(peak_rss).values())
            rows = n // 100
            rng = da.random.default_rng(0)
            pred = rng.standard_normal((rows, 100), chunks=(25_000, 100), dtype=np.float32)
            target = rng.standard_normal((rows, 100), chunks=(25_000, 100), dtype=np.float32)
            loss = lossapi.huber(pred, target, delta=0.5)
            ts = []
            for _ in range(reps):
                t = time.perf_counter(); c.compute(loss, sync=True); ts.append(time.perf_counter() - t)
            peaks = sorted(c.run(peak_rss).values())
            out.append({"elements": n, "rows": rows, "times_s": ts, "peak_rss_per_worker_bytes": peaks,
                        "idle_rss_bytes": base})
    print(json.dumps(out))


if __name__ == "__main__":  # the workers are spawned processes: they re-import this file
    main()
"""


def _child(code: str, *args, timeout=600) -> object:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # A script file, not ``-c``: torch's spawn re-imports the parent's main module.
    with tempfile.TemporaryDirectory() as tmp:
        script = pathlib.Path(tmp) / "child.py"
        script.write_text(code)
        r = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, env=env,
                           timeout=timeout, cwd=str(ROOT))
    if r.returncode:
        raise RuntimeError(f"child failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _median(ts):
    s = sorted(ts)
    return s[len(s) // 2]


def run(quick: bool) -> dict:
    rows, classes, reps = (4096, 500, 5) if quick else (16384, 1000, 20)
    res: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                             "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
                 "engines": {}}
    for engine, code in (("jax", JAX_CHILD), ("torch", TORCH_CHILD)):
        rows_out = []
        for n in (1, 2):
            ts = _child(code, n, rows, classes, reps)
            rows_out.append({"workers": n, "rows": rows, "classes": classes, "median_s": _median(ts),
                             "samples_per_s": rows / _median(ts), "times_s": ts})
            print(f"{engine} x{n}: {rows / _median(ts):,.0f} samples/s", flush=True)
        res["engines"][engine] = rows_out
    d_size = 4_000_000 if quick else 40_000_000
    rows_out = []
    for n in (1, 2):
        (r,) = _child(DASK_CHILD, n, "1GiB", d_size, 5)
        rows_out.append({"workers": n, "rows": r["rows"], "elements": d_size, "median_s": _median(r["times_s"]),
                         "samples_per_s": r["rows"] / _median(r["times_s"]), "times_s": r["times_s"]})
        print(f"dask x{n}: {rows_out[-1]['samples_per_s']:,.0f} samples/s", flush=True)
    res["engines"]["dask"] = rows_out
    # Up to 6.4e8 elements per input: 5 GiB for the two, over twice the workers' combined 2 GiB.
    sizes = [2_000_000, 8_000_000] if quick else [10_000_000, 40_000_000, 160_000_000, 640_000_000]
    mem = _child(DASK_CHILD, 2, "1GiB", ",".join(map(str, sizes)), 1)
    res["dask_memory"] = [{"elements": m["elements"], "input_bytes": 2 * 4 * m["elements"],
                           "peak_rss_per_worker_bytes": m["peak_rss_per_worker_bytes"],
                           "idle_rss_bytes": m["idle_rss_bytes"], "time_s": m["times_s"][0]} for m in mem]
    for m in res["dask_memory"]:
        print(f"dask memory {m['elements']:.0e} elements: peak RSS per worker "
              f"{[round(b / 2**20) for b in m['peak_rss_per_worker_bytes']]} MiB", flush=True)
    return res


def report(res: dict) -> str:
    lines = ["# Scaling on one CPU machine", "",
             f"Machine: {res['machine']['cpus']} logical CPUs ({res['machine']['platform']}), "
             f"Python {res['machine']['python']}, load average {res['machine']['load_average_at_start']} when the "
             f"run started. Written by `python -m benchmarks.scaling` in {res.get('wall_s', '?')} s.", "",
             "What these numbers can show: each engine runs lossapi's loss with 1 and 2 workers, and a Dask "
             "worker's peak memory does not grow with the inputs (it streams the chunks; the inputs "
             "outgrow the workers' combined limit). What they cannot show: speedup beyond 2 workers, or "
             "a clean 2-worker speedup at all. The machine has 2 logical CPUs, shared with whatever else "
             "runs (the load average above), so two workers compete with each other and with the "
             "coordinator (the Dask scheduler and client, the gloo barrier, XLA's own threads: with one "
             "JAX device XLA's CPU client may already use both cores). Dask's timed compute includes "
             "generating the random inputs chunk by chunk.", "",
             "Throughput with 1 and 2 workers / devices (median of the repetitions):", "",
             "| engine | what is timed | workers | rows | median step | samples/s | 2 vs 1 |", "|---|---|---|---|---|---|---|"]
    what = {"jax": "`jax.jit(value_and_grad(cross_entropy))`, batch-sharded over host devices",
            "torch": "`cross_entropy(DTensor).backward()`, batch-sharded over gloo processes (1 thread each)",
            "dask": "`huber(...)` mean computed on a LocalCluster (1 thread per worker)"}
    for engine, rows in res["engines"].items():
        base = rows[0]["samples_per_s"]
        for r in rows:
            shape = f"{r['rows']} x {r.get('classes', 100)}"
            lines.append(f"| {engine} | {what[engine]} | {r['workers']} | {shape} | {r['median_s'] * 1e3:.1f} ms | "
                         f"{r['samples_per_s']:,.0f} | {r['samples_per_s'] / base:.2f}x |")
    lines += ["", "Peak resident memory of each Dask worker (2 workers, 1 GiB limit each) as the inputs grow "
              "(`huber` on two float32 `[n/100, 100]` arrays in 25000-row chunks):", "",
              "| elements per input | both inputs | peak RSS per worker | idle worker |", "|---|---|---|---|"]
    for m in res["dask_memory"]:
        peaks = ", ".join(f"{b / 2**20:.0f}" for b in m["peak_rss_per_worker_bytes"])
        lines.append(f"| {m['elements']:.1e} | {m['input_bytes'] / 2**20:,.0f} MiB | {peaks} MiB | "
                     f"{m['idle_rss_bytes'] / 2**20:.0f} MiB |")
    return "\n".join(lines) + "\n"


def plot(res: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for engine, rows in res["engines"].items():
        a.plot([r["workers"] for r in rows], [r["samples_per_s"] / rows[0]["samples_per_s"] for r in rows],
               "o-", label=engine)
    a.plot([1, 2], [1, 2], "k:", label="linear")
    a.set(xlabel="workers / devices", ylabel="throughput vs 1", xticks=[1, 2], title="Throughput (2 shared cores)")
    a.legend()
    m = res["dask_memory"]
    b.plot([x["input_bytes"] / 2**20 for x in m], [max(x["peak_rss_per_worker_bytes"]) / 2**20 for x in m], "o-",
           label="peak RSS, worst worker")
    b.plot([x["input_bytes"] / 2**20 for x in m], [x["input_bytes"] / 2**20 for x in m], "k:", label="input size")
    b.set(xlabel="input size (MiB)", ylabel="MiB", xscale="log", yscale="log", title="Dask worker memory")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=pathlib.Path, default=HERE / "results")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.quick)
    res["wall_s"] = round(time.perf_counter() - t0, 1)  # before the report, which prints it
    stem = "scaling-cpu-quick" if args.quick else "scaling-cpu"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(report(res))
    plot(res, args.out / f"{stem}.png")
    print(f"wrote {args.out / stem}.{{md,json,png}} in {res['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
