"""Matched fingerprints merged into passages: both sides' source, lines and text, with the matched spans marked."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from reportgen.grading.similar.sources import Document

TOP = 5  # passages shown per pair and kind
MAX_LINES = 40  # lines of a side shown; a longer passage is cut
MAX_MATCHES = 20_000
OCCURRENCES = 3  # of one fingerprint in one document: boilerplate repeated a hundred times is not a hundred matches
_OPEN = 64  # chains a match may extend (the most recent ones)


@dataclass(frozen=True)
class Side:
    """One side of a passage: where it is and its text, with the matched character spans in that text."""

    source: str
    lines: tuple[int, int] | None  # first and last line, 1-based; None for a manifest's definition
    text: str
    marks: tuple[tuple[int, int], ...]

    def record(self) -> dict:
        """JSON-ready."""
        return {"source": self.source, "lines": list(self.lines) if self.lines else None, "text": self.text,
                "marks": [list(m) for m in self.marks]}


@dataclass(frozen=True)
class Passage:
    """Matching text of two submissions, side by side; `size` is how many fingerprints it shares."""

    a: Side
    b: Side
    size: int

    def record(self) -> dict:
        """JSON-ready."""
        return {"size": self.size, "a": self.a.record(), "b": self.b.record()}


Occurrences = dict[int, list[tuple[int, int]]]  # fingerprint → (document index, token index) where it starts


Match = tuple[int, int, int, int, int]  # document a, document b, token a, token b, fingerprint


def _matches(shared: set[int], a: Occurrences, b: Occurrences) -> list[Match]:
    out = []
    for fp in shared:
        for da, pa in a[fp][:OCCURRENCES]:
            out += [(da, db, pa, pb, fp) for db, pb in b[fp][:OCCURRENCES]]
        if len(out) > MAX_MATCHES:
            break
    return sorted(out)


def _chains(matches: list[Match], gap: int, k: int) -> list[list[Match]]:
    """Matches grouped into runs that go forward together on both sides, allowing gaps of `gap` tokens."""
    chains: dict[tuple[int, int], list[list]] = defaultdict(list)
    for m in matches:
        open_ = chains[m[:2]]
        for chain in reversed(open_[-_OPEN:]):
            lpa, lpb = chain[-1][2:4]
            if m[2] - lpa <= gap and -k <= m[3] - lpb <= gap:
                chain.append(m)
                break
        else:
            open_.append([m])
    return [c for cs in chains.values() for c in cs]


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _side(doc: Document, positions: list[int], k: int) -> Side:
    """The lines of doc holding the matched k-grams starting at these token positions, matched spans marked."""
    spans = doc.tokens.spans
    chars = _merged([(spans[p][0], spans[min(p + k, len(spans)) - 1][1]) for p in positions])
    first, last = chars[0][0], chars[-1][1]
    line_a = doc.text.count("\n", 0, first) + 1
    start = doc.text.rfind("\n", 0, first) + 1
    end = doc.text.find("\n", last)
    end = len(doc.text) if end < 0 else end
    line_b = line_a + doc.text.count("\n", start, end)
    if line_b - line_a >= MAX_LINES:
        end = start
        for _ in range(MAX_LINES):
            nxt = doc.text.find("\n", end + 1)
            end = len(doc.text) if nxt < 0 else nxt
        line_b = line_a + MAX_LINES - 1
    marks = tuple((max(s, start) - start, min(e, end) - start) for s, e in chars if s < end)
    return Side(doc.name, (line_a, line_b), doc.text[start:end], marks)


def passages(shared: set[int], a: tuple[list[Document], Occurrences], b: tuple[list[Document], Occurrences],
             k: int, gap: int) -> list[Passage]:
    """The TOP longest matching passages of two submissions' documents of one kind (of at least two fingerprints),
    leaving out one whose fingerprints a longer one already shows (the report's prose repeats its Markdown)."""
    chains = _chains(_matches(shared, a[1], b[1]), gap, k)
    chains.sort(key=lambda c: (-len(c), c[0]))
    out: list[Passage] = []
    shown: set[int] = set()
    for chain in chains:
        prints = {m[4] for m in chain}
        if len(out) == TOP or len(chain) < 2:
            break
        if len(prints & shown) * 2 > len(prints):
            continue
        shown |= prints
        da, db = chain[0][0], chain[0][1]
        out.append(Passage(_side(a[0][da], [m[2] for m in chain], k), _side(b[0][db], [m[3] for m in chain], k),
                           len(chain)))
    return out
