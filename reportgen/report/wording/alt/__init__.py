"""Text alternatives of the figures: what each one plots, its ranges and extreme points, in the report's number
formats, computed from the same arguments as its drawing (a drawing function names its describer with
`described_by`; FigureCache.figure puts the text on the figure it hands out)."""

from __future__ import annotations

from typing import Callable

from reportgen.report.wording.formatting import num

LISTED = 10  # items named in a list before "and N more"


def described_by(describe: Callable[..., str]) -> Callable:
    """Decorator of a drawing function: its figure's text alternative is describe(*the drawing's arguments)."""
    def attach(draw_fn: Callable) -> Callable:
        draw_fn.alt_text = describe
        return draw_fn
    return attach


def alt_text(draw_fn: Callable, args: tuple) -> str:
    """The text alternative of the figure draw_fn(*args) draws."""
    describe = getattr(draw_fn, "alt_text", None)
    if describe is None:
        raise TypeError(f"{draw_fn.__module__}.{draw_fn.__qualname__} has no text alternative: decorate it with "
                        "reportgen.report.wording.alt.described_by")
    return describe(*args)


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 epoch', '1,293 images'."""
    return f"{num(n)} {word if n == 1 else (words or word + 's')}"


def listed(items: list[str], limit: int = LISTED) -> str:
    """Items joined by commas, the ones past `limit` counted: 'a, b, c and 4 more'."""
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {num(len(items) - limit)} more"


def joined(names: list[str]) -> str:
    """Names sharing an extreme value: 'a', 'a and b', 'a, b, c and 2 more'."""
    return " and ".join(names) if len(names) <= 2 else listed(names, 3)


def extreme(xs: list, ys: list, pick: Callable = max) -> tuple:
    """(x, y) of the first point whose y is the largest (pick=max) or smallest (pick=min)."""
    best = pick(ys)
    i = ys.index(best)
    return xs[i], ys[i]
