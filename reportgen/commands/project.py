"""Commands around a project: init, serve, doctor and shell completion."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from reportgen.commands.common import guard, manifest_argument, out_option, say, set_option, smoke_option


@click.command("init")
@click.argument("folder", metavar="[DIR]", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--template", type=click.Choice(["assignment", "paper", "lab"]), default="assignment", show_default=True,
              help="The report's pack: assignment (cover, contents, numbered sections), paper (two columns), lab.")
@click.option("--dataset", type=click.Choice(["digits", "cifar10", "imagefolder"]), default="digits",
              show_default=True, help="digits needs no download; cifar10 and imagefolder smoke-build on synthetic images.")
@guard
def init_cmd(folder: Path, template: str, dataset: str) -> None:
    """Write a commented starter manifest DIR/<name>.yaml, its prose and a .gitignore (never over existing files).

    Example: reportgen init my-report --template lab --dataset digits

    <name> is DIR's folder name (or `report`). `reportgen build --smoke DIR/<name>.yaml` works at once.
    """
    from reportgen.project.init.init import next_steps, shown, starter, write_starter

    s = starter(folder, template, dataset)
    for path in write_starter(s):
        say(f"wrote {shown(path)}")
    say("next:\n  " + "\n  ".join(next_steps(s)))


@click.command("doctor")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path), required=False)
def doctor_cmd(manifest: Path | None) -> None:
    """Check what reportgen needs on this machine, with a fix for each problem.

    Example: reportgen doctor experiments/digits.yaml

    Python, PyTorch and the device runs would train on, WeasyPrint and Pango (the PDF), fonts, whether the output
    folder (MANIFEST's default one, else ./output) is writable, and which pretrained weights are cached. Exit code
    0 when everything is in place, 1 otherwise.
    """
    from reportgen.project.doctor import diagnose, doctor_text

    folder = (manifest.resolve().parent / "output") if manifest is not None else Path("output")
    findings = diagnose(folder)
    click.echo(doctor_text(findings), nl=False)
    sys.exit(0 if all(f.ok for f in findings) else 1)


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_cmd(shell: str) -> None:
    """Print the shell completion script for SHELL.

    Example: eval "$(reportgen completion bash)"   (or add that line to ~/.bashrc; zsh: ~/.zshrc;
    fish: reportgen completion fish > ~/.config/fish/completions/reportgen.fish)
    """
    from click.shell_completion import get_completion_class

    complete = get_completion_class(shell)(click.get_current_context().find_root().command, {}, "reportgen",
                                                "_REPORTGEN_COMPLETE")
    click.echo(complete.source())


@click.command("serve")
@manifest_argument
@out_option
@smoke_option
@set_option
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port on 127.0.0.1 (0: any free port; the URL is printed).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the web browser.")
@click.option("--pdf", is_flag=True, help="Also re-render report.pdf on every change (slower).")
@click.option("--train", is_flag=True, help="Train runs that a change makes stale or missing (imports torch).")
@guard
def serve_cmd(manifest: Path, out_dir: Path | None, smoke: bool, overrides: tuple[str, ...], port: int,
              open_browser: bool, pdf: bool, train: bool) -> None:
    """Serve the report on 127.0.0.1, re-rendered (and the page reloaded) when its sources change.

    Example: reportgen serve experiments/digits.yaml --port 0 --open

    Watches the manifest, its prose, images and template folder. Renders from OUT/results.json without torch
    and without the PDF (unless --pdf); a change that needs new runs says so, and trains only with --train.
    Ctrl-C stops it."""
    from reportgen.project.serve.command import serve
    from reportgen.project.serve.session import Options

    serve(Options(manifest, out_dir, smoke, list(overrides), pdf, train), port, open_browser, say)
