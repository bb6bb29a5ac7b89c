"""The class folder: which subfolders are submissions, a fingerprint of each, and the resumable state."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from reportgen import __version__
from reportgen.errors import UserError
from reportgen.grading.files import entries, read_bytes
from reportgen.hashing import cache_key, digest, json_digest
from reportgen.sourcehash import source_digest
from reportgen.textsafe import one_line
from reportgen.writer import write_all, write_json

STATE_DIR = ".reportgen-grade"  # beside the outputs: one <folder>.json per finished submission
MARKER = ".reportgen-grade-output"  # in each folder grade writes, with its secret: never taken for a submission
STATE_FORMAT = 2  # 2: facts carry sections, repeated runs and comparisons (rubrics)
HASHED_BYTES = 1 << 20  # files up to this size are fingerprinted by content too, larger ones by size and mtime
MAX_FILES = 5000  # a submission with more files is fingerprinted by its first MAX_FILES (sorted) and their count


class ClassFolderUnusable(UserError):
    """The class folder is missing, not a folder, or holds no submission folders (exit 2)."""


def token(out_dir: Path) -> str:
    """This output folder's secret, kept in the grader's cache (never in the class folder): grade's own folders carry
    it in their marker, so a submission cannot pass for one by holding a marker of its own."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reportgen" / "grade"
    # the name earlier versions gave the file: another name would lose each output folder's secret, and grade would
    # then take its own earlier outputs for submissions
    path = cache / (digest(str(out_dir.resolve()))[:24] + ".token")
    try:
        return path.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        secret = secrets.token_hex(16)
        write_all({path: secret.encode("ascii")})
        return secret


def marker_text(secret: str) -> bytes:
    """What grade writes into each folder of its own."""
    return f"written by reportgen grade; not a submission\n{secret}\n".encode("ascii")


def is_ours(folder: Path, secret: str) -> bool:
    """Whether grade wrote this folder: a plain-file marker holding this output folder's secret."""
    try:
        data = read_bytes(folder, folder / MARKER, 4096)
    except UserError:
        return False
    return data == marker_text(secret)


def submissions(class_dir: Path, out_dir: Path, secret: str) -> list[Path]:
    """Every immediate subfolder of class_dir (or link in its place), sorted by name, hidden and empty ones included:
    none can hide; only grade's own folders (marked with this output folder's secret) are left out."""
    if not class_dir.exists():
        raise ClassFolderUnusable(f"no such folder: {class_dir}")
    if not class_dir.is_dir():
        raise ClassFolderUnusable(f"{class_dir} is not a folder; give the folder that holds one subfolder per "
                                  "submission")
    try:
        entries = sorted(class_dir.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise ClassFolderUnusable(f"cannot read {class_dir}: {exc.strerror or exc}")
    found = [p for p in entries if (p.is_dir() or p.is_symlink()) and not is_ours(p, secret) and not _git(p)]
    if not found:
        raise ClassFolderUnusable(f"{class_dir} holds no submission folders (one subfolder per team is expected)")
    return found


def _git(folder: Path) -> bool:
    """Whether a folder is git's own (a class folder kept in git): the one name that is never a submission."""
    return folder.name == ".git" and not folder.is_symlink()


def collisions(paths: list[Path], secret: str) -> list[Path]:
    """grade's output folders that exist but were not written by grade (a submission by that name)."""
    return [p for p in paths if (p.exists() or p.is_symlink()) and not is_ours(p, secret)]


def fingerprint(folder: Path) -> str:
    """SHA-256 over every name under a submission folder: its kind, size and mtime, a link's target, and the
    content of small regular files inside the folder (links and special files are never opened)."""
    if folder.is_symlink():
        return digest(f"link\0{os.readlink(folder)}")
    listed, total = entries(folder, MAX_FILES)
    rows: list = []
    for e in listed:
        row = [e.rel, e.kind, e.size, e.mtime_ns, e.target]
        if e.kind == "file" and e.size <= HASHED_BYTES:
            try:
                row.append(digest(read_bytes(folder, folder / e.rel, HASHED_BYTES)))
            except UserError as exc:
                row.append(str(exc))
        rows.append(row)
    rows.append(["files", total])
    return json_digest(rows)


def code_version() -> str:
    """What the stored outcomes depend on besides the files: reportgen's version and its check code."""
    try:  # check re-renders the report: its outcome depends on the report side and the manifest's reading too
        check = source_digest("grading", "report", "manifest", "results", "build")
    except FileNotFoundError:
        check = "no check package"
    return cache_key({"reportgen": __version__, "check": check, "format": STATE_FORMAT})


def findings_name(folder: str) -> str:
    """The findings file of a submission folder: its name with control characters written as visible escapes."""
    return one_line(folder) + ".txt"


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

