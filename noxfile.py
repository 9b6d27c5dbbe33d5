"""The test matrix: one tests session per backend, each installing only that
backend from backends/<name>.txt, plus lint, conformance and bench."""

from __future__ import annotations

import shutil

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["conformance", "tests"]
nox.options.error_on_missing_interpreters = False

BACKENDS = ["numpy", "array_api_strict", "torch", "jax", "dask", "cupy"]
CPU_BACKENDS = BACKENDS[:-1]


# Peer libraries a backend's tests compare against, installed with it (torch's
# torchvision is not: PyPI's build does not import beside the CPU torch).
TEST_PEERS = {"jax": ("optax",)}


def _has_cuda_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None


def _install(session: nox.Session, *reqs: str) -> None:
    args = ["-r", "backends/base.txt"]
    for r in reqs:
        args += ["-r", f"backends/{r}.txt"]
    session.install(*args)
    session.install("--no-deps", ".")


@nox.session(name="tests", tags=["tests"])
@nox.parametrize("backend", BACKENDS)
def tests(session: nox.Session, backend: str) -> None:
    """Run the test suite against one backend (LOSSAPI_ONLY selects it,
    LOSSAPI_BACKENDS makes a failed import an error, not a skip)."""
    if backend == "cupy" and not _has_cuda_gpu():
        session.skip("cupy needs a CUDA GPU and driver; none on this machine (nvidia-smi not found)")
    _install(session, backend, *TEST_PEERS.get(backend, ()), "tests")
    env = {"LOSSAPI_ONLY": backend, "LOSSAPI_BACKENDS": backend}
    # One pytest-xdist worker per core; --dist loadgroup keeps each checklist
    # case's tests in one worker (tests/test_checklist.py groups them), so jax
    # compiles a case's primitives once, not once per worker. Posargs come
    # last: "-n 0" there runs in one process.
    session.run("pytest", "-q", "-p", "no:cacheprovider", "-n", "auto", "--dist", "loadgroup",
                *session.posargs, env=env)


@nox.session
def distributed(session: nox.Session) -> None:
    """tests/distributed/: JAX sharding over 8 host devices, torch DTensors
    over 2 gloo processes, a Dask LocalCluster of 2 worker processes; all on
    127.0.0.1, started by the tests themselves (3 minutes on 2 busy cores, install included)."""
    _install(session, "distributed")
    env = {"LOSSAPI_DISTRIBUTED": "1", "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/distributed", *session.posargs, env=env)


@nox.session(name="torch_drift")
@nox.parametrize("version", ["2.14.1"])
def torch_drift(session: nox.Session, version: str) -> None:
    """The kernel tests (values and gradients on every kink) and the call-plan
    tests against a torch newer than the pinned one, to catch a framework
    changing its conventions under lossapi's kernels. Not run by CI: that
    torch comes as a CUDA build of several GB. pyproject.toml's torch range
    stays at what CI tests."""
    session.install("-r", "backends/base.txt", f"torch=={version}")
    session.install("--no-deps", ".")
    env = {"LOSSAPI_ONLY": "numpy,torch", "LOSSAPI_BACKENDS": "torch"}
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/test_kernels.py", "tests/test_plans.py",
                "tests/test_embedding.py", "tests/test_ranking.py", *session.posargs, env=env)


@nox.session
def conformance(session: nox.Session) -> None:
    """The guides' worked examples and the peer cross-checks on every CPU
    backend (plus CUDA backends when a GPU is present)."""
    reqs = list(CPU_BACKENDS) + ["peers"]
    if _has_cuda_gpu():
        reqs.append("cupy")
    _install(session, *reqs)
    session.run("python", "-m", "conformance", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-r", "backends/lint.txt")
    session.run("ruff", "check", "lossapi", "tests", "conformance", "benchmarks", "docs", "noxfile.py")
    session.run("mypy", "lossapi")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the native peers; writes benchmarks/results/."""
    _install(session, "torch", "jax", "numpy", "peers", "bench")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built into site/ with warnings as errors. Its
    hook (docs/hooks.py) draws the loss gallery with lossapi on NumPy and
    runs every python block of the pages: the README's torch and JAX
    examples too, hence those backends."""
    _install(session, "docs", "bench", "torch", "jax")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs,
                env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def docs_browser(session: nox.Session) -> None:
    """Opens the built site (nox -s docs first) in headless Chromium: every
    page renders, every image loads, the search finds "huber". Uses Debian's
    /usr/bin/chromium (apt-get install -y chromium) and never downloads a
    browser; skips without it."""
    if not shutil.which("chromium", path="/usr/bin"):
        session.skip("needs Debian's /usr/bin/chromium (apt-get install -y chromium); Playwright must not download one")
    session.install("-r", "backends/docs_browser.txt")
    session.run("python", "docs/check_site.py", "site", *session.posargs,
                env={"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"})
