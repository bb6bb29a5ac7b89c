"""The benchmark script runs end to end at a reduced size on the CPU and reports consistent figures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
def test_benchmark_runs_reduced_on_cpu_and_reports_images_per_second(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "throughput.py"), "--quick", "--workers", "1",
         "--manifest", str(REPO / "experiments" / "digits.yaml"), "--smoke", "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text("utf-8"))
    assert report["device"].startswith("CPU")
    names = [c["network"] for c in report["comparisons"]]
    assert names == ["EN3150 CNN", "ResNet-18 fine-tune"]
    limits = report["limits"]
    peak = max(limits["matmul_flops_per_s"], limits["conv_flops_per_s"])
    assert limits["limit_images_per_s"] == peak / limits["train_flops_per_image"]
    assert 1e8 < limits["train_flops_per_image"] < 3e8  # the EN3150 CNN: about 168 MFLOP forward and backward
    assert limits["step_NCHW_images_per_s"] > 0 and limits["step_channels_last_images_per_s"] > 0
    assert limits["step_channels_last_memory_kept_images_per_s"] > 0
    assert "reportgen / bare channels-last step" in proc.stdout
    for row in report["comparisons"]:
        assert row["classic_images_per_s"] > 0 and row["reportgen_images_per_s"] > 0
        assert abs(row["ratio"] - row["reportgen_images_per_s"] / row["classic_images_per_s"]) < 1e-9
        assert f"{row['ratio']:5.2f}×" in proc.stdout
    manifest = report["manifest"]
    assert manifest["smoke"] and len(manifest["runs"]) >= 3 and all(s > 0 for s in manifest["runs"].values())
    assert manifest["total_seconds"] >= manifest["runs_seconds"] > 0
    assert f"{len(manifest['runs'])} runs in" in proc.stdout


def _run_ids(manifest):
    try:  # load_manifest is moving from reportgen.manifest.schema to reportgen.manifest.loaded
        from reportgen.manifest.loaded import load_manifest
    except ImportError:
        from reportgen.manifest.schema import load_manifest
    return [run.id for run in load_manifest(manifest).runs]


@pytest.mark.slow
def test_gpu_check_dry_run_writes_every_run_and_the_prediction(tmp_path):
    out = tmp_path / "gpu-check"
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--quick"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    table = (out / "gpu_check.md").read_text("utf-8")
    report = json.loads((out / "gpu_check.json").read_text("utf-8"))
    assert table in proc.stdout and "torch " + report["env"]["torch"] in table
    assert report["mode"].startswith("quick") and report["env"]["device"].startswith("CPU")
    assert [i["status"] for i in report["items"]] == ["done"] * len(report["items"])

    pipe = report["pipeline"]
    assert pipe["classic_images_per_s"] > 0 and pipe["reportgen_images_per_s"] > 0 and pipe["ratio"] > 0
    assert f"**{pipe['ratio']:.2f}×**" in table

    ids = _run_ids(REPO / "experiments" / "en3150.yaml")
    assert [r["id"] for r in report["runs"]] == ids and len(ids) == 8
    lines = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines() if line.startswith("| ")}
    for run in report["runs"]:
        assert run["status"] != "failed" and run["timed_epochs"] >= 1
        for key in ("first_epoch_s", "epoch_s", "images_per_s", "predicted_s"):
            assert run[key] > 0, (run["id"], key)
        assert run["predicted_s"] >= run["epochs"] * min(run["first_epoch_s"], run["epoch_s"])
        cells = [c.strip() for c in lines[run["id"]].strip("|").split("|")]
        numbers = [float(c.replace(",", "")) for c in cells[2:11]]  # input px … predicted run s
        assert all(n >= 0 for n in numbers) and numbers[-1] > 0 and numbers[-4] > 0, cells
    prediction = report["prediction"]
    assert prediction["complete"] and prediction["measured"] == len(ids)
    assert abs(prediction["total_s"] - prediction["dataset_s"] - sum(r["predicted_s"] for r in report["runs"])) < 1e-6
    assert f"**{prediction['total_s']:,.1f} s**" in table


@pytest.mark.slow
def test_startup_table_has_a_row_per_command(tmp_path):
    out = tmp_path / "startup.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "startup.py"), "--repeats", "1", "--json",
                           str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["command"]: r for r in json.loads(out.read_text("utf-8"))["rows"]}
    names = ["import torch", "--help", "--version", "schema", "validate experiments/digits.yaml", "diff A B",
             "render experiments/digits.yaml"]
    assert list(rows) == names
    for name in names:
        shown = "python -c 'import torch'" if name == "import torch" else f"reportgen {name}"
        assert f"| {shown} |" in proc.stdout
        row = rows[name]
        if name.startswith("render") and row["median_s"] is None:  # no build at experiments/output/digits: skipped, said so
            assert "skipped" in row["note"] and "skipped" in proc.stdout
            continue
        assert row["median_s"] > 0 and len(row["times_s"]) == 1 and isinstance(row["imports_torch"], bool)
        if not name.startswith("render"):
            assert row["exit"] == [0], (name, row)
        assert (row["target"] is not None) == (name.split()[0] in ("--help", "schema", "diff"))
    assert rows["import torch"]["imports_torch"] and rows["import torch"]["ratio"] == 1.0


@pytest.mark.slow
def test_pdf_benchmark_times_the_tagged_and_the_untagged_pdf(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "pdf.py"), "--rounds", "1"], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sizes = [int(m.replace(",", "")) for m in re.findall(r"s, ([\d,]+) bytes", proc.stdout)]
    assert len(sizes) == 2 and sizes[1] > sizes[0]  # the tags (structure tree, alternatives) take room
    assert "tagged / untagged: time " in proc.stdout and "(median of 1 rounds, alternated)" in proc.stdout


@pytest.mark.unit
def test_similarity_benchmark_finds_every_planted_copy_of_a_small_class(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "similarity.py"), "--submissions", "12",
                           "--words", "300"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "class: 12 submissions" in proc.stdout and "compare_class:" in proc.stdout
    stages = re.findall(r"^  (\w[\w ]*?)\s+([\d.]+) s$", proc.stdout, re.M)
    assert [s for s, _ in stages][:2] == ["read", "fingerprint"], proc.stdout
    # one in five teams copies a neighbour's discussion: teams 0-1, 5-6 and 10-11
    assert re.search(r"pairs at or above 0.5: 3;", proc.stdout), proc.stdout


def test_memory_format_benchmark_times_both_formats_of_each_network(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "memory_format.py"),
                           str(REPO / "experiments" / "digits.yaml"), "--rounds", "1"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = re.search(r"digits_cnn .* NCHW +([\d,]+) images/s +channels-last +([\d,]+) images/s +ratio +([\d.]+)",
                    proc.stdout)
    assert row, proc.stdout
    nchw, cl, ratio = (float(g.replace(",", "")) for g in row.groups())
    assert nchw > 0 and cl > 0 and abs(ratio - cl / nchw) < 0.02 * ratio + 0.01
    assert re.search(r"channels-last faster for [01] of 1 networks", proc.stdout)
