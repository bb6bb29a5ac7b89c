"""`reportgen init`: starter projects that build at once, for every template and dataset; never over existing files."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from conftest import cli

from reportgen.project.init.init import DATASETS, TEMPLATES

COMBOS = [(t, "digits") for t in TEMPLATES] + [("assignment", d) for d in DATASETS if d != "digits"]


def _init(tmp_path, monkeypatch, template: str, dataset: str, name: str = "proj"):
    monkeypatch.chdir(tmp_path)  # the printed commands are relative to the working folder
    result = cli("init", name, "--template", template, "--dataset", dataset)
    assert result.exit_code == 0, result.output
    return tmp_path / name, result.output


def _printed(output: str, prefix: str) -> list[str]:
    """The arguments of the printed command line starting with `prefix` (its comment dropped)."""
    line = next(line.strip() for line in output.splitlines() if line.strip().startswith(prefix))
    return shlex.split(line, comments=True)[1:]


@pytest.mark.unit
@pytest.mark.parametrize("template,dataset", COMBOS)
def test_init_writes_a_starter_that_validates(tmp_path, monkeypatch, template, dataset):
    folder, output = _init(tmp_path, monkeypatch, template, dataset)
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert written == [".gitignore", "proj.yaml", "proj/discussion.md", "proj/introduction.md"]
    for path in written:
        assert f"wrote {(folder / path).relative_to(tmp_path)}" in output
    text = (folder / "proj.yaml").read_text("utf-8")
    assert f"template: {template}" in text and f"name: {dataset}" in text and "<<" not in text
    assert "#" in text  # commented
    assert "@{best(lr_study).accuracy}" in (folder / "proj/discussion.md").read_text("utf-8")
    intro = (folder / "proj/introduction.md").read_text("utf-8")
    assert "@{cnn.params}" in intro and "@fig:training" in intro
    assert "output/" in (folder / ".gitignore").read_text("utf-8").splitlines()
    result = cli(*_printed(output, "reportgen validate"))
    assert result.exit_code == 0, result.output
    assert _printed(output, "reportgen build --smoke") == ["build", "--smoke", "proj/proj.yaml"]


@pytest.mark.unit
def test_init_refuses_to_overwrite_and_names_every_existing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "team"
    (folder / "team").mkdir(parents=True)
    (folder / "team.yaml").write_text("mine\n", "utf-8")
    (folder / ".gitignore").write_text("*.log\n", "utf-8")
    result = cli("init", "team")
    assert result.exit_code == 2
    assert "team/team.yaml" in result.output and "team/.gitignore" in result.output
    assert "introduction.md" not in result.output  # only what exists is named
    assert (folder / "team.yaml").read_text("utf-8") == "mine\n"
    assert (folder / ".gitignore").read_text("utf-8") == "*.log\n"
    assert sorted(p.name for p in folder.rglob("*")) == [".gitignore", "team", "team.yaml"]  # nothing written


@pytest.mark.unit
def test_init_names_the_manifest_after_the_folder_or_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("init", "My Lab 3").exit_code == 0
    assert (tmp_path / "My Lab 3" / "my-lab-3.yaml").is_file()
    (tmp_path / "42").mkdir()
    monkeypatch.chdir(tmp_path / "42")
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "42" / "report.yaml").is_file() and "reportgen build --smoke report.yaml" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("template,dataset", [("paper", "digits"), ("lab", "digits"), ("assignment", "cifar10"),
                                              ("assignment", "imagefolder")])
def test_the_printed_smoke_build_works_at_once(tmp_path, monkeypatch, template, dataset):
    folder, output = _init(tmp_path, monkeypatch, template, dataset)
    args = _printed(output, "reportgen build --smoke")
    result = cli(*args, "--no-pdf", "--out", "out")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "report.html").read_text("utf-8")
    results = json.loads((tmp_path / "out" / "results.json").read_text("utf-8"))
    assert results["smoke"] is True and len(results["runs"]) >= 3
    shown = re.sub(r"<script\b.*?</script>|<code>[^<]*</code>", "", html, flags=re.S)  # not the embedded results
    assert "@{" not in shown and "@fig:" not in shown  # every live reference outside code was resolved
    assert 'data-key="models.cnn.total_params"' in html


@pytest.mark.slow
def test_the_digits_starter_builds_a_real_report(tmp_path, monkeypatch):
    folder, output = _init(tmp_path, monkeypatch, "assignment", "digits")
    result = cli(*_printed(output, "reportgen build proj"), "--out", "out")
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text("utf-8"))
    assert results["smoke"] is False and len(results["runs"]) == 3
    assert all(r["status"] == "completed" and len(r["epochs"]) == r["config"]["epochs"] for r in results["runs"].values())
    best = max(r["test"]["accuracy"] for r in results["runs"].values())
    assert best > 0.8  # a few epochs on the digits already separate them well
    assert (tmp_path / "out" / "report.pdf").read_bytes().startswith(b"%PDF")
