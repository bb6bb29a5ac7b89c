"""Command line: thin commands that wire the pipeline stages together."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from reportgen import __version__, build
from reportgen.diff.compare import IGNORED_HELP
from reportgen.errors import UserError
from reportgen.writer import write_all

# Only build, run and params import torch (lazily, inside the commands), and validate for torchvision/timm
# networks: --help, schema, validate, diff and render start in a fraction of the time `import torch` takes.

_set = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                    help="Override a manifest value by dotted path, e.g. --set train.epochs=3 (repeatable).")
_out = click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                    help="Output folder (default: output/<manifest stem>/).")
_smoke = click.option("--smoke", is_flag=True,
                      help="Whole manifest in seconds: 1 epoch, at most 256 images per split, synthetic images "
                           "where dataset files are absent.")
_manifest = click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))


def _say(message: str) -> None:
    click.echo(message, err=True)


def _guard(fn):
    """Turn user mistakes into one clear message and exit code 2; internal errors into exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, debug: bool = False, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            if debug:
                raise
            _say(f"error: {exc}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _say("interrupted; finished runs are kept in the cache")
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - last-resort message for the user
            if debug:
                raise
            _say(f"internal error: {type(exc).__name__}: {exc}\n(re-run with --debug for the traceback)")
            sys.exit(1)

    return click.option("--debug", is_flag=True, help="Show tracebacks.")(wrapper)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reportgen")
def main() -> None:
    """reportgen: CNN assignment reports (HTML + PDF) from a manifest and real training runs."""


def _out_dir(loaded, out_dir: Path | None, smoke: bool) -> Path:
    return out_dir or build.default_out(loaded, smoke)


def _write(files: dict[Path, bytes]) -> None:
    write_all(files)
    for path in files:
        _say(f"wrote {path}")


_execution_options = (
    click.option("--jobs", type=click.IntRange(min=1), default=None, metavar="N",
                 help="Runs at once (default 1: one after another in this process); N>1: N worker processes "
                      "sharing the CPU cores or the GPU. With --executor ray: at most N runs in flight."),
    click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                 help="Where runs execute: this machine, or a Ray cluster (pip install 'reportgen[ray]')."),
    click.option("--ray-address", default=None, metavar="ADDR",
                 help="Ray cluster to join (default: start a local Ray instance for this build)."),
    click.option("--gpu-share", type=click.FloatRange(min=0), default=None, metavar="F",
                 help="Ray: GPUs per run; fractions let runs share a GPU, e.g. 0.25 (default 1 when the "
                      "cluster has GPUs, else 0)."),
    click.option("--cpus-per-run", type=click.FloatRange(min=0, min_open=True), default=None, metavar="C",
                 help="Ray: CPUs per run (default 1)."),
    click.option("--quiet/--verbose", default=None,
                 help="Leave out (or show) the per-epoch lines; default: left out when the CI variable is set."),
)


def _run_options(fn):
    for option in reversed((_manifest, _out, _smoke, _set,
                            click.option("--force", is_flag=True, help="Re-train every run even when it is cached."),
                            *_execution_options)):
        fn = option(fn)
    return fn


def _run(manifest: Path, out_dir: Path | None, smoke: bool, overrides: tuple[str, ...], force: bool,
         jobs: int | None, executor: str, ray_address: str | None, gpu_share: float | None,
         cpus_per_run: float | None, quiet: bool | None):
    from reportgen.run.progress import Reporter
    from reportgen.run.scheduler import Execution

    execution = Execution(executor, jobs, ray_address, gpu_share, cpus_per_run)
    execution.check()
    loaded = build.load(manifest, list(overrides))
    out = _out_dir(loaded, out_dir, smoke)
    outcome = build.Outcome(out)
    results = build.run(loaded, out, smoke, Reporter(_say, quiet), force, outcome, execution)
    if outcome.trained == 0:
        _say(f"all {outcome.cached} runs were cached; nothing was trained")
    else:
        _say(f"trained {outcome.trained} run(s), {outcome.cached} cached, in {outcome.timings['runs']:.1f} s"
             + (f"; {outcome.failed} failed (see the warnings above)" if outcome.failed else ""))
    return loaded, out, outcome, results


@main.command("build")
@_run_options
@click.option("--no-pdf", is_flag=True, help="Write only report.html and results.json.")
@_guard
def build_cmd(manifest: Path, out_dir: Path | None, smoke: bool, overrides: tuple[str, ...], force: bool,
              no_pdf: bool, **execution) -> None:
    """Run every experiment (or take it from the cache) and write report.html, report.pdf, results.json."""
    loaded, out, outcome, results = _run(manifest, out_dir, smoke, overrides, force, **execution)
    _say("rendering HTML" + ("" if no_pdf else " and PDF") + " ...")
    _write(build.render_files(loaded, results, out, outcome, with_pdf=not no_pdf))
    _rendered(outcome, no_pdf)


def _rendered(outcome, no_pdf: bool) -> None:
    _say(f"figures: {outcome.figures['drawn']} drawn, {outcome.figures['cached']} from the cache")
    _say(f"done: html {outcome.timings['html']:.1f} s" + ("" if no_pdf else f", pdf {outcome.timings['pdf']:.1f} s"))


@main.command("run")
@_run_options
@_guard
def run_cmd(manifest: Path, out_dir: Path | None, smoke: bool, overrides: tuple[str, ...], force: bool,
            **execution) -> None:
    """Only run the experiments (into the cache) and write results.json; no rendering."""
    from reportgen.results.store import dumps

    _, out, _, results = _run(manifest, out_dir, smoke, overrides, force, **execution)
    _write({out / "results.json": dumps(results).encode("utf-8")})


@main.command("render")
@_manifest
@_out
@_smoke
@_set
@click.option("--no-pdf", is_flag=True, help="Write only report.html and results.json.")
@_guard
def render_cmd(manifest: Path, out_dir: Path | None, smoke: bool, overrides: tuple[str, ...], no_pdf: bool) -> None:
    """Only render, from OUT/results.json; fails, naming the runs, when results are missing or stale."""
    from reportgen.manifest.loaded import load_manifest

    loaded = load_manifest(manifest, list(overrides))
    out = _out_dir(loaded, out_dir, smoke)
    results = build.recorded_results(loaded, out, smoke)
    outcome = build.Outcome(out)
    _write(build.render_files(loaded, results, out, outcome, with_pdf=not no_pdf))
    _rendered(outcome, no_pdf)


@main.command("validate")
@_manifest
@_set
@_guard
def validate_cmd(manifest: Path, overrides: tuple[str, ...]) -> None:
    """Check a manifest (keys, types, references, layer shapes) without running anything."""
    loaded = build.validate(manifest, list(overrides))
    m = loaded.manifest
    click.echo(f"{manifest}: ok ({len(m.models)} model(s), {len(m.experiments)} experiment(s) giving "
               f"{len(loaded.runs)} run(s), {len(loaded.sections)} section(s))")


@main.command("params")
@_manifest
@click.option("--model", "model_name", default=None, help="Only this model (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_set
@_guard
def params_cmd(manifest: Path, model_name: str | None, as_json: bool, overrides: tuple[str, ...]) -> None:
    """Print each model's per-layer parameter arithmetic, without training."""
    from reportgen.models.build import model_record

    loaded = build.load(manifest, list(overrides))
    names = list(dict.fromkeys([*loaded.manifest.models, *(r.model for r in loaded.runs)]))
    if model_name is not None:
        if model_name not in names:
            raise UserError(f"no model {model_name!r} in {manifest}; models: {', '.join(names)}")
        names = [model_name]
    records = {n: model_record(loaded, n) for n in names}
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    for name, rec in records.items():
        click.echo(_params_text(name, rec))


def _params_text(name: str, rec: dict) -> str:
    from reportgen.report.formatting import num, shape

    if rec.get("blocks"):  # torchvision/timm networks: block by block
        rows = [("Block", "Type", "Output", "Trainable", "Count")]
        rows += [(r["name"], r["type"], shape(r["output_shape"]), num(r["trainable"]), num(r["params"]))
                 for r in rec["blocks"]]
    else:
        rows = [("Layer", "Type", "Output", "Parameters", "Count")]
        rows += [(r["name"], r["type"], shape(r["output_shape"]), r["formula"] or "—", num(r["params"]))
                 for r in rec["layers"]]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [f"{name}  (input {shape(rec['input_shape'])})"]
    for i, row in enumerate(rows):
        text_cols = 3 if rec.get("blocks") else 4
        lines.append("  ".join(c.ljust(w) if j < text_cols else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"learnable parameters (PyTorch, sum of p.numel()): {num(rec['total_params'])}"
                 f"  (trainable {num(rec['trainable_params'])})")
    lines.append(f"BatchNorm running statistics (buffers): {num(rec['buffer_params'])}"
                 f"  -> Keras-style total {num(rec['keras_total_params'])}")
    return "\n".join(lines) + "\n"


@main.command("diff", epilog=f"Ignored unless --strict: {IGNORED_HELP}.")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-9, show_default=True,
              help="Absolute tolerance for every number (metrics, accuracies, losses, parameter counts).")
@click.option("--strict", is_flag=True, help="Also compare timings, cache keys, environment and device.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="text: summary and unified diffs; json: list of differences; html: side-by-side page.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the output to FILE (atomically) instead of stdout.")
@click.option("--full", is_flag=True, help="Text: list every difference after the causes and run headlines.")
@_guard
def diff_cmd(a: Path, b: Path, tolerance: float, strict: bool, fmt: str, out_file: Path | None, full: bool) -> None:
    """Compare two builds A and B: output folders, results.json files or HTML reports.

    Compares runs and models present, test metrics, parameter tables, epoch logs, configuration, dataset
    settings, report metadata and (when both sides have an HTML report) each section's text as a unified
    diff. The text output leads with the causes (what differs in the inputs and the environment), then one
    line per run; --full adds every difference. Exit code 0 when equal within --tolerance, 1 when different,
    2 on error.
    """
    from reportgen.diff.command import diff_builds

    text, equal = diff_builds(a, b, tolerance, strict, fmt, full)
    if out_file is None:
        click.echo(text, nl=False)
    else:
        _write({out_file: text.encode("utf-8")})
    sys.exit(0 if equal else 1)


@main.command("schema")
def schema_cmd() -> None:
    """Print the manifest's JSON Schema."""
    from reportgen.manifest.jsonschema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


if __name__ == "__main__":
    main()
