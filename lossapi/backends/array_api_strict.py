"""array-api-strict: the standard's reference; the generic layer is used."""

from __future__ import annotations


def values_readable(x):
    return True  # host arrays: reading values costs no sync and breaks no trace
