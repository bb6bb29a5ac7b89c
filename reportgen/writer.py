"""The one writer for output files: atomic (temp file in the same folder, fsync, rename)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # mkstemp creates 0600 files; outputs get the usual permissions


def write_bytes(path: Path, data: bytes) -> None:
    """Write data so that `path` is always either its old complete content or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), _FILE_MODE)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Atomically write UTF-8 text."""
    write_bytes(path, text.encode("utf-8"))


def to_json(data) -> str:
    """Stable, human-diffable JSON (sorted keys, two-space indent, trailing newline)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: Path, data) -> None:
    """Atomically write JSON."""
    write_text(path, to_json(data))


def write_all(files: dict[Path, bytes], remove: list[Path] | tuple = ()) -> None:
    """Write a set of finished outputs, each atomically (gather everything first, then write), then remove the
    outputs that would no longer agree with them."""
    for path, data in files.items():
        write_bytes(path, data)
    for path in remove:
        Path(path).unlink(missing_ok=True)
