"""Timed steps, paired interleaved timing, and peak-memory measurement.

Timing: the lossapi call and the peer call are timed in alternating order
(A B, B A, A B, ...), each sample being ``inner`` back-to-back calls, and the
ratio is taken per pair of samples; the reported ratio is the median of those
paired ratios, so a burst of load from another process slows both sides of
the samples it hits rather than one side. The garbage collector is off while
timing (as ``timeit`` does).

Memory (peak bytes allocated during one call, beyond its inputs, after a
warm-up call):

* torch on CPU: the peak resident set size of a separate worker process
  (``benchmarks._memworker``) in which glibc's malloc is told to serve every
  block above 64 KiB with mmap and return it on free (``mallopt``), so the
  resident size follows what torch allocates; ``/proc/self/clear_refs``
  resets the high-water mark (VmHWM) before each measured call.
* torch on CUDA: ``torch.cuda.max_memory_allocated`` after a reset.
* JAX: XLA's static buffer assignment of the compiled function,
  ``temp_size_in_bytes + output_size_in_bytes`` from ``memory_analysis()``.
* NumPy / scikit-learn: ``tracemalloc`` peak (NumPy reports its data
  buffers to tracemalloc).
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MODES = ("fwd", "fwdbwd")


def make_step(lib: str, fn: Callable[..., Any], args: Sequence[Any], mode: str,
              grad: Sequence[int] = ()) -> Callable[[], Any]:
    """A no-argument callable doing one forward (or forward+backward) call.

    torch: forward on tensors that do not require grad; forward+backward sets
    ``.grad = None`` on the differentiated inputs, then ``loss.backward()``
    (so no call pays for accumulating into an earlier gradient). JAX: the
    function under ``jax.jit`` (``jax.jit(jax.grad(...))`` for
    forward+backward), blocking until the result is ready.
    """
    if lib == "torch":
        if mode == "fwd":
            def step():
                return fn(*args)
            return step
        leaves = [args[i] for i in grad]

        def reset():
            for t in leaves:
                t.grad = None

        def step_bwd():
            reset()
            out = fn(*args)
            out.backward()
            return out
        step_bwd.reset = reset  # type: ignore[attr-defined]  # drop the last gradients before a baseline
        return step_bwd
    if lib == "jax":
        import jax

        jf = jax.jit(fn) if mode == "fwd" else jax.jit(jax.grad(fn, argnums=tuple(grad)))

        def step_jax():
            return jax.block_until_ready(jf(*args))
        return step_jax
    if lib in ("numpy", "cupy"):
        if mode != "fwd":
            raise ValueError(f"{lib}: no forward+backward")

        def step_np():
            return fn(*args)
        return step_np
    raise ValueError(f"unknown library {lib!r}")


def torch_leaves(args: Sequence[Any], grad: Sequence[int]) -> list[Any]:
    """Copies of ``args`` where the ``grad`` indices require grad."""
    return [a.detach().clone().requires_grad_(True) if i in grad else a for i, a in enumerate(args)]


def make_sync(device: str, libs: Sequence[str]) -> Callable[[], None]:
    if device != "cuda":
        return lambda: None
    fns = []
    if "torch" in libs:
        import torch

        fns.append(torch.cuda.synchronize)
    if "cupy" in libs:
        import cupy

        fns.append(lambda: cupy.cuda.Device().synchronize())

    def sync():
        for f in fns:
            f()
    return sync


def _run(step: Callable[[], Any], n: int, sync: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    return (time.perf_counter() - t0) / n


@dataclass
class Paired:
    ours: list[float]    # seconds per call, one per repetition
    peer: list[float]
    inner: int

    @property
    def ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.ours, self.peer)]

    def summary(self) -> dict[str, float]:
        r = sorted(self.ratios)
        q = statistics.quantiles(r, n=4) if len(r) >= 2 else [r[0], r[0], r[0]]
        diffs = [(a - b) * 1e6 for a, b in zip(self.ours, self.peer)]
        return {
            "ours_s": statistics.median(self.ours),
            "peer_s": statistics.median(self.peer),
            "ratio": statistics.median(r),
            "ratio_q1": q[0],
            "ratio_q3": q[2],
            "overhead_us": statistics.median(diffs),
            "reps": len(r),
            "inner": self.inner,
        }


def paired(ours: Callable[[], Any], peer: Callable[[], Any], sync: Callable[[], None], *,
           reps: int | None, budget_s: float, min_sample_s: float,
           min_reps: int = 7, max_reps: int = 41) -> Paired:
    """Interleaved timing of two steps.

    Each sample runs ``inner`` calls, chosen so a sample of the faster side
    lasts at least ``min_sample_s``; ``reps`` (or as many as ``budget_s``
    allows, within [min_reps, max_reps]) paired samples are taken.
    """
    ours(), peer()  # warm-up: jit compilation, allocator caches, lazy init
    sync()
    # Calibrate on the best of three single calls per side (a single call can
    # be hit by a burst of load and would leave inner at 1).
    to = min(_run(ours, 1, sync) for _ in range(3))
    tp = min(_run(peer, 1, sync) for _ in range(3))
    t1, t2 = min(to, tp), max(to, tp)
    inner = max(1, math.ceil(min_sample_s / max(t1, 1e-9)))
    if reps is None:
        if t2 > 0.25:  # calls of a quarter second or more: fewer pairs, to keep a full run short
            min_reps = min(min_reps, 5)
        per_rep = inner * 2 * max(t1, t2)
        reps = int(min(max_reps, max(min_reps, budget_s / max(per_rep, 1e-9))))
    a, b = [], []
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(reps):
            if r % 2 == 0:
                a.append(_run(ours, inner, sync))
                b.append(_run(peer, inner, sync))
            else:
                b.append(_run(peer, inner, sync))
                a.append(_run(ours, inner, sync))
    finally:
        if enabled:
            gc.enable()
    return Paired(a, b, inner)


# ---------------------------------------------------------------------------
# Peak memory.


def jax_peak_bytes(fn: Callable[..., Any], args: Sequence[Any], mode: str, grad: Sequence[int]) -> int:
    import jax

    f = jax.jit(fn) if mode == "fwd" else jax.jit(jax.grad(fn, argnums=tuple(grad)))
    ma = f.lower(*args).compile().memory_analysis()
    return int(ma.temp_size_in_bytes + ma.output_size_in_bytes)


def _reset(step) -> None:
    r = getattr(step, "reset", None)
    if r is not None:
        r()


def tracemalloc_peak_bytes(step: Callable[[], Any]) -> int:
    import tracemalloc

    step()
    tracemalloc.start()
    try:
        step()  # tracemalloc's own first-use allocations land here
        best = None
        for _ in range(2):
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            out = step()
            peak = tracemalloc.get_traced_memory()[1] - base
            del out
            best = peak if best is None else min(best, peak)
        return int(best)
    finally:
        tracemalloc.stop()


def cuda_peak_bytes(step: Callable[[], Any]) -> int:
    import torch

    step()
    torch.cuda.synchronize()
    best = None
    for _ in range(2):
        _reset(step)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        out = step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        del out
        best = peak if best is None else min(best, peak)
    return int(best)


def _proc_status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {key}")


def use_mmap_malloc() -> bool:
    """Make glibc serve blocks >= 64 KiB by mmap and return them on free."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 1 << 16) and libc.mallopt(m_trim_threshold, 1 << 16))
    except OSError:
        return False


def rss_peak_bytes(step: Callable[[], Any]) -> int:
    """Peak resident-set growth during one call (Linux; see module doc)."""
    step()
    best = None
    for _ in range(2):
        _reset(step)
        gc.collect()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        base = _proc_status("VmRSS")
        out = step()
        peak = _proc_status("VmHWM") - base
        del out
        best = peak if best is None else min(best, peak)
    return max(0, int(best))


# ---------------------------------------------------------------------------
# Memory-copy bandwidth: the physical limit for memory-bound losses.


def copy_bandwidth(device: str, quick: bool) -> dict[str, Any]:
    """Measured copy bandwidth in bytes/s, counting bytes read + written.

    CPU: the best of a NumPy ``copyto`` (one thread) and a torch ``copy_``
    (torch's intra-op threads) of a 256 MiB float32 array (64 MiB with
    --quick), median of 7 copies each. CUDA: a torch device-to-device copy of
    1 GiB timed with CUDA events. Also a read-only figure (a sum), for context.
    """
    import numpy as np

    out: dict[str, Any] = {}
    if device == "cuda":
        import torch

        n = (1 << 26) if quick else (1 << 28)
        a = torch.ones(n, device="cuda")
        b = torch.empty_like(a)
        ts = []
        for _ in range(10):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            b.copy_(a)
            e.record()
            torch.cuda.synchronize()
            ts.append(s.elapsed_time(e) / 1e3)
        t = statistics.median(ts[2:])
        out["torch_cuda_copy_Bps"] = 2 * a.nbytes / t
        rs = []
        for _ in range(10):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            a.sum()
            e.record()
            torch.cuda.synchronize()
            rs.append(s.elapsed_time(e) / 1e3)
        out["torch_cuda_read_Bps"] = a.nbytes / statistics.median(rs[2:])
        out["copy_Bps"] = out["torch_cuda_copy_Bps"]
        out["array_bytes"] = a.nbytes
        del a, b
        torch.cuda.empty_cache()
        return out
    n = (1 << 24) if quick else (1 << 26)
    a = np.ones(n, dtype=np.float32)
    b = np.empty_like(a)

    def med(f, k=7):
        f()
        ts = []
        for _ in range(k):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    out["numpy_copy_Bps"] = 2 * a.nbytes / med(lambda: np.copyto(b, a))
    out["numpy_read_Bps"] = a.nbytes / med(lambda: a.sum())
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out["torch_copy_Bps"] = 2 * a.nbytes / med(lambda: tb.copy_(ta))
        out["torch_read_Bps"] = a.nbytes / med(lambda: ta.sum())
        out["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    out["copy_Bps"] = max(v for k, v in out.items() if k.endswith("copy_Bps"))
    out["array_bytes"] = a.nbytes
    return out
