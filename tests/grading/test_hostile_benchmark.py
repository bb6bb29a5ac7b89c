"""benchmarks/hostile_input.py runs end to end (--quick: one timed run of each case, about a second) and reports
figures that agree with each other; the seconds are printed, never asserted, the counted work is."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.unit  # torch-free: the unit tier (`-m unit`) runs it with torch blocked


def test_hostile_input_benchmark_reports_consistent_figures(tmp_path):
    out = tmp_path / "hostile.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "hostile_input.py"), "--quick", "--json", str(out),
                           "--markdown", str(tmp_path / "hostile.md")], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text("utf-8"))
    assert report["quick"] and report["repeats"] == 1 and (tmp_path / "hostile.md").read_text("utf-8") == proc.stdout
    lines = proc.stdout.splitlines()

    grown = {row["attack"]: row for row in report["growth"]}
    assert len(grown) == 9 and "title line of n spaces: the old pattern" in grown
    for name, row in grown.items():
        n, at_n, at_4n = row["n"], row["at_n"], row["at_4n"]
        assert at_n["seconds"] > 0 and at_4n["seconds"] > 0 and at_n["calls"] > 0, name
        assert abs(row["time_ratio"] - at_4n["seconds"] / at_n["seconds"]) < 1e-9
        assert row["calls_ratio"] == at_4n["calls"] / at_n["calls"]
        printed = [ln for ln in lines if ln.startswith(f"| {name} | {n:,} |")]
        assert len(printed) == 1 and printed[0].endswith(
            f"| {row['time_ratio']:.2f}× | {at_n['calls']:,} | {at_4n['calls']:,} | {row['calls_ratio']:.2f}× |"), name
        assert row["calls_ratio"] <= report["linear_bound"], name  # no attack's work grows faster than its input

    compared = {row["attack"]: row for row in report["against"]}
    outcomes = [row["outcome"] for row in compared.values()]
    assert outcomes == ["YAML aliases expand to more than 100,000 values; refusing to expand"] * 2 + [
        "more than 100 YAML aliases; refusing to expand", "manifest is larger than 1,000,000 bytes",
        "the file is 64.0 MB; the limit is 5 MB", "6000×5000 is 30.0 megapixels; the limit is 25",
        "more than 25 megapixels"]
    for name, row in compared.items():
        assert abs(row["time_ratio"] - row["attacked"]["seconds"] / row["baseline"]["seconds"]) < 1e-9
        assert f"| {name} | {row['harmless']} |" in proc.stdout and f"| {row['calls_ratio']:.2f}× |" in proc.stdout
        # refusing an attack is no more work than handling the harmless input of its kind
        assert row["attacked"]["calls"] <= 2 * row["baseline"]["calls"], name
