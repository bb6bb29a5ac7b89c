"""Outputs where users look and never stale: the default folder beside the manifest, pasteable hints, no PDF or
report left disagreeing with what a command just wrote."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import cli


@pytest.fixture()
def project(tiny_build, tmp_path, monkeypatch):
    """The tiny manifest in project/, its build at project/output/tiny/, and the working folder elsewhere/."""
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(tiny_build.manifest, folder / "tiny.yaml")
    shutil.copy(tiny_build.manifest.parent / "intro.md", folder / "intro.md")
    shutil.copytree(tiny_build.out, folder / "output" / "tiny")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return folder


def test_the_default_output_is_beside_the_manifest_whatever_the_working_folder(project):
    result = cli("render", "../project/tiny.yaml", "--no-pdf")
    assert result.exit_code == 0, result.output
    assert "wrote ../project/output/tiny/report.html" in result.output
    assert not Path("output").exists()  # nothing in the working folder


def test_a_no_pdf_build_after_a_prose_change_removes_the_pdf_it_no_longer_matches(project):
    pdf = project / "output" / "tiny" / "report.pdf"
    same = cli("render", "../project/tiny.yaml", "--no-pdf")
    assert same.exit_code == 0 and pdf.is_file(), "an unchanged report keeps its PDF"
    (project / "intro.md").write_text("# Introduction\n\nNew words.\n", "utf-8")
    changed = cli("render", "../project/tiny.yaml", "--no-pdf")
    assert changed.exit_code == 0, changed.output
    assert not pdf.exists()
    assert "removed ../project/output/tiny/report.pdf: it no longer matched what was just written (this build had " \
           "--no-pdf)" in changed.output


@pytest.mark.slow
def test_run_removes_a_report_that_no_longer_shows_its_results(project):
    out = project / "output" / "tiny"
    kept = cli("run", "../project/tiny.yaml")
    assert kept.exit_code == 0 and (out / "report.html").is_file(), "same results: the report still agrees"
    manifest = project / "tiny.yaml"
    manifest.write_text(manifest.read_text("utf-8").replace("Bob Builder", "Rob Builder"), "utf-8")
    changed = cli("run", "../project/tiny.yaml")
    assert changed.exit_code == 0, changed.output
    assert not (out / "report.html").exists() and not (out / "report.pdf").exists()
    assert "removed ../project/output/tiny/report.html" in changed.output


def test_the_hint_for_missing_results_works_when_pasted(project, tmp_path):
    shutil.rmtree(project / "output")
    result = cli("render", "../project/tiny.yaml", "--smoke", "--out", str(tmp_path / "custom"))
    assert result.exit_code == 2
    commands = re.findall(r"`(reportgen [^`]+)`", result.output)
    assert commands and commands[0].startswith("reportgen run --smoke ../project/tiny.yaml --out ")
    for command in commands:
        args = shlex.split(command)[2:]
        assert Path(next(a for a in args if a.endswith(".yaml"))).is_file()
        assert cli("validate", next(a for a in args if a.endswith(".yaml"))).exit_code == 0
