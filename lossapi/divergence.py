"""Divergence losses (filled in by the divergence issue)."""

from __future__ import annotations

__all__: list[str] = []
