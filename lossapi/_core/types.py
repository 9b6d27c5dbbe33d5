"""Type aliases for the public signatures.

``Array`` is any array of a supported library (NumPy, PyTorch, JAX, CuPy,
Dask, array-api-strict, or another array-API library): the standard defines
no runtime-checkable array type, so the alias is ``Any`` and documents intent.
Options carry precise types, which mypy checks at call sites."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

Array: TypeAlias = Any
Reduction: TypeAlias = Literal["mean", "sum", "none"]
