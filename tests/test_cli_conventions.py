"""The command-line conventions people expect: --version, doctor, shell completion, live bars on a terminal only,
NO_COLOR, and every command's --help leading with an example."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from rich.console import Console

from reportgen.run.progress import EpochDone, Reporter, TerminalReporter, reporter

from conftest import cli


def test_version_names_reportgen_torch_and_its_cuda_build_and_weasyprint_without_importing_torch():
    code = ("import sys; from reportgen.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    first, imported = out.stdout.splitlines()
    import torch
    import weasyprint

    assert first.startswith("reportgen 0.1.0, Python ") and f"torch {torch.__version__} (" in first
    assert ("CUDA " + torch.version.cuda + " build" if torch.version.cuda else "CPU-only build") in first
    assert f"WeasyPrint {weasyprint.__version__}" in first and imported == "False"


def test_doctor_reports_every_check_on_this_machine(tmp_path):
    result = cli("doctor")
    lines = result.output.splitlines()
    for what in ("Python", "PyTorch", "PDF (WeasyPrint and Pango)", "Fonts", "Output and cache folder",
                 "Pretrained weights"):
        assert any(line.split(" ", 1)[1].lstrip().startswith(what) for line in lines if " " in line), what
    assert result.exit_code == 0 and lines[-1] == "everything reportgen needs is in place"
    import torch

    assert ("runs train on cuda" if torch.cuda.is_available() else "runs train on the CPU") in result.output


@pytest.mark.unit
def test_doctor_names_a_folder_it_cannot_write_with_a_fix(tmp_path):
    (tmp_path / "a-file").write_text("not a folder\n", "utf-8")  # the output folder would have to be inside it
    result = cli("doctor", tmp_path / "a-file" / "m.yaml")
    assert result.exit_code == 1 and "PROBLEM Output and cache folder" in result.output and "fix:" in result.output


@pytest.mark.unit
@pytest.mark.parametrize("shell, marker", [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "--command reportgen")])
def test_completion_scripts(shell, marker):
    result = cli("completion", shell)
    assert result.exit_code == 0 and marker in result.output and "_REPORTGEN_COMPLETE" in result.output


@pytest.mark.unit
def test_completion_completes_commands():
    out = subprocess.run([sys.executable, "-m", "reportgen.cli"], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "_REPORTGEN_COMPLETE": "bash_complete",
                              "COMP_WORDS": "reportgen ch", "COMP_CWORD": "1"})
    assert "plain,check" in out.stdout


def _terminal(**kw) -> tuple[TerminalReporter, io.StringIO]:
    buffer = io.StringIO()
    return TerminalReporter(Console(file=buffer, force_terminal=True, width=120, **kw)), buffer


@pytest.mark.unit
def test_on_a_terminal_epoch_lines_become_a_live_bar_and_other_lines_are_printed():
    live, buffer = _terminal()
    live("dataset: digits")
    for epoch in (1, 2):
        live(EpochDone("base", epoch, 3, train_loss=0.5, val_loss=0.4, train_acc=0.9, val_acc=0.9, seconds=0.2,
                       images_per_s=6000.0, left=1.0))
    live.progress.refresh()
    live.close()
    text = buffer.getvalue()
    assert "dataset: digits" in text and "base" in text and "2/3" in text and "6,000 images/s" in text
    assert "\x1b[" in text  # drawn with terminal control codes, then taken away (transient)


@pytest.mark.unit
def test_no_color_leaves_out_colours_but_keeps_the_bar(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    live, buffer = _terminal()
    live(EpochDone("base", 1, 2, train_loss=0.5, val_loss=0.5, train_acc=0.5, val_acc=0.5, seconds=0.1,
                   images_per_s=5.0, left=0.1))
    live.progress.refresh()
    live.close()
    assert "1/2" in buffer.getvalue() and "\x1b[3" not in buffer.getvalue()  # no foreground colour codes


@pytest.mark.unit
def test_pipes_and_ci_get_plain_lines():
    lines: list[str] = []
    assert type(reporter(lines.append, None, io.StringIO())) is Reporter
    assert type(reporter(lines.append, True, sys.stderr)) is Reporter


COMMANDS = ["build", "run", "render", "validate", "params", "schema", "diff", "check", "verify", "grade", "doctor",
            "completion", "init", "serve"]


@pytest.mark.unit
@pytest.mark.parametrize("command", COMMANDS)
def test_each_commands_help_gives_an_example_first(command):
    result = cli(command, "--help")
    assert result.exit_code == 0
    body = result.output.split("\n\n")
    assert any(part.strip().startswith("Example: reportgen " if command != "completion" else "Example: eval")
               for part in body[1:3]), result.output[:400]


@pytest.mark.unit
def test_every_format_json_is_one_ascii_json_that_carries_no_control_character():
    from reportgen.textsafe import json_text

    data = {"team": "Eve\u202egnp.exe\x1b]52;c;AAAA\x07", "accuracy": 0.9861, "name": "Zoë"}
    text = json_text(data)
    assert text.isascii() and "\x1b" not in text and "\x07" not in text and text.endswith("}\n")
    assert json.loads(text) == data and text.index('"team"') < text.index('"accuracy"') < text.index('"name"')


def _validate_on(tmp_path, terminal: bool, **env) -> bytes:
    """`reportgen validate` of a manifest with a warning, its stderr on a pseudo-terminal or a pipe."""
    import os
    import pty

    from conftest import TINY_MANIFEST, write_manifest

    labels = "  - comparison: {label: a_b}\n  - comparison: {label: A-b}\n"
    manifest = write_manifest(tmp_path, TINY_MANIFEST.replace("  - comparison\n", labels))
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update(TERM="xterm-256color", **env)
    if not terminal:
        return subprocess.run([sys.executable, "-m", "reportgen.cli", "validate", str(manifest)], capture_output=True,
                              env=environment, timeout=120).stderr
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "reportgen.cli", "validate", str(manifest)], stdout=child,
                            stderr=child, env=environment)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=120)
    os.close(main)
    return out


@pytest.mark.unit
def test_warnings_are_yellow_on_a_terminal_and_plain_in_pipes_and_with_no_color(tmp_path):
    coloured = _validate_on(tmp_path / "tty", True)
    assert b"\x1b[33mwarning: " in coloured, coloured
    assert b"\x1b[" not in _validate_on(tmp_path / "nc", True, NO_COLOR="1")
    piped = _validate_on(tmp_path / "pipe", False)
    assert piped.startswith(b"warning: ") and b"\x1b[" not in piped, piped
    assert len(piped.splitlines()[0]) > 120  # one line, never wrapped at a terminal's width
