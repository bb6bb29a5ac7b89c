"""A document table as CSV for spreadsheets: every recorded number as a number (a percentage as 64.77 under a
header that says `(%)`, a duration in seconds), numbers printed together ('mean ± std', 'low to high') in columns
of their own, a run's id alone in its column (its ★ or status in a `…, note` column beside it), other text as the
report prints it, a missing number as an empty cell."""

from __future__ import annotations

import csv
import io

from reportgen.report.document.tree import Row, Table
from reportgen.report.wording.formatting import DASH

UNITS = {"pct": ("%", 100), "pts": ("percentage points", 100), "secs": ("s", 1)}  # spec → (unit, scale)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # incl. full-width forms


def inert(text: str) -> str:
    """Text a spreadsheet shows as text: one starting like a formula (a run id or class name a student chose, such
    as `=HYPERLINK(…)`) gets a leading apostrophe, as OWASP advises for CSV files."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _spec(keyed) -> str:
    return keyed.spec.partition(":")[0]


def _value(keyed) -> object:
    """A recorded value as the CSV writes it: numbers in the unit of their column, anything else as printed."""
    value, spec = keyed.value, _spec(keyed)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return inert(keyed.text)
    unit = UNITS.get(spec)
    return round(value * unit[1], 10) if unit and unit[1] != 1 else value


def _note(cell) -> str:
    """What a naming cell shows besides the name (a run's ★ or status), for a column of its own."""
    return cell.text.removeprefix(cell.ident).strip() if cell.ident and cell.text.startswith(cell.ident) else ""


class Layout:
    """How the table's columns become CSV columns: how many numbers each holds, their names and unit."""

    def __init__(self, table: Table):
        width = table.width()
        self.counts, self.names = [1] * width, [()] * width
        specs: dict[tuple[int, int], set] = {}  # (column, number within it) → the formats found there
        for r in [*table.body, *table.foot]:
            for i, cell in self.placed(r):
                if cell.pure and cell.span == 1:
                    if len(cell.parts) > self.counts[i]:
                        self.counts[i], self.names[i] = len(cell.parts), cell.names
                    for k, keyed in enumerate(cell.parts):
                        specs.setdefault((i, k), set()).add(_spec(keyed))
        self.units = {at: UNITS[next(iter(found))][0] for at, found in specs.items()
                      if len(found) == 1 and next(iter(found)) in UNITS}
        self.noted = {i for r in [*table.body, *table.foot] for i, cell in self.placed(r) if _note(cell)}
        for i in self.noted:  # the name, then what the report shows beside it
            self.counts[i] = 2

    @staticmethod
    def placed(r: Row):
        """(column, cell) of each cell of a row."""
        i = 0
        for cell in r.cells:
            yield i, cell
            i += cell.span

    def header(self, r: Row) -> list[str]:
        out = []
        for i, cell in self.placed(r):
            if cell.span > 1:
                out += [inert(cell.text)] + [""] * (sum(self.counts[i:i + cell.span]) - 1)
                continue
            if i in self.noted:
                out += [inert(cell.text), inert(f"{cell.text}, note")]
                continue
            units = [f" ({self.units[i, k]})" if (i, k) in self.units and cell.text else ""
                     for k in range(self.counts[i])]
            if self.counts[i] == 1:
                out.append(inert(cell.text + units[0]))
            else:
                out += [inert(f"{cell.text}{', ' + name if name else ''}{unit}")
                        for name, unit in zip(self.names[i], units)]
        return out

    def values(self, r: Row) -> list:
        out = []
        for i, cell in self.placed(r):
            wide = sum(self.counts[i:i + cell.span])
            if i in self.noted:
                out += [inert(cell.ident or cell.text), inert(_note(cell))]
                continue
            if cell.pure and cell.span == 1:
                shown = [_value(k) for k in cell.parts]
            elif cell.numeric and not cell.parts and cell.text == DASH:
                shown = [""]  # a number the record lacks
            else:
                shown = [inert(cell.text)]
            out += shown + [""] * (wide - len(shown))
        return out


def csv_text(table: Table) -> str:
    """The table as CSV: its header rows (units added), then body and footer rows with numbers as numbers."""
    layout = Layout(table)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)  # text quoted: no `;` splits it
    for r in table.head:
        writer.writerow(layout.header(r))
    for r in [*table.body, *table.foot]:
        values = layout.values(r)
        if not table.head and len(r.cells) == 2 and r.cells[0].header and r.cells[1].pure:
            unit = UNITS.get(_spec(r.cells[1].parts[0]), ("",))[0]  # labelled rows: the unit goes in the label
            values[0] = inert(r.cells[0].text + (f" ({unit})" if unit else ""))
        writer.writerow(values)
    return buf.getvalue()
