"""Section builder for the provenance section: its table's number (the facts come from document.provenance_record)."""

from __future__ import annotations


def provenance(view, sec, results, figures, num):
    view["table"] = num.tab("Environment and cache keys")
