"""Embedding losses (filled in by the embedding issue)."""

from __future__ import annotations

__all__: list[str] = []
