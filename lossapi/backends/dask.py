"""Dask overrides: Dask arrays are lazy and chunked; nothing native is needed
beyond what the generic layer does (its take_along_axis uses a lazy mask)."""

from __future__ import annotations
