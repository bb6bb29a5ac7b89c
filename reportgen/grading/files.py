"""A submission's files treated as data: never a link out of its folder, never a FIFO, device or socket, never more
than a stated size, and JSON of bounded depth."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from reportgen import strictjson
from reportgen.errors import UserError

MiB = 1 << 20
# the largest file of each kind a grader's tools read; a real report of 40 runs is a few MB
LIMITS = {"report.html": 32 * MiB, "results.json": 32 * MiB, "report.pdf": 64 * MiB, ".yaml": 1 * MiB,
          ".yml": 1 * MiB, ".md": 4 * MiB}
DEFAULT_LIMIT = 64 * MiB


class UnsafeFile(UserError):
    """A submission file that is not read: a link leaving the folder, a special file, or too large (exit 2)."""


@dataclass(frozen=True)
class Entry:
    """One name under a submission folder, as lstat sees it."""

    rel: str
    kind: str  # "file", "link", "dir" or the special kind ("fifo", "device", "socket")
    size: int
    mtime_ns: int
    target: str | None = None  # a link's target, as written


def limit_for(name: str) -> int:
    """The size limit for a file of this name."""
    return LIMITS.get(name, LIMITS.get(Path(name).suffix.lower(), DEFAULT_LIMIT))


def _kind(mode: int) -> str:
    """A file type in words."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return {stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket", stat.S_IFCHR: "device", stat.S_IFBLK: "device"}.get(
        stat.S_IFMT(mode), "special file")


MAX_DEPTH = 64  # folders below this depth are listed as folders, never entered (Python's os.walk recursed)


def _listing(path: str) -> tuple[list[str], list[str]]:
    """The subfolders (not links) and the other names of one folder, each sorted; nothing when it cannot be read."""
    try:
        with os.scandir(path) as found:
            items = [(e.name, e.is_dir(follow_symlinks=False)) for e in found]
    except OSError:
        return [], []
    return sorted(n for n, d in items if d), sorted(n for n, d in items if not d)


def entries(folder: Path, most: int = 5000) -> tuple[list[Entry], int]:
    """Every name under folder (links not followed, not descended; folders deeper than MAX_DEPTH listed, not
    entered), sorted, at most `most` of them; and how many there are in all."""
    found: list[Entry] = []
    total = 0
    stack = [(str(folder), 0)]
    while stack:  # a walk of its own: os.walk recurses, and a submission may nest folders thousands deep
        root, depth = stack.pop()
        dirs, files = _listing(root)
        deep = depth >= MAX_DEPTH
        names = files + (dirs if deep else [])
        stack += [] if deep else [(os.path.join(root, d), depth + 1) for d in reversed(dirs)]
        for name in names:
            total += 1
            if len(found) >= most:
                continue
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            kind = _kind(st.st_mode)
            target = os.readlink(path) if kind == "link" else None
            found.append(Entry(os.path.relpath(path, folder), kind, st.st_size, st.st_mtime_ns, target))
    found.sort(key=lambda e: e.rel)
    return found, total


def inside(folder: Path, path: Path) -> bool:
    """Whether path, links resolved, stays inside folder."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def check_file(folder: Path, path: Path, limit: int | None = None) -> os.stat_result:
    """The stat of a regular file inside folder that may be read; UnsafeFile naming it otherwise."""
    shown = path.name if path.parent == folder else str(path.relative_to(folder)) if path.is_relative_to(folder) \
        else str(path)
    if not inside(folder, path):
        raise UnsafeFile(f"{shown} is a link leading out of the submission folder; not read")
    try:
        st = path.stat()
    except OSError as exc:
        raise UnsafeFile(f"{shown} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(f"{shown} is a {_kind(st.st_mode)}, not a file; not read")
    limit = limit_for(path.name) if limit is None else limit
    if st.st_size > limit:
        raise UnsafeFile(f"{shown} is {st.st_size:,} bytes, over the {limit:,}-byte limit for it; not read")
    return st


def read_bytes(folder: Path, path: Path, limit: int | None = None) -> bytes:
    """A regular file's bytes inside folder, at most its limit; UnsafeFile when it is not one to read."""
    check_file(folder, path, limit)
    limit = limit_for(path.name) if limit is None else limit
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) * (not path.is_symlink()))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # swapped since the check
            raise UnsafeFile(f"{path.name} is not a file; not read")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(f"{path.name} grew past the {limit:,}-byte limit while read; not read")
    return data


def load_json(text: str | bytes, name: str) -> object:
    """JSON from a submission (NaN, Infinity and out-of-range numbers refused as not valid JSON); UnsafeFile
    (exit 2) when it nests deeper than Python's parser can go."""
    try:
        return strictjson.loads(text)
    except RecursionError:
        raise UnsafeFile(f"{name} nests its JSON too deeply to read; not read") from None
