"""Packaging promises: lazy imports, vendorability, the public names, the
backend matrix, and namespace resolution."""

from __future__ import annotations

import ast
import doctest
import inspect
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import lossapi
from harness import Backend, required_backends

PKG = pathlib.Path(lossapi.__file__).parent
FAMILIES = ["regression", "classification", "divergence", "embedding", "segmentation", "ranking", "detection",
            "sequence", "language", "distillation", "preference"]


def test_import_loads_no_framework():
    code = (
        "import sys, lossapi; "
        "print(','.join(m for m in ('torch', 'jax', 'cupy', 'dask', 'numpy', 'scipy', 'array_api_strict') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PKG.parent, env={**os.environ, "PYTHONPATH": str(PKG.parent)})
    assert out.stdout.strip() == "", f"import lossapi imported: {out.stdout.strip()}"


def test_relative_imports_only():
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert node.module.split(".")[0] != "lossapi", f"{path}: absolute import of {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] != "lossapi", f"{path}: import {alias.name}"


def test_vendored_copy_runs(tmp_path):
    dest = tmp_path / "thirdparty" / "vendored_losses"
    shutil.copytree(PKG, dest, ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "import sys, numpy as np; import vendored_losses as L; "
        "v = L.mse(np.array([2.5, 2.8, 4.2]), np.array([2.0, 3.0, 5.0])); "
        "assert 'lossapi' not in sys.modules, 'the copy imported the installed lossapi'; "
        "print(repr(float(v)))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(dest.parent)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # Independent value: ((0.5)^2 + (0.2)^2 + (0.8)^2) / 3
    assert abs(float(out.stdout) - (0.25 + 0.04 + 0.64) / 3) < 1e-12


def _public_functions(mod):
    return {n for n, f in vars(mod).items()
            if inspect.isfunction(f) and not n.startswith("_")
            and (f.__module__ == mod.__name__ or f.__module__.startswith(mod.__name__ + "."))}


@pytest.mark.parametrize("family", FAMILIES)
def test_all_names_every_public_loss(family):
    mod = getattr(lossapi, family)
    assert set(mod.__all__) == _public_functions(mod)
    for name in mod.__all__:
        assert getattr(lossapi, name) is getattr(mod, name)


def test_top_level_all_is_union_of_families():
    names = [n for f in FAMILIES for n in getattr(lossapi, f).__all__]
    assert sorted(lossapi.__all__) == sorted(names)
    assert len(names) == len(set(names)), "a name is exported by two families"


@pytest.mark.parametrize("family", FAMILIES)
def test_docstring_examples(family):
    mod = getattr(lossapi, family)
    for name in mod.__all__:
        doc = getattr(mod, name).__doc__ or ""
        assert "Example" in doc, f"{family}.{name} has no Example in its docstring"
    # A family may be a package (classification): test every module that
    # defines one of its losses.
    modules = {sys.modules[getattr(mod, name).__module__] for name in mod.__all__}
    attempted = 0
    for m in sorted(modules, key=lambda m: m.__name__):
        failures, n = doctest.testmod(m, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
        assert failures == 0, m.__name__
        attempted += n
    assert attempted >= len(mod.__all__)


@pytest.mark.parametrize("name", sorted(required_backends()) or ["(none named)"])
def test_named_backend_is_installed(name):
    """A matrix session names its backend in LOSSAPI_BACKENDS: it must import,
    so a session cannot pass by skipping everything."""
    if name == "(none named)":
        pytest.skip("LOSSAPI_BACKENDS is not set")
    import importlib

    importlib.import_module(Backend(name).module_name)


def test_mixed_libraries_are_a_type_error():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"mse: .*numpy.*torch"):
        lossapi.mse(np.zeros(3), torch.zeros(3))


def test_python_scalars_are_ignored_in_resolution():
    from lossapi.backends import resolve

    ops = resolve("x", np.zeros(2), 1.0, 3, None)
    assert ops.name == "numpy"
    with pytest.raises(TypeError, match="only Python scalars"):
        resolve("x", 1.0, 2)


def test_unknown_array_type_is_a_type_error():
    with pytest.raises(TypeError, match="mse"):
        lossapi.mse([1.0, 2.0], [1.0, 2.0])


# --- the protocol (issue 11): family modules hold math only ----------------------

_FAMILY_FILES = sorted(
    p for p in (pathlib.Path(lossapi.__file__).parent).rglob("*.py")
    if p.parent.name in ("lossapi", "classification") and not p.name.startswith("__")
)
_BACKEND_NAMES = {"numpy", "torch", "jax", "dask", "cupy", "array_api_strict"}


@pytest.mark.parametrize("path", _FAMILY_FILES, ids=lambda p: p.name)
def test_family_module_names_no_backend(path):
    """No framework import, no backend name, no kernel lookup in a family."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                assert m.split(".")[0] not in _BACKEND_NAMES | {"array_api_compat"}, f"{path.name} imports {m}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert node.value not in _BACKEND_NAMES, f"{path.name} names the backend {node.value!r}"
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("kernels", "name"), f"{path.name} reads ops.{node.attr}"


@pytest.mark.parametrize("name", lossapi.__all__)
def test_every_loss_goes_through_the_protocol(name):
    fn = getattr(lossapi, name)
    assert hasattr(fn, "__wrapped_loss__") and fn.__wrapped_loss__.__name__ == name, f"{name} is not @loss"
