"""array-api-strict: the standard's reference; the generic layer is used."""

from __future__ import annotations
