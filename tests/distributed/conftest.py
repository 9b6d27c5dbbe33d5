"""The distributed tests (issue 15): JAX sharding over 8 host devices,
torch DTensors over a 2-process gloo mesh, and a Dask ``LocalCluster``.

They start real engines (processes, sockets on 127.0.0.1) and need jax,
torch and dask.distributed together, so only ``nox -s distributed`` runs
them: it sets ``LOSSAPI_DISTRIBUTED=1``. Everywhere else (the per-backend
``nox -t tests`` sessions, a plain ``pytest``) this folder is not collected.
"""

from __future__ import annotations

import os
import pathlib
import sys

if os.environ.get("LOSSAPI_DISTRIBUTED") != "1":
    collect_ignore_glob = ["*.py"]
else:
    # The test modules share representatives.py (pytest's importlib mode puts
    # no test folder on sys.path).
    _here = str(pathlib.Path(__file__).resolve().parent)
    if _here not in sys.path:
        sys.path.insert(0, _here)
    # XLA reads the flag once, when jax initialises its CPU backend; set here,
    # before any test module imports jax. test_jax.py checks that it took.
    _flag = "--xla_force_host_platform_device_count=8"
    if _flag not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()
