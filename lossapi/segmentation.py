"""Segmentation losses (filled in by the segmentation issue)."""

from __future__ import annotations

__all__: list[str] = []
