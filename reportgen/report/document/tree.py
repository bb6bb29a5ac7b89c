"""The document's tables as data: rows of cells, each cell holding what it shows with the keyed numbers in it (their
values and results keys), so that HTML, LaTeX, CSV and Markdown are all laid out from the same cells."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from reportgen import toolpage
from reportgen.report.document.keyed import Emphasis, Fixed, Joined, Keyed

TAGS = re.compile(r"<[^>]*>")
FOLDING = 32  # a table's first 32 bodies fold (the stylesheet has a rule for each: writers.html.fold_rules)
WHITESPACE = re.compile(r"[ \t\n\r\f]+")  # HTML's whitespace; a no-break space is kept as printed


def breakable(text: str) -> Markup:
    """Text, escaped, with a line-break opportunity (<wbr>) after each separator of its long words (as on grade's
    and diff's pages: toolpage.breakable); markup as it is."""
    return escape(text) if hasattr(text, "__html__") else Markup(toolpage.breakable(text))


def plain(markup) -> str:
    """Text as a browser shows it: tags dropped, entities read, runs of HTML whitespace one space."""
    return WHITESPACE.sub(" ", html.unescape(TAGS.sub("", str(escape(markup))))).strip(" ")


@dataclass(frozen=True)
class Cell:
    """One table cell: its content (a keyed number, keyed numbers joined, text or trusted markup) and layout."""

    content: object = None
    header: bool = False  # a <th>
    numeric: bool = False  # right-aligned: class="num"
    span: int = 1
    classes: str = ""  # further classes, after "num"
    attrs: tuple[tuple[str, str | None], ...] = ()  # further attributes in order; None: one without a value
    ident: str | None = None  # what the cell names, for outputs that join on it (a run's id without ★ or status)

    @property
    def tag(self) -> str:
        return "th" if self.header else "td"

    @property
    def html(self) -> Markup:
        if self.content is None:
            return Markup("")
        plain_text = isinstance(self.content, str) and not hasattr(self.content, "__html__")
        return breakable(self.content) if plain_text else escape(self.content)

    @property
    def text(self) -> str:
        """The cell as printed, in plain text."""
        return plain(self.html)

    @property
    def _shown(self):
        return self.content.inner if isinstance(self.content, Emphasis) else self.content

    @property
    def parts(self) -> tuple[Keyed | Fixed, ...]:
        """The numbers the cell shows, in order (none for text): recorded ones with their keys, stated ones without."""
        shown = self._shown
        if isinstance(shown, (Keyed, Fixed)):
            return (shown,) if shown.found else ()
        if isinstance(shown, Joined):
            return tuple(p for p in shown.parts if isinstance(p, (Keyed, Fixed)) and p.found)
        return ()

    @property
    def names(self) -> tuple[str, ...]:
        """What each of several numbers is ('mean', 'std'); empty for one number."""
        return self._shown.names if isinstance(self._shown, Joined) and len(self.parts) > 1 else ()

    @property
    def pure(self) -> bool:
        """Whether the cell shows nothing but its recorded numbers (and their separators)."""
        shown = self._shown
        if isinstance(shown, (Keyed, Fixed)):
            return shown.found
        return isinstance(shown, Joined) and len(self.parts) == len(shown.parts)

    def attributes(self) -> list[tuple[str, str | None]]:
        """The HTML attributes in the order they are printed."""
        classes = " ".join(c for c in ("num" if self.numeric else "", self.classes) if c)
        out = [("class", classes)] if classes else []
        out += [("colspan", str(self.span))] if self.span > 1 else []
        return out + list(self.attrs)


def code(name) -> Markup:
    """A module, layer or file name, or a hash, set as code."""
    return Markup("<code>{}</code>").format(breakable(name))


def td(content=None, classes: str = "", span: int = 1, ident: str | None = None, **data) -> Cell:
    """A text cell; keyword arguments become data-* attributes (data_run → data-run)."""
    return Cell(content, classes=classes, span=span, attrs=_data(data), ident=ident)


def num(content=None, classes: str = "", span: int = 1, **data) -> Cell:
    """A number cell, right-aligned."""
    return Cell(content, numeric=True, classes=classes, span=span, attrs=_data(data))


def th(content=None, classes: str = "", span: int = 1, numeric: bool = False, **data) -> Cell:
    """A header cell (of a column, or a footer's label)."""
    return Cell(content, header=True, numeric=numeric, classes=classes, span=span, attrs=_data(data))


def rowhead(content=None) -> Cell:
    """The header of a row (`<th scope="row">`)."""
    return Cell(content, header=True, attrs=(("scope", "row"),))


def _data(data: dict) -> tuple[tuple[str, str | None], ...]:
    return tuple((name.replace("_", "-"), None if value is True else str(value)) for name, value in data.items())


@dataclass
class Row:
    cells: list[Cell]
    classes: str = ""
    attrs: tuple[tuple[str, str | None], ...] = ()

    def attributes(self) -> list[tuple[str, str | None]]:
        return list(self.attrs) + ([("class", self.classes)] if self.classes else [])


def row(*cells: Cell, classes: str = "", **data) -> Row:
    """A table row; keyword arguments become data-* attributes."""
    return Row(list(cells), classes, _data(data))


@dataclass
class Body:
    """One <tbody>: a group of rows (a model's block, say), which folds on screen when it names what it holds."""

    rows: list[Row]
    classes: str = ""
    fold: str | None = None  # the block's name: its rows after the first fold away on screen


@dataclass
class Table:
    """A table: number (None: unnumbered), caption, stable name and rows by part."""

    number: int | None
    caption: object
    name: str = ""
    classes: str = "data"
    head: list[Row] = field(default_factory=list)
    bodies: list[Body] = field(default_factory=list)
    foot: list[Row] = field(default_factory=list)

    @property
    def id(self) -> str | None:
        return f"tab-{self.number}" if self.number is not None else None

    @property
    def anchor(self) -> str:
        """What the table's element ids start with: its number's id, else its stable name."""
        return self.id or self.name

    @property
    def caption_id(self) -> str:
        return f"{self.anchor}-caption"

    def fold_id(self, k: int) -> str | None:
        """The id of the box that folds body `k` (counted from 0); None past the bodies that can fold."""
        return f"{self.anchor}-fold-{k + 1}" if k < FOLDING else None

    @property
    def has_folds(self) -> bool:
        return any(b.fold for b in self.bodies)

    @property
    def caption_text(self) -> str:
        return plain(self.caption)

    @property
    def body(self) -> list[Row]:
        return [r for b in self.bodies for r in b.rows]

    @body.setter
    def body(self, rows: list[Row]) -> None:
        self.bodies = [Body(list(rows))]

    def rows(self) -> list[Row]:
        return [*self.head, *self.body, *self.foot]

    def width(self) -> int:
        return max((sum(c.span for c in r.cells) for r in self.rows()), default=0)

    def numeric_columns(self) -> list[bool]:
        """Whether each column holds numbers (its body cells are right-aligned)."""
        columns = [False] * self.width()
        for r in self.body or self.foot:
            i = 0
            for cell in r.cells:
                if cell.numeric and cell.span == 1 and i < len(columns):
                    columns[i] = True
                i += cell.span
        return columns
