"""Rules of the prose language that checking a manifest and rendering its prose both apply: written once here."""

from __future__ import annotations

import re

# code spans and fenced blocks: no reference is expanded and no image embedded inside them
CODE = re.compile(r"^(```|~~~).*?^\1[^\n]*$|`[^`\n]+`", re.MULTILINE | re.DOTALL)


def code_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every code span and fenced block of a prose text."""
    return [(m.start(), m.end()) for m in CODE.finditer(text)]


def inside(position: int, spans: list[tuple[int, int]]) -> bool:
    """Whether a position of the text lies in one of the spans."""
    return any(start <= position < end for start, end in spans)
