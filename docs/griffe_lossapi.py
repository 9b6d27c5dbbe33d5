"""A griffe extension for the API pages: lossapi's docstrings are Google style
with a little reST (``:func:`name``` roles, ``::`` before literal blocks,
``Example:`` sections), which mkdocstrings would show verbatim. Loaded by
mkdocs.yml's mkdocstrings options; the docstrings themselves stay as they are
(they are also read by ``help()`` and run as doctests)."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|mod|attr|data):`~?(?:lossapi\.)?([\w.]+)`")


def _public() -> set[str]:
    import lossapi

    return set(lossapi.__all__)


class LossapiDocstrings(griffe.Extension):
    def on_function(self, *, func: griffe.Function, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        doc = func.docstring
        if doc is None:
            return
        public = _public()

        def role(m: re.Match) -> str:
            name = m.group(1)
            return f"[`{name}`][lossapi.{name}]" if name in public else f"`{name}`"

        text = ROLE.sub(role, doc.value)
        # "Example:" is not a Google section name for griffe ("Examples:" is);
        # as a section its ">>>" lines render as doctest code, not as quotes.
        text = re.sub(r"^Example:$", "Examples:", text, flags=re.M)
        text = re.sub(r"::$", ":", text, flags=re.M)
        doc.value = text
