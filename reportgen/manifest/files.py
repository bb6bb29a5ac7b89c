"""Checks of the files a manifest names, without reading images or rendering: class folders and prose limits."""

from __future__ import annotations

from pathlib import Path

MAX_PROSE_BYTES = 256 * 1024  # one prose file or `text:`; about 80 pages, and parsed in well under 5 s
MAX_BRACKETS = 10_000  # `[` characters in one prose text: each costs markdown-it a nested look-ahead


def scan_classes(root: Path) -> list[str]:
    """Sorted names of root's visible sub-folders (the classes); empty when root is not a folder."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_text(text: str) -> str | None:
    """Why a prose text is too big or too deeply bracketed to render, or None when it is fine."""
    size = len(text.encode("utf-8"))
    if size > MAX_PROSE_BYTES:
        return f"prose is {size:,} bytes; the limit is {MAX_PROSE_BYTES:,} ({MAX_PROSE_BYTES // 1024} KB)"
    brackets = text.count("[")
    if brackets > MAX_BRACKETS:
        return (f"prose holds {brackets:,} '[' characters; at most {MAX_BRACKETS:,} (links and images) are "
                "rendered, so Markdown bracketed this deeply is refused")
    return None


def check_file(path: Path) -> str | None:
    """Why a prose file cannot be rendered (size, encoding, nesting), or None when it is fine."""
    try:
        size = path.stat().st_size
        if size > MAX_PROSE_BYTES:
            return f"prose file is {size:,} bytes; the limit is {MAX_PROSE_BYTES:,} ({MAX_PROSE_BYTES // 1024} KB)"
        with open(path, "rb") as f:
            data = f.read(MAX_PROSE_BYTES + 1)
    except OSError as exc:
        return f"prose file cannot be read: {exc.strerror or exc}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"prose file is not UTF-8 text (byte {exc.start})"
    return check_text(text)
