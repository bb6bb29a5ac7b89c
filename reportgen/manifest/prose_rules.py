"""Rules of the prose language that checking a manifest and rendering its prose both apply: written once here."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

# code spans and fenced blocks: no reference is expanded and no image embedded inside them
CODE = re.compile(r"^(```|~~~).*?^\1[^\n]*$|`[^`\n]+`", re.MULTILINE | re.DOTALL)


def code_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every code span and fenced block of a prose text."""
    return [(m.start(), m.end()) for m in CODE.finditer(text)]


def inside(position: int, spans: list[tuple[int, int]]) -> bool:
    """Whether a position of the text lies in one of the spans."""
    return any(start <= position < end for start, end in spans)


class ImageRefused(ValueError):
    """A prose image the report does not embed; the message says why."""


def image_path(src: str, root: Path | None, here: Path | None) -> Path:
    """The real path of a prose image (`src` as written, relative to the prose file's folder `here`) inside the
    manifest's folder `root`, or ImageRefused saying why not. Checking a manifest and rendering its prose both
    apply these rules; rendering then reads and decodes the file."""
    low = src.strip().lower()
    if low.startswith("file:"):
        raise ImageRefused("file: URLs are not allowed")
    if low.startswith(("http:", "https:", "//")):
        raise ImageRefused("remote images are not fetched")
    if low.startswith("data:"):
        raise ImageRefused("data: URIs written in prose are not accepted; put the image in a file beside the manifest")
    scheme = re.match(r"([a-z][a-z0-9+.-]+):", low)
    if scheme and not re.match(r"[a-z]:[\\/]", low):
        raise ImageRefused(f"{scheme.group(1)}: URLs are not allowed")
    path = unquote(src.strip())
    if not path or "\x00" in path:
        raise ImageRefused("no usable image path")
    if root is None:
        raise ImageRefused("images are embedded only in prose sections, from files in the manifest's folder")
    if path.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", path) or Path(path).is_absolute():
        raise ImageRefused("absolute paths are not allowed; write a path relative to the prose file")
    top = root.resolve()
    start = (here or root).resolve()
    if not start.is_relative_to(top):
        raise ImageRefused("the prose file lies outside the manifest's folder")
    if not Path(os.path.normpath(start / path)).is_relative_to(top):
        raise ImageRefused("the path leads outside the manifest's folder")
    real = (start / path).resolve()  # follows symbolic links, then `..`, as the OS would
    if not real.is_relative_to(top):
        raise ImageRefused("the path leads outside the manifest's folder through a symbolic link")
    return real
