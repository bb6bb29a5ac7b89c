"""The report as Markdown (GitHub-flavoured) from the document: title block, numbered sections with their
subsections, sentences, lists, pipe tables and figures in the document's order; prose is kept as the sanitised HTML
the report prints, as one HTML block that Markdown passes through unread.

Everything a student wrote is text here: Markdown's special characters are escaped, a line never starts a list,
heading or quote, and addresses are not turned into links."""

from __future__ import annotations

import re

from reportgen.report.document.tree import Row, Table, plain

SPECIAL = str.maketrans({"|": r"\|", "\\": r"\\", "*": r"\*", "_": r"\_", "`": r"\`", "<": "&lt;", ">": "&gt;",
                         "[": r"\[", "]": r"\]", "#": r"\#", "~": r"\~", "!": r"\!"})
ORDERED = re.compile(r"(\d{1,9})([.)])(\s|$)")  # "1. " would start an ordered list
MARKER = re.compile(r"[-+](\s|$)|[-=]+\s*$")  # "- " a list, "===" or "---" a heading's underline
ADDRESS = re.compile(r"(?i)\b(https?|ftp|mailto|file|javascript|data|vbscript)(:)|\b(www)(\.)")
TITLE_KEYS = ("subtitle", "course", "assignment", "institution", "department", "date")


def text(value) -> str:
    """Plain text with Markdown's special characters escaped, on one line, its addresses not links."""
    escaped = plain(value).translate(SPECIAL)
    escaped = ADDRESS.sub(lambda m: (m[1] or m[3]) + "\\" + (m[2] or m[4]), escaped)
    ordered = ORDERED.match(escaped)
    if ordered:
        return ordered[1] + "\\" + escaped[len(ordered[1]):]
    return "\\" + escaped if MARKER.match(escaped) else escaped


def html_block(markup) -> str:
    """Sanitised HTML as one Markdown HTML block: in a <div>, with no blank line anywhere (newlines inside <pre> as
    &#10;), so no line of it is read as Markdown, not even after an empty line of a code block."""
    body = re.sub(r"<pre\b.*?</pre>", lambda m: m[0].replace("\n", "&#10;"), str(markup), flags=re.S | re.I)
    lines = [line for line in body.splitlines() if line.strip()]
    return "\n".join(['<div class="prose">', *lines, "</div>"])


def _row(r: Row, width: int) -> str:
    cells = []
    for cell in r.cells:
        cells += [text(cell.html)] + [""] * (cell.span - 1)
    return "| " + " | ".join(cells + [""] * (width - len(cells))) + " |"


def table_md(table: Table) -> str:
    """A pipe table under its caption; a table without a header row gets an empty one (Markdown needs one)."""
    width, numeric = table.width(), table.numeric_columns()
    head = table.head[-1] if table.head else Row([])
    label = f"**Table {table.number}.** " if table.number is not None else ""
    lines = [f"{label}{text(table.caption)}", "", _row(head, width),
             "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    lines += [_row(r, width) for r in [*table.head[:-1], *table.body, *table.foot]]
    return "\n".join(lines)


def figure_md(fig: dict, files: dict[int, str]) -> str:
    """An image of the exported figure file, its text alternative as the image's alt text, and its numbered caption."""
    caption = f"Figure {fig['number']}. {text(fig['caption'])}"
    where = files.get(fig["number"])
    alt = text(fig.get("alt") or fig["caption"])
    return f"![{alt}]({where})\n\n*{caption}*" if where else f"*{caption}* (no image file)"


def _title(doc: dict) -> list[str]:
    report = doc["report"]
    lines = [f"# {text(report.get('title') or 'Report')}", ""]
    lines += [item for key in TITLE_KEYS if report.get(key) for item in (text(report[key]), "")]
    team = report.get("team") or []
    if team:
        lines += [", ".join(text(m.get("name", "")) + (f" ({text(m['id'])})" if m.get("id") else "")
                            for m in team), ""]
    if doc.get("abstract_html"):
        lines += [html_block(doc["abstract_html"]), ""]
    return lines


def _prose(html, doc: dict, files: dict[int, str]) -> str:
    """A prose text's HTML, its numbered figures pointing at their exported files instead of inline data."""
    html = str(html)
    for fig in doc["figures"]:
        if fig.get("src") and fig["number"] in files:
            html = html.replace(fig["src"], files[fig["number"]])
    return html_block(html)


def _block(kind: str, item, doc: dict, files: dict[int, str]) -> str | None:
    if kind == "heading":
        return f"### {item['number']} {text(item['title'])}"
    if kind == "text":
        return text(item)
    if kind == "list":
        return "\n".join(f"- {text(entry)}" for entry in item)
    if kind == "table":
        return table_md(item)
    if kind == "figure":  # a prose figure is in its prose's HTML
        return None if item["key"].startswith("prose-") else figure_md(item, files)
    holder, key = item  # prose rendered in the second pass
    return _prose(holder[key], doc, files) if holder.get(key) else None


def markdown(doc: dict, figure_files: dict[int, str]) -> str:
    """The document as one Markdown file; `figure_files` maps a figure's number to its file, relative."""
    lines = _title(doc)
    for view in doc["sections"]:
        if "number" not in view:
            continue
        lines += [f"## {view['number']} {text(view.get('title') or '')}", ""]
        if view.get("html"):
            lines += [_prose(view["html"], doc, figure_files), ""]
        for kind, item in view.get("blocks") or []:
            shown = _block(kind, item, doc, figure_files)
            lines += [shown, ""] if shown else []
        for entry in view.get("entries") or []:
            lines += [f"{entry['number']}\\. {text(entry['html'])}", ""]
    return "\n".join(lines).rstrip() + "\n"
