"""Which runs a section shows, and its numbered subsections: what section views and figures both need."""

from __future__ import annotations

from reportgen.report.wording.findings import with_blank_test
from reportgen.results.picking import pick_runs


def runs_for(results: dict, names: list[str] | None) -> list[dict]:
    """Runs named by experiment or run ids (None: every run), in order, without duplicates."""
    runs = results["runs"]
    return [with_blank_test(runs[rid]) for rid in pick_runs({rid: r["group"] for rid, r in runs.items()}, names)]


def sub(view: dict, title: str) -> dict:
    """Add a numbered subsection to a section view."""
    n = len(view["subsections"]) + 1
    item = {"title": title, "number": f"{view['number']}.{n}", "anchor": f"{view['anchor']}-{n}"}
    view["subsections"].append(item)
    return item
