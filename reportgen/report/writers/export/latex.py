"""LaTeX for the exported tables (booktabs) and numbers.tex (one \\newcommand per live-reference value).

Text is escaped, never re-formatted: a cell prints exactly the characters the HTML shows, with LaTeX's special
characters escaped and the few non-ASCII symbols reports use (×, —, ★, no-break space …) spelled in LaTeX, so
the document compiles with pdfLaTeX as well as LuaLaTeX/XeLaTeX.

Command names in numbers.tex: `\\Rg` + the subject + the field, each written in CamelCase from its letters and
digits. Letters keep their case with the first of each word raised (`adam_lr` → `AdamLr`); each digit is spelled
(`0` → `Zero`, …, `9` → `Nine`); a `.` between digits is `Point`, `=` is `Eq`, `@` is `At`, `+` is `Plus`; every
other character only separates words. Runs: `\\Rg<run id><field>` (`adam_lr_0.001` and accuracy →
`\\RgAdamLrZeroPointZeroZeroOneAccuracy`); the best run of a sweep: `\\RgBest<experiment><field>`; models:
`\\RgModel<name><field>`; the dataset: `\\RgDataset<field>`. A name already taken (two ids that spell alike)
gets `B`, then `C`, … `Z`, `BB`, `BC`, … appended, in the order runs, best runs, models, dataset (each as the results list them)."""

from __future__ import annotations

import unicodedata

from reportgen.report.document.tree import Row, Table

SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
           "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
           ">": r"\textgreater{}", "|": r"\textbar{}", "[": "{[}", "]": "{]}", "*": "{*}"}
# [ and * in braces: after a row's \\, LaTeX would read them as the row's optional spacing or star
SYMBOLS = {"×": r"$\times$", "—": "---", "–": "--", "−": "$-$", "★": r"$\star$", "☆": r"$\star$", "≈": r"$\approx$",
           "→": r"$\rightarrow$", "←": r"$\leftarrow$", "±": r"$\pm$", "≤": r"$\leq$", "≥": r"$\geq$", "·": r"$\cdot$",
           "…": r"\ldots{}", "µ": r"$\mu$", "γ": r"$\gamma$", "β": r"$\beta$", "α": r"$\alpha$", "σ": r"$\sigma$",
           "√": r"$\surd$", "\u2009": r"\,", "\u202f": r"\,", "°": r"\textdegree{}", "²": r"\textsuperscript{2}"}
NBSP = "\u00a0"
DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
WORDS = {"=": "Eq", "@": "At", "+": "Plus"}


def escape(text: str) -> str:
    """Text as LaTeX that prints the same characters: a no-break space before % is a thin space (`90.00\\,\\%`),
    elsewhere a tie (`3.3~s`)."""
    out = []
    for i, ch in enumerate(text):
        if ch == NBSP:
            out.append(r"\," if text[i + 1:i + 2] == "%" else "~")
        elif ch in SPECIAL:
            out.append(SPECIAL[ch])
        else:
            out.append(SYMBOLS.get(ch, ch))
    return "".join(out)


def _cells(row: Row, numeric: list[bool]) -> str:
    parts, i = [], 0
    for cell in row.cells:
        text = escape(cell.text)
        if cell.span > 1:
            text = f"\\multicolumn{{{cell.span}}}{{{'r' if cell.numeric else 'l'}}}{{{text}}}"
        parts.append(text)
        i += cell.span
    parts += [""] * max(0, len(numeric) - i)
    return " & ".join(parts) + r" \\"


def table_tex(table: Table, label: str, source: str) -> str:
    """A `table` environment with \\caption, \\label and a booktabs tabular of the table's rows."""
    numeric = table.numeric_columns()
    lines = [f"% Table {table.number} of {source}, exported by reportgen: the cells as the report prints them.",
             "% Needs \\usepackage{booktabs}.",
             r"\begin{table}[htbp]", r"  \centering", f"  \\caption{{{escape(table.caption_text)}}}",
             f"  \\label{{{label}}}", f"  \\begin{{tabular}}{{{''.join('r' if n else 'l' for n in numeric)}}}",
             r"    \toprule"]
    lines += [f"    {_cells(row, numeric)}" for row in table.head]
    if table.head:
        lines.append(r"    \midrule")
    lines += [f"    {_cells(row, numeric)}" for row in table.body]
    if table.foot:
        lines.append(r"    \midrule")
        lines += [f"    {_cells(row, numeric)}" for row in table.foot]
    lines += [r"    \bottomrule", r"  \end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def camel(text: str) -> str:
    """Letters only, in CamelCase (see the module's docstring): 'lr_study/lr=0.01' → 'LrStudyLrEqZeroPointZeroOne'."""
    out = []
    for i, ch in enumerate(text):
        if ch.isascii() and ch.isdigit():
            out.append(DIGITS[int(ch)])
        elif ch.isascii() and ch.isalpha():
            prev = text[i - 1] if i else ""
            out.append(ch.upper() if not (prev.isascii() and prev.isalpha()) else ch)
        elif ch == "." and text[i - 1:i].isdigit() and text[i + 1:i + 2].isdigit():
            out.append("Point")
        elif ch in WORDS:
            out.append(WORDS[ch])
    return "".join(out)


def _suffix(n: int) -> str:
    """The n-th disambiguating suffix (from 0): B, C, …, Z, BB, BC, …"""
    letters = ""
    while True:
        n, r = divmod(n, 25)
        letters = chr(ord("B") + r) + letters
        if n == 0:
            return letters
        n -= 1


class CommandNames:
    """Hands out distinct `\\Rg…` command names in request order."""

    def __init__(self):
        self.used: set[str] = set()

    def name(self, *parts: str) -> str:
        base = "Rg" + "".join(camel(p) for p in parts)
        name, n = base, 0
        while name in self.used:
            name, n = base + _suffix(n), n + 1
        self.used.add(name)
        return name


def newcommand(name: str, text: str, key: str) -> str:
    """`\\newcommand{\\Name}{value}` with the results key it shows as a comment (its control characters shown as
    `?`: a line break would end the comment and make the rest of a name LaTeX)."""
    comment = "".join("?" if unicodedata.category(ch).startswith(("C", "Z")) and ch != " " else ch for ch in key)
    return f"\\newcommand{{\\{name}}}{{{escape(text)}}} % {comment}"
