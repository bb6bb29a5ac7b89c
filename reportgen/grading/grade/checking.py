"""One submission, in a worker or in this process: check it (and verify it when asked) into a JSON outcome."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path

from reportgen.errors import UserError
from reportgen.grading.files import UnsafeFile
from reportgen.grading.grade.folders import STATE_FORMAT

NOT_VERIFIED = {"status": "not verified"}


def clean(value):
    """A JSON-safe copy: dataclasses as dicts, tuples as lists, non-finite floats as None, keys as strings."""
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [clean(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    return str(value)


def report_record(report) -> dict:
    """The parts of a CheckReport the overview needs, as JSON: findings, notes, checks, facts, exit code, text."""
    from reportgen.grading.check.command import report_text

    return {"findings": clean(report.findings), "notes": clean(report.notes), "checks": clean(report.checks),
            "facts": clean(report.facts), "exit_code": report.exit_code(), "text": report_text(report)}


def _not_a_link(folder: Path) -> None:
    """A submission is a folder of the class folder, never a link to one elsewhere (check itself refuses files
    that are links out, FIFOs, devices or too large)."""
    if folder.is_symlink():
        raise UnsafeFile(f"{folder.name} is a link to {os.readlink(folder)}; submissions are folders, links are not "
                         "followed")


def _relative(message: str, folder: Path) -> str:
    """A message with the submission's path on this machine written as its folder's name: it reaches students
    (gradebook feedback, Gradescope) and the grades files."""
    for where in sorted({str(folder.resolve()), str(folder)}, key=len, reverse=True):
        message = message.replace(where, folder.name)
    return message


def grade_one(folder: str, print_: str, code: str) -> dict:
    """Check one submission folder (in a worker process; grade verifies it afterwards when asked). Never raises."""
    from reportgen.grading.check.command import check_submission

    started = time.perf_counter()
    outcome = {"format": STATE_FORMAT, "code": code, "folder": Path(folder).name, "path": str(Path(folder).resolve()),
               "fingerprint": print_, "report": None, "error": None, "verification": dict(NOT_VERIFIED)}
    try:
        _not_a_link(Path(folder))
        outcome["report"] = report_record(check_submission(folder))
    except UserError as exc:
        outcome["error"] = _relative(str(exc), Path(folder))
    except Exception as exc:  # noqa: BLE001 - one bad submission must not stop the class
        outcome["error"] = _relative(f"internal error while checking: {type(exc).__name__}: {exc}", Path(folder))
    outcome["seconds"] = time.perf_counter() - started
    return outcome


def verification(folder: str, verify: dict, error: str | None) -> dict:
    """Re-run a sample of the submission's runs (reportgen.grading.verify); its status and what it said."""
    record = {"status": "could not run", "sample": verify["sample"], "seed": verify["seed"]}
    if error is not None:
        return {**record, "detail": "the submission could not be checked, so it was not verified"}
    from reportgen.grading.grade.verifying import verify_submission

    try:
        status, detail = verify_submission(folder, verify)
    except Exception as exc:  # noqa: BLE001 - a failed verification is a status, not a crash
        status, detail = "could not run", f"{type(exc).__name__}: {exc}"
    return {**record, "status": status, "detail": detail}
