"""Trade-off scatter plots: test accuracy against measured latency and against parameter count."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportgen.report.document.selection import runs_for
from reportgen.report.figures.cache import Entry, FigureCache, plt
from reportgen.report.figures.keys import tradeoff_key
from reportgen.report.figures.plots import plotted
from reportgen.report.figures.style import palette
from reportgen.report.wording.alt import described_by
from reportgen.report.wording.alt.runs import tradeoff_scatter
from reportgen.results.record import Results

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@described_by(tradeoff_scatter)
def scatter(runs: list[dict], x_key: str, x_label: str, log: bool) -> Figure:
    """One labelled point per run: x from its measurements, y its test accuracy in percent."""
    points = [(r["id"], r["measured"][x_key], r["test"]["accuracy"] * 100) for r in runs
              if (r.get("measured") or {}).get(x_key) is not None]
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    colors = palette(len(points))
    for (name, x, y), color in zip(points, colors):
        ax.scatter([x], [y], s=36, color=color, zorder=3, edgecolor="white", linewidth=0.6)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
    if log and points:
        ax.set_xscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel("test accuracy (%)")
    if points:
        low = min(y for _, _, y in points)
        ax.set_ylim(max(0.0, low - 10), min(100.0, max(y for _, _, y in points) + 8))
    ax.margins(x=0.25)
    fig.tight_layout()
    return fig


def tradeoff_figures(results: Results, index: int, options: dict, cache: FigureCache) -> dict[str, Entry]:
    """Both scatter plots of a trade-off section."""
    runs = runs_for(results, options.get("experiments"))

    def shown(x_key: str) -> list[dict]:  # what a scatter reads of each run: its id, accuracy and one measurement
        return [plotted(r) | {"measured": {x_key: None if r.measured is None else getattr(r.measured, x_key)}}
                for r in runs]

    return {tradeoff_key("lat", index): cache.figure(scatter, shown("latency_ms"), "latency_ms",
                                                     "inference latency at batch size 1 (ms, log scale)", True,
                                                     prefix=f"s{index}-tlat"),
            tradeoff_key("par", index): cache.figure(scatter, shown("params"), "params", "parameters (log scale)",
                                                     True, prefix=f"s{index}-tpar")}
