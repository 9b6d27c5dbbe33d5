"""The tests' view of each backend: pytest's skip/fail around the shared
backend classes of ``conformance/backends.py`` (asarray from NumPy in any
float dtype, to_numpy, dtype, half_dtypes, is_native, device, grad, ...).

``LOSSAPI_ONLY`` restricts a run to some backends (nox sets it per session);
a backend named in ``LOSSAPI_BACKENDS`` that cannot be used fails its tests
instead of skipping them.
"""

from __future__ import annotations

import enum
import os

import pytest

from conformance import backends as B

Backend = enum.Enum("Backend", {name.upper(): name for name in B.TESTED})
Backend.module_name = property(lambda self: B.get(self.value).module)  # type: ignore[attr-defined]


def _names(var: str) -> set[str]:
    return {b.strip() for b in os.environ.get(var, "").split(",") if b.strip()}


def required_backends() -> set[str]:
    return _names("LOSSAPI_BACKENDS")


def selected_backends() -> set[str] | None:
    return _names("LOSSAPI_ONLY") or None


def Harness(backend: Backend | str) -> B.Backend:  # noqa: N802 - the fixture's historical name
    """The ready backend; skips when it cannot run here, fails when
    LOSSAPI_BACKENDS names it."""
    name = getattr(backend, "value", backend)
    try:
        return B.ready(name)
    except B.Unavailable as e:
        if name in required_backends():
            pytest.fail(f"backend {name} is named in LOSSAPI_BACKENDS but cannot be used: {e}")
        pytest.skip(f"{name}: {e}")
