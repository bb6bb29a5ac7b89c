"""JSON read as JSON is written: NaN, Infinity and numbers out of a float's range refused, which Python's parser
would take (results.json and the submissions graders read)."""

from __future__ import annotations

import json
import math


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 reads as infinity
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes):
    """Parsed JSON; ValueError for what is not JSON (NaN, Infinity, 1e400 included), RecursionError when nested
    deeper than the parser goes."""
    return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
