"""The graders' commands: check, diff, verify and grade; none imports torch but verify."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reportgen.commands.common import echo_report, guard, say, write_outputs
from reportgen.grading.diff.compare import IGNORED_HELP
from reportgen.textsafe import printable


def sandbox_options(fn):
    """--trust-code, --time-limit and --memory-limit: how a submission's code is run when it is re-run."""
    fn = click.option("--memory-limit", type=click.IntRange(min=1), default=8, show_default=True, metavar="GIB",
                      help="Address space a re-run process may map, in GiB (torch alone maps about 3.5).")(fn)
    fn = click.option("--time-limit", type=click.IntRange(min=1), default=3600, show_default=True, metavar="SECONDS",
                      help="Wall-clock limit per re-run run; past it the re-run process is killed.")(fn)
    return click.option("--trust-code", is_flag=True,
                        help="Run the submission's module: files even where no sandbox (bubblewrap) isolates them.")(fn)


def limits_of(options: dict):
    """The sandbox limits from --time-limit and --memory-limit."""
    from reportgen.grading.sandbox import Limits

    return Limits.of(options["time_limit"], options["memory_limit"])


@click.command("check")
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: a verdict and one line per check; json: every finding with where it is.")
@click.option("--no-pdf", is_flag=True, help="Leave out the PDF checks (digest in its metadata, key numbers).")
@guard
def check_cmd(submission: Path, fmt: str, no_pdf: bool) -> None:
    """Check a submitted report against its own results, offline.

    Example: reportgen check submissions/team07 --format json

    SUBMISSION is a folder (report.html, results.json, report.pdf) or a report.html. Checks that the embedded
    results match the digest the report states, that results.json beside it holds the same results, that every
    number shown in the tables and live prose equals the results it is tied to, that the PDF was made from the
    same results and shows the same test accuracies and parameter totals, that per-layer counts add up to the
    totals, that it is not a smoke build and that no run failed; diverged and stalled runs are listed. Exit code 0
    when clean, 1 when something was found, 2 when there is nothing to check.
    """
    from reportgen.grading.check.command import check_submission, report_json, report_text

    report = check_submission(submission, with_pdf=not no_pdf)
    echo_report(fmt, report_json(report), report_text(report))
    sys.exit(report.exit_code())


@click.command("diff", epilog=f"Ignored unless --strict: {IGNORED_HELP}.")
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
@guard
def diff_cmd(a: Path, b: Path, tolerance: float, strict: bool, fmt: str, out_file: Path | None, full: bool) -> None:
    """Compare two builds A and B: output folders, results.json files or HTML reports.

    Example: reportgen diff experiments/output/digits submissions/team07 --full

    Compares runs and models present, test metrics, parameter tables, epoch logs, configuration, dataset
    settings, report metadata and (when both sides have an HTML report) each section's text as a unified
    diff. The text output leads with the causes (what differs in the inputs and the environment), then one
    line per run; --full adds every difference. Exit code 0 when equal within --tolerance, 1 when different,
    2 on error.
    """
    from reportgen.grading.diff.command import diff_builds

    text, equal = diff_builds(a, b, tolerance, strict, fmt, full)
    text = printable(text) if fmt == "text" else text
    if out_file is None:
        click.echo(text, nl=False)
    else:
        write_outputs({out_file: text.encode("utf-8")})
    sys.exit(0 if equal else 1)


@click.command("verify")
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
@sandbox_options
@guard
def verify_cmd(submission: Path, manifest: Path | None, runs: tuple[str, ...], sample: int | None, seed: int,
               epochs: int | None, rtol: float | None, fmt: str, **sandboxing) -> None:
    """Re-run a submission's runs from its manifest and compare them with its recorded results.

    Example: reportgen verify submissions/team07 --sample 2 --seed 7 --epochs 1

    SUBMISSION is a submission folder (report.html, results.json, the manifest and its prose), a results.json or a
    report.html. Each run is trained again in this process with its recorded thread count, without any cache and
    without writing into the submission, then its epoch logs, status and test metrics (never timings) are compared.
    Each run is reported as reproduced, differs (naming every value that differs) or could not run (missing data
    or weights, or a manifest that now declares it differently). Exit code 0 when every run reproduced, 1 when
    any differs or could not run, 2 on unusable input.
    """
    from reportgen.grading.verify.command import Ask, verify_submission
    from reportgen.grading.verify.output import json_report, text_report
    from reportgen.run.progress import Reporter

    ask = Ask(manifest, runs, sample, seed, epochs, rtol, sandboxing["trust_code"], limits_of(sandboxing))
    verification = verify_submission(submission, ask, Reporter(say))
    echo_report(fmt, json_report(verification), text_report(verification))
    sys.exit(0 if verification.ok else 1)


@click.command("grade")
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
@click.option("--similarity", is_flag=True,
              help="Also compare every pair of submissions: prose, module code, experiment design and runs.")
@click.option("--base", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="With --similarity: the course's starter folder, whose content is never counted.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None, metavar="SCORE",
              help="With --similarity: the score (0 to 1) from which a pair is listed  [default: 0.5].")
@click.option("--rubric", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Score every submission against a rubric.yaml (docs/rubrics.md).")
@click.option("--export", "exports", default=None, metavar="LMS[,LMS]",
              help="With --rubric: also write gradebook CSVs to import: canvas, moodle.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="stdout: one line per submission and a summary, or every row as JSON.")
@sandbox_options
@guard
def grade_cmd(class_dir: Path, jobs: int, out_file: Path | None, verify: bool, sample: int, seed: int,
              gradescope: bool, fresh: bool, fmt: str, **more) -> None:
    """Check every submission in DIR (one subfolder per team) and write a class overview.

    Example: reportgen grade submissions/ --jobs 2 --similarity --base starter/ --rubric rubric.yaml --export canvas

    Writes grades.csv and grades.html (one row per submission: team, manifest, best accuracies, findings,
    identical runs, verification, and as asked rubric scores and similar submissions), each submission's findings
    under grades-findings/, with --similarity the similar pairs side by side under grades-similarity/, with
    --gradescope Gradescope results, and with --export grades-canvas.csv or grades-moodle.csv. Finished submissions are recorded as they finish, so an interrupted or repeated run
    checks only what is new or changed (--fresh: everything). Exit code 0 when every submission is clean,
    1 when any has findings or could not be checked, 2 when DIR is unusable.
    """
    from reportgen.grading.grade.classwide import export_names
    from reportgen.grading.grade.command import Options, grade

    sandboxing = {k: more.pop(k) for k in ("trust_code", "time_limit", "memory_limit")}
    asked = {"sample": sample, "seed": seed, **sandboxing} if verify else None
    opts = Options(class_dir, out_file, jobs, asked, gradescope, fresh, more["similarity"] or more["base"] is not None
                   or more["threshold"] is not None, more["base"], more["threshold"], more["rubric"], export_names(more["exports"]))
    try:
        graded = grade(opts, say)
    except KeyboardInterrupt:
        say(f"interrupted; finished submissions are recorded in {opts.out_dir / '.reportgen-grade'}")
        sys.exit(130)
    echo_report(fmt, graded.record(), graded.text())
    for path in graded.written:
        say(f"wrote {path}")
    sys.exit(graded.exit_code)
