"""A device that runs out of memory fails one run, which is recorded as `failed`; the other runs go on."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from reportgen.run import execute as runner
from reportgen.run.plan import Datasets, plan_runs
from reportgen.run.progress import EpochDone
from reportgen.build import load
from reportgen.results.cache import RunCache

from conftest import execute_json, cli, write_manifest
from manifests import MOB, SMALL, manifest_text

MANIFEST = manifest_text(SMALL, report={"title": "Faults"}, train={"epochs": 3, "seed": None},
                         experiments=[{"id": "big", "model": "net"},
                                      {"id": "small", "model": "net", "train": {"batch_size": 32}}])


class Hungry(nn.Module):
    """A network too large for its device: a training batch of more than `limit` images, or any training batch
    after the first `budget`, raises the error PyTorch raises when the GPU's memory is exhausted."""

    def __init__(self, inner: nn.Module, limit: int, budget: int | None = None, error=torch.cuda.OutOfMemoryError):
        super().__init__()
        self.inner, self.limit, self.budget, self.error = inner, limit, budget, error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            if self.budget is not None:
                self.budget -= 1
            if x.shape[0] > self.limit or (self.budget is not None and self.budget < 0):
                raise self.error("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity)")
        return self.inner(x)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two intra-op threads on a busy two-core machine are many times slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def hungry(monkeypatch):
    """runner._build wraps every network in Hungry(**options)."""
    options: dict = {"limit": 48}
    build = runner._build

    def hungry_build(loaded, plan):
        model, info = build(loaded, plan)
        return Hungry(model, **options), info

    monkeypatch.setattr(runner, "_build", hungry_build)
    return options


def test_out_of_memory_is_a_failed_run_and_the_build_goes_on(tmp_path, hungry):
    manifest = write_manifest(tmp_path, MANIFEST, "faults.yaml")
    out = tmp_path / "out"
    result = cli("run", manifest, "--out", out)
    assert result.exit_code == 0, result.output
    error = "big: out of memory at batch size 64 on cpu — try a smaller batch_size"
    assert f"warning: {error}" in result.output.splitlines()
    runs = json.loads((out / "results.json").read_text("utf-8"))["runs"]
    big, small = runs["big"], runs["small"]
    assert big["status"] == "failed" and big["error"] == error
    assert big["epochs"] == [] and big["test"] is None and big["measured"] is None and big["device"] == "cpu"
    assert small["status"] == "completed" and len(small["epochs"]) == 3 and small["test"]["accuracy"] > 0.5
    assert [p.name for p in (out / "cache" / "runs").glob("*.json")] == [f"{small['cache_key']}.json"]

    again = cli("run", manifest, "--out", out)  # a failed run is not cached: it is tried again
    assert again.exit_code == 0 and "[1/2] big: training" in again.output and "[2/2] small: cached" in again.output
    assert f"warning: {error}" in again.output


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError, RuntimeError], ids=["cuda", "runtime-error"])
def test_out_of_memory_mid_run_keeps_the_epochs_done(tmp_path, hungry, error):
    hungry.update(limit=64, budget=2 * 21 + 5, error=error)  # 1,293 training images: 21 batches per epoch
    loaded = load(write_manifest(tmp_path, MANIFEST, "faults.yaml"))
    datasets = Datasets(loaded, smoke=False)
    plan = next(p for p in plan_runs(loaded, datasets, smoke=False) if p.id == "big")
    cache, log = RunCache(tmp_path / "cache"), []
    record, state = execute_json(loaded, plan, datasets.get(), log.append, cache)
    assert state is None and record["status"] == "failed" and record["test"] is None and record["measured"] is None
    assert record["error"] == "big: out of memory at batch size 64 on cpu — try a smaller batch_size"
    assert [e["epoch"] for e in record["epochs"]] == [1, 2] and record["cache_key"] == plan.key
    assert [(e.run, e.epoch, e.epochs) for e in log if isinstance(e, EpochDone)] == [("big", 1, 3), ("big", 2, 3)]
    assert cache.get(plan.key) is None and cache.partial_path(plan.key).exists()  # a re-run resumes at epoch 3


CHAIN = manifest_text(SMALL, report={"title": "Chain"}, models={"mob": MOB},
                      train={"optimizer": None, "seed": None, "measure": None},
                      experiments=[{"id": "parent", "model": "mob"},
                                   {"id": "child", "model": "mob", "weights": {"from": "parent"}}])


def test_a_run_starting_from_a_failed_run_is_failed_too(tmp_path, hungry):
    out = tmp_path / "out"
    result = cli("run", write_manifest(tmp_path, CHAIN, "chain.yaml"), "--out", out)
    assert result.exit_code == 0, result.output
    runs = json.loads((out / "results.json").read_text("utf-8"))["runs"]
    assert runs["parent"]["error"] == "parent: out of memory at batch size 64 on cpu — try a smaller batch_size"
    assert runs["child"]["status"] == "failed" and runs["child"]["device"] is None
    assert runs["child"]["error"] == "child: not run, because parent, whose weights it starts from, failed"
    assert "warning: child: not run" in result.output and not list((out / "cache" / "runs").glob("*.json"))
