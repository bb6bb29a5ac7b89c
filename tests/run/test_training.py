"""Training is real and reproducible: same seed, same numbers on the CPU; divergence is a result, not a crash."""

from __future__ import annotations

import json
import pickle

import numpy as np
import torch

from reportgen.build import load
from reportgen.run.plan import Datasets, plan_runs

from conftest import execute_json, cli, write_manifest
from manifests import BARE, manifest_text


def _run(manifest, run_id="base", overrides=None):
    loaded = load(manifest, overrides or [])
    datasets = Datasets(loaded, smoke=False)
    plan = next(p for p in plan_runs(loaded, datasets, smoke=False) if p.id == run_id)
    return execute_json(loaded, plan, datasets.get(), progress=lambda _: None)


def test_cpu_rerun_with_same_seed_reproduces_every_number(tmp_path):
    manifest = write_manifest(tmp_path)
    (rec1, state1), (rec2, state2) = _run(manifest), _run(manifest)
    strip = lambda rec: [{k: v for k, v in e.items() if k not in ("seconds", "images_per_s")} for e in rec["epochs"]]  # noqa: E731
    assert strip(rec1) == strip(rec2)
    assert rec1["test"] == rec2["test"]
    assert all(torch.equal(state1[k], state2[k]) for k in state1)
    rec3, _ = _run(manifest, overrides=["train.seed=1"])
    assert strip(rec3) != strip(rec1), "a different seed must give different numbers"


def test_training_learns(tmp_path):
    rec, _ = _run(write_manifest(tmp_path), overrides=["train.epochs=4"])
    losses = [e["train_loss"] for e in rec["epochs"]]
    assert losses[-1] < losses[0]
    assert rec["test"]["accuracy"] > 0.5  # 10 classes: chance is 0.1


def _write_cifar(root, n_per_batch=20, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        labels = [i % 10 for i in range(n_per_batch)]
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)]}, fh)


def test_cifar_format_files_flow_through_the_pipeline(tmp_path):
    _write_cifar(tmp_path / "data")
    manifest = tmp_path / "cifar.yaml"
    manifest.write_text(manifest_text(
        BARE, report={"title": "CIFAR-format test"},
        dataset={"name": "cifar10", "root": "data", "val_fraction": 0.2, "image_size": None, "channels": None},
        models={"m": {"layers": [{"conv": {"out": 4, "kernel": 3, "stride": 2}}, "relu", "global_avgpool",
                                 {"linear": "classes"}]}},
        train={"batch_size": 16}, experiments=[{"id": "only", "model": "m"}]), "utf-8")
    out = tmp_path / "out"
    result = cli("run", manifest, "--out", out)
    assert result.exit_code == 0, result.output
    r = json.loads((out / "results.json").read_text("utf-8"))
    assert r["dataset"]["sizes"] == {"train": 80, "validation": 20, "test": 20}
    assert r["dataset"]["classes"][3] == "class3" and r["dataset"]["synthetic"] is False
    assert r["runs"]["only"]["test"]["support"] == 20
    assert not (out / "report.html").exists()  # `run` only runs
