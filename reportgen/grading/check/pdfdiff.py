"""A submitted report.pdf's text, page by page, against the text of the re-rendered report: every word and number
the PDF shows must be the re-rendered report's, in its order, besides what the printed page adds around it (page
numbers, running headers and footers, table headers repeated on a new page)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher

from reportgen.grading.check.reading import read_page

# numbers (a sign only where one stands before them) and words; hyphens between letters are dropped on both sides,
# as PDF text extraction drops them where a line breaks
_TOKEN = re.compile(r"(?:(?<![^\s(])[+\-\u2212])?\d+(?:[.,]\d+)*|[^\W\d_]+")
_HYPHEN = re.compile(r"(?<=[^\W\d_])[-\u00ad\u2010\ufffe\x02]\s*(?=[^\W\d_])")  # pdfium: U+FFFE, U+0002
_INTEGER = re.compile(r"\d+")
CONTEXT = 6  # words shown either side of a difference
LISTED = 10  # differences listed; the rest are counted
BLOAT = 4  # a PDF with more than this many times the report's words (and 10,000 more) is not its print


@dataclass(frozen=True)
class Word:
    """One word or number of a text: as shown, and its page (None for the HTML's)."""

    shown: str
    page: int | None

    @property
    def key(self) -> str:
        """What is compared: case aside (print styles may upper-case a line)."""
        return self.shown.casefold()


def words(text: str, page: int | None = None) -> list[Word]:
    """The words and numbers of a text, hyphenated words joined."""
    return [Word(w, page) for w in _TOKEN.findall(_HYPHEN.sub("", text))]


def _shown(seq: list[Word], start: int, end: int) -> str:
    """The words start:end with CONTEXT words either side, … where cut."""
    lo, hi = max(0, start - CONTEXT), min(len(seq), end + CONTEXT)
    text = " ".join(w.shown for w in seq[lo:hi])
    return ("…" if lo else "") + (text[:240] + "…" if len(text) > 240 else text) + ("…" if hi < len(seq) else "")


def _by_page(run: list[Word]) -> list[list[Word]]:
    """A run of PDF words cut where its page changes."""
    pieces: list[list[Word]] = []
    for w in run:
        if pieces and pieces[-1][0].page == w.page:
            pieces[-1].append(w)
        else:
            pieces.append([w])
    return pieces


def _masked(piece: list[Word]) -> str:
    """A run's words without its integers: a running footer reads the same on every page."""
    return " ".join(w.key for w in piece if not _INTEGER.fullmatch(w.key))


class _Furniture:
    """What a printed page adds to the report's text: integers alone (page numbers), what repeats on at least half
    the pages (running headers and footers, integers aside; the report's own copy of one is printed in the margin
    instead), and runs of words the report itself holds (a table's header printed again on the next page)."""

    def __init__(self, html: list[Word], inserted: list[list[Word]], pages: int):
        """From the report's words, the runs only the PDF has, and its number of pages."""
        self.html = f" {' '.join(w.key for w in html)} "
        masks = Counter(_masked(p) for run in inserted for p in _by_page(run))
        self.repeated = {m for m, n in masks.items() if m and n >= max(2, pages // 2)}

    def added(self, piece: list[Word]) -> bool:
        """Whether a run only the PDF has is the page's, not the report's."""
        mask = _masked(piece)
        if not mask or mask in self.repeated:
            return True
        has_word = any(not w.key[-1:].isdigit() for w in piece)
        return has_word and f" {' '.join(w.key for w in piece)} " in self.html

    def moved(self, run: list[Word]) -> bool:
        """Whether a run only the report has is printed in the page margins instead (a running element)."""
        mask = f" {_masked(run)} "
        return mask.strip() != "" and any(mask in f" {r} " for r in self.repeated)


def _rebroken(mine: list[Word], printed: list[Word]) -> bool:
    """Whether two runs hold the same characters, cut into words elsewhere (a word or a hash broken across lines
    of a narrow column)."""
    return "".join(w.key for w in mine) == "".join(w.key for w in printed)


def _unexplained(mine: list[Word], printed: list[Word], furniture: _Furniture) -> tuple[str, int | None] | None:
    """(kind, page) of a difference printing does not explain, None when it does: the PDF's words left once the
    pages' own furniture is set aside must be the report's, or the report's words printed in the margins."""
    if mine and printed and _rebroken(mine, printed):
        return None
    kept = [w for piece in _by_page(printed) if not furniture.added(piece) for w in piece]
    if not mine:
        return ("insert", kept[0].page) if kept else None
    if not kept:
        return None if furniture.moved(mine) else ("delete", printed[0].page if printed else None)
    return None if _rebroken(mine, kept) else ("replace", kept[0].page)


def compare(page_texts: list[str], rendered_html: str) -> tuple[list[tuple[str, dict]], str]:
    """(findings, detail): each place where the PDF's words differ from the re-rendered report's, by page."""
    html = words(read_page(rendered_html).text)
    pdf = [w for number, text in enumerate(page_texts, 1) for w in words(text, number)]
    if len(pdf) > BLOAT * len(html) + 10_000:  # aligning that much text would take minutes: no report prints it
        return [(f"report.pdf holds {len(pdf):,} words and numbers, the re-rendered report {len(html):,}",
                 {"file": "report.pdf", "words": len(pdf), "rendered_words": len(html)})], "not compared (too long)"
    ops = SequenceMatcher(None, [w.key for w in html], [w.key for w in pdf]).get_opcodes()
    furniture = _Furniture(html, [pdf[j1:j2] for tag, _, _, j1, j2 in ops if tag == "insert"], len(page_texts))
    found: list[tuple[str, dict]] = []
    for tag, i1, i2, j1, j2 in ops:
        unexplained = None if tag == "equal" else _unexplained(html[i1:i2], pdf[j1:j2], furniture)
        if unexplained is None:
            continue
        tag, page = unexplained
        page = page or (pdf[min(j1, len(pdf) - 1)].page if pdf else None)
        shown, rendered = _shown(pdf, j1, j2), _shown(html, i1, i2)
        what = {"replace": f"«{shown}» where the re-rendered report has «{rendered}»",
                "insert": f"«{shown}», which the re-rendered report does not have",
                "delete": f"lacks «{rendered}» (near «{shown}»)"}[tag]
        found.append((f"report.pdf page {page}: {what}", {"file": "report.pdf", "page": page, "shown": shown,
                                                           "rendered": rendered}))
    listed = found[:LISTED]
    if len(found) > LISTED:
        listed.append((f"report.pdf: {len(found) - LISTED} more difference(s) from the re-rendered report's text",
                       {"file": "report.pdf", "more": len(found) - LISTED}))
    return listed, f"its text compared page by page with the re-rendered report's ({len(found)} difference(s))"
