"""A compact, diff-friendly JSON layout for the case files: objects one key
per line, lists of numbers on one line, lists of such lists one per line.
Floats are written with ``repr`` (shortest text that round-trips float64)."""

from __future__ import annotations

import json
import math
from typing import Any


def _scalar(v: Any) -> str:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"JSON cannot hold {v!r}")
        return repr(v)
    raise TypeError(f"not a JSON scalar: {type(v).__name__}")


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _flat_list(v: Any) -> bool:
    return isinstance(v, list) and all(_is_scalar(x) for x in v)


def dumps(obj: Any, indent: int = 0, step: int = 2) -> str:
    pad, inner = " " * indent, " " * (indent + step)
    if _is_scalar(obj):
        return _scalar(obj)
    if isinstance(obj, list):
        if _flat_list(obj):
            return "[" + ", ".join(_scalar(x) for x in obj) + "]"
        return "[\n" + ",\n".join(inner + dumps(x, indent + step, step) for x in obj) + "\n" + pad + "]"
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        # Small objects of scalars stay on one line.
        line = "{" + ", ".join(f"{json.dumps(k)}: {_scalar(v)}" for k, v in obj.items()
                               if _is_scalar(v)) + "}"
        if all(_is_scalar(v) for v in obj.values()) and len(line) <= 100:
            return line
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + step, step)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    raise TypeError(f"cannot write {type(obj).__name__}")


def write(path, obj: Any) -> None:
    text = dumps(obj) + "\n"
    json.loads(text)  # never write something that does not read back
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
