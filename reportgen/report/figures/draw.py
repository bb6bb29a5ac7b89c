"""Draw the figures a report's sections need, each section kind's through its entry in reportgen.report.document.registry;
drawings are exported and cached by reportgen.report.figures.cache."""

from __future__ import annotations

from reportgen.report.document import registry
from reportgen.report.figures.cache import Entry, FigureCache
from reportgen.report.figures.plots import plotted, to_svg
from reportgen.report.figures.style import STYLE
from reportgen.results.record import Results

__all__ = ["STYLE", "draw_all", "plotted", "to_svg"]


def draw_all(results: Results, sections, cache: FigureCache | None = None) -> dict[str, Entry]:
    """Only the figures the sections need, keyed as reportgen.report.figures.keys spells them; each taken from
    `cache` when it holds it (no cache: drawn now, kept nowhere)."""
    cache = FigureCache(None) if cache is None else cache
    out: dict[str, Entry] = {}
    for i, sec in enumerate(sections):
        figures = registry.kind(sec.kind).figures
        if figures is not None:
            out.update(figures(results, i, sec.options, cache))
    return out
