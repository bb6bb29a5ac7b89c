"""Interrupted builds resume where they stopped, bit for bit; corrupt cache entries are reported and recomputed."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from reportgen.run import checkpoint
from reportgen.build import load
from reportgen.results.cache import RunCache
from reportgen.run.plan import Datasets, plan_runs
from reportgen.run.progress import EpochDone

from conftest import execute_json, cli, write_manifest
from manifests import SMALL, manifest_text, variant

RESUME = variant(
    SMALL, report={"title": "Resume test"},
    models={"net": {"layers": [{"conv": {"out": 8, "kernel": 3, "padding": "same"}}, "batchnorm", "relu",
                               {"maxpool": 2}, "flatten", {"linear": 32}, "relu", {"dropout": 0.3},
                               {"linear": "classes"}]}},
    train={"optimizer": {"lr": 0.003}, "schedule": {"name": "cosine"}, "epochs": 5, "batch_size": 16, "seed": 3},
    experiments=[{"id": "a", "model": "net"},
                 {"id": "b", "model": "net", "train": {"optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
                                                       "early_stopping": {"patience": 2}}}])
MANIFEST = manifest_text(RESUME)

# The child process is the real CLI. With a target, it dies in the middle of writing the Nth file whose path
# contains the target: when the writer asks for the fsync, the temporary file is cut to half its bytes (what a
# torn write leaves on disk) and the process SIGKILLs itself, before the fsync and the rename. With a pause, it
# stops before its Nth training batch (the estimate's measured steps, before the runs, are not counted), says PAUSED
# on stderr and waits there to be killed.
CHILD = textwrap.dedent("""\
    import os, signal, sys
    target, nth, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    real_fsync, seen = os.fsync, [0]

    def fsync(fd):
        if target and target in os.readlink(f"/proc/self/fd/{fd}"):
            seen[0] += 1
            if seen[0] == nth:
                os.ftruncate(fd, os.fstat(fd).st_size // 2)
                os.kill(os.getpid(), signal.SIGKILL)
        real_fsync(fd)

    os.fsync = fsync
    import reportgen.build
    from reportgen.run.input_pipeline import InputPipeline
    real_batch, batches, estimating = InputPipeline.train_batch, [0], [False]
    real_announce = reportgen.build._announce

    def announce(*args):  # the estimate's measured steps are not the runs' batches
        estimating[0] = True
        try:
            return real_announce(*args)
        finally:
            estimating[0] = False

    def train_batch(self, x, draws):
        batches[0] += 0 if estimating[0] else 1
        if batches[0] == pause and not estimating[0]:
            print("PAUSED", file=sys.stderr, flush=True)
            while True:
                signal.pause()
        return real_batch(self, x, draws)

    InputPipeline.train_batch = train_batch
    reportgen.build._announce = announce
    from reportgen.cli import main
    main(sys.argv[4:])
    """)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Float sums depend on the thread count: in-process runs use one thread, like the child processes (and one
    thread is also much faster than two on a busy two-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _spawn(manifest: Path, out: Path, target: str = "", nth: int = 0, pause: int = 0) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CI="")  # CI would leave out the epoch lines
    command = [sys.executable, "-c", CHILD, target, str(nth), str(pause), "run", str(manifest), "--out", str(out)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _kill_when_paused(proc: subprocess.Popen) -> str:
    """SIGKILL the process once it says it has paused; returns what it wrote on stderr."""
    lines = []
    for line in proc.stderr:  # until the child pauses (or ends: then the assertion below says why)
        lines.append(line)
        if line == "PAUSED\n":
            proc.send_signal(signal.SIGKILL)
            break
    lines.append(proc.communicate(timeout=60)[1])
    err = "".join(lines)
    assert proc.returncode == -signal.SIGKILL and "PAUSED" in err, err
    return err


def _finished(out: Path) -> dict:
    results = json.loads((out / "results.json").read_text("utf-8"))
    runs = {}
    for rid, run in results["runs"].items():
        weights = torch.load(out / "cache" / "runs" / f"{run['cache_key']}.pt", weights_only=True)
        runs[rid] = {"epochs": [{k: v for k, v in e.items() if k not in ("seconds", "images_per_s")} for e in run["epochs"]],
                     "test": run["test"], "status": run["status"], "stopped_epoch": run["stopped_epoch"],
                     "weights": weights, "key": run["cache_key"]}
    return runs


def _assert_same(resumed: dict, reference: dict) -> None:
    assert resumed.keys() == reference.keys()
    for rid, ref in reference.items():
        got = resumed[rid]
        assert got["epochs"] == ref["epochs"] and got["test"] == ref["test"], rid
        assert (got["status"], got["stopped_epoch"], got["key"]) == (ref["status"], ref["stopped_epoch"], ref["key"])
        assert got["weights"].keys() == ref["weights"].keys()
        assert all(torch.equal(got["weights"][k], ref["weights"][k]) for k in ref["weights"]), rid


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the mid-write kill reads /proc/self/fd")
def test_sigkill_mid_epoch_and_mid_write_then_resume_gives_identical_results(tmp_path):
    manifest = write_manifest(tmp_path, MANIFEST, "resume.yaml")
    out = tmp_path / "killed"
    loaded = load(manifest)
    datasets = Datasets(loaded, smoke=False)
    plans = {p.id: p for p in plan_runs(loaded, datasets, smoke=False)}
    pa, pb = (RunCache(out / "cache").partial_path(plans[r].key) for r in "ab")

    # 1. killed halfway through epoch 2 of run a, after the checkpoint of its first epoch (while the uninterrupted
    #    reference run trains in this process, on the other core)
    steps = math.ceil(datasets.get().sizes()["train"] / plans["a"].spec.batch_size)  # training batches per epoch
    with ThreadPoolExecutor(1) as pool:
        killed = pool.submit(_kill_when_paused, _spawn(manifest, out, pause=steps + steps // 2))
        result = cli("run", manifest, "--out", tmp_path / "reference")
        err = killed.result()
    assert result.exit_code == 0, result.output
    reference = _finished(tmp_path / "reference")
    assert "  a: epoch 1/5  train loss " in err and "a: epoch 2/5" not in err
    assert len(checkpoint.load(pa)["epochs"]) == 1

    # 2. run a resumes, finishes and is cached; run b is killed after two epochs, while writing the checkpoint
    #    of its third: a torn temporary file is left beside the checkpoint of the second
    child = _spawn(manifest, out, f"/partial/.{pb.name}.", 3)
    _, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err
    assert "resuming a from epoch 2" in err and "[1/2] a: completed" in err
    assert not pa.exists() and not list(pa.parent.glob(f".{pa.name}.*"))
    assert len(checkpoint.load(pb)["epochs"]) == 2
    (torn,) = pb.parent.glob(f".{pb.name}.*.tmp")
    assert 0 < torn.stat().st_size < pb.stat().st_size

    # 3. the re-run to completion: a is not repeated, b resumes; every number matches the uninterrupted run
    result = cli("run", manifest, "--out", out)
    assert result.exit_code == 0, result.output
    assert "[1/2] a: cached" in result.output and "a: epoch" not in result.output
    assert "resuming b from epoch 3" in result.output and "b: epoch 2/5" not in result.output
    assert not list(pb.parent.iterdir())
    _assert_same(_finished(out), reference)


def _plan(manifest: Path, run_id: str, overrides: list[str]):
    loaded = load(manifest, overrides)
    datasets = Datasets(loaded, smoke=False)
    return loaded, next(p for p in plan_runs(loaded, datasets, smoke=False) if p.id == run_id), datasets.get()


def _interrupt_after(epoch: int, log: list):
    def progress(message) -> None:
        log.append(message)
        if isinstance(message, EpochDone) and message.epoch == epoch:
            raise KeyboardInterrupt

    return progress


STOPS_AT_4 = ["experiments.b.train.early_stopping.patience=1", "experiments.b.train.early_stopping.min_delta=0.05",
              "train.epochs=6"]


@pytest.mark.parametrize("overrides,interrupted,resumed", [
    (["train.schedule.name=one_cycle", "train.epochs=5"], 2, "resuming b from epoch 3"),
    (STOPS_AT_4, 2, "resuming b from epoch 3"),
    (STOPS_AT_4, 4, "resuming b after its last epoch (4/6)"),
], ids=["one_cycle", "early_stopping", "after_early_stop"])
@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_numbers(tmp_path, overrides, interrupted, resumed):
    manifest = write_manifest(tmp_path, MANIFEST, "resume.yaml")
    loaded, plan, splits = _plan(manifest, "b", ["train.batch_size=64", *overrides])
    ref_record, ref_state = execute_json(loaded, plan, splits, lambda _: None)
    cache, log = RunCache(tmp_path / "cache"), []
    with pytest.raises(KeyboardInterrupt):
        execute_json(loaded, plan, splits, _interrupt_after(interrupted, log), cache)
    saved = checkpoint.load(cache.partial_path(plan.key))
    assert [e["epoch"] for e in saved["epochs"]] == list(range(1, interrupted + 1))
    assert all(torch.equal(saved["model"][k], saved["last_finite"][k]) for k in saved["model"])
    record, state = execute_json(loaded, plan, splits, log.append, cache)
    strip = lambda rec: [{k: v for k, v in e.items() if k not in ("seconds", "images_per_s")} for e in rec["epochs"]]  # noqa: E731
    assert strip(record) == strip(ref_record) and record["test"] == ref_record["test"]
    assert record["stopped_epoch"] == ref_record["stopped_epoch"] == (4 if overrides is STOPS_AT_4 else None)
    assert all(torch.equal(state[k], ref_state[k]) for k in ref_state)
    assert f"  {resumed}" in log


@pytest.fixture(scope="module")
def cached_entry(tmp_path_factory):
    """A finished one-run build, to be copied and damaged."""
    folder = tmp_path_factory.mktemp("corrupt")
    without_b = manifest_text(RESUME, experiments=[e for e in RESUME["experiments"] if e["id"] != "b"])
    manifest = write_manifest(folder, without_b, "one.yaml")
    result = cli("run", manifest, "--out", folder / "out", "--set", "train.batch_size=64", "--set", "train.epochs=2")
    assert result.exit_code == 0, result.output
    return manifest, folder / "out", json.loads((folder / "out" / "results.json").read_text("utf-8"))


def _flip(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_record(path: Path) -> None:
    record = json.loads(path.read_text("utf-8"))
    record["test"]["accuracy"] = 1.0
    path.write_text(json.dumps(record), "utf-8")


@pytest.mark.parametrize("damage,reason", [
    (lambda runs, key: _flip(runs / f"{key}.pt"), "weights fail their sha256 check"),
    (lambda runs, key: (runs / f"{key}.pt").unlink(), "weights file is missing"),
    (lambda runs, key: (runs / f"{key}.json").write_bytes((runs / f"{key}.json").read_bytes()[:200]),
     "record is not valid JSON"),
    (lambda runs, key: _edit_record(runs / f"{key}.json"), "record fails its sha256 check"),
], ids=["flipped-weights", "missing-weights", "truncated-record", "edited-record"])
@pytest.mark.slow
def test_corrupt_cache_entry_is_reported_once_and_recomputed(tmp_path, cached_entry, damage, reason):
    manifest, clean, results = cached_entry
    out = tmp_path / "out"
    shutil.copytree(clean, out)
    key, runs = results["runs"]["a"]["cache_key"], out / "cache" / "runs"
    damage(runs, key)
    result = cli("run", manifest, "--out", out, "--set", "train.batch_size=64", "--set", "train.epochs=2")
    assert result.exit_code == 0, result.output
    assert result.output.count("is corrupt") == 1
    assert f"cache entry for a is corrupt ({reason}); recomputing" in result.output
    assert "trained 1 run(s)" in result.output
    again = json.loads((out / "results.json").read_text("utf-8"))["runs"]["a"]
    assert again["test"] == results["runs"]["a"]["test"]
    assert RunCache(out / "cache").lookup(key)[1] is None
    result = cli("run", manifest, "--out", out, "--set", "train.batch_size=64", "--set", "train.epochs=2")
    assert "all 1 runs were cached" in result.output and "is corrupt" not in result.output


@pytest.mark.parametrize("damage,reason", [
    (lambda p: _flip(p, 0.7), "partial checkpoint fails its sha256 check"),
    (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "partial checkpoint fails its sha256 check"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + p.read_bytes()[4:]), "partial checkpoint has no header"),
], ids=["flipped", "truncated", "no-header"])
@pytest.mark.slow
def test_corrupt_partial_checkpoint_is_reported_and_training_starts_over(tmp_path, damage, reason):
    manifest = write_manifest(tmp_path, MANIFEST, "resume.yaml")
    loaded, plan, splits = _plan(manifest, "a", ["train.batch_size=64", "train.epochs=3"])
    ref_record, ref_state = execute_json(loaded, plan, splits, lambda _: None)
    cache = RunCache(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        execute_json(loaded, plan, splits, _interrupt_after(2, []), cache)
    damage(cache.partial_path(plan.key))
    log: list[str] = []
    record, state = execute_json(loaded, plan, splits, log.append, cache)
    assert f"  cache entry for a is corrupt ({reason}); recomputing" in log
    assert not any("resuming" in str(line) for line in log)
    assert [(e.run, e.epoch) for e in log if isinstance(e, EpochDone)] == [("a", 1), ("a", 2), ("a", 3)]
    assert [e["val_loss"] for e in record["epochs"]] == [e["val_loss"] for e in ref_record["epochs"]]
    assert all(torch.equal(state[k], ref_state[k]) for k in ref_state)
