"""Text made safe: from a submission for a terminal or a findings file (control and bidi characters shown
escaped), as a file-name-safe slug (the stable names of sections, tables and figures), and long ids cut where a
line may break."""

from __future__ import annotations

import json
import re
import unicodedata

# C0 controls but tab and newline, DEL, C1 controls (a lone 0x9b is a CSI on some terminals), the line and paragraph
# separators, the zero-width space (not the joiners some scripts need), and the bidirectional overrides and
# isolates that reorder what a reader sees
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """The text with every control sequence's characters written as visible escapes (`\\x1b]52;…`), lines kept."""
    return _UNSAFE.sub(_escaped, text)


def one_line(text: str) -> str:
    """printable(), with line breaks and tabs escaped too: for a value shown inside one line."""
    return printable(text).replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def json_text(data) -> str:
    """The one JSON of every `--format json`: keys in the order the command gives them (runs and models in the
    manifest's), two-space indent, everything past ASCII escaped (so a student's control or bidi characters reach
    no terminal), a trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def slug(text: str, limit: int = 48) -> str:
    """Lower-case ASCII words joined by hyphens, cut at a word boundary: 'Test metrics of base' → 'test-metrics-of-base'."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_.lower())
    out = ""
    for w in words:
        if out and len(out) + 1 + len(w) > limit:
            break
        out = f"{out}-{w}" if out else w[:limit]
    return out or "untitled"


LONG_WORD = 9  # a word this long (a run id, a path, a layer's dotted name) may not fit a narrow column
# after a separator of an id or a path: / _ =, and a dot before a name (not a decimal point)
AFTER_SEPARATOR = re.compile(r"(?<=[/_=])(?=[^/_=])|(?<=\.)(?=[^\W\d_])")


def break_points(word: str) -> list[str]:
    """A word in the pieces a line may break between (`lr_`, `study/`, `lr=`, `0.001`): one piece when short."""
    return AFTER_SEPARATOR.split(word) if len(word) >= LONG_WORD else [word]
