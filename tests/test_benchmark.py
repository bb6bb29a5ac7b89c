"""The benchmark script runs end to end at a reduced size on the CPU and reports consistent figures."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO


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
    for row in report["comparisons"]:
        assert row["classic_images_per_s"] > 0 and row["reportgen_images_per_s"] > 0
        assert abs(row["ratio"] - row["reportgen_images_per_s"] / row["classic_images_per_s"]) < 1e-9
        assert f"{row['ratio']:5.2f}×" in proc.stdout
    manifest = report["manifest"]
    assert manifest["smoke"] and len(manifest["runs"]) >= 3 and all(s > 0 for s in manifest["runs"].values())
    assert manifest["total_seconds"] >= manifest["runs_seconds"] > 0
    assert f"{len(manifest['runs'])} runs in" in proc.stdout
