"""The pipeline's commands: build, run, render, validate, params and schema."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reportgen import build
from reportgen.commands.common import (export_option, guard, manifest_argument, out_option, say, set_option,
                                       smoke_option, strict_option, write_outputs)
from reportgen.errors import UserError
from reportgen.textsafe import json_text


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
    for option in reversed((manifest_argument, out_option, smoke_option, set_option, strict_option,
                            click.option("--force", is_flag=True, help="Re-train every run even when it is cached."),
                            *_execution_options, _sandbox_option, _plan_option)):
        fn = option(fn)
    return fn


_sandbox_option = click.option(
    "--sandbox", is_flag=True,
    help="Run the whole command in bubblewrap: no network, the manifest's folder read-only, writes only to the "
         "output folder (for a manifest whose module: files you do not trust).")


_plan_option = click.option(
    "--plan", is_flag=True,
    help="Only predict each run's time on this machine (FLOPs and a short measured step) and the total; train "
         "nothing and write nothing.")


def _print_plan(pipe: build.Pipeline, force: bool = False, execution=None) -> None:
    """The estimate's table on stdout; over an hour, the warning with what would shorten the build."""
    predicted = pipe.estimate(force, execution)
    click.echo(predicted.table(), nl=False)
    if predicted.advice():
        say(predicted.advice())


def _sandboxed(verb: str, manifest: Path, out_dir: Path | None, flags: dict) -> None:
    """Run `reportgen VERB` again inside the sandbox, with absolute paths and the same flags; exit with its code."""
    from reportgen.errors import UserError
    from reportgen.grading.sandbox import Limits, probe, run_sandboxed

    if not probe().isolated:
        raise UserError(f"--sandbox: {probe().text()}")
    if flags.get("executor") == "ray":
        raise UserError("--sandbox runs on this machine: it cannot be combined with --executor ray")
    pipe = build.Pipeline.open(manifest, flags["overrides"], out_dir, flags["smoke"], models=None)
    loaded, out = pipe.loaded, pipe.out_dir.resolve()
    argv = [sys.executable, "-m", "reportgen.cli", verb, str(manifest.resolve()), "--out", str(out)]
    argv += [a for o in flags["overrides"] for a in ("--set", o)] + [a for e in flags.get("export") or []
                                                                    for a in ("--export", e)]
    argv += [f"--{name.replace('_', '-')}" for name in ("smoke", "force", "strict", "no_pdf", "plan")
             if flags.get(name)]
    argv += ["--jobs", str(flags["jobs"])] if flags.get("jobs") else []
    argv += [] if flags.get("quiet") is None else ["--quiet" if flags["quiet"] else "--verbose"]
    say(f"sandbox: {probe().text()}; writing only to {out}")
    sys.exit(run_sandboxed(argv, [loaded.base_dir.resolve()], out, Limits(wall_seconds=24 * 3600.0,
                                                                           cpu_seconds=48 * 3600)))


def _run(manifest: Path, out_dir: Path | None, smoke: bool, overrides: tuple[str, ...], force: bool,
         jobs: int | None, executor: str, ray_address: str | None, gpu_share: float | None,
         cpus_per_run: float | None, quiet: bool | None, strict: bool = False, plan: bool = False):
    from reportgen.run.progress import reporter
    from reportgen.run.scheduler import Execution

    execution = Execution(executor, jobs, ray_address, gpu_share, cpus_per_run)
    execution.check()
    pipe = build.Pipeline.open(manifest, overrides, out_dir, smoke, strict=strict, warn=say)
    if plan:
        _print_plan(pipe, force, execution)
        sys.exit(0)
    progress = reporter(say, quiet, sys.stderr)
    try:
        results = pipe.run(progress, force, execution, estimate=True)
    finally:
        getattr(progress, "close", lambda: None)()
    outcome = pipe.outcome
    if outcome.trained == 0:
        say(f"all {outcome.cached} runs were cached; nothing was trained")
    else:
        say(f"trained {outcome.trained} run(s), {outcome.cached} cached, in {outcome.timings['runs']:.1f} s"
             + (f"; {outcome.failed} failed (see the warnings above)" if outcome.failed else ""))
    return pipe, results


@click.command("build")
@_run_options
@click.option("--no-pdf", is_flag=True, help="Write only report.html and results.json.")
@export_option
@guard
def build_cmd(manifest: Path, out_dir: Path | None, smoke: bool, overrides: tuple[str, ...], force: bool,
              no_pdf: bool, export: list[str] | None, **execution) -> None:
    """Run every experiment (or take it from the cache) and write report.html, report.pdf, results.json.

    Example: reportgen build experiments/digits.yaml   (add --smoke for a whole-manifest dry run in seconds)
    """
    if execution.pop("sandbox"):
        _sandboxed("build", manifest, out_dir, {**execution, "overrides": overrides, "smoke": smoke, "force": force,
                                                "no_pdf": no_pdf, "export": export})
    pipe, results = _run(manifest, out_dir, smoke, overrides, force, **execution)
    say("rendering HTML" + ("" if no_pdf else " and PDF") + " ...")
    write_outputs(pipe.render(results, with_pdf=not no_pdf, export=export, strict=execution.get("strict", False)),
                  pipe.out_dir)
    _rendered(pipe.outcome, no_pdf)


def _rendered(outcome, no_pdf: bool) -> None:
    say(f"figures: {outcome.figures['drawn']} drawn, {outcome.figures['cached']} from the cache")
    say(f"done: html {outcome.timings['html']:.1f} s" + ("" if no_pdf else f", pdf {outcome.timings['pdf']:.1f} s"))


@click.command("run")
@_run_options
@guard
def run_cmd(manifest: Path, out_dir: Path | None, smoke: bool, overrides: tuple[str, ...], force: bool,
            **execution) -> None:
    """Only run the experiments (into the cache) and write results.json; no rendering.

    Example: reportgen run experiments/digits.yaml --jobs 2
    """
    from reportgen.results.store import dumps

    if execution.pop("sandbox"):
        _sandboxed("run", manifest, out_dir, {**execution, "overrides": overrides, "smoke": smoke, "force": force})
    pipe, results = _run(manifest, out_dir, smoke, overrides, force, **execution)
    write_outputs({pipe.out_dir / "results.json": dumps(results).encode("utf-8")}, pipe.out_dir)


@click.command("render")
@manifest_argument
@out_option
@smoke_option
@set_option
@strict_option
@click.option("--no-pdf", is_flag=True, help="Write only report.html and results.json.")
@export_option
@guard
def render_cmd(manifest: Path, out_dir: Path | None, smoke: bool, overrides: tuple[str, ...], strict: bool,
               no_pdf: bool, export: list[str] | None) -> None:
    """Only render, from OUT/results.json; fails, naming the runs, when results are missing or stale.

    Example: reportgen render experiments/digits.yaml --no-pdf
    """
    pipe = build.Pipeline.open(manifest, overrides, out_dir, smoke, models=None)
    results = pipe.recorded(say)
    write_outputs(pipe.render(results, with_pdf=not no_pdf, export=export, strict=strict), pipe.out_dir)
    _rendered(pipe.outcome, no_pdf)


@click.command("validate")
@manifest_argument
@set_option
@strict_option
@click.option("--plan", is_flag=True, help="Also predict each run's time on this machine and the total (builds the "
                                          "networks and times a few steps: seconds, with torch).")
@guard
def validate_cmd(manifest: Path, overrides: tuple[str, ...], strict: bool, plan: bool) -> None:
    """Check a manifest (keys, types, names, prose references and images, layer shapes) without running anything;
    every problem is listed at once.

    Example: reportgen validate experiments/digits.yaml --set train.epochs=3
    """
    pipe = build.Pipeline.open(manifest, overrides, models="shapes", strict=strict, warn=say)
    loaded = pipe.loaded
    m = loaded.manifest
    click.echo(f"{manifest}: ok ({len(m.models)} model(s), {len(m.experiments)} experiment(s) giving "
               f"{len(loaded.runs)} run(s), {len(loaded.sections)} section(s))")
    if plan:
        _print_plan(pipe)


@click.command("params")
@manifest_argument
@click.option("--model", "model_name", default=None, help="Only this model (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@set_option
@guard
def params_cmd(manifest: Path, model_name: str | None, as_json: bool, overrides: tuple[str, ...]) -> None:
    """Print each model's per-layer parameter arithmetic, without training.

    Example: reportgen params experiments/digits.yaml --model digits_cnn
    """
    from reportgen.models.build import model_record

    loaded = build.Pipeline.open(manifest, overrides).loaded
    names = list(dict.fromkeys([*loaded.manifest.models, *(r.model for r in loaded.runs)]))
    if model_name is not None:
        if model_name not in names:
            raise UserError(f"no model {model_name!r} in {manifest}; models: {', '.join(names)}")
        names = [model_name]
    records = {n: model_record(loaded, n) for n in names}
    if as_json:
        click.echo(json_text(records), nl=False)
        return
    for name, rec in records.items():
        click.echo(_params_text(name, rec))


def _params_text(name: str, rec: dict) -> str:
    from reportgen.report.wording.formatting import num, shape

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


@click.command("schema")
@click.option("--results", "of_results", is_flag=True, help="Print results.json's JSON Schema instead.")
@click.option("--rubric", "of_rubric", is_flag=True, help="Print the JSON Schema of grade's rubric.yaml instead.")
def schema_cmd(of_results: bool, of_rubric: bool) -> None:
    """Print the manifest's JSON Schema (or, with --results, that of results.json; with --rubric, a rubric's).

    Example: reportgen schema > manifest.schema.json   (point your editor's YAML support at it)
    """
    if of_results and of_rubric:
        raise click.UsageError("give --results or --rubric, not both")
    if of_rubric:
        from reportgen.grading.grade.rubric import rubric_schema

        click.echo(json_text(rubric_schema()), nl=False)
        return
    if of_results:
        from reportgen.results.record import json_schema as results_schema

        click.echo(results_schema(), nl=False)
        return
    from reportgen.manifest.jsonschema import json_schema

    click.echo(json_text(json_schema()), nl=False)
