"""Re-making a submitted report's HTML as `reportgen render` would, from its embedded results and the manifest
handed in beside it (no torch, nothing written into the submission), and checking that manifest against the
results."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from itertools import islice
from pathlib import Path

from reportgen import __version__
from reportgen.errors import UserError
from reportgen.grading.check.printed import Printed
from reportgen.grading.check.submission import Submission
from reportgen.grading.files import UnsafeFile, check_file
from reportgen.hashing import file_digest
from reportgen.results.record import SCHEMA, Results
from reportgen.results.store import recorded_overrides

RERENDERED = "re-rendered"


@dataclass
class Rerendered:
    """The report re-made from the submission's own results and manifest, or why it was not (`reason`)."""

    loaded: object | None = None  # reportgen.manifest.loaded.LoadedManifest
    html: str | None = None
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    pdf_reason: str | None = None  # why the PDF's text is not compared with the re-rendered report's

    @property
    def level(self) -> str:
        """How far check got: "re-rendered", or "embedded results only (why)"."""
        return RERENDERED if self.html is not None else f"embedded results only ({self.reason})"


def _manifest_path(sub: Submission) -> Path | str:
    """The manifest the results name, in the submission's folder; a reason string when it is not there."""
    named = (sub.results.get("manifest") or {}).get("file") if isinstance(sub.results.get("manifest"), dict) else None
    if not isinstance(named, str) or not named:
        return "the results name no manifest file"
    if Path(named).name != named or not named.endswith((".yaml", ".yml")):
        return f"the results name {named[:80]!r} as their manifest, not a .yaml file beside the report"
    path = sub.folder / named
    if not (path.is_file() or path.is_symlink()):
        return f"no {named} in the submission (the manifest its results name)"
    try:
        check_file(sub.folder, path)  # no link out of the folder, no FIFO, nothing over the size limit
    except UnsafeFile as exc:
        return str(exc)
    return path


def other_version(sub: Submission) -> str | None:
    """Why the report was made by another reportgen than this one (generator <meta>, provenance, results schema)."""
    ours = f"reportgen {__version__}"
    if sub.page.generator is None:
        return "the report names no generator"
    if sub.page.generator != ours:
        return f"made by {sub.page.generator[:80]}, this is {ours}"
    stated = (sub.provenance or {}).get("reportgen")
    if stated is not None and stated != __version__:
        return f"its provenance names reportgen {str(stated)[:80]}, this is {ours}"
    if sub.results.get("schema") != SCHEMA:
        return f"results of schema {str(sub.results.get('schema'))[:80]}, this reportgen reads {SCHEMA}"
    if sub.record is None:
        return f"the embedded results do not fit the results schema ({sub.misfit[:300]})"
    return None


def other_printer(printed: Printed | None) -> str | None:
    """Why the PDF's text is not compared with the re-rendered report's: another WeasyPrint made it."""
    if printed is None or printed.error:
        return None
    try:
        ours = f"WeasyPrint {version('weasyprint')}"
    except PackageNotFoundError:
        return "WeasyPrint is not installed here"
    if printed.producer != ours:
        return f"report.pdf was made by {(printed.producer or 'an unnamed producer')[:80]}, this machine has {ours}"
    return None


def _first_line(exc: Exception) -> str:
    """An error's first line, with how many more it has (a ManifestError lists every problem)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):  # a ManifestError's header: its first problem says what is wrong
        lines = [f"{lines[0]} {lines[1]}", *lines[2:]]
    more = f" (and {len(lines) - 1} more line(s))" if len(lines) > 1 else ""
    return (lines[0][:300] if lines else type(exc).__name__) + more


def load(sub: Submission):
    """The submission's manifest, loaded torch-free with the --set overrides its build recorded; (loaded, None) or
    (None, why not)."""
    from reportgen.manifest.loaded import load_manifest

    path = _manifest_path(sub)
    if isinstance(path, str):
        return None, path
    try:
        return load_manifest(path, recorded_overrides(sub.results) or None), None
    except UserError as exc:
        return None, f"{path.name} cannot be loaded: {_first_line(exc)}"
    except Exception as exc:  # noqa: BLE001 - a hostile manifest must not stop the check
        return None, f"{path.name} cannot be loaded: {type(exc).__name__}: {_first_line(exc)}"


def _templates_note(loaded) -> str | None:
    """A note naming the submission's own templates: a re-rendering reproduces whatever they print."""
    folder = loaded.template_override()
    if folder is None:
        return None
    files = sorted(p.relative_to(folder).as_posix() for p in islice(folder.rglob("*"), 1000) if p.is_file())
    shown = ", ".join(files[:8]) + (f" and {len(files) - 8} more" if len(files) > 8 else "")
    return (f"the report uses its own templates ({folder.name}/: {shown or 'empty'}); re-rendering reproduces "
            "whatever they print, so read them")


def render(loaded, results: Results) -> tuple[str, list[str]]:
    """(HTML, prose warnings) exactly as `reportgen render` makes them, figures drawn into a temporary folder."""
    from reportgen import build

    with tempfile.TemporaryDirectory(prefix="reportgen-check-") as tmp:
        pipe = build.Pipeline(loaded, Path(tmp))
        files = pipe.render(build.present(results, loaded), with_pdf=False, warn=lambda _message: None, export=[])
        return files[pipe.out_dir / "report.html"].decode("utf-8"), list(pipe.outcome.warnings)


def rerender(sub: Submission, printed: Printed | None) -> Rerendered:
    """Re-make the report's HTML; the reason, in a note, when the submission is from another reportgen or its
    manifest is missing or unusable (and why its PDF is not compared with it, when another WeasyPrint made it)."""
    why = other_version(sub)
    loaded = None
    if why is None:
        loaded, why = load(sub)
    if why is not None:
        return Rerendered(loaded, reason=why, notes=[f"not re-rendered: {why}; checked against its embedded "
                                                     "results only"])
    printer = other_printer(printed)
    notes = [] if printer is None else [f"{printer}: its text is not compared with the re-rendered report, only its "
                                        "digest and key numbers are checked"]
    try:
        notes += [n for n in [_templates_note(loaded)] if n]
        html, warnings = render(loaded, sub.record)
    except UserError as exc:
        return Rerendered(loaded, reason=f"cannot be re-rendered: {_first_line(exc)}",
                          notes=[*notes, f"not re-rendered: {_first_line(exc)}"])
    except Exception as exc:  # noqa: BLE001 - results or prose that break rendering are reported, not raised
        why = f"re-rendering failed: {type(exc).__name__}: {_first_line(exc)}"
        return Rerendered(loaded, reason=why, notes=[*notes, why])
    notes += [f"re-rendering: warning: {w}" for w in warnings]
    return Rerendered(loaded, html, None, notes, printer)


def _module_files(results: dict, loaded) -> dict[str, str]:
    """run id → what is wrong with the `module:` file it ran with: absent from the submission, or another file."""
    from reportgen.manifest.digest import module_file_sha256

    out = {}
    for run in loaded.runs:
        actual = module_file_sha256(loaded.base_dir, run.network)
        if actual is None:
            continue
        file = run.network.module_parts()[0]
        weights = (results["runs"].get(run.id) or {}).get("weights") or {}
        if actual == "missing":
            out[run.id] = f"{file}, its module file, is not in the submission"
        elif weights.get("file_sha256") not in (None, actual):
            out[run.id] = f"{file}, its module file, is not the one it ran with"
    return out


def manifest(sub: Submission, loaded) -> tuple[list[tuple[str, dict]], str]:
    """The handed-in manifest against the results: its SHA-256, and every run's settings against their digests."""
    from reportgen import build

    name = loaded.path.name
    found = []
    recorded = (sub.results.get("manifest") or {}).get("sha256")
    actual = file_digest(loaded.path)
    if recorded != actual:
        found.append((f"{name} was changed after the report was rendered: its SHA-256 is {actual[:12]}…, the "
                      f"results record {str(recorded)[:12]}…",
                      {"file": name, "recorded": recorded, "computed": actual}))
    modules = _module_files(sub.results, loaded)
    known = {*sub.results["runs"], *(r.id for r in loaded.runs)}
    for problem in build.stale_runs(loaded, sub.record, sub.record.smoke):
        rid = problem.split(":", 1)[0]
        extra = f" ({modules[rid]})" if rid in modules else ""
        found.append((f"{name} does not match the results: {problem}{extra}",
                      {"file": name, "run": rid if rid in known else None, "problem": problem}))
    return found, f"{name}: {len(loaded.runs)} run(s) declared, {len(found)} problem(s)"
