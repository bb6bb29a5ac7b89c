"""`--jobs 2` trains independent runs in two worker processes and gives exactly the sequential build's numbers."""

from __future__ import annotations

import json
import re
import sys

import pytest
import torch
from torch import nn

from reportgen.run import execute as runner
from reportgen.run import worker
from reportgen.results.run_record import EpochRow, RunRecord
from reportgen.run.progress import TimeLeft, completed_line

from conftest import cli, write_manifest
from manifests import MOB, NET, SMALL, manifest_text, variant

# independent runs (one twice: the same cache key), a parent → child pair, and a parent too large for its device
# with its child
CONCURRENCY = variant(SMALL, report={"title": "Concurrency"}, models={"net": NET, "mob": MOB}, train={"epochs": 2},
                      experiments=[
                          {"id": "a", "model": "net"},
                          {"id": "a_again", "model": "net", "title": "the same run as a"},
                          {"id": "b", "model": "net", "train": {"optimizer": {"name": "sgd", "lr": 0.05}}},
                          {"id": "c", "model": "net", "train": {"batch_size": 32, "seed": 1}},
                          {"id": "parent", "model": "mob", "train": {"epochs": 1}},
                          {"id": "child", "model": "mob", "weights": {"from": "parent"}, "train": {"epochs": 1}},
                          {"id": "big", "model": "mob", "train": {"epochs": 1, "seed": 5}},
                          {"id": "big_child", "model": "mob", "weights": {"from": "big"}, "train": {"epochs": 1}}])
MANIFEST = manifest_text(CONCURRENCY)
DETERMINED = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc", "lr")  # every epoch field but timings
THREADS = {"REPORTGEN_THREADS": "1"}  # the same thread count in every process: bit-identical CPU results


class TooBig(nn.Module):
    """A network that does not fit its device: every training step raises PyTorch's out-of-memory error."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner(x)


def _big_is_too_big() -> None:
    """Make runner._build give run `big` a network too large for its device (in this process)."""
    build = runner._build
    if getattr(build, "too_big", False):
        return

    def too_big(loaded, plan):
        model, info = build(loaded, plan)
        return (TooBig(model) if plan.id == "big" else model), info

    too_big.too_big = True
    runner._build = too_big


REAL_TRAIN = worker.train


def train_in_tight_worker(task):
    """worker.train in a worker process where run `big` does not fit the device (pickled by name, so that the
    spawned workers import this module and run it there)."""
    _big_is_too_big()
    return REAL_TRAIN(task)


def _weights(out, record) -> dict:
    return torch.load(out / "cache" / "runs" / f"{record['cache_key']}.pt", weights_only=True)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The manifest smoke-built sequentially (in CI mode) and with --jobs 2, one thread per run in both."""
    folder = tmp_path_factory.mktemp("jobs")
    manifest = write_manifest(folder, MANIFEST, "jobs.yaml")
    patch = pytest.MonkeyPatch()
    try:
        patch.setattr(runner, "_build", runner._build)  # restored at the end
        _big_is_too_big()
        sequential = cli("run", manifest, "--smoke", "--out", folder / "seq", env={**THREADS, "CI": "true"})
        patch.setattr(worker, "train", train_in_tight_worker)
        jobs = cli("run", manifest, "--smoke", "--out", folder / "jobs", "--jobs", "2", env=THREADS)
    finally:
        patch.undo()
    assert sequential.exit_code == 0, sequential.output
    assert jobs.exit_code == 0, jobs.output
    results = {}
    for name in ("seq", "jobs"):
        record = json.loads((folder / name / "results.json").read_text("utf-8"))
        results[name] = {rid: record["runs"][rid] for rid in record["run_order"]}
    return folder, results, sequential.output, jobs.output


@pytest.mark.slow
def test_jobs_give_the_sequential_numbers(builds):
    folder, results, _, _ = builds
    seq, jobs = results["seq"], results["jobs"]
    assert list(seq) == list(jobs) == ["a", "a_again", "b", "c", "parent", "child", "big", "big_child"]
    for rid in ("a", "b", "c", "parent", "child"):
        one, two = seq[rid], jobs[rid]
        assert one["status"] == two["status"] != "failed", rid
        assert [{k: e[k] for k in DETERMINED} for e in one["epochs"]] == \
               [{k: e[k] for k in DETERMINED} for e in two["epochs"]], rid
        assert one["test"] == two["test"] and one["cache_key"] == two["cache_key"], rid
        w1, w2 = _weights(folder / "seq", one), _weights(folder / "jobs", two)
        assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1), rid
        local = {"gpu_share": None, "cpus": None}  # Ray's fields: every field is always there
        assert one["execution"] == {"executor": "local", "jobs": 1, "threads": 1, **local}
        assert two["execution"] == {"executor": "local", "jobs": 2, "threads": 1, **local}
    assert jobs["child"]["transfer"]["from"] == "parent" and seq["a"]["config"]["seed"] != seq["c"]["config"]["seed"]


@pytest.mark.slow
def test_failed_parent_fails_its_child_under_jobs_too(builds):
    _, results, _, log = builds
    for side in results.values():
        assert side["big"]["status"] == side["big_child"]["status"] == "failed"
        assert side["big"]["error"] == "big: out of memory at batch size 64 on cpu — try a smaller batch_size"
        assert side["big_child"]["error"] == "big_child: not run, because big, whose weights it starts from, failed"
    assert "big_child: training" not in log and "warning: big_child: not run" in log


@pytest.mark.slow
def test_children_start_after_their_parents_and_lines_stay_readable(builds):
    _, _, _, log = builds
    lines = log.splitlines()

    def where(pattern: str) -> list[int]:
        return [i for i, line in enumerate(lines) if re.match(pattern, line)]

    assert where(r"\[\d/8\] parent: \w+, test accuracy")[0] < where(r"\[\d/8\] child: training mob")[0]
    for rid in ("a", "b", "c", "parent", "child"):  # its epoch line, then its result
        (done,) = where(rf"\[\d/8\] {rid}: \w+, test accuracy")
        assert len(where(f"  {rid}: epoch 1/1 ")) == 1 and where(f"  {rid}: epoch ")[0] < done, rid
    assert "trained 6 run(s), 1 cached" in log and "; 2 failed" in log  # big_child never started


@pytest.mark.slow
def test_a_run_waits_for_its_twin_in_flight_and_is_then_cached(builds):
    _, results, *logs = builds
    for log in logs:
        assert re.search(r"^\[2/8\] a_again: cached \(", log, re.M) and "a_again: training" not in log
    assert results["jobs"]["a_again"]["test"] == results["jobs"]["a"]["test"]


@pytest.mark.slow
def test_ci_logs_have_run_lines_with_throughput_but_no_epoch_lines(builds):
    _, _, quiet, verbose = builds
    assert ": epoch" not in quiet and "  a: epoch 1/1" in verbose
    line = next(line for line in quiet.splitlines() if line.startswith("[1/8] a: ") and "test accuracy" in line)
    assert re.fullmatch(r"\[1/8\] a: \w+, test accuracy \d+\.\d\d%, [\d,]+ images/s(; about .+ left)?", line)


def _epoch(epoch: int, seconds: float, images_per_s: float | None) -> EpochRow:
    return EpochRow(epoch=epoch, seconds=seconds, images=1000, images_per_s=images_per_s, train_loss=0.5,
                    val_loss=0.5, train_acc=0.9, val_acc=0.9, lr=0.01)


def _timed(model: str, epochs: list[EpochRow]) -> RunRecord:
    """A completed run's record: only its names, epochs and test accuracy matter to the clock."""
    test = {"loss": 0.3, "accuracy": 0.912, "precision_weighted": 0.9, "recall_weighted": 0.9, "f1_weighted": 0.9,
            "precision_macro": 0.9, "recall_macro": 0.9, "f1_macro": 0.9, "support": 10, "per_class": [],
            "confusion_matrix": []}
    fields = dict.fromkeys(("error", "diverged_epoch", "stopped_epoch", "stopped_after", "best_epoch",
                            "class_weights", "device", "environment", "dataset", "input", "weights", "transfer",
                            "compute", "execution", "train_seconds", "measured", "repeats", "aggregate"))
    return RunRecord.model_validate({**fields, "id": "a", "experiment": "a", "group": "a", "varied": {},
                                     "model": model, "title": "a", "status": "completed", "digest": "d",
                                     "cache_key": "k", "config": {}, "epochs": epochs, "test": test})


def test_time_left_is_images_to_go_at_the_measured_rates_shared_by_the_workers():
    record = _timed("net", [_epoch(1, 0.5, 2500.0), _epoch(2, 0.5, 2500.0)])
    clock = TimeLeft(2)
    assert clock.estimate([("net", 8000)]) is None  # nothing measured yet
    clock.finished(record)  # net: 2,000 images/s of wall time
    clock.finished(_timed("big", [_epoch(1, 2.0, None)]))
    assert clock.estimate([("net", 8000), ("net", 4000)]) == pytest.approx(3.0)  # 12,000 images, two at once
    assert clock.estimate([("net", 8000)]) == pytest.approx(4.0) and clock.estimate([]) is None
    assert clock.estimate([("big", 1000), ("new", 6000)]) == pytest.approx((2.0 + 6000 * 3.0 / 3000) / 2)
    assert completed_line("[1/4]", record, 80.0) == \
        "[1/4] a: completed, test accuracy 91.20%, 2,500 images/s; about 1 min 20 s left"
    unmeasured = _timed("net", [_epoch(1, 0.8, None)])  # no training-only time: the epoch's wall time counts
    assert completed_line("[1/4]", unmeasured, None) == "[1/4] a: completed, test accuracy 91.20%, 1,250 images/s"


@pytest.mark.parametrize("args,message", [
    (["--jobs", "0"], "0 is not in the range x>=1"),
    (["--gpu-share", "0.5"], "--gpu-share applies only with --executor ray"),
    (["--executor", "ray", "--gpu-share", "1.5"], "--gpu-share must be a fraction of one GPU (0 to 1) or a whole"),
], ids=["jobs-0", "share-without-ray", "share-1.5"])
def test_execution_options_are_checked_before_anything_runs(tmp_path, args, message):
    manifest = write_manifest(tmp_path, MANIFEST, "jobs.yaml")
    result = cli("run", manifest, "--out", tmp_path / "out", *args)
    assert result.exit_code == 2 and message in result.output and not (tmp_path / "out").exists()


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where Ray is not installed
    without_b = manifest_text(CONCURRENCY, experiments=[e for e in CONCURRENCY["experiments"] if e["id"] != "b"])
    manifest = write_manifest(tmp_path, without_b, "jobs.yaml")
    result = cli("run", manifest, "--smoke", "--out", tmp_path / "out", "--executor", "ray")
    assert result.exit_code == 2, result.output
    assert "error: --executor ray needs Ray: pip install 'reportgen[ray]'" in result.output
