"""Hashes of reportgen's own source, found by walking packages, for cache keys that cannot go stale."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from reportgen.hashing import digest_parts

PACKAGE_ROOT = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def source_digest(*packages: str) -> str:
    """SHA-256 over every .py file under the named subpackages of reportgen (e.g. "run", "report/figures"),
    each file's path relative to the package and its bytes, in sorted order."""

    def parts():
        for package in packages:
            folder = PACKAGE_ROOT / package
            files = sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
            if not files or not all(f.is_file() for f in files):
                raise FileNotFoundError(f"reportgen source {package!r} is missing under {PACKAGE_ROOT}")
            for path in files:
                yield path.relative_to(PACKAGE_ROOT).as_posix() + "\0"
                yield path.read_bytes() + b"\0"

    return digest_parts(parts())
