"""A description of the machine and software a run measured."""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _version(mod: str) -> str | None:
    try:
        return getattr(importlib.import_module(mod), "__version__", "?")
    except Exception:
        return None


def _git_commit() -> str | None:
    # Read-only: GIT_OPTIONAL_LOCKS=0 keeps `git status` from refreshing the index.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10, env=env)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10, env=env)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else None
    except Exception:
        return None


def describe(device: str) -> dict[str, Any]:
    d: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_bytes": _mem_total(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": _git_commit(),
        "load_before": loadavg(),
        "versions": {m: _version(m) for m in ("lossapi", "numpy", "torch", "jax", "optax", "sklearn",
                                              "array_api_compat", "cupy")},
    }
    try:
        import torch

        d["torch_threads"] = torch.get_num_threads()
        if device == "cuda":
            d["gpu"] = torch.cuda.get_device_name(0)
            d["gpu_memory_bytes"] = torch.cuda.get_device_properties(0).total_memory
    except Exception:
        pass
    if device == "cuda":
        try:
            import jax

            d["jax_devices"] = [str(x) for x in jax.devices()]
        except Exception:
            pass
    return d


def one_line(d: dict[str, Any]) -> str:
    v = d["versions"]
    gpu = f", GPU {d['gpu']}" if d.get("gpu") else ""
    return (f"{d['cpu']} ({d['cpus_usable']} usable of {d['cpu_count']} CPUs{gpu}), "
            f"python {d['python']}, torch {v['torch']}, jax {v['jax']}, optax {v['optax']}, "
            f"sklearn {v['sklearn']}, numpy {v['numpy']}; load {d['load_before']}")
