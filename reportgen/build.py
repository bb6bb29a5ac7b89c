"""The pipeline: manifest → data → runs → results → figures → HTML → PDF, each stage a function."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from reportgen.report import document
from reportgen.report.figures import draw as figures
from reportgen.report import pdf
from reportgen.report import html as render
from reportgen.errors import ManifestError
from reportgen.run.scheduler import Execution
from reportgen.data.exploration import explore_cached
from reportgen.report.figures.cache import FigureCache
from reportgen.manifest.schema import LoadedManifest, load_manifest
from reportgen.models.build import check_models, model_record
from reportgen.results.store import RunCache, assemble, dumps
from reportgen.run.execute import Datasets, Progress, cached_runs, run_all



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


def load(path: str | Path, overrides: list[str] | None = None) -> LoadedManifest:
    """Load and fully validate a manifest, including that every model can be built."""
    loaded = load_manifest(path, overrides)
    problems = check_models(loaded)
    if problems:
        raise ManifestError(problems)
    return loaded


def default_out(loaded: LoadedManifest, smoke: bool) -> Path:
    """output/<manifest stem>/ (smoke builds go to output/<stem>-smoke/, never over a real report)."""
    return Path("output") / (loaded.stem + ("-smoke" if smoke else ""))


def _results(loaded: LoadedManifest, splits, runs: dict, smoke: bool) -> dict:
    used = list(dict.fromkeys(r["model"] for r in runs.values()))
    models = {name: model_record(loaded, name) for name in used}
    return assemble(loaded, splits, models, runs, smoke)


def _with_exploration(results: dict, loaded: LoadedManifest, splits, out_dir: Path) -> dict:
    """Add results["dataset"]["exploration"] when a section is `dataset` (with the first such section's options)."""
    options = next((s.options for s in loaded.sections if s.kind == "dataset"), None)
    if options is not None:
        results["dataset"]["exploration"] = explore_cached(splits, options, loaded.manifest.dataset.seed,
                                                           out_dir / "cache")
    return results


def run(loaded: LoadedManifest, out_dir: Path, smoke: bool, progress: Progress, force: bool = False,
        outcome: Outcome | None = None, execution: Execution | None = None) -> dict:
    """Train what is not cached (sequentially here, or as `execution` says) and return the full results record."""
    outcome = outcome or Outcome(out_dir)
    t0 = time.perf_counter()
    datasets = Datasets(loaded, smoke, out_dir / "cache")
    splits = datasets.get()
    decoded = {"hit": "; decoded images read from the cache",
               "miss": f"; {splits.info.get('decoded', 0):,} images decoded and cached"}.get(splits.info.get("cache"), "")
    progress(f"dataset: {splits.source}; {splits.sizes()['train']:,} train / {splits.sizes()['validation']:,} "
             f"validation / {splits.sizes()['test']:,} test images{decoded}")
    runs, stats = run_all(loaded, datasets, RunCache(out_dir / "cache"), smoke, progress, force, execution)
    outcome.trained, outcome.cached = stats["trained"], stats["cached"]
    outcome.failed = stats.get("failed", 0)
    outcome.timings["runs"] = time.perf_counter() - t0
    return _with_exploration(_results(loaded, splits, runs, smoke), loaded, splits, out_dir)


def results_from_cache(loaded: LoadedManifest, out_dir: Path, smoke: bool) -> dict:
    """The results record from cached runs only; ResultsMissing if any run is absent."""
    datasets = Datasets(loaded, smoke, out_dir / "cache")
    splits = datasets.get()
    runs = cached_runs(loaded, datasets, RunCache(out_dir / "cache"), smoke)
    return _with_exploration(_results(loaded, splits, runs, smoke), loaded, splits, out_dir)


def render_files(loaded: LoadedManifest, results: dict, out_dir: Path, outcome: Outcome, with_pdf: bool = True
                 ) -> dict[Path, bytes]:
    """Figures (from OUT/cache/figures where drawn before) → HTML → PDF, in memory; only the figure cache is
    written here."""
    t0 = time.perf_counter()
    cache = FigureCache(out_dir / "cache", raster=with_pdf)
    figs = figures.draw_all(results, loaded.sections, cache)
    outcome.figures = dict(cache.counts)
    outcome.timings["figures"] = time.perf_counter() - t0
    doc = document.build(results, loaded.sections, figs, loaded.base_dir)
    html = render.render_html(doc, loaded.template_override())
    outcome.timings["html"] = time.perf_counter() - t0
    files = {out_dir / "results.json": dumps(results).encode("utf-8"), out_dir / "report.html": html.encode("utf-8")}
    if with_pdf:
        t1 = time.perf_counter()
        # the HTML keeps its vector figures; the PDF gets their PNGs, which WeasyPrint lays out far faster
        files[out_dir / "report.pdf"] = pdf.render_pdf(cache.for_print(html), results["report"].get("date"))
        outcome.timings["pdf"] = time.perf_counter() - t1
    return files
