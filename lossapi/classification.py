"""Classification losses (filled in by the classification issue)."""

from __future__ import annotations

__all__: list[str] = []
