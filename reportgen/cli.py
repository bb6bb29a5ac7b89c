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

# Only build, run, params and verify import torch (lazily, inside the commands), and validate for torchvision/timm
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


@main.command("check")
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: a verdict and one line per check; json: every finding with where it is.")
@click.option("--no-pdf", is_flag=True, help="Leave out the PDF checks (digest in its metadata, key numbers).")
@_guard
def check_cmd(submission: Path, fmt: str, no_pdf: bool) -> None:
    """Check a submitted report against its own results, offline: e.g. `reportgen check submissions/team07`.

    SUBMISSION is a folder (report.html, results.json, report.pdf) or a report.html. Checks that the embedded
    results match the digest the report states, that results.json beside it holds the same results, that every
    number shown in the tables and live prose equals the results it is tied to, that the PDF was made from the
    same results and shows the same test accuracies and parameter totals, that per-layer counts add up to the
    totals, that it is not a smoke build and that no run failed; diverged and stalled runs are listed. Exit code 0
    when clean, 1 when something was found, 2 when there is nothing to check.
    """
    from reportgen.check.command import check_submission, report_json, report_text

    report = check_submission(submission, with_pdf=not no_pdf)
    click.echo(json.dumps(report_json(report), indent=2) if fmt == "json" else report_text(report), nl=fmt == "json")
    sys.exit(report.exit_code())


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


@main.command("verify")
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The manifest to re-run (default: the one the results name, in the submission folder, else "
                   "the folder's only .yaml/.yml file).")
@click.option("--runs", multiple=True, metavar="ID",
              help="Only these runs (repeatable, or comma-separated; default: all). A run that starts from "
                   "another's weights re-runs that one first.")
@click.option("--sample", type=click.IntRange(min=1), default=None, metavar="N",
              help="A seeded random sample of N runs instead of all.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, metavar="K",
              help="Re-run only each run's first K epochs (same schedule) and compare those epochs' logs.")
@click.option("--rtol", type=click.FloatRange(min=0), default=None, metavar="X",
              help="Relative tolerance (default: 0, exact, when the environment matches the recorded one: CPU, "
                   "thread count, torch and code version; else 0.01).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: header, one line per run, counts; json: everything structured.")
@_guard
def verify_cmd(submission: Path, manifest: Path | None, runs: tuple[str, ...], sample: int | None, seed: int,
               epochs: int | None, rtol: float | None, fmt: str) -> None:
    """Re-run a submission's runs from its manifest and compare them with its recorded results.

    SUBMISSION is a submission folder (report.html, results.json, the manifest and its prose), a results.json or a
    report.html. Each run is trained again in this process with its recorded thread count, without any cache and
    without writing into the submission, then its epoch logs, status and test metrics (never timings) are compared.
    Each run is reported as reproduced, differs (naming every value that differs) or could not run (missing data
    or weights, or a manifest that now declares it differently). Exit code 0 when every run reproduced, 1 when
    any differs or could not run, 2 on unusable input.

    \b
    Example: reportgen verify submissions/team07 --sample 2 --seed 7 --epochs 1
    """
    from reportgen.run.progress import Reporter
    from reportgen.verify.command import verify_submission
    from reportgen.verify.output import json_report, text_report

    verification = verify_submission(submission, manifest, runs, sample, seed, epochs, rtol, Reporter(_say))
    click.echo(json_report(verification) if fmt == "json" else text_report(verification), nl=False)
    sys.exit(0 if verification.ok else 1)


@main.command("grade")
@click.argument("class_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Submissions checked at once, in N worker processes (1: one after another in this process).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The CSV to write (default DIR/grades.csv); grades.html, the findings and the state go beside it.")
@click.option("--verify", is_flag=True, help="Also re-run a sample of each submission's runs (reportgen verify).")
@click.option("--sample", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="With --verify: runs re-run per submission.")
@click.option("--seed", type=int, default=0, show_default=True, help="With --verify: which runs are sampled.")
@click.option("--gradescope", is_flag=True, help="Also write gradescope/<folder>/results.json for each submission.")
@click.option("--fresh", is_flag=True, help="Check every submission again, ignoring the previous run's state.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="stdout: one line per submission and a summary, or every row as JSON.")
@_guard
def grade_cmd(class_dir: Path, jobs: int, out_file: Path | None, verify: bool, sample: int, seed: int,
              gradescope: bool, fresh: bool, fmt: str) -> None:
    """Check every submission in DIR (one subfolder per team) and write a class overview.

    Writes grades.csv and grades.html (one row per submission: team, manifest, best accuracies, findings,
    identical runs, verification), each submission's findings under grades-findings/ and, with --gradescope,
    Gradescope results. Finished submissions are recorded as they finish, so an interrupted or repeated run
    checks only what is new or changed (--fresh: everything). Exit code 0 when every submission is clean,
    1 when any has findings or could not be checked, 2 when DIR is unusable.
    """
    from reportgen.grade.command import Options, grade

    opts = Options(class_dir, out_file, jobs, {"sample": sample, "seed": seed} if verify else None, gradescope, fresh)
    try:
        graded = grade(opts, _say)
    except KeyboardInterrupt:
        _say(f"interrupted; finished submissions are recorded in {opts.out_dir / '.reportgen-grade'}")
        sys.exit(130)
    click.echo(json.dumps(graded.record(), indent=2, ensure_ascii=False) if fmt == "json" else graded.text(),
               nl=fmt == "json")
    for path in graded.written:
        _say(f"wrote {path}")
    sys.exit(graded.exit_code)


@main.command("schema")
def schema_cmd() -> None:
    """Print the manifest's JSON Schema."""
    from reportgen.manifest.jsonschema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


if __name__ == "__main__":
    main()
