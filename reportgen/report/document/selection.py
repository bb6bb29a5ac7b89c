"""Which runs a section shows, and its numbered subsections: what section views and figures both need."""

from __future__ import annotations

from reportgen.results.picking import pick_runs
from reportgen.results.record import Results
from reportgen.results.run_record import RunRecord


def runs_for(results: Results, names: list[str] | None) -> list[RunRecord]:
    """Runs named by experiment or run ids (None: every run), in order, without duplicates."""
    runs = results.runs
    return [runs[rid] for rid in pick_runs({rid: r.group for rid, r in runs.items()}, names)]


def sub(view: dict, title: str) -> dict:
    """Add a numbered subsection to a section view."""
    n = len(view["subsections"]) + 1
    item = {"title": title, "number": f"{view['number']}.{n}", "anchor": f"{view['anchor']}-{n}"}
    view["subsections"].append(item)
    return item
