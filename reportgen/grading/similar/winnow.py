"""Winnowed fingerprints (Schleimer, Wilkerson and Aiken, 2003) of normalised prose words and Python tokens.

Hand-written rather than `copydetect`'s: copydetect brings numpy (this package never imports it), opens the files
by path itself (a submission is read only through grading/files.py) and compares pairs of files, where a class
needs one inverted index over every submission. Hashes are 8 bytes of BLAKE2b of the k-gram's normalised tokens,
the same in every process and on every machine (Python's own hash() is salted per process).
"""

from __future__ import annotations

import builtins
from array import array
import io
import keyword
import re
import tokenize
from dataclasses import dataclass
from hashlib import blake2b

PROSE_K, PROSE_W = 5, 4  # 5-word k-grams; any 8 words in a row shared are sure to be seen
CODE_K, CODE_W = 12, 6  # 12-token k-grams; any 17 tokens in a row (about two lines) shared are sure to be seen

_WORD = re.compile(r"[^\W_]+(?:[.,'’][^\W_]+)*")
_DIGIT = re.compile(r"\d")
# names a renamed copy keeps: the language, its builtins and `self`; imported names are added per file
_KEPT = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) | {"self", "cls"}
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
         tokenize.ENDMARKER}
_FALLBACK = re.compile(r"""(?P<c>\#[^\n]*)|(?P<s>[rbfuRBFU]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"
    |'[^'\n]*'|"[^"\n]*"))|(?P<n>\d[\w.]*)|(?P<i>[^\W\d]\w*)|(?P<o>[^\s\w])""", re.X)


class Spans:
    """Character spans kept as two arrays of integers: a class's worth of tuples would take gigabytes."""

    def __init__(self, spans: list[tuple[int, int]]):
        self.starts = array("q", (a for a, _ in spans))
        self.ends = array("q", (b for _, b in spans))

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[int, int]:
        return self.starts[i], self.ends[i]


@dataclass(frozen=True)
class Tokens:
    """A document's normalised tokens, each with the character span of the source text it stands for."""

    words: list[str]
    spans: list[tuple[int, int]] | Spans

    def compact(self) -> Tokens:
        """The spans alone, compactly (the words are needed only until the document is fingerprinted)."""
        return Tokens([], Spans(list(self.spans)))


def prose_tokens(text: str) -> Tokens:
    """Casefolded words; any word with a digit in it (a number, `3x3`, `97.2`) becomes the one token "0"."""
    words, spans = [], []
    for m in _WORD.finditer(text):
        word = m.group().casefold()
        words.append("0" if _DIGIT.search(word) else word)
        spans.append(m.span())
    return Tokens(words, spans)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts += [m.end() for m in re.finditer("\n", text)]
    return starts


def _raw_python(text: str) -> list[tuple[str, str, int, int]]:
    """(kind, text, start, end) of each significant token: tokenize's, else a regex's for a file it cannot read."""
    starts = _line_starts(text)
    out: list[tuple[str, str, int, int]] = []
    try:
        previous = tokenize.NEWLINE
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            start = starts[tok.start[0] - 1] + tok.start[1]
            end = starts[tok.end[0] - 1] + tok.end[1]
            docstring = tok.type == tokenize.STRING and previous in (tokenize.NEWLINE, tokenize.INDENT,
                                                                      tokenize.DEDENT)
            if tok.type not in (tokenize.COMMENT, tokenize.NL):
                previous = tok.type
            if tok.type in _SKIP or docstring:
                continue
            kind = {tokenize.NAME: "i", tokenize.NUMBER: "n", tokenize.STRING: "s"}.get(tok.type, "o")
            out.append((kind, tok.string, start, end))
        return out
    except (tokenize.TokenError, SyntaxError, IndexError):
        out = []
    for m in _FALLBACK.finditer(text):
        if m.lastgroup != "c":
            out.append((m.lastgroup or "o", m.group(), m.start(), m.end()))
    return out


def _imported(raw: list[tuple[str, str, int, int]], text: str) -> set[str]:
    """Every name on an `import` or `from … import` line: modules and what they give keep their names."""
    names = set()
    for kind, tok, start, _ in raw:
        if kind == "i":
            line = text[text.rfind("\n", 0, start) + 1:start].lstrip()
            if line.startswith(("import ", "from ")) or tok in ("import", "from"):
                names.add(tok)
    return names


def code_tokens(text: str) -> Tokens:
    """Python tokens with comments, docstrings and layout dropped, strings "S", numbers "N", and every name the
    student chose "V"; keywords, builtins, `self`, imported names and attributes reached through them (`nn.Conv2d`,
    `F.relu`) stay, since renaming those changes what the code does."""
    raw = _raw_python(text)
    imported = _imported(raw, text)
    kept = _KEPT | imported
    words, spans, reach = [], [], False  # reach: the name before a dot is an imported one or reached through one
    for kind, tok, start, end in raw:
        if kind == "i":
            through = reach and words[-1] == "."
            word = tok if tok in kept or through else "V"
            reach = through or tok in imported
        else:
            word = {"s": "S", "n": "N"}.get(kind, tok)
            reach = reach and tok == "."
        words.append(word)
        spans.append((start, end))
    return Tokens(words, spans)


def _hash(gram: list[str]) -> int:
    return int.from_bytes(blake2b("\x1f".join(gram).encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def winnow(words: list[str], k: int, w: int) -> dict[int, list[int]]:
    """The winnowed fingerprints of a token list: each selected k-gram hash with the token indices it starts at."""
    hashes = [_hash(words[i:i + k]) for i in range(len(words) - k + 1)]
    chosen: dict[int, list[int]] = {}
    last = -1
    for start in range(max(len(hashes) - w + 1, 1 if hashes else 0)):
        window = hashes[start:start + w]
        low = min(window)
        pos = start + max(i for i, h in enumerate(window) if h == low)  # the rightmost minimum, as the paper says
        if pos != last:
            chosen.setdefault(low, []).append(pos)
            last = pos
    return chosen
