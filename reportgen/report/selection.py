"""Which runs a section shows, and its numbered subsections: what section views and figures both need."""

from __future__ import annotations

from reportgen.report.findings import with_defaults
from reportgen.results.picking import pick_runs


def runs_for(results: dict, names: list[str] | None) -> list[dict]:
    """Runs named by experiment or run ids (None: every run), in order, without duplicates, defaults filled in."""
    runs = results["runs"]
    groups = {rid: (r.get("group") or rid) if isinstance(r, dict) else rid for rid, r in runs.items()}
    return [with_defaults(rid, runs[rid]) for rid in pick_runs(groups, names)]


def sub(view: dict, title: str) -> dict:
    """Add a numbered subsection to a section view."""
    n = len(view["subsections"]) + 1
    item = {"title": title, "number": f"{view['number']}.{n}", "anchor": f"{view['anchor']}-{n}"}
    view["subsections"].append(item)
    return item
