"""The class folder: which subfolders are submissions, a fingerprint of each, and the resumable state."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from reportgen import __version__
from reportgen.errors import UserError
from reportgen.sourcehash import source_digest
from reportgen.writer import write_json

STATE_DIR = ".reportgen-grade"  # beside the outputs: one <folder>.json per finished submission
MARKER = ".reportgen-grade-output"  # in each output folder grade writes, so that it is never taken for a submission
STATE_FORMAT = 1
HASHED_BYTES = 1 << 20  # files up to this size are fingerprinted by content too, larger ones by size and mtime
SUBMISSION_FILES = ("report.html", "results.json", "report.pdf")
MAX_FILES = 5000  # a submission with more files is fingerprinted by its first MAX_FILES (sorted) and their count


class ClassFolderUnusable(UserError):
    """The class folder is missing, not a folder, or holds no submission folders (exit 2)."""


def _is_output(folder: Path, out_dir: Path) -> bool:
    """Whether a subfolder is grade's own: its state, an output folder it marked, or the folder holding the outputs."""
    if folder.name.startswith(".") or (folder / MARKER).exists():
        return True
    try:
        same = folder.resolve() == out_dir.resolve()
    except OSError:
        return False
    return same and not any((folder / name).exists() for name in SUBMISSION_FILES)  # else: refused by the caller


def submissions(class_dir: Path, out_dir: Path) -> list[Path]:
    """The immediate subfolders of class_dir, sorted by name, less hidden ones and grade's own outputs."""
    if not class_dir.exists():
        raise ClassFolderUnusable(f"no such folder: {class_dir}")
    if not class_dir.is_dir():
        raise ClassFolderUnusable(f"{class_dir} is not a folder; give the folder that holds one subfolder per "
                                  "submission")
    try:
        entries = sorted(class_dir.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise ClassFolderUnusable(f"cannot read {class_dir}: {exc.strerror or exc}")
    found = [p for p in entries if p.is_dir() and not _is_output(p, out_dir)]
    if not found:
        raise ClassFolderUnusable(f"{class_dir} holds no submission folders (one subfolder per team is expected)")
    return found


def _file_entry(path: Path, rel: str) -> list:
    """[relative name, size, mtime_ns, sha256 of the content for small files (else None)]."""
    st = path.stat()
    digest = None
    if st.st_size <= HASHED_BYTES:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return [rel, st.st_size, st.st_mtime_ns, digest]


def fingerprint(folder: Path) -> str:
    """SHA-256 over every file's name, size and mtime (and content for small files) under a submission folder."""
    entries: list = []
    names: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in files:
            path = Path(root) / name
            names.append((path.relative_to(folder).as_posix(), path))
    names.sort()
    for rel, path in names[:MAX_FILES]:
        try:
            entries.append(_file_entry(path, rel))
        except OSError as exc:
            entries.append([rel, "unreadable", exc.errno])
    entries.append(["files", len(names)])
    return hashlib.sha256(json.dumps(entries).encode("utf-8")).hexdigest()


def code_version() -> str:
    """What the stored outcomes depend on besides the files: reportgen's version and its check code."""
    try:
        check = source_digest("grading/check")
    except FileNotFoundError:
        check = "no check package"
    return hashlib.sha256(f"{__version__}\0{check}\0{STATE_FORMAT}".encode()).hexdigest()[:16]


def state_path(out_dir: Path, folder: str) -> Path:
    """Where one submission's finished outcome is recorded."""
    return out_dir / STATE_DIR / f"{folder}.json"


def save(out_dir: Path, outcome: dict) -> None:
    """Record one finished submission atomically (it is either absent or complete, even after a kill)."""
    write_json(state_path(out_dir, outcome["folder"]), outcome)


def recorded(out_dir: Path, folder: Path, print_: str, code: str) -> dict | None:
    """The outcome recorded by an earlier run for this folder, when its files and the check code are unchanged."""
    path = state_path(out_dir, folder.name)
    try:
        outcome = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(outcome, dict):
        return None
    same = (outcome.get("format") == STATE_FORMAT and outcome.get("code") == code
            and outcome.get("fingerprint") == print_ and outcome.get("path") == str(folder.resolve()))
    return outcome if same else None

