"""A submitted report.html against its re-rendering: each difference a finding located by section (its h2 title, or
the part of the page around the sections), with a short text diff."""

from __future__ import annotations

import html as html_lib
import re
from bisect import bisect_right
from dataclasses import dataclass
from difflib import SequenceMatcher

_EMBEDDED = {"reportgen-results": "embedded results", "reportgen-provenance": "embedded provenance"}
_TAG = re.compile(r"<[^>]*>")
_KEYED = re.compile(r'(<span data-key="([^"]*)" data-fmt="[^"]*">)[^<]*(</span>)')
_WHOLE = {"stylesheet", "script", *_EMBEDDED.values()}  # parts that are one element: no kind to add
WIDTH = 120  # characters of a line shown around its first difference
PER_SECTION = 5  # differences listed per section; the rest are counted
TOTAL = 40  # differences listed per report
BLOAT = 4  # a page this many times its re-rendering's length (and 1 MiB more) is not compared line by line


@dataclass
class Region:
    """Consecutive lines of one part of the page: a section (by its h2 title) or a part of the head."""

    label: str
    section: str | None  # the h2 title when the part is a section
    start: int  # index of its first line in the document
    lines: list[str]


def _title(inner: str) -> str:
    """An h2's text without tags, entities or its number ('5 Model Evaluation' → 'Model Evaluation')."""
    text = re.sub(r"\s+", " ", html_lib.unescape(_TAG.sub("", inner))).strip()
    return re.sub(r"^\d+(\.\d+)*\s+", "", text) or "(untitled section)"


def _elements(text: str, tag: str, start: int, stop: int):
    """(start, end of its opening tag, end) of each <tag>…</tag> in text[start:stop], in one pass: every search
    starts where the last ended (a lazy regex would rescan the rest of a page full of unclosed tags)."""
    position = start
    while (begin := text.find(f"<{tag}", position, stop)) >= 0:
        after = text[begin + len(tag) + 1:begin + len(tag) + 2]
        if after.isalnum():  # <h2x>, <scripts>: another name
            position = begin + 1
            continue
        close = text.find(f"</{tag}", begin, stop)
        if close < 0:
            return
        opened, closed = text.find(">", begin, close), text.find(">", close, stop)
        end = stop if closed < 0 else closed + 1
        yield begin, (close if opened < 0 else opened + 1), end
        position = end


def _events(text: str) -> list[tuple[int, str, str | None]]:
    """(offset, label, section title) where each part of the page begins, in order."""
    body = text.find("<body")
    body = len(text) if body < 0 else body
    events = [(0, "<head>", None)]
    for begin, _, end in _elements(text, "style", 0, body):
        events += [(begin, "stylesheet", None), (end, "<head>", None)]
    for begin, opened, end in _elements(text, "script", 0, body):
        ident = re.search(r'\bid="([^"]*)"', text[begin:opened])
        events += [(begin, _EMBEDDED.get(ident[1] if ident else "", "script"), None), (end, "<head>", None)]
    events.append((body, "cover", None))
    for begin, opened, end in _elements(text, "h2", body, len(text)):
        title = _title(text[opened:end].rpartition("</h2")[0])
        events.append((text.rfind("\n", 0, begin) + 1, title, title))
    end = text.find("</body", body)
    if end >= 0:
        events.append((end, "after the last section", None))
    return sorted(events, key=lambda e: e[0])


def regions(text: str) -> list[Region]:
    """The page cut into regions at its parts: head, stylesheet, embedded JSON, cover, each h2 section, the end."""
    events = _events(text)
    offsets = [e[0] for e in events]
    out: list[Region] = []
    position = 0
    for index, line in enumerate(text.split("\n")):
        _, label, section = events[max(0, bisect_right(offsets, position) - 1)]
        if out and out[-1].label == label:
            out[-1].lines.append(line)
        else:
            out.append(Region(label, section, index, [line]))
        position += len(line) + 1
    return out


def _clip(line: str, at: int) -> str:
    """WIDTH characters of a line around position `at`, with … where cut."""
    start = max(0, min(at - WIDTH // 3, len(line) - WIDTH))
    return ("…" if start else "") + line[start:start + WIDTH].strip() + ("…" if start + WIDTH < len(line) else "")


def _first_difference(a: str, b: str) -> int:
    """Where two lines first differ (the shorter one's length when one begins the other)."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _inside(lines: list[str], upto: int) -> str | None:
    """The element kind a line stands in, when it is a figure (SVG), a style block or a script."""
    before = "\n".join(lines[:upto])
    for tag, kind in (("svg", "figure"), ("style", "style block"), ("script", "script")):
        if before.rfind(f"<{tag}") > before.rfind(f"</{tag}"):
            return kind
    return None


def _blank_keyed(lines: list[str], keys: set[str]) -> list[str]:
    """The lines with the text of the keyed numbers named in `keys` taken out."""
    return [_KEYED.sub(lambda m: m[1] + m[3] if m[2] in keys else m[0], line) for line in lines]


def _hunks(a: list[str], b: list[str]) -> list[tuple[int, int, int, int]]:
    """(i1, i2, j1, j2) of each change from b (re-rendered) to a (submitted), common ends trimmed first."""
    head = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    a_mid, b_mid = a[head:len(a) - tail], b[head:len(b) - tail]
    matcher = SequenceMatcher(None, b_mid, a_mid, autojunk=len(a_mid) + len(b_mid) > 4000)
    out = []
    for group in matcher.get_grouped_opcodes(1):
        changed = [op for op in group if op[0] != "equal"]
        j1, i1 = changed[0][1], changed[0][3]
        j2, i2 = changed[-1][2], changed[-1][4]
        out.append((head + i1, head + i2, head + j1, head + j2))
    return out


def _describe(mine: list[str], theirs: list[str]) -> tuple[str, str]:
    """(one-line summary, a few lines of diff) of submitted lines `mine` against re-rendered lines `theirs`."""
    if mine and theirs:
        at = _first_difference(mine[0], theirs[0])
        shown, wanted = _clip(mine[0], at), _clip(theirs[0], at)
        summary = f"the submitted report has «{shown}» where the re-rendered one has «{wanted}»"
    elif mine:
        summary = f"the submitted report adds «{_clip(mine[0], 0)}»"
    else:
        summary = f"the submitted report lacks «{_clip(theirs[0], 0)}»"
    extra = max(len(mine), len(theirs)) - 1
    if extra > 0:
        summary += f" ({extra} more line(s))"
    diff = [f"- {_clip(line, _first_difference(line, mine[k] if k < len(mine) else ''))}"
            for k, line in enumerate(theirs[:3])]
    diff += [f"+ {_clip(line, _first_difference(line, theirs[k] if k < len(theirs) else ''))}"
             for k, line in enumerate(mine[:3])]
    return summary, "\n".join(diff)


def _finding(region: Region | None, hunk: tuple[int, int, int, int], rendered: Region | None) -> tuple[str, dict]:
    """One difference as (message, where); `region` is None for a part only the re-rendered page has."""
    i1, i2, j1, j2 = hunk
    mine = region.lines[i1:i2] if region is not None else []
    theirs = rendered.lines[j1:j2] if rendered is not None else []
    part = region or rendered
    kind = None
    if part.label not in _WHOLE:
        kind = _inside(region.lines, i1) if mine else (_inside(rendered.lines, j1) if rendered else None)
    summary, diff = _describe(mine, theirs)
    line = region.start + i1 + 1 if region is not None else None
    place = part.label + (f" › {kind}" if kind else "")
    return (f"{place}: {f'line {line}: ' if line else ''}{summary}",
            {"section": part.section, "part": part.label, "in": kind, "line": line,
             "rendered_line": (rendered.start + j1 + 1) if rendered is not None else None, "diff": diff})


def _pairs(mine: list[Region], theirs: list[Region]):
    """(submitted region or None, re-rendered region or None), matched by their labels in order."""
    matcher = SequenceMatcher(None, [r.label for r in theirs], [r.label for r in mine], autojunk=False)
    for tag, j1, j2, i1, i2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and j2 - j1 == i2 - i1):
            yield from zip(mine[i1:i2], theirs[j1:j2])
            continue
        yield from ((r, None) for r in mine[i1:i2])
        yield from ((None, r) for r in theirs[j1:j2])


def compare(submitted: str, rendered: str, keyed: set[str] = frozenset()) -> list[tuple[str, dict]]:
    """Every difference of the submitted page from its re-rendering; those only in keyed numbers already named by the
    numbers check (`keyed`: their keys) are left to it."""
    if submitted == rendered:
        return []
    if len(submitted) > BLOAT * len(rendered) + (1 << 20):  # not an edited report: no use diffing it line by line
        return [(f"the submitted report is {len(submitted):,} characters long, its re-rendering {len(rendered):,}",
                 {"section": None, "part": None, "characters": len(submitted), "rendered": len(rendered)})]
    found: list[tuple[str, dict]] = []
    for mine, theirs in _pairs(regions(submitted), regions(rendered)):
        region = mine or theirs
        a, b = (mine.lines if mine else []), (theirs.lines if theirs else [])
        if a == b:
            continue
        hunks = [h for h in _hunks(a, b) if _blank_keyed(a[h[0]:h[1]], keyed) != _blank_keyed(b[h[2]:h[3]], keyed)]
        listed = hunks[:PER_SECTION] if len(found) < TOTAL else []
        found += [_finding(mine, h, theirs) for h in listed]
        if len(hunks) > len(listed):
            found.append((f"{region.label}: {len(hunks) - len(listed)} more difference(s) from the re-rendered "
                          "report", {"section": region.section, "part": region.label,
                                     "more": len(hunks) - len(listed)}))
    return found
