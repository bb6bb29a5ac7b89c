"""`--executor ray` sends each run to a Ray cluster as a task: here a local Ray instance started by the test."""

from __future__ import annotations

import json
import logging
import re

import pytest

from conftest import cli, write_manifest
from manifests import MOB, NET, SMALL, manifest_text

ray = pytest.importorskip("ray")

MANIFEST = manifest_text(SMALL, report={"title": "Ray"}, models={"net": NET, "mob": MOB},
                         train={"epochs": None, "seed": None},
                         experiments=[{"id": "a", "model": "net"},
                                      {"id": "b", "model": "net", "train": {"optimizer": {"name": "sgd", "lr": 0.05}}},
                                      {"id": "parent", "model": "mob"},
                                      {"id": "child", "model": "mob", "weights": {"from": "parent"}}],
                         sections=["cover", "training", "comparison"])
THREADS = {"REPORTGEN_THREADS": "1"}


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance (two CPUs, no dashboard) for the module; the executor joins it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return write_manifest(tmp_path_factory.mktemp("ray"), MANIFEST, "ray.yaml")


@pytest.mark.slow
def test_ray_smoke_build_gives_the_sequential_numbers_and_fills_the_cache(local_ray, manifest, tmp_path):
    out = tmp_path / "ray"
    result = cli("build", manifest, "--smoke", "--no-pdf", "--out", out, "--executor", "ray", env=THREADS)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text("utf-8"))
    runs = results["runs"]
    assert results["run_order"] == ["a", "b", "parent", "child"]
    for rid, run in runs.items():
        assert run["execution"] == {"executor": "ray", "gpu_share": 0, "cpus": 1, "threads": 1, "jobs": None}, rid
        assert f"  {rid}: epoch 1/1 " in result.output  # relayed from the task as it trained
        assert (out / "cache" / "runs" / f"{run['cache_key']}.json").exists()
    assert runs["child"]["transfer"]["from"] == "parent"
    lines = result.output.splitlines()
    parent_done = next(i for i, line in enumerate(lines) if re.match(r"\[3/4\] parent: \w+, test accuracy", line))
    assert parent_done < next(i for i, line in enumerate(lines) if line.startswith("[4/4] child: training"))
    html = (out / "report.html").read_text("utf-8")
    assert all(rid in html for rid in runs) and not (out / "report.pdf").exists()

    sequential = cli("run", manifest, "--smoke", "--out", tmp_path / "seq", env=THREADS)
    assert sequential.exit_code == 0, sequential.output
    same = json.loads((tmp_path / "seq" / "results.json").read_text("utf-8"))["runs"]
    for rid, run in runs.items():
        assert (run["test"], run["cache_key"]) == (same[rid]["test"], same[rid]["cache_key"]), rid
        assert [e["train_loss"] for e in run["epochs"]] == [e["train_loss"] for e in same[rid]["epochs"]], rid

    again = cli("build", manifest, "--smoke", "--no-pdf", "--out", out, "--executor", "ray")
    assert again.exit_code == 0 and "all 4 runs were cached; nothing was trained" in again.output


def test_a_gpu_share_the_cluster_cannot_give_is_refused(local_ray, manifest, tmp_path):
    result = cli("run", manifest, "--smoke", "--out", tmp_path / "out", "--executor", "ray", "--gpu-share", "0.25")
    assert result.exit_code == 2
    assert "error: --gpu-share 0.25 is more than the Ray cluster's 0 GPU(s)" in result.output
    assert ray.is_initialized()  # the test's instance: the executor leaves alone what it did not start
