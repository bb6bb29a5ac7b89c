"""A submission as `check` finds it: a folder (or a report.html) with the report, results.json and the PDF."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reportgen import strictjson
from reportgen.grading.check.reading import Page, read_page
from reportgen.grading.files import check_file, load_json, read_bytes
from reportgen.errors import UserError
from reportgen.results.embedded import EMBED_ID, PROVENANCE_ID
from reportgen.results.record import SCHEMA, RecordInvalid, Results, parse_results
from reportgen.results.store import SCHEMA_PREFIX

REPORT, RESULTS, PDF = "report.html", "results.json", "report.pdf"


class SubmissionUnusable(UserError):
    """Nothing to check: no report, unreadable, or a report that reportgen did not make."""


@dataclass
class Submission:
    """The parts of one submission that check reads."""

    given: str  # the path as given
    folder: Path
    html_path: Path
    page: Page
    results: dict  # the results record embedded in the report
    provenance: dict | None
    results_path: Path | None  # results.json beside the report, when there is one
    pdf_path: Path | None
    record: Results | None = None  # the embedded results, typed, when they fit this reportgen's schema
    misfit: str | None = None  # where they do not fit it, when they are of this schema but do not


def typed(results: dict) -> tuple[Results | None, str | None]:
    """(record, None) for results that fit this reportgen's schema, (None, where not) otherwise."""
    if results.get("schema") != SCHEMA:
        return None, None
    try:
        return parse_results(results), None
    except RecordInvalid as exc:
        return None, str(exc)


def is_results_record(data) -> bool:
    """Whether parsed JSON is a reportgen results record."""
    return (isinstance(data, dict) and str(data.get("schema", "")).startswith(SCHEMA_PREFIX)
            and isinstance(data.get("runs"), dict) and isinstance(data.get("models"), dict))


def _locate(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        html = path / REPORT
        if not html.is_file():
            others = sorted(p.name for p in path.glob("*.html"))
            if len(others) != 1:
                raise SubmissionUnusable(f"{path}: no {REPORT}" + (f" (HTML files: {', '.join(others)})" if others
                                                                   else "; is it a reportgen output folder?"))
            html = path / others[0]
        return path, html
    if path.is_file():
        return path.parent, path
    raise SubmissionUnusable(f"no such file or folder: {path}")


def read_submission(path: str | Path) -> Submission:
    """Find and parse a submission's report; SubmissionUnusable when there is nothing to check."""
    folder, html_path = _locate(Path(path))
    try:
        text = read_bytes(folder, html_path).decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionUnusable(f"{html_path} is not a UTF-8 HTML report") from None
    except OSError as exc:
        raise SubmissionUnusable(f"cannot read {html_path}: {exc.strerror or exc}") from None
    page = read_page(text)
    if EMBED_ID not in page.embedded:
        raise SubmissionUnusable(f"{html_path} holds no reportgen results (no <script type=\"application/json\" "
                                 f"id=\"{EMBED_ID}\">); is it a report made by reportgen?")
    try:
        results = load_json(page.embedded[EMBED_ID], f"{html_path.name}'s embedded results")
    except ValueError as exc:
        raise SubmissionUnusable(f"{html_path}: the embedded results are not valid JSON ({exc})") from None
    if not is_results_record(results):
        raise SubmissionUnusable(f"{html_path}: the embedded JSON is not a reportgen results record")
    try:
        provenance = strictjson.loads(page.embedded.get(PROVENANCE_ID) or "null")
    except (ValueError, RecursionError):
        provenance = None
    beside = folder / RESULTS
    pdf = folder / PDF
    return Submission(str(path), folder, html_path, page, results,
                      provenance if isinstance(provenance, dict) else None,
                      beside if _readable(folder, beside) else None, pdf if _readable(folder, pdf) else None,
                      *typed(results))


def _readable(folder: Path, path: Path) -> bool:
    """Whether a file beside the report is there to read; one that is a link out, a FIFO, a device or too large
    is a SubmissionUnusable naming it (never opened)."""
    if not (path.exists() or path.is_symlink()):
        return False
    check_file(folder, path)
    return True
