"""Ranking losses (filled in by the ranking issue)."""

from __future__ import annotations

__all__: list[str] = []
