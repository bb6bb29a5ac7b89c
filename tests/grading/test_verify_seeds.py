"""A build made with --set records its overrides, and render, check and verify apply them; verify covers every seed
of a repeated run (`id#2`), so raising a later seed is caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import cli
from manifests import DATE, SMALL, manifest_text

REPEATED = manifest_text(SMALL, report={"title": "Repeated seeds", "team": [{"name": "Ann", "id": "A1"}], "date": DATE},
                         train={"epochs": 3, "measure": None},
                         sections=["cover", "training", "evaluation", "provenance"])
OVERRIDES = ["train.epochs=1", "train.repeats=2"]


@pytest.fixture(scope="module")
def overridden(tmp_path_factory) -> Path:
    """A submission folder: the repeated manifest built with --set train.epochs=1 --set train.repeats=2."""
    folder = tmp_path_factory.mktemp("seeds") / "team"
    folder.mkdir()
    (folder / "seeds.yaml").write_text(REPEATED, "utf-8")
    sets = [a for o in OVERRIDES for a in ("--set", o)]
    result = cli("build", folder / "seeds.yaml", "--out", folder, "--no-pdf", *sets, env={"CI": "1"})
    assert result.exit_code == 0, result.output
    shutil.rmtree(folder / "cache")
    return folder


def _copy(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    return copy


@pytest.mark.slow
def test_the_build_records_its_overrides_and_render_applies_them(overridden, tmp_path):
    results = json.loads((overridden / "results.json").read_text("utf-8"))
    assert results["manifest"]["overrides"] == OVERRIDES
    assert [len(r["epochs"]) for r in results["runs"]["base"]["repeats"]] == [1, 1]
    copy = _copy(overridden, tmp_path)
    result = cli("render", copy / "seeds.yaml", "--out", copy, "--no-pdf")
    assert result.exit_code == 0, result.output
    assert "applying the overrides the build was made with: --set train.epochs=1 --set train.repeats=2" in result.output
    assert (copy / "report.html").read_bytes() == (overridden / "report.html").read_bytes()


@pytest.mark.slow
def test_every_seed_of_an_overridden_build_verifies(overridden):
    result = cli("verify", overridden, env={"CI": "1"})
    assert result.exit_code == 0, result.output
    assert "runs: all 2 runs: base, base#2" in result.stdout
    assert "base: reproduced" in result.stdout and "base#2: reproduced" in result.stdout
    assert "--set train.epochs=1 --set train.repeats=2; applied here too" in result.stdout


@pytest.mark.slow
def test_a_raised_second_seed_differs_when_named_or_when_its_run_is(overridden, tmp_path):
    copy = _copy(overridden, tmp_path)
    results = json.loads((copy / "results.json").read_text("utf-8"))
    recorded = results["runs"]["base"]["repeats"][1]["test"]["accuracy"]
    results["runs"]["base"]["repeats"][1]["test"]["accuracy"] = 0.999
    (copy / "results.json").write_text(json.dumps(results), "utf-8")
    for runs in ("base#2", "base"):
        result = cli("verify", copy, "--runs", runs, "--format", "json", env={"CI": "1"})
        assert result.exit_code == 1, result.output
        verdicts = {r["id"]: r for r in json.loads(result.stdout)["runs"]}
        assert verdicts["base#2"]["outcome"] == "differs"
        difference = next(d for d in verdicts["base#2"]["differences"] if d["metric"] == "test.accuracy")
        assert difference["recorded"] == 0.999 and difference["rerun"] == pytest.approx(recorded)
        assert ("base" in verdicts) == (runs == "base")
    unknown = cli("verify", copy, "--runs", "base#3")
    assert unknown.exit_code == 2 and "base#2" in unknown.output
