"""Export for LaTeX, spreadsheets and Markdown, beside the report in OUT/export/, written from the document:

    tables/<name>.tex   each numbered table as a booktabs `table` with \\caption and \\label{tab:<name>}
    tables/<name>.csv   the same rows as CSV (UTF-8): numbers as numbers, units in the header (spreadsheet.py)
    figures/<name>.png  each numbered figure (the PDF's 200-dpi PNG; a prose figure its own image)
    numbers.tex         one \\newcommand per live-reference value (see latex.py for the names)
    report.md           the whole report as Markdown, its figures in figures/ (markdown.py)

<name> is the table's or figure's stable name (document.Numbering): its section's `label:` or kind and what it
shows, e.g. `comparison-pairs` or `evaluation-adam-metrics`; it never changes with the results or the numbering.

`latex` writes the .tex files and the figures, `csv` the .csv files, `markdown` report.md and the figures. Every
table cell is the document's own (the printed text for LaTeX and Markdown, the recorded value for CSV);
numbers.tex formats each value as `@{…}` prose does."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from reportgen.report.writers.export.latex import CommandNames, newcommand, table_tex
from reportgen.report.writers.export.markdown import markdown
from reportgen.report.writers.export.spreadsheet import csv_text
from reportgen.report.prose.references import FORMATS, MODEL_FIELDS, RUN_FIELDS
from reportgen.results.keys import key_of, resolve
from reportgen.results.record import Results
from reportgen.results.store import results_digest

FORMATS_EXPORTED = ("latex", "csv", "markdown")
IMAGE_SUFFIXES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
NUMBER_RUN_FIELDS = ("accuracy", "loss", "precision", "recall", "f1", "lr", "epochs", "time", "params")
NUMBER_MODEL_FIELDS = ("params", "trainable")

__all__ = ["FORMATS_EXPORTED", "export_files", "numbers", "csv_text", "figure_files"]


def _shown(value, fmt: str) -> str:
    return FORMATS[fmt](value) if value is not None else "—"


def _at(record, path: tuple):
    """The value at a path of field names and list indexes inside a record, None where it has none."""
    try:
        return resolve(record, key_of(*path))
    except KeyError:
        return None


def number_values(results: Results) -> list[tuple[tuple[str, ...], str, str]]:
    """(name parts, text as prose prints it, results key) of every exported value, in export order."""
    values = []
    runs = results.runs
    for rid, run in runs.items():
        for f in NUMBER_RUN_FIELDS:
            path, fmt = RUN_FIELDS[f]
            values.append(((rid, f), _shown(_at(run, path), fmt), key_of("runs", rid, *path)))
    groups: dict[str, list[str]] = {}
    for rid, run in runs.items():
        groups.setdefault(run.group or rid, []).append(rid)
    for group, members in groups.items():
        tested = [r for r in members if runs[r].test is not None]
        if len(members) < 2 or not tested:
            continue
        best = max(tested, key=lambda r: runs[r].test.accuracy)  # as @{best(…)}: the first of equals
        for f in NUMBER_RUN_FIELDS:
            path, fmt = RUN_FIELDS[f]
            values.append((("Best", group, f), _shown(_at(runs[best], path), fmt), key_of("runs", best, *path)))
    for name, model in results.models.items():
        for f in NUMBER_MODEL_FIELDS:
            key, fmt = MODEL_FIELDS[f]
            values.append((("Model", name, f), _shown(_at(model, (key,)), fmt), f"models.{name}.{key}"))
    sizes = results.dataset.sizes
    for f in ("train", "validation", "test"):
        values.append((("Dataset", f), _shown(sizes.get(f), "num"), f"dataset.sizes.{f}"))
    values.append((("Dataset", "classes"), _shown(len(results.dataset.classes), "num"), "dataset.classes (count)"))
    return values


def numbers(results: Results) -> str:
    """numbers.tex: a header, then one \\newcommand per value."""
    names = CommandNames()
    lines = ["% Live-reference values of this report, exported by reportgen; \\input{export/numbers.tex}.",
             f"% From the results {results_digest(results)}; each value as report.html prints it.",
             "% Names: \\Rg + run id (or Best + experiment, Model + model, Dataset) + field, in CamelCase with",
             "% digits spelled out (0 -> Zero, '.' between digits -> Point, '=' -> Eq); see docs/export.md."]
    lines += [newcommand(names.name(*parts), text, key) for parts, text, key in number_values(results)]
    return "\n".join(lines) + "\n"


def figure_file(fig: dict) -> tuple[str, bytes] | None:
    """(file suffix, bytes) of a figure: its PNG, a prose figure's embedded image, else its SVG; None if none."""
    if fig.get("png"):
        return "png", fig["png"]
    kind, _, data = (fig.get("src") or "").partition(";base64,")
    if kind.removeprefix("data:") in IMAGE_SUFFIXES and data:
        try:
            return IMAGE_SUFFIXES[kind.removeprefix("data:")], base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None
    return ("svg", fig["svg"].encode("utf-8")) if fig.get("svg") else None


def figure_files(doc: dict) -> dict[int, tuple[str, bytes]]:
    """Each numbered figure that has an image: number → (figures/<name>.<suffix>, bytes)."""
    files = {}
    for fig in doc["figures"]:
        found = figure_file(fig)
        if found is not None:
            files[fig["number"]] = (f"figures/{fig['name']}.{found[0]}", found[1])
    return files


def export_files(doc: dict, folder: Path, formats) -> dict[Path, bytes]:
    """The export files (path → bytes), in memory, from the document (its tables, figures and results)."""
    formats = set(formats)
    files: dict[Path, bytes] = {}
    for table in doc["tables"]:
        if "latex" in formats:
            files[folder / "tables" / f"{table.name}.tex"] = table_tex(table, f"tab:{table.name}",
                                                                       "report.html").encode("utf-8")
        if "csv" in formats:
            files[folder / "tables" / f"{table.name}.csv"] = csv_text(table).encode("utf-8")
    images = figure_files(doc) if formats & {"latex", "markdown"} else {}
    files.update({folder / where: data for where, data in images.values()})
    if "latex" in formats:
        files[folder / "numbers.tex"] = numbers(doc["results"]).encode("utf-8")
    if "markdown" in formats:
        where = {number: path for number, (path, _) in images.items()}
        files[folder / "report.md"] = markdown(doc, where).encode("utf-8")
    return files
