"""One render of the live preview: load the manifest, take the recorded results (training only with --train),
render, write the files and publish the page, then (with --pdf) hand the PDF to the background renderer; every
failure becomes a page."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from reportgen import build
from reportgen.errors import ResultsMissing, UserError
from reportgen.manifest.loaded import LoadedManifest
from reportgen.project.serve.page import message_page
from reportgen.project.serve.pdfjob import PdfRenderer
from reportgen.project.serve.server import Shared
from reportgen.results.record import Results
from reportgen.writer import write_all

# the destination of a Markdown image, inline form: ![alt](dest "title") or ![alt](<dest>)
_IMAGE = re.compile(r"!\[(?:[^\]\\\n]|\\.){0,2000}\]\(\s*(?:<([^>\n]{1,2000})>|([^)\s]{1,2000}))")


@dataclass
class Options:
    """What `reportgen serve` was asked for."""

    manifest: Path
    out_dir: Path | None = None
    smoke: bool = False
    overrides: list[str] = field(default_factory=list)
    pdf: bool = False
    train: bool = False


@dataclass(frozen=True)
class Targets:
    """What to watch: exact files, folders whose every file counts (the template override folder), and the
    results.json that `reportgen run` writes (its folder may not exist yet)."""

    files: frozenset[Path]
    trees: frozenset[Path]
    results: Path | None = None

    def folders(self) -> list[Path]:
        """The folders to watch (not recursively): each file's folder, every folder of each tree, and the nearest
        existing folder on the way to results.json (where `reportgen run` will create it)."""
        found = {f.parent for f in self.files}
        for tree in self.trees:
            found.add(tree)
            found.update(p for p in tree.rglob("*") if p.is_dir())
        if self.results is not None:
            found.add(next((p for p in self.results.parents if p.is_dir()), self.results.parent))
        return sorted(p for p in found if p.is_dir())

    def matters(self, path: Path) -> bool:
        """Whether a change at `path` can change the page (a folder on the way to results.json appearing too)."""
        if path in self.files or any(path.is_relative_to(t) for t in self.trees):
            return True
        return self.results is not None and (path == self.results or path in self.results.parents)


def _images(text: str, folder: Path) -> set[Path]:
    out = set()
    for m in _IMAGE.finditer(text):
        dest = (m[1] or m[2] or "").strip()
        if dest and not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|/", dest):
            out.add(Path(folder, dest).resolve())
    return out


def targets_of(loaded: LoadedManifest, results: Path | None = None) -> Targets:
    """The manifest, its prose files and the images they name, the template override folder and results.json."""
    files = {loaded.path.resolve()}
    for sec in loaded.sections:
        if sec.kind != "prose":
            continue
        if sec.options.get("file"):
            path = (loaded.base_dir / sec.options["file"]).resolve()
            files.add(path)
            try:
                files |= _images(path.read_text("utf-8", "replace")[:300_000], path.parent)
            except OSError:
                pass
        elif sec.options.get("text"):
            files |= _images(sec.options["text"], loaded.base_dir.resolve())
    override = loaded.template_override()
    return Targets(frozenset(files), frozenset([override.resolve()] if override else []),
                   Path(results).resolve() if results is not None else None)


class Session:
    """Renders on demand and publishes the outcome to the server; remembers what to watch."""

    def __init__(self, options: Options, shared: Shared, say):
        self.options, self.shared, self.say = options, shared, say
        self.targets = Targets(frozenset([options.manifest.resolve()]), frozenset())
        self.last_seconds = 0.0
        self.written: bytes | None = None  # the results.json this session last wrote: its own write is no change
        self.pdf = PdfRenderer(shared, say) if options.pdf else None

    def changed_by_others(self, path: Path) -> bool:
        """Whether a change reported at `path` is more than this session's own write of results.json."""
        if path != self.targets.results or self.written is None:
            return True
        try:
            return path.read_bytes() != self.written
        except OSError:
            return True

    def _progress(self, message, detail: bool = False) -> None:
        if not detail:
            self.say(str(message))

    def _train(self, pipe: build.Pipeline) -> Results:
        """The runs that are missing or stale, trained (imports torch; only with --train)."""
        trained = build.Pipeline.open(self.options.manifest, self.options.overrides, pipe.out_dir, pipe.smoke)
        results = trained.run(self._progress)
        self.say(f"trained {trained.outcome.trained} run(s), {trained.outcome.cached} cached")
        return results

    def render(self, reason: str = "start") -> str:
        """One render; returns the state published (ok, error or stale)."""
        t0 = time.perf_counter()
        opts = self.options
        if self.pdf is not None:
            self.pdf.supersede()  # the PDF under way is for the page this render replaces
        try:
            pipe = build.Pipeline.open(opts.manifest, opts.overrides, opts.out_dir, opts.smoke, models=None)
            loaded, out = pipe.loaded, pipe.out_dir
            # the template folder is checked again as it is resolved; results.json: `reportgen run` ends the staleness
            self.targets = targets_of(loaded, out / "results.json")
        except UserError as exc:
            return self._fail("error", "The manifest has errors", str(exc))
        try:
            try:
                results = build.recorded_results(loaded, out, opts.smoke)
            except ResultsMissing as exc:
                if not opts.train:
                    return self._fail("stale", "This change needs new runs",
                                      f"{exc}\n\nreportgen serve trains only with --train: restart it with --train, "
                                      "or run the command above in another terminal (this page reloads when it has "
                                      "written the results).")
                self.say("the results are missing or stale; training (--train) ...")
                results = self._train(pipe)
            pipe.outcome.pdf_later = True  # the page first; the PDF in the background (with --pdf)
            files = pipe.render(results, with_pdf=opts.pdf, warn=self.say)
            stale = build.stale_reports(out, files)  # a report.pdf older than this HTML is removed, as render does
            self.written = files[out / "results.json"]
            write_all(files, stale)
            for path in stale:
                if not opts.pdf:
                    self.say(f"removed {path}: it no longer matches the HTML (--pdf re-renders it on every change)")
        except UserError as exc:
            return self._fail("error", "The report cannot be rendered", str(exc))
        except Exception as exc:  # noqa: BLE001 - keep serving; the page and the console say what broke
            return self._fail("error", "Internal error while rendering",
                              f"{type(exc).__name__}: {exc}\n(reportgen serve keeps running; this may be a bug)")
        html = files[out / "report.html"].decode("utf-8")
        version = self.shared.publish("ok", html, files={"report.pdf": out / "report.pdf",
                                                         "results.json": out / "results.json"},
                                      pdf="rendering" if self.pdf is not None else "")
        self.last_seconds = time.perf_counter() - t0
        self.say(f"rendered ({reason}) in {self.last_seconds:.2f} s: version {version}"
                 + (", the PDF in the background" if opts.pdf else ", without the PDF (--pdf renders it too)"))
        if self.pdf is not None:
            self.pdf.submit(version, pipe.outcome.print_job, out / "report.pdf")
        return "ok"

    def _fail(self, state: str, title: str, message: str) -> str:
        version = self.shared.next_version()
        self.shared.publish(state, message_page(title, message, version, "error" if state == "error" else "stale"),
                            message)
        self.say(f"{'error' if state == 'error' else 'needs new runs'}: {message}")
        return state
