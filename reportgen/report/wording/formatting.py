"""Number formatting for reports: percentages as percentages, thousands separators, dashes for gaps."""

from __future__ import annotations

import math

from reportgen.units import duration

NBSP = "\u00a0"
DASH = "—"


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def pct(x, digits: int = 2) -> str:
    """A fraction 0..1 as a percentage: 0.7414 → '74.14 %'."""
    return DASH if _missing(x) else f"{x * 100:.{digits}f}{NBSP}%"


def num(n) -> str:
    """An integer with thousands separators: 390858 → '390,858'."""
    return DASH if _missing(n) else f"{int(n):,}"


def dec(x, digits: int = 4) -> str:
    """A fixed-point decimal: 0.74431 → '0.7443'."""
    return DASH if _missing(x) else f"{x:.{digits}f}"


def sig(x, digits: int = 3) -> str:
    """Significant figures, for learning rates and the like: 0.00025 → '0.00025'."""
    return DASH if _missing(x) else f"{x:.{digits}g}"


def secs(x) -> str:
    """A duration: '4.2 s', '3 min 05 s', '1 h 02 min'."""
    return DASH if _missing(x) else duration(x, NBSP, 1)


def si(n) -> str:
    """A large count with an SI prefix: 1.82e9 → '1.82 G'."""
    if _missing(n):
        return DASH
    for div, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{NBSP}{prefix}"
    return f"{n:.3g}"


def shape(dims) -> str:
    """A tensor shape without the batch dimension: [32, 16, 16] → '32 × 16 × 16'."""
    return " × ".join(str(d) for d in dims) if dims else DASH


def pval(p) -> str:
    """A p-value: '0.021', '< 0.001'."""
    if _missing(p):
        return DASH
    return f"<{NBSP}0.001" if p < 0.001 else f"{p:.3f}"


def pts(x, digits: int = 2) -> str:
    """A difference of two fractions in signed percentage points: 0.0133 → '+1.33'."""
    return DASH if _missing(x) else f"{x * 100:+.{digits}f}"


FILTERS = {"pct": pct, "num": num, "dec": dec, "sig": sig, "secs": secs, "shape": shape, "si": si, "pval": pval,
           "pts": pts}
