"""Numbers tied to their results key: printed as <span data-key="runs.x.test.accuracy" data-fmt="pct">, so that
`reportgen check` can recompute every shown number from the report's embedded results."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from reportgen.report.wording.formatting import FILTERS
from reportgen.results.keys import key_of, resolve


SPAN = '<span data-key="{}" data-fmt="{}">{}</span>'  # a keyed number as the HTML prints it (prose's too)
# one of digits alone ('122,570'): the print HTML drops its span (reportgen.report.writers.html)
DIGITS_ONLY_SPAN = re.compile(r'<span data-key="[^"<>]*" data-fmt="[^"<>]*">([0-9.,]+)</span>')


def fmt_spec(fmt: str, digits: int | None = None) -> str:
    """The data-fmt attribute: a formatter name, with its digits when given ('pct', 'pct:1', 'sig:4')."""
    return fmt if digits is None else f"{fmt}:{digits}"


def format_spec(value, spec: str) -> str:
    """A value as the formatter named by a data-fmt spec prints it (KeyError/ValueError for an unknown spec)."""
    name, _, digits = spec.partition(":")
    return FILTERS[name](value, int(digits)) if digits else FILTERS[name](value)


class Keyed:
    """One recorded number, formatted, that renders as a span carrying its results key."""

    __slots__ = ("key", "spec", "value", "found")

    def __init__(self, key: str, value, spec: str = "num", found: bool = True):
        self.key, self.value, self.spec, self.found = key, value, spec, found

    @property
    def text(self) -> str:
        """The number as printed."""
        return format_spec(self.value, self.spec)

    def __html__(self) -> str:
        if not self.found:  # nothing recorded there: a dash, tied to no key
            return str(escape(self.text))
        return Markup(SPAN).format(self.key, self.spec, self.text)

    def __str__(self) -> str:
        return self.text


def _flat(parts) -> list:
    out = []
    for part in parts:
        out.extend(_flat(part) if isinstance(part, (tuple, list)) else [part])
    return out


def at(results: dict, *parts, fmt: str = "num", digits: int | None = None) -> Keyed:
    """The number at a results path (tuples among the parts are spliced in), keyed; a path the record lacks shows
    a dash and is keyed to nothing."""
    return at_in(results, (), *parts, fmt=fmt, digits=digits)


def at_in(record: dict, prefix: tuple, *parts, fmt: str = "num", digits: int | None = None) -> Keyed:
    """The number at `parts` inside `record`, keyed as prefix + parts (a run record is results' runs.<id>)."""
    path, spec = _flat(parts), fmt_spec(fmt, digits)
    key = key_of(*_flat(prefix), *path)
    try:
        return Keyed(key, resolve(record, key_of(*path)), spec)
    except KeyError:
        return Keyed(key, None, spec, found=False)


class Joined:
    """Keyed numbers printed in a row with a separator ('mean ± std', 'low to high', 'train / validation'); `names`
    says what each one is, for outputs that put them in columns of their own."""

    __slots__ = ("parts", "sep", "names", "end")

    def __init__(self, parts, sep: str, names: tuple[str, ...], end: str = ""):
        self.parts, self.sep, self.names, self.end = tuple(parts), sep, names, end

    def __html__(self) -> str:
        if not self.parts:
            return Markup(escape(self.end))
        if not self.sep.startswith(" "):
            return Markup(escape(self.sep)).join(self.parts) + self.end
        # a line may break before the separator, never after it: '98.61 %' over '± 0.48 %'
        joint = Markup('<span class="joint">{}{}</span>')
        return Markup(" ").join([self.parts[0], *(joint.format(self.sep[1:], p) for p in self.parts[1:])]) + self.end

    def __str__(self) -> str:
        return self.sep.join(str(p) for p in self.parts) + self.end


class Emphasis:
    """A number (or numbers) printed in bold: the best run's."""

    __slots__ = ("inner",)

    def __init__(self, inner):
        self.inner = inner

    def __html__(self) -> str:
        return Markup("<strong>{}</strong>").format(self.inner)

    def __str__(self) -> str:
        return str(self.inner)


class Fixed:
    """A number a table states without recording it (the 100 % of a total, a share worked out from two recorded
    counts): printed as its formatter prints it, tied to no results key."""

    __slots__ = ("value", "spec")
    key = None

    def __init__(self, value, spec: str = "num"):
        self.value, self.spec = value, spec

    @property
    def found(self) -> bool:
        return self.value is not None

    @property
    def text(self) -> str:
        return format_spec(self.value, self.spec)

    def __html__(self) -> str:
        return str(escape(self.text))

    def __str__(self) -> str:
        return self.text
