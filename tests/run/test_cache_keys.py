"""Cache keys are derived from the code that decides a result: a changed line of the run side retrains, a changed
word of the report side retrains nothing and redraws no figure."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from manifests import SMALL, manifest_text

MANIFEST = manifest_text(SMALL, report={"title": "Cache keys", "date": datetime.date(2024, 2, 1)}, dataset={"seed": 3},
                         models={"net": {"layers": [{"conv": {"out": 2, "kernel": 3}}, "relu", "flatten",
                                                    {"linear": "classes"}]}},
                         train={"measure": {"throughput_batch": 2}}, experiments=[{"id": "only", "model": "net"}],
                         sections=["cover", "training", "evaluation"])


@pytest.fixture
def source(tmp_path) -> Path:
    """A private copy of reportgen's package and templates, to edit."""
    root = tmp_path / "src"
    shutil.copytree(REPO / "reportgen", root / "reportgen", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "templates", root / "templates")
    return root


def build(source: Path, folder: Path) -> str:
    """`reportgen build` with the copied source; returns its log."""
    manifest = folder / "keys.yaml"
    if not manifest.exists():
        manifest.write_text(MANIFEST, "utf-8")
    env = {**os.environ, "PYTHONPATH": str(source), "CI": "1", "REPORTGEN_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "reportgen.cli", "build", str(manifest), "--out", str(folder / "out"),
                           "--no-pdf"], capture_output=True, text=True, env=env, cwd=folder, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stderr


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), "utf-8")


def code_version(source: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(source)}
    return subprocess.run([sys.executable, "-c", "from reportgen.run.environment import code_version; "
                           "print(code_version())"], capture_output=True, text=True, env=env, check=True,
                          cwd=source.parent).stdout.strip()


@pytest.mark.slow
def test_the_run_code_version_covers_every_run_side_module_found_by_walking(source):
    before = code_version(source)
    new_module = source / "reportgen" / "run" / "helpers_added_later.py"
    new_module.write_text('"""A module nobody listed."""\n', "utf-8")
    assert code_version(source) != before
    new_module.unlink()
    assert code_version(source) == before
    edit(source / "reportgen" / "report" / "wording" / "formatting.py", '"""', '"""Reworded. ')
    assert code_version(source) == before  # the report side does not decide a run's numbers


@pytest.mark.slow
def test_a_changed_input_pipeline_retrains_and_a_reworded_report_does_not(source, tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    assert "trained 1 run(s)" in build(source, folder)
    assert "all 1 runs were cached; nothing was trained" in build(source, folder)

    # one line of the input pipeline (augmentation, normalisation, precision) changes the key: the run retrains
    edit(source / "reportgen" / "run" / "input_pipeline.py", "\nimport ", "\n# a changed line\nimport ")
    log = build(source, folder)
    assert "trained 1 run(s)" in log

    # rewording a render-side string and a template trains nothing and draws no figure
    edit(source / "reportgen" / "report" / "document" / "views" / "runs.py", '"Training throughput"', '"Speed of training"')
    edit(source / "templates" / "base" / "report.html.j2", "<body", "<!-- reworded template --><body")
    log = build(source, folder)
    assert "all 1 runs were cached; nothing was trained" in log
    assert "figures: 0 drawn" in log
    html = (folder / "out" / "report.html").read_text("utf-8")
    assert "Speed of training" in html and "<!-- reworded template -->" in html

    # a change to the figure code redraws the figures, still without training
    edit(source / "reportgen" / "report" / "figures" / "cache.py", "\nimport ", "\n# a changed figure line\nimport ")
    log = build(source, folder)
    assert "nothing was trained" in log and "figures: 0 drawn" not in log
