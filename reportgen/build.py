"""The pipeline: manifest → data → runs → results → figures → HTML → PDF; the run side imported only to run.

`Pipeline` is what every command, serve, check, verify and the benchmarks drive: `Pipeline.open` loads and checks
the manifest, `run` trains what is not cached, `recorded` reads OUT/results.json, `render` makes the files."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from reportgen import messages, strictjson
from reportgen.errors import ManifestError, ResultsMissing
from reportgen.hashing import file_digest
from reportgen.manifest.digest import run_digests
from reportgen.manifest.loaded import LoadedManifest, load_manifest
from reportgen.results.record import ManifestSource, Results, parse_results
from reportgen.results.store import dumps, read_results


@dataclass
class Outcome:
    """What a pipeline command produced, for the CLI to report."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    trained: int = 0
    cached: int = 0
    failed: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    figures: dict[str, int] = field(default_factory=lambda: {"drawn": 0, "cached": 0})  # drawn now / from the cache
    warnings: list[str] = field(default_factory=list)  # located prose warnings (refused images), see render_files
    pdf_later: bool = False  # render_files leaves the PDF to its caller, as `print_job`
    print_job: object = None  # reportgen.report.writers.pdf.PrintJob, with pdf_later


@dataclass
class Pipeline:
    """One manifest on its way through the stages, into one output folder."""

    loaded: LoadedManifest
    out_dir: Path
    smoke: bool = False
    outcome: Outcome = field(init=False)

    def __post_init__(self):
        self.outcome = Outcome(self.out_dir)

    @classmethod
    def open(cls, manifest: str | Path, overrides=(), out_dir: Path | None = None, smoke: bool = False, *,
             models: str | None = "build", strict: bool = False, warn=None) -> Pipeline:
        """The manifest loaded and checked by `load` (`models`: build or shapes), or with models None only parsed
        and validated (render and serve: no torch); the output folder by default beside the manifest."""
        if models is None:
            loaded = load_manifest(manifest, list(overrides))
        else:
            loaded = load(manifest, list(overrides), strict, warn, models)
        return cls(loaded, Path(out_dir) if out_dir is not None else default_out(loaded, smoke), smoke)

    def run(self, progress, force: bool = False, execution=None, estimate: bool = False) -> Results:
        """Train what is not cached (with `estimate`, first saying how long that should take); the full results
        record."""
        from reportgen.run.plan import Datasets

        datasets = Datasets(self.loaded, self.smoke, self.out_dir / "cache")
        return run(datasets, self.out_dir, progress, force, self.outcome, execution, estimate)

    def estimate(self, force: bool = False, execution=None):
        """Each run's predicted time on this machine and the build's (run.estimate.Estimate), training nothing:
        the datasets are read (never downloaded; absent ones are estimated from their declared sizes)."""
        from reportgen.results.cache import RunCache
        from reportgen.run.estimate import PlanDatasets, estimate_runs

        datasets = PlanDatasets(self.loaded, self.smoke, None)  # no decode cache: --plan writes nothing
        cache = None if force else RunCache(self.out_dir / "cache")
        return estimate_runs(self.loaded, datasets, cache, self.smoke, execution)

    def recorded(self, say=None) -> Results:
        """OUT/results.json (with the --set overrides it records when none were given), checked to belong to the
        manifest."""
        self.loaded = with_recorded_overrides(self.loaded, self.out_dir, say)
        return recorded_results(self.loaded, self.out_dir, self.smoke)

    def render(self, results: Results, with_pdf: bool = True, strict: bool = False, warn=None,
               export: list[str] | None = None) -> dict[Path, bytes]:
        """Figures, HTML, PDF and the export, in memory."""
        return render_files(self.loaded, results, self.out_dir, self.outcome, with_pdf, strict, warn, export)


def load(path: str | Path, overrides: list[str] | None = None, strict: bool = False, warn=None,
         models: str = "build") -> LoadedManifest:
    """The one way to load a manifest for a command: every mistake findable before training, all at once (keys,
    types, names, prose references and images), then the models: `build` builds every one (imports torch), as
    build, run and params need; `shapes` checks their shapes by arithmetic and builds only torchvision/timm
    networks, as validate does. Warnings go to `warn` (errors with `strict`); problems raise one ManifestError."""
    from reportgen.errors import Problem
    from reportgen.manifest.loaded import gather
    from reportgen.manifest.static import place
    from reportgen.report.prose.references import static_problems

    found = gather(path, overrides)
    problems = list(found.problems)
    for prose in found.prose:
        problems += [place(prose, line, col, msg) for line, col, msg in static_problems(prose.text, found.names)]
    loaded = found.loaded
    if warn is not None and loaded is not None:  # a note, never an error: --strict builds may use modules
        from reportgen.manifest.static import module_notes

        for note in module_notes(loaded):
            warn(f"note: {note}")
    if found.complete:  # shapes of a model with other mistakes would only add noise
        problems += _model_problems(loaded, models)
    if strict:
        problems += [Problem(w.file, w.line, w.column, w.path, f"{w.message} (--strict)") for w in found.warnings]
    elif warn is not None:
        for w in sorted(found.warnings, key=lambda p: (p.file, p.line, p.column)):
            warn(f"warning: {w}")
    if problems:
        raise ManifestError(problems)
    return loaded


def _model_problems(loaded: LoadedManifest, models: str) -> list:
    """Every model built (`build`), or checked by arithmetic with only the named networks built (`shapes`)."""
    if models == "build":
        from reportgen.models.build import check_models

        return check_models(loaded)
    from reportgen.manifest.shapes import check_shapes, network_models

    problems, networks = check_shapes(loaded), network_models(loaded)
    if networks:
        from reportgen.models.build import check_networks

        problems += check_networks(loaded, networks)
    return problems


def shown_path(path: Path) -> Path:
    """A path as the console shows it: relative to the working folder when at most two levels up, else absolute."""
    import os

    full = Path(path).resolve()
    relative = Path(os.path.relpath(full, Path.cwd().resolve()))
    return relative if relative.parts[:3].count("..") <= 2 else full


def default_out(loaded: LoadedManifest, smoke: bool) -> Path:
    """<manifest folder>/output/<stem>/, whatever the working folder (smoke builds go to output/<stem>-smoke/,
    never over a real report)."""
    return shown_path(loaded.path.parent / "output" / (loaded.stem + ("-smoke" if smoke else "")))


def command_hint(verb: str, loaded: LoadedManifest, out_dir: Path, smoke: bool) -> str:
    """A command that works when pasted: `reportgen run --smoke experiments/x.yaml --out DIR`."""
    import shlex

    parts = ["reportgen", verb, *(["--smoke"] if smoke else []), str(shown_path(loaded.path))]
    if Path(out_dir).resolve() != Path(default_out(loaded, smoke)).resolve():
        parts += ["--out", str(shown_path(out_dir))]
    return shlex.join(parts)


def stale_reports(out_dir: Path, files: dict[Path, bytes]) -> list[Path]:
    """Reports in the output folder that the files about to be written would leave disagreeing with them: a PDF
    beside a changed HTML written without one, and a report whose embedded results are not the new results.json."""
    from reportgen.results.store import results_digest

    html, pdf, results = out_dir / "report.html", out_dir / "report.pdf", out_dir / "results.json"
    stale = []
    if html in files and pdf not in files and pdf.is_file():
        if not html.is_file() or html.read_bytes() != files[html]:
            stale.append(pdf)
    if results in files and html not in files and html.is_file():
        import json

        digest = results_digest(json.loads(files[results]))
        if f'name="reportgen-results-sha256" content="{digest}"'.encode() not in html.read_bytes()[:20000]:
            stale += [p for p in (html, pdf) if p.is_file()]
    return stale


def run(datasets, out_dir: Path, progress, force: bool = False, outcome: Outcome | None = None, execution=None,
        estimate: bool = False) -> Results:
    """Train what is not cached of the manifest `datasets` (run.plan.Datasets) belong to (sequentially here, or as
    `execution` says) and return the full results record; with `estimate` (not in smoke builds), the predicted
    time is said first."""
    from reportgen.report.wording.describe import source_text
    from reportgen.results.cache import RunCache
    from reportgen.run.collect import collect
    from reportgen.run.scheduler import run_all

    loaded, smoke = datasets.loaded, datasets.smoke
    outcome = outcome or Outcome(out_dir)
    t0 = time.perf_counter()
    splits = datasets.get()
    decoded = {"hit": "; decoded images read from the cache",
               "miss": f"; {splits.info.get('decoded', 0):,} images decoded and cached"}.get(splits.info.get("cache"), "")
    sizes = splits.sizes()
    progress(f"dataset: {source_text(splits.source)}; {sizes['train']:,} train / {sizes['validation']:,} "
             f"validation / {sizes['test']:,} test images{decoded}")
    if estimate and not smoke:  # smoke builds are short by design; the estimate's seconds are not the runs'
        t1 = time.perf_counter()
        _announce(datasets, RunCache(out_dir / "cache"), force, execution, progress)
        outcome.timings["estimate"] = time.perf_counter() - t1
        t0 += outcome.timings["estimate"]
    runs, stats = run_all(loaded, datasets, RunCache(out_dir / "cache"), smoke, progress, force, execution)
    outcome.trained, outcome.cached = stats["trained"], stats["cached"]
    outcome.failed = stats.get("failed", 0)
    outcome.timings["runs"] = time.perf_counter() - t0
    return present(collect(loaded, splits, runs, smoke, out_dir / "cache"), loaded)


def _announce(datasets, cache, force: bool, execution, progress) -> None:
    """The build's predicted time as it starts, with the over-an-hour warning."""
    from reportgen.run.estimate import estimate_runs

    predicted = estimate_runs(datasets.loaded, datasets, None if force else cache, datasets.smoke, execution,
                              budget=1.0)
    if all(r.cached for r in predicted.runs):  # the build says so itself
        return
    progress(f"estimate: {predicted.line()}")
    if predicted.advice():
        progress(predicted.advice())


def present(results: Results, loaded: LoadedManifest) -> Results:
    """The results with the manifest's presentation parts (report metadata, titles, labels, manifest file and
    hash) taken from the manifest as it is now: editing them re-renders without running anything."""
    manifest = loaded.manifest
    # render, check and verify apply the overrides again, so the build can be re-made from its record
    source = ManifestSource(file=loaded.path.name, stem=loaded.stem, overrides=list(loaded.overrides or []),
                            sha256=file_digest(loaded.path))
    titles = {r.id: r.title for r in loaded.runs}
    runs = {rid: run.named(title=titles.get(rid, run.title)) for rid, run in results.runs.items()}
    models = {name: record.model_copy(update={"description": manifest.models[name].description,
                                               "label": manifest.models[name].label})
              if name in manifest.models else record for name, record in results.models.items()}
    return results.model_copy(update={"report": manifest.report.model_dump(), "manifest": source, "runs": runs,
                                      "models": models})


def stale_runs(loaded: LoadedManifest, results: Results, smoke: bool) -> list[str]:
    """Why the results do not belong to this manifest, one line per run (empty when they do)."""
    if results.smoke != smoke:
        return [f"the results are from a {'smoke' if results.smoke else 'full'} build"]
    recorded, problems = results.runs, []
    for rid, digest in run_digests(loaded, smoke).items():
        run = recorded.get(rid)
        if run is None:
            problems.append(f"{rid}: not in the results")
        elif run.digest != digest:
            problems.append(f"{rid}: the manifest's settings for it changed since it ran")
    declared = {r.id for r in loaded.runs}
    problems += [f"{rid}: no longer in the manifest" for rid in recorded if rid not in declared]
    problems += _stale_exploration(loaded, results)
    return problems


def _stale_exploration(loaded: LoadedManifest, results: Results) -> list[str]:
    """A `dataset` section whose options differ from those the recorded exploration was computed with."""
    options = loaded.exploration_options
    if options is None:
        return []
    recorded = results.dataset.exploration
    if recorded is None:
        return ["dataset exploration: not in the results"]
    changed = [k for k, v in recorded.get("options", {}).items()
               if options.get(k) is not None and (list(options[k]) if k == "grid" else options[k]) != v]
    return [f"dataset exploration: its options changed ({', '.join(changed)})"] if changed else []


def recorded_results(loaded: LoadedManifest, out_dir: Path, smoke: bool) -> Results:
    """OUT/results.json, checked to belong to the manifest; ResultsMissing names the runs that are stale or
    missing. Reads no dataset, builds no model and imports no torch."""
    path = out_dir / "results.json"
    hint = (f"run `{command_hint('run', loaded, out_dir, smoke)}` first (or `{command_hint('build', loaded, out_dir, smoke)}`)")
    try:
        results = read_results(path)
    except ResultsMissing as exc:
        raise ResultsMissing(f"{exc}; {hint}") from None
    problems = stale_runs(loaded, results, smoke)
    if problems:
        raise ResultsMissing(f"{path} does not match {loaded.path.name} ({len(problems)} "
                             f"problem{'' if len(problems) == 1 else 's'}):\n  " + "\n  ".join(problems) + f"\n{hint}")
    return present(results, loaded)


def with_recorded_overrides(loaded: LoadedManifest, out_dir: Path, say=None) -> LoadedManifest:
    """The manifest loaded again with the --set overrides OUT/results.json records, when none were given now."""
    import json

    from reportgen.results.store import recorded_overrides

    if loaded.overrides:
        return loaded
    try:
        recorded = recorded_overrides(json.loads((out_dir / "results.json").read_text("utf-8")))
    except (OSError, ValueError, RecursionError, AttributeError):
        return loaded
    if not recorded:
        return loaded
    if say is not None:
        say(f"applying the overrides the build was made with: {' '.join('--set ' + o for o in recorded)}")
    return load_manifest(loaded.path, recorded)


def render_files(loaded: LoadedManifest, results: Results, out_dir: Path, outcome: Outcome, with_pdf: bool = True,
                 strict: bool = False, warn=None, export: list[str] | None = None) -> dict[Path, bytes]:
    """Figures (from OUT/cache/figures where drawn before) → HTML → PDF, in memory; only the figure cache is
    written here. Prose warnings (refused or missing images, ignored figure attributes) go to `outcome.warnings`
    and to `warn` (default: printed to stderr as `warning: FILE:LINE:COL: ...`); with `strict` they raise
    ProseWarnings (a UserError, exit code 2) instead, before the HTML is rendered."""
    from reportgen.report.document import assemble as document
    from reportgen.report.writers import html
    from reportgen.report.figures import draw as figures
    from reportgen.report.figures.cache import FigureCache

    t0 = time.perf_counter()
    text = dumps(results)
    results = parse_results(strictjson.loads(text))  # what results.json holds: a later render prints the same
    formats = export_formats(loaded, export)
    cache = FigureCache(out_dir / "cache", raster=with_pdf or bool({"latex", "markdown"} & set(formats)))
    figs = figures.draw_all(results, loaded.sections, cache)
    outcome.figures = dict(cache.counts)
    outcome.timings["figures"] = time.perf_counter() - t0
    doc = document.build(results, loaded.sections, figs, loaded.base_dir)
    outcome.warnings = list(doc["warnings"])
    if strict and outcome.warnings:
        from reportgen.report.document.views.prose import ProseWarnings

        raise ProseWarnings(outcome.warnings)
    for message in outcome.warnings:
        (warn or messages.warn)(f"warning: {message}")
    page = html.render_html(doc, loaded.template_override())
    outcome.timings["html"] = time.perf_counter() - t0
    files = {out_dir / "results.json": text.encode("utf-8"), out_dir / "report.html": page.encode("utf-8")}
    if with_pdf:
        from reportgen.report.writers import pdf

        t1 = time.perf_counter()
        # the HTML keeps its vector figures; the PDF's version has their PNGs, which WeasyPrint lays out far faster
        printed = html.render_html(doc, loaded.template_override(), medium="print")
        job = pdf.PrintJob(printed, (results.report or {}).get("date"), doc["provenance"]["results_sha256"])
        if outcome.pdf_later:  # the caller renders it (serve --pdf: in the background, after the page is up)
            outcome.print_job = job
        else:
            files[out_dir / "report.pdf"] = job.render()
        outcome.timings["pdf"] = time.perf_counter() - t1
    if formats:
        files.update(export_files(doc, out_dir, formats, outcome))
    return files


def export_formats(loaded: LoadedManifest, export: list[str] | None) -> list[str]:
    """What to export: --export when given (the CLI's flag overrides the manifest), else `report.export`."""
    return list(export) if export is not None else list(getattr(loaded.manifest.report, "export", None) or [])


def export_files(doc: dict, out_dir: Path, formats: list[str], outcome: Outcome) -> dict[Path, bytes]:
    """OUT/export/: LaTeX tables, numbers.tex and figures, CSV tables, report.md (see
    reportgen.report.writers.export), in memory, from the document."""
    from reportgen.report.writers import export

    t0 = time.perf_counter()
    files = export.export_files(doc, out_dir / "export", formats)
    outcome.timings["export"] = time.perf_counter() - t0
    return files
