"""What every command shares: the manifest, --out, --smoke, --set, --strict and --export options, one clear message
per user mistake (exit 2), and the one way outputs are written."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from reportgen import build, messages
from reportgen.textsafe import json_text, printable
from reportgen.errors import UserError
from reportgen.writer import write_all

set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                    help="Override a manifest value by dotted path, e.g. --set train.epochs=3 (repeatable).")
out_option = click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                    help="Output folder (default: output/<manifest stem>/ beside the manifest, whatever the working folder).")
smoke_option = click.option("--smoke", is_flag=True,
                      help="Whole manifest in seconds: 1 epoch, at most 256 images per split, synthetic images "
                           "where dataset files are absent.")
manifest_argument = click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
strict_option = click.option("--strict", is_flag=True, help="Treat warnings (refused prose images, unused prose files, "
                       "comparisons across datasets) as errors.")


def say(message: str) -> None:
    """A line on stderr (progress, what was written, warnings) through the `reportgen` logger, control characters
    shown escaped: messages quote names, titles and files that students wrote."""
    messages.say(message)


def guard(fn):
    """Turn user mistakes into one clear message and exit code 2; internal errors into exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, debug: bool = False, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            if debug:
                raise
            say(f"error: {exc}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            say("interrupted; finished runs are kept in the cache")
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - last-resort message for the user
            if debug:
                raise
            say(f"internal error: {type(exc).__name__}: {exc}\n(re-run with --debug for the traceback)")
            sys.exit(1)

    return click.option("--debug", is_flag=True, help="Show tracebacks.")(wrapper)


def write_outputs(files: dict[Path, bytes], out_dir: Path | None = None) -> None:
    """Write outputs atomically, remove the ones they leave stale, and say both."""
    stale = build.stale_reports(out_dir, files) if out_dir is not None else []
    write_all(files, stale)
    for path in files:
        say(f"wrote {path}")
    for path in stale:
        say(f"removed {path}: it no longer matched what was just written"
             + (" (this build had --no-pdf)" if path.name == "report.pdf" and out_dir / "report.html" in files
                else "; `reportgen render` writes it again"))


def _export_formats(ctx, param, value: str | None) -> list[str] | None:
    """--export latex,csv,markdown as a list (none: an empty one)."""
    if value is None:
        return None
    formats = [f.strip().lower() for f in value.split(",") if f.strip()]
    unknown = [f for f in formats if f not in ("latex", "csv", "markdown", "none")]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}: export formats are latex, csv, markdown (or none)")
    return list(dict.fromkeys(f for f in formats if f != "none"))


export_option = click.option("--export", "export", default=None, metavar="FORMATS", callback=_export_formats,
                       help="Also write OUT/export/: latex (booktabs tables, numbers.tex, figures), csv (numbers "
                            "as numbers) and/or markdown (report.md), e.g. --export latex,csv; overrides the "
                            "manifest's report.export (none: nothing).")




def echo_report(fmt: str, data, text: str) -> None:
    """A command's result on stdout: `data` as JSON with `--format json`, else `text` with its control characters
    escaped."""
    click.echo(json_text(data) if fmt == "json" else printable(text), nl=False)
