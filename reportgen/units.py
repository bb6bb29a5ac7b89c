"""Numbers and time spans as every stage treats them: which values count as numbers, and seconds in words."""

from __future__ import annotations

import math


def is_number(value, finite: bool = True) -> bool:
    """An int or float, not a bool (and, with `finite`, neither NaN nor infinite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) or not finite


def duration(seconds: float, space: str = " ", decimals: int = 0) -> str:
    """A time span: '42 s' (seconds with `decimals`), '3 min 05 s', '1 h 02 min'; `space` between number and unit."""
    if seconds < 60:
        return f"{max(0.0, seconds):.{decimals}f}{space}s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m}{space}min {s:02d}{space}s"
    h, m = divmod(m, 60)
    return f"{h}{space}h {m:02d}{space}min"
