"""The look every figure shares: matplotlib settings and the colour palette (part of the figure cache's key)."""

from __future__ import annotations

STYLE = {
    "svg.hashsalt": "reportgen",  # stable ids in the SVG, so rebuilding gives identical HTML
    "svg.fonttype": "path",  # glyphs as paths: identical rendering in every browser and in WeasyPrint
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
}


def palette(n: int) -> list:
    """n distinguishable colours: tab10 up to ten, evenly spaced hues beyond."""
    import seaborn as sns  # takes seconds: imported when a figure is drawn, not when a rebuild reads the cache

    return sns.color_palette("tab10" if n <= 10 else "husl", max(n, 1))
