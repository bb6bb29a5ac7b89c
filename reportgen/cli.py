"""Command line: the `reportgen` group; the commands themselves live in reportgen.commands."""

from __future__ import annotations

import click

from reportgen import messages
from reportgen.commands import grading, pipeline, project

# Only build, run, params and verify import torch (lazily, inside the commands), and validate for torchvision/timm
# networks: --help, --version, schema, validate, render, check, diff, grade and serve start in a fraction of the
# time `import torch` takes.


def _version(ctx: click.Context, _param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from reportgen.project.doctor import version_text

    click.echo(version_text())
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="Show reportgen's, torch's (and its CUDA build's) and WeasyPrint's versions and exit.")
def main() -> None:
    """reportgen: CNN assignment reports (HTML + PDF) from a manifest and real training runs."""
    messages.to_console()


for _module in (pipeline, grading, project):
    for _command in vars(_module).values():
        if isinstance(_command, click.Command):
            main.add_command(_command)

if __name__ == "__main__":
    main(prog_name="reportgen")
