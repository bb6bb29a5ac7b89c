"""`reportgen diff A B`: load both builds, compare them, and write the comparison as text, JSON or HTML."""

from __future__ import annotations

from pathlib import Path

from reportgen.grading.diff.compare import Comparison, DiffError, compare, load
from reportgen.grading.diff.page import page
from reportgen.grading.diff.summary import to_text
from reportgen.textsafe import json_text


def render(c: Comparison, fmt: str, full: bool = False) -> str:
    """The comparison as text (causes first; every difference with `full`), json or html (always everything)."""
    if fmt == "json":
        return json_text(c.record())
    if fmt == "html":
        return page(c)
    return to_text(c, full)


def diff_builds(a: str | Path, b: str | Path, tolerance: float = 1e-9, strict: bool = False, fmt: str = "text",
                full: bool = False) -> tuple[str, bool]:
    """Load, compare and render two builds: (output text, equal); DiffError for anything that cannot be compared."""
    left, right = load(a, "A"), load(b, "B")
    try:
        comparison = compare(left, right, tolerance, strict)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise DiffError(f"cannot compare {a} and {b}: a results record is malformed ({type(exc).__name__}: {exc})"
                        ) from exc
    return render(comparison, fmt, full), comparison.equal
