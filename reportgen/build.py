"""The pipeline: manifest → data → runs → results → figures → HTML → PDF; the run side imported only to run."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from reportgen.errors import ManifestError, ResultsMissing
from reportgen.manifest.digest import run_digests
from reportgen.manifest.loaded import LoadedManifest, load_manifest
from reportgen.results.store import canonical, dumps, read_results


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
    """Load and fully validate a manifest, including that every model can be built (imports torch)."""
    from reportgen.models.build import check_models

    loaded = load_manifest(path, overrides)
    problems = check_models(loaded)
    if problems:
        raise ManifestError(problems)
    return loaded


def validate(path: str | Path, overrides: list[str] | None = None) -> LoadedManifest:
    """Load a manifest and check every model's shapes by arithmetic, without torch; only torchvision/timm
    networks are built (which imports torch) to check they take the input size."""
    from reportgen.manifest.shapes import check_shapes, network_models

    loaded = load_manifest(path, overrides)
    problems = check_shapes(loaded)
    networks = network_models(loaded)
    if networks:
        from reportgen.models.build import check_networks

        problems += check_networks(loaded, networks)
    if problems:
        raise ManifestError(problems)
    return loaded


def default_out(loaded: LoadedManifest, smoke: bool) -> Path:
    """output/<manifest stem>/ (smoke builds go to output/<stem>-smoke/, never over a real report)."""
    return Path("output") / (loaded.stem + ("-smoke" if smoke else ""))


def run(loaded: LoadedManifest, out_dir: Path, smoke: bool, progress, force: bool = False,
        outcome: Outcome | None = None, execution=None) -> dict:
    """Train what is not cached (sequentially here, or as `execution` says) and return the full results record."""
    from reportgen.report.wording import source_text
    from reportgen.results.cache import RunCache
    from reportgen.run.collect import collect
    from reportgen.run.scheduler import run_all
    from reportgen.run.plan import Datasets

    outcome = outcome or Outcome(out_dir)
    t0 = time.perf_counter()
    datasets = Datasets(loaded, smoke, out_dir / "cache")
    splits = datasets.get()
    decoded = {"hit": "; decoded images read from the cache",
               "miss": f"; {splits.info.get('decoded', 0):,} images decoded and cached"}.get(splits.info.get("cache"), "")
    sizes = splits.sizes()
    progress(f"dataset: {source_text(splits.source)}; {sizes['train']:,} train / {sizes['validation']:,} "
             f"validation / {sizes['test']:,} test images{decoded}")
    runs, stats = run_all(loaded, datasets, RunCache(out_dir / "cache"), smoke, progress, force, execution)
    outcome.trained, outcome.cached = stats["trained"], stats["cached"]
    outcome.failed = stats.get("failed", 0)
    outcome.timings["runs"] = time.perf_counter() - t0
    return present(canonical(collect(loaded, splits, runs, smoke, out_dir / "cache")), loaded)


def present(results: dict, loaded: LoadedManifest) -> dict:
    """The results with the manifest's presentation parts (report metadata, titles, labels, manifest file and
    hash) taken from the manifest as it is now: editing them re-renders without running anything."""
    manifest = loaded.manifest
    out = {**results, "report": manifest.report.model_dump(),
           "manifest": {"file": loaded.path.name, "stem": loaded.stem,
                        "sha256": hashlib.sha256(loaded.path.read_bytes()).hexdigest()}}
    titles = {r.id: r.title for r in loaded.runs}
    out["runs"] = {rid: {**run, "title": titles.get(rid, run.get("title"))} for rid, run in results["runs"].items()}
    models = {}
    for name, record in results["models"].items():
        spec = manifest.models.get(name)
        if spec is not None:
            record = {**record, "description": spec.description, "label": spec.label}
        models[name] = record
    out["models"] = models
    return out


def stale_runs(loaded: LoadedManifest, results: dict, smoke: bool) -> list[str]:
    """Why the results do not belong to this manifest, one line per run (empty when they do)."""
    if bool(results.get("smoke")) != smoke:
        return [f"the results are from a {'smoke' if results.get('smoke') else 'full'} build"]
    recorded, problems = results["runs"], []
    for rid, digest in run_digests(loaded, smoke).items():
        run = recorded.get(rid)
        if run is None:
            problems.append(f"{rid}: not in the results")
        elif run.get("digest") != digest:
            problems.append(f"{rid}: the manifest's settings for it changed since it ran")
    declared = {r.id for r in loaded.runs}
    problems += [f"{rid}: no longer in the manifest" for rid in recorded if rid not in declared]
    problems += _stale_exploration(loaded, results)
    return problems


def _stale_exploration(loaded: LoadedManifest, results: dict) -> list[str]:
    """A `dataset` section whose options differ from those the recorded exploration was computed with."""
    options = next((s.options for s in loaded.sections if s.kind == "dataset"), None)
    if options is None:
        return []
    recorded = (results.get("dataset") or {}).get("exploration")
    if recorded is None:
        return ["dataset exploration: not in the results"]
    changed = [k for k, v in recorded.get("options", {}).items()
               if options.get(k) is not None and (list(options[k]) if k == "grid" else options[k]) != v]
    return [f"dataset exploration: its options changed ({', '.join(changed)})"] if changed else []


def recorded_results(loaded: LoadedManifest, out_dir: Path, smoke: bool) -> dict:
    """OUT/results.json, checked to belong to the manifest; ResultsMissing names the runs that are stale or
    missing. Reads no dataset, builds no model and imports no torch."""
    path = out_dir / "results.json"
    hint = (f"run `reportgen run{' --smoke' if smoke else ''} {loaded.path.name}"
            f"{'' if out_dir == default_out(loaded, smoke) else f' --out {out_dir}'}` first (or `reportgen build`)")
    try:
        results = read_results(path)
    except ResultsMissing as exc:
        raise ResultsMissing(f"{exc}; {hint}") from None
    problems = stale_runs(loaded, results, smoke)
    if problems:
        raise ResultsMissing(f"{path} does not match {loaded.path.name} ({len(problems)} "
                             f"problem{'' if len(problems) == 1 else 's'}):\n  " + "\n  ".join(problems) + f"\n{hint}")
    return present(results, loaded)


def render_files(loaded: LoadedManifest, results: dict, out_dir: Path, outcome: Outcome, with_pdf: bool = True
                 ) -> dict[Path, bytes]:
    """Figures (from OUT/cache/figures where drawn before) → HTML → PDF, in memory; only the figure cache is
    written here."""
    from reportgen.report import document, html
    from reportgen.report.figures import draw as figures
    from reportgen.report.figures.cache import FigureCache

    t0 = time.perf_counter()
    cache = FigureCache(out_dir / "cache", raster=with_pdf)
    figs = figures.draw_all(results, loaded.sections, cache)
    outcome.figures = dict(cache.counts)
    outcome.timings["figures"] = time.perf_counter() - t0
    doc = document.build(results, loaded.sections, figs, loaded.base_dir)
    text = html.render_html(doc, loaded.template_override())
    outcome.timings["html"] = time.perf_counter() - t0
    files = {out_dir / "results.json": dumps(results).encode("utf-8"), out_dir / "report.html": text.encode("utf-8")}
    if with_pdf:
        from reportgen.report import pdf

        t1 = time.perf_counter()
        # the HTML keeps its vector figures; the PDF gets their PNGs, which WeasyPrint lays out far faster
        files[out_dir / "report.pdf"] = pdf.render_pdf(cache.for_print(text), results["report"].get("date"),
                                                       doc["provenance"]["results_sha256"])
        outcome.timings["pdf"] = time.perf_counter() - t1
    return files
