"""User-facing errors: one clear message, file:line:column, non-zero exit."""

from __future__ import annotations

from dataclasses import dataclass


class UserError(Exception):
    """A mistake the user can fix; printed without a traceback, exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem in a manifest, located by file, line, column and key path."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class ManifestError(UserError):
    """One or more problems in a manifest, reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.path))
        super().__init__(self.format())

    def format(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the manifest:"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


class ResultsMissing(UserError):
    """`render` was asked for runs that are not in the cache."""


class DatasetUnavailable(UserError):
    """Dataset files are missing and cannot be downloaded."""
