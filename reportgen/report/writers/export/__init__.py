"""Export for LaTeX and spreadsheets, beside the report in OUT/export/:

    tables/<name>.tex   each numbered table as a booktabs `table` with \\caption and \\label{tab:<name>}
    tables/<name>.csv   the same rows as CSV (UTF-8, the values as the report prints them)
    figures/<name>.png  each numbered figure (the PDF's 200-dpi PNG)
    numbers.tex         one \\newcommand per live-reference value (see latex.py for the names)

<name> is the table's or figure's stable name (document.Numbering): its section's `label:` or kind and what it
shows, e.g. `comparison-pairs` or `evaluation-adam-metrics`; it never changes with the results or the numbering.

`latex` writes the .tex files and the figures, `csv` the .csv files. Tables and figures are read back from the
rendered HTML, so every exported number is the printed one; numbers.tex formats each value as `@{…}` prose does."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from reportgen.report.writers.export.figures import read_figures, svg_of
from reportgen.report.writers.export.latex import CommandNames, newcommand, table_tex
from reportgen.report.writers.export.tables import read_tables
from reportgen.report.prose.references import FORMATS, MODEL_FIELDS, RUN_FIELDS, field_at
from reportgen.results.store import results_digest

FORMATS_EXPORTED = ("latex", "csv")
NUMBER_RUN_FIELDS = ("accuracy", "loss", "precision", "recall", "f1", "lr", "epochs", "time", "params")
NUMBER_MODEL_FIELDS = ("params", "trainable")

__all__ = ["FORMATS_EXPORTED", "export_files", "numbers", "csv_text", "read_tables", "read_figures"]


def csv_text(table) -> str:
    """The table's header, body and footer rows as CSV; a cell spanning N columns is followed by N-1 empty ones."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    width = table.width()
    for row in table.rows():
        cells = []
        for cell in row:
            cells += [cell.text] + [""] * (cell.span - 1)
        writer.writerow(cells + [""] * (width - len(cells)))
    return buf.getvalue()


def _shown(value, fmt: str) -> str:
    return FORMATS[fmt](value) if value is not None else "—"


def number_values(results: dict) -> list[tuple[tuple[str, ...], str, str]]:
    """(name parts, text as prose prints it, results key) of every exported value, in export order."""
    values = []
    runs = results["runs"]
    for rid, run in runs.items():
        for f in NUMBER_RUN_FIELDS:
            path, fmt = RUN_FIELDS[f]
            values.append(((rid, f), _shown(field_at(run, path), fmt), ".".join(map(str, ("runs", rid, *path)))))
    groups: dict[str, list[str]] = {}
    for rid, run in runs.items():
        groups.setdefault(run.get("group") or rid, []).append(rid)
    for group, members in groups.items():
        tested = [r for r in members if field_at(runs[r], ("test", "accuracy")) is not None]
        if len(members) < 2 or not tested:
            continue
        best = max(tested, key=lambda r: runs[r]["test"]["accuracy"])  # as @{best(…)}: the first of equals
        for f in NUMBER_RUN_FIELDS:
            path, fmt = RUN_FIELDS[f]
            values.append((("Best", group, f), _shown(field_at(runs[best], path), fmt),
                           ".".join(map(str, ("runs", best, *path)))))
    for name, model in results["models"].items():
        for f in NUMBER_MODEL_FIELDS:
            key, fmt = MODEL_FIELDS[f]
            values.append((("Model", name, f), _shown(model.get(key), fmt), f"models.{name}.{key}"))
    sizes = (results.get("dataset") or {}).get("sizes") or {}
    for f in ("train", "validation", "test"):
        values.append((("Dataset", f), _shown(sizes.get(f), "num"), f"dataset.sizes.{f}"))
    classes = len((results.get("dataset") or {}).get("classes") or [])
    values.append((("Dataset", "classes"), _shown(classes, "num"), "dataset.classes (count)"))
    return values


def numbers(results: dict) -> str:
    """numbers.tex: a header, then one \\newcommand per value."""
    names = CommandNames()
    lines = ["% Live-reference values of this report, exported by reportgen; \\input{export/numbers.tex}.",
             f"% From the results {results_digest(results)}; each value as report.html prints it.",
             "% Names: \\Rg + run id (or Best + experiment, Model + model, Dataset) + field, in CamelCase with",
             "% digits spelled out (0 -> Zero, '.' between digits -> Point, '=' -> Eq); see docs/export.md."]
    lines += [newcommand(names.name(*parts), text, key) for parts, text, key in number_values(results)]
    return "\n".join(lines) + "\n"


def export_files(html: str, printed: str | None, doc: dict, folder: Path, formats) -> dict[Path, bytes]:
    """The export files (path → bytes), in memory: from the report's HTML, its print version (PNG figures) and
    the document (the tables' and figures' names, the results)."""
    formats = set(formats)
    files: dict[Path, bytes] = {}
    table_names = {t["number"]: t["name"] for t in doc["tables"]}
    figure_names = {f["number"]: f["name"] for f in doc["figures"]}
    for table in read_tables(html):
        name = table_names[table.number]
        if "latex" in formats:
            files[folder / "tables" / f"{name}.tex"] = table_tex(table, f"tab:{name}", "report.html").encode("utf-8")
        if "csv" in formats:
            files[folder / "tables" / f"{name}.csv"] = csv_text(table).encode("utf-8")
    if "latex" in formats:
        for fig in read_figures(printed if printed is not None else html):
            name = figure_names[fig.number]
            if fig.png is not None:
                files[folder / "figures" / f"{name}.png"] = fig.png
            else:  # no raster version: the vector figure as it is in the HTML
                svg = svg_of(html, fig.number)
                if svg is not None:
                    files[folder / "figures" / f"{name}.svg"] = svg.encode("utf-8")
        files[folder / "numbers.tex"] = numbers(doc["results"]).encode("utf-8")
    return files
