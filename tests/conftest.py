from __future__ import annotations

import pytest

from harness import Backend, Harness, selected_backends


def _params():
    only = selected_backends()
    return [pytest.param(b, id=b.value) for b in Backend if only is None or b.value in only]


@pytest.fixture(params=_params(), scope="session")
def xp(request) -> Harness:
    """A backend harness; skips a library that is absent unless
    LOSSAPI_BACKENDS names it."""
    return Harness(request.param)
