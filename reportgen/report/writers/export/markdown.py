"""The report as Markdown (GitHub-flavoured) from the document: title block, numbered sections with their prose
(kept as the sanitised HTML the report prints, which Markdown passes through), tables as pipe tables, figures as
images in figures/, findings as lists."""

from __future__ import annotations

from reportgen.report.document.tree import Row, Table, plain

SPECIAL = str.maketrans({"|": r"\|", "\\": r"\\", "*": r"\*", "_": r"\_", "`": r"\`", "<": "&lt;", ">": "&gt;",
                         "[": r"\[", "]": r"\]", "#": r"\#"})


def text(value) -> str:
    """Plain text with Markdown's special characters escaped, on one line."""
    return plain(value).translate(SPECIAL)


def _row(r: Row, width: int) -> str:
    cells = []
    for cell in r.cells:
        cells += [text(cell.html)] + [""] * (cell.span - 1)
    return "| " + " | ".join(cells + [""] * (width - len(cells))) + " |"


def table_md(table: Table) -> str:
    """A pipe table under its caption; a table without a header row gets an empty one (Markdown needs one)."""
    width, numeric = table.width(), table.numeric_columns()
    head = table.head[-1] if table.head else Row([])
    lines = [f"**Table {table.number}.** {text(table.caption)}", "", _row(head, width),
             "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    lines += [_row(r, width) for r in [*table.head[:-1], *table.body, *table.foot]]
    return "\n".join(lines)


def figure_md(fig: dict, files: dict[int, str]) -> str:
    """An image of the exported figure file, with its numbered caption."""
    caption = f"Figure {fig['number']}. {text(fig['caption'])}"
    where = files.get(fig["number"])
    return f"![{caption}]({where})\n\n*{caption}*" if where else f"*{caption}* (no image file)"


def _title(doc: dict) -> list[str]:
    report = doc["report"]
    lines = [f"# {text(report.get('title') or 'Report')}", ""]
    for key in ("subtitle", "course", "assignment", "institution", "date"):
        if report.get(key):
            lines += [text(report[key]), ""]
    team = report.get("team") or []
    if team:
        lines += [", ".join(text(m.get("name", "")) + (f" ({text(m['id'])})" if m.get("id") else "") for m in team), ""]
    if doc.get("abstract_html"):
        lines += [str(doc["abstract_html"]).strip(), ""]
    return lines


def markdown(doc: dict, figure_files: dict[int, str]) -> str:
    """The document as one Markdown file; `figure_files` maps a figure's number to its file, relative."""
    lines = _title(doc)
    for view in doc["sections"]:
        if "number" not in view:
            continue
        lines += [f"## {view['number']} {text(view.get('title') or '')}", ""]
        if view.get("html"):
            lines += [str(view["html"]).strip(), ""]
        for kind, item in view.get("blocks") or []:
            lines += [table_md(item) if kind == "table" else figure_md(item, figure_files), ""]
        if view.get("findings"):
            lines += [*(f"- {text(f)}" for f in view["findings"]), ""]
        for entry in view.get("entries") or []:
            lines += [f"{entry['number']}. {text(entry['html'])}", ""]
    return "\n".join(lines).rstrip() + "\n"
