from __future__ import annotations

import pathlib
import sys

# The verification layer (conformance/: references, backends, gradcheck) lives
# at the repository root, next to tests/; it is not part of the wheel.
_ROOT = str(pathlib.Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import pytest  # noqa: E402

from harness import Backend, Harness, selected_backends  # noqa: E402


def _params():
    only = selected_backends()
    return [pytest.param(b, id=b.value) for b in Backend if only is None or b.value in only]


@pytest.fixture(params=_params(), scope="session")
def xp(request):
    """A backend (conformance.backends); skips a library that is absent unless
    LOSSAPI_BACKENDS names it."""
    return Harness(request.param)
