"""Results are the contract: render reads only results.json (no torch, no dataset), stale results are named,
two builds of one manifest diff equal, and no absolute path of the building machine reaches a report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, cli, write_manifest
from manifests import MEASURE, manifest_text

HEAVY = ("torch", "torchvision", "timm", "sklearn")
BLOCKER = textwrap.dedent(f"""\
    import runpy, sys
    class Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {HEAVY!r}:
                raise ImportError("blocked by the test: " + name)
    sys.meta_path.insert(0, Blocked())
    sys.argv = ["reportgen", *sys.argv[1:]]
    try:
        runpy.run_module("reportgen.cli", run_name="__main__")
    finally:
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        sys.stderr.write("heavy modules: " + ",".join(loaded) + "\\n")
    """)


def without_torch(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter where importing torch, torchvision, timm or scikit-learn raises ImportError."""
    script = tmp_path / "blocked_cli.py"
    script.write_text(BLOCKER, "utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": "1"}
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)


def copy_build(tiny_build, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the tiny build (manifest, prose, outputs, caches) to change without touching the shared one."""
    folder = tmp_path / "copy"
    shutil.copytree(tiny_build.manifest.parent, folder, ignore=shutil.ignore_patterns("report.pdf"))
    return folder / tiny_build.manifest.name, folder / "out"


def test_render_reads_only_results_and_matches_the_build_byte_for_byte(tiny_build, tmp_path):
    manifest, out = copy_build(tiny_build, tmp_path)
    built_html, built_results = (out / "report.html").read_bytes(), (out / "results.json").read_bytes()
    shutil.rmtree(out / "cache" / "runs")  # no run cache, no weights: only results.json and the figure cache
    (out / "report.html").unlink()
    done = without_torch(tmp_path, "render", manifest, "--out", out, "--no-pdf")
    assert done.returncode == 0, done.stderr
    assert "heavy modules: \n" in done.stderr
    assert "figures: 0 drawn" in done.stderr
    assert (out / "report.html").read_bytes() == built_html
    assert (out / "results.json").read_bytes() == built_results


def test_render_names_the_runs_whose_settings_changed(tiny_build, tmp_path):
    manifest, out = copy_build(tiny_build, tmp_path)
    manifest.write_text(manifest.read_text("utf-8").replace("{name: sgd, lr: 0.05}", "{name: sgd, lr: 0.07}"))
    built_html = (out / "report.html").read_bytes()
    done = without_torch(tmp_path, "render", manifest, "--out", out, "--no-pdf")
    assert done.returncode == 2
    assert "sgd: the manifest's settings for it changed since it ran" in done.stderr
    assert "base:" not in done.stderr and "wild:" not in done.stderr
    assert "reportgen run" in done.stderr
    assert (out / "report.html").read_bytes() == built_html  # nothing written


def test_render_names_missing_runs_and_a_smoke_mismatch(tiny_build, tmp_path):
    manifest, out = copy_build(tiny_build, tmp_path)
    results = json.loads((out / "results.json").read_text("utf-8"))
    del results["runs"]["wild"]
    (out / "results.json").write_text(json.dumps(results), "utf-8")
    done = without_torch(tmp_path, "render", manifest, "--out", out, "--no-pdf")
    assert done.returncode == 2 and "wild: not in the results" in done.stderr
    smoke = without_torch(tmp_path, "render", manifest, "--out", out, "--no-pdf", "--smoke")
    assert smoke.returncode == 2 and "from a full build" in smoke.stderr
    missing = without_torch(tmp_path, "render", manifest, "--out", tmp_path / "nowhere", "--no-pdf")
    assert missing.returncode == 2 and "no results in" in missing.stderr


def test_presentation_edits_render_without_running(tiny_build, tmp_path):
    manifest, out = copy_build(tiny_build, tmp_path)
    text = manifest.read_text("utf-8").replace("title: Plain SGD", "title: Stochastic gradient descent")
    manifest.write_text(text.replace("course: EN0000 Testing", "course: EN9999 Renamed"), "utf-8")
    done = without_torch(tmp_path, "render", manifest, "--out", out, "--no-pdf")
    assert done.returncode == 0, done.stderr
    html = (out / "report.html").read_text("utf-8")
    assert "EN9999 Renamed" in html and "Stochastic gradient descent" in html
    results = json.loads((out / "results.json").read_text("utf-8"))
    assert results["report"]["course"] == "EN9999 Renamed"
    assert results["runs"]["sgd"]["title"] == "Stochastic gradient descent"
    assert results["runs"]["sgd"]["test"] == tiny_build.results["runs"]["sgd"]["test"]


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["schema"], ["diff", "A", "B"]])
def test_light_commands_import_no_torch(tiny_build, tmp_path, args):
    args = [str(tiny_build.out / "results.json") if a in "AB" else a for a in args]
    done = without_torch(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert "heavy modules: \n" in done.stderr


def test_every_run_records_the_environment_it_trained_in(tiny_build):
    for run in tiny_build.results["runs"].values():
        env = run["environment"]
        assert env["threads"] >= 1 and env["device"] == "cpu" and env["torch"] and env["python"]
        assert len(run["digest"]) == 64
    assert tiny_build.results["environment"]["cpu_threads"] == sorted(
        {r["environment"]["threads"] for r in tiny_build.results["runs"].values()})


@pytest.mark.slow
def test_two_independent_builds_of_one_manifest_diff_equal(tmp_path):
    outs = []
    for name in ("first", "second"):
        manifest = write_manifest(tmp_path / name)
        built = cli("build", manifest, "--out", tmp_path / name / "out")
        assert built.exit_code == 0, built.output
        outs.append(tmp_path / name / "out")
    same = cli("diff", *outs)
    assert same.exit_code == 0, same.output
    strict = cli("diff", "--strict", *outs)
    assert strict.exit_code == 1  # timings and cache keys (the figure cache's paths differ) are seen with --strict
    results = json.loads((outs[1] / "results.json").read_text("utf-8"))
    results["dataset"]["fingerprint"] = "0" * 64
    (tmp_path / "changed.json").write_text(json.dumps(results), "utf-8")
    changed = cli("diff", "--strict", outs[0] / "results.json", tmp_path / "changed.json")
    assert changed.exit_code == 1 and "dataset.fingerprint" in changed.output


@pytest.mark.slow
def test_no_absolute_path_of_the_building_machine_reaches_the_outputs(tmp_path_factory):
    from PIL import Image
    from pypdf import PdfReader

    data = tmp_path_factory.mktemp("private-data-folder") / "shapes"
    for label, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (data / label).mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (10 + i % 3, 10), tuple(max(0, c - 9 * i) for c in colour)).save(data / label / f"{i}.png")
    folder = tmp_path_factory.mktemp("project")
    manifest = write_manifest(folder, manifest_text(
        dataset={"name": "imagefolder", "root": str(data), "split": [60, 20, 20]},
        models={"net": {"layers": [{"conv": {"out": 2, "kernel": 3}}, "relu", "flatten", {"linear": "classes"}]}},
        train={"epochs": 1, "batch_size": 8, "measure": {**MEASURE, "throughput_batch": 2}},
        experiments=[{"id": "only", "model": "net"}],
        sections=["cover", "training", "evaluation", "provenance", {"dataset": {"tsne": False}}]))
    built = cli("build", manifest, "--out", folder / "out")
    assert built.exit_code == 0, built.output
    html = (folder / "out" / "report.html").read_text("utf-8")
    results = (folder / "out" / "results.json").read_text("utf-8")
    pdf = "".join(p.extract_text() for p in PdfReader(str(folder / "out" / "report.pdf")).pages)
    assert "shapes" in html  # the dataset is named by its folder's name
    for private in {str(data.parent), str(data.parent.resolve()), str(folder), str(folder.resolve())}:
        assert private not in html and private not in results
        assert private.replace("/", "") not in pdf.replace("\n", "").replace("/", "")
