"""Which runs a list of experiment or run ids names: shared by the sections that show runs and the paired tests."""

from __future__ import annotations


def pick_runs(groups: dict[str, str], names: list[str] | None) -> list[str]:
    """Run ids named by experiment or run ids (None: every run), in order, without duplicates; `groups` maps each
    run id to its experiment id, in the results' order."""
    picked: list[str] = []
    for name in (list(groups) if names is None else names):
        matches = [name] if name in groups else [rid for rid, group in groups.items() if group == name]
        picked += [rid for rid in matches if rid not in picked]
    return picked
