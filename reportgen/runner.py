"""Run every experiment of a manifest (or take it from the cache) into plain run records."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .data import load_dataset
from .errors import ResultsMissing, UserError
from .evaluate import test_metrics
from .manifest import DatasetSpec, LoadedManifest, TrainSpec
from .measure import measure
from .models import build_manifest_model, input_shape_of, state_bytes
from .results import RunCache, code_version, finite, run_key
from .train import Normalizer, fit, pick_device, predict

Progress = Callable[[str], None]
SMOKE_INPUT = 64  # smoke builds shrink large network inputs (224 → 64) so they run in seconds on a CPU


@dataclass(frozen=True)
class RunPlan:
    """One training run: its resolved settings, what its sweep varied, and its cache key."""

    id: str
    experiment: str
    model: str
    title: str
    spec: TrainSpec
    key: str
    varied: dict = field(default_factory=dict, hash=False, compare=False)
    run: object = field(default=None, hash=False, compare=False)  # sweeps.RunSpec
    input_size: int | None = None
    parent: str | None = None  # run id


class Datasets:
    """Each distinct dataset of a manifest, loaded once when first asked for."""

    def __init__(self, loaded: LoadedManifest, smoke: bool, cache_dir: Path | None = None):
        self.loaded, self.smoke, self.cache_dir, self._loaded = loaded, smoke, cache_dir, {}

    def get(self, spec: DatasetSpec | None = None):
        spec = spec or self.loaded.manifest.dataset
        key = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
        if key not in self._loaded:
            self._loaded[key] = load_dataset(spec, self.loaded.base_dir, smoke=self.smoke, cache_dir=self.cache_dir)
        return self._loaded[key]


def _ordered(runs: list) -> list:
    """Runs in manifest order, except that a run whose weights come from another follows it."""
    by_group = {r.group: r for r in runs}
    done, out = set(), []

    def visit(run, depth=0):
        if run.id in done or depth > len(runs):
            return
        if run.parent in by_group:
            visit(by_group[run.parent], depth + 1)
        done.add(run.id)
        out.append(run)

    for run in runs:
        visit(run)
    return out


def _input_size(run, smoke: bool) -> int | None:
    """The network's input size; smoke builds shrink it when the network can take the smaller size."""
    net = run.network
    if net is None or not net.input_size or not smoke or net.input_size <= SMOKE_INPUT:
        return net.input_size if net is not None else None
    from .pretrained import build_network

    model, _ = build_network(net.model_copy(update={"weights": "none"}), run.dataset.num_classes())
    for size in (SMOKE_INPUT, 96, 160):  # the smallest the network takes (Inception stems need about 75)
        if size >= net.input_size:
            break
        try:
            with torch.no_grad():
                model.eval()(torch.zeros(1, 3, size, size))
        except (RuntimeError, ValueError):
            continue
        return size
    return net.input_size


def plan_runs(loaded: LoadedManifest, datasets: Datasets, smoke: bool) -> list[RunPlan]:
    """Every run of the manifest (smoke builds: one epoch), parents before children, with cache keys."""
    plans: dict[str, RunPlan] = {}
    for run in _ordered(loaded.runs):
        spec = run.train.model_copy(update={"epochs": 1}) if smoke else run.train
        if smoke:
            spec = spec.model_copy(update={"measure": spec.measure.model_copy(update={
                "warmup": 1, "latency_repeats": 3, "throughput_batch": min(spec.measure.throughput_batch, 16),
                "throughput_repeats": 1})})
        parent = next((p for p in plans.values() if p.experiment == run.parent), None) if run.parent else None
        size = _input_size(run, smoke)
        key = run_key({
            "train": spec.model_dump(), "layers": run.layers, "dataset": run.dataset.model_dump(),
            "data": datasets.get(run.dataset).fingerprint(), "code": code_version(), "smoke": smoke,
            "network": run.network.model_dump(mode="json", by_alias=True) if run.network else None,
            "input_size": size, "parent": parent.key if parent else None,
        })
        plans[run.id] = RunPlan(run.id, run.group, run.model, run.title, spec, key, run.varied, run, size,
                                parent.id if parent else None)
    return list(plans.values())


def _build(loaded: LoadedManifest, plan: RunPlan, smoke: bool) -> tuple[torch.nn.Module, dict]:
    run = plan.run
    if run.network is None:
        return build_manifest_model(loaded, plan.model, run.dataset), {"source": "custom"}
    from .pretrained import build_network

    return build_network(run.network, run.dataset.num_classes(), smoke=smoke,
                         allow_download=os.environ.get("REPORTGEN_OFFLINE") != "1")


def _statistics(plan: RunPlan, info: dict, splits, parent: dict | None) -> tuple[str, list, list]:
    """(which statistics, mean, std) that standardise this run's inputs."""
    if parent is not None:  # a child sees its inputs as its parent did
        return parent["input"]["normalization"], parent["input"]["mean"], parent["input"]["std"]
    if plan.run.network is None:
        return ("dataset", splits.mean, splits.std) if plan.run.dataset.normalize else ("none", splits.mean, splits.std)
    from .pretrained import normalization

    which = normalization(plan.run.network, info)
    if which == "weights":  # `normalize: imagenet` also applies without pretrained weights
        from .pretrained import IMAGENET_MEAN, IMAGENET_STD

        return which, info.get("weights_mean", IMAGENET_MEAN), info.get("weights_std", IMAGENET_STD)
    return which, splits.mean, splits.std


def execute(loaded: LoadedManifest, plan: RunPlan, splits, progress: Progress, cache: RunCache | None = None,
            smoke: bool = False, parent: tuple[dict, dict] | None = None) -> tuple[dict, dict]:
    """Train, test and measure one run; returns (record, final state dict)."""
    try:
        device = pick_device(plan.spec.device)
    except RuntimeError as exc:
        raise UserError(f"run {plan.id}: {exc}") from None
    torch.manual_seed(plan.spec.seed)
    model, info = _build(loaded, plan, smoke)
    transfer = None
    if parent is not None:
        from .pretrained import carry_over

        transfer = {"from": plan.parent, **carry_over(model, parent[1])}
    shape = input_shape_of(plan.run.dataset, plan.run.network)
    if plan.input_size:
        shape = (shape[0], plan.input_size, plan.input_size)
    which, mean, std = _statistics(plan, info, splits, parent[0] if parent else None)
    norm = Normalizer(mean, std, device, which != "none", plan.input_size, shape[0])
    n = plan.spec.epochs

    def on_epoch(row: dict) -> None:
        progress(f"  {plan.id}: epoch {row['epoch']}/{n}  train loss {row['train_loss']:.4f}  "
                 f"val loss {row['val_loss']:.4f}  val acc {row['val_acc']:.2%}  ({row['seconds']:.1f} s)")

    try:
        fit_out = fit(model, splits, plan.spec, device, norm, on_epoch)
    except ValueError as exc:
        raise UserError(f"run {plan.id}: {exc}") from None
    test_loss, pred = predict(model, splits.test_x, splits.test_y, norm, plan.spec.batch_size, device)
    measured = measure(model, shape, device, plan.spec.measure, state_bytes(model))
    epochs = fit_out["epochs"]
    measured["epoch_seconds"] = sum(e["seconds"] for e in epochs) / len(epochs) if epochs else None
    record = finite({
        "id": plan.id, "experiment": plan.experiment, "group": plan.experiment, "varied": plan.varied,
        "model": plan.model, "title": plan.title,
        "status": fit_out["status"], "diverged_epoch": fit_out["diverged_epoch"],
        "stopped_epoch": fit_out["stopped_epoch"],
        "config": plan.spec.model_dump(mode="json"), "device": device.type,
        "epochs": epochs, "train_seconds": fit_out["seconds"],
        "test": test_metrics(splits.test_y.numpy(), pred.numpy(), list(splits.classes), test_loss),
        "dataset": {"name": splits.name, "classes": list(splits.classes), "sizes": splits.sizes(),
                    "source": splits.source},
        "input": {"shape": list(shape), "normalization": which, "mean": list(mean), "std": list(std),
                  "resized": bool(plan.input_size) and plan.input_size != splits.train_x.shape[-1]},
        "weights": {k: v for k, v in info.items() if k not in ("blocks",)},
        "transfer": transfer,
        "measured": measured,
        "cache_key": plan.key,
    })
    return record, model.state_dict()


def run_all(loaded: LoadedManifest, datasets: Datasets, cache: RunCache, smoke: bool, progress: Progress,
            force: bool = False) -> tuple[dict, dict]:
    """Run what is not cached; returns (records by run id, {'trained': n, 'cached': n})."""
    plans = plan_runs(loaded, datasets, smoke)
    keys = {p.id: p.key for p in plans}
    records, stats = {}, {"trained": 0, "cached": 0}
    for i, plan in enumerate(plans, 1):
        cached = None if force else cache.get(plan.key)
        if cached is not None:
            progress(f"[{i}/{len(plans)}] {plan.id}: cached ({cached['test']['accuracy']:.2%} test accuracy)")
            records[plan.id], stats["cached"] = cached, stats["cached"] + 1
            continue
        parent = None
        if plan.parent:
            state = cache.weights(keys[plan.parent])
            if state is None:
                raise UserError(f"run {plan.id} starts from the weights of {plan.parent}, but its checkpoint is not "
                                f"in {cache.root}; rebuild with --force")
            parent = (records[plan.parent], state)
        what = f"{plan.model} for {plan.spec.epochs} epochs" + (f" from the weights of {plan.parent}" if parent else "")
        progress(f"[{i}/{len(plans)}] {plan.id}: training {what}")
        record, state = execute(loaded, plan, datasets.get(plan.run.dataset), progress, cache, smoke, parent)
        cache.put(plan.key, record, state)
        progress(f"[{i}/{len(plans)}] {plan.id}: {record['status']}, test accuracy {record['test']['accuracy']:.2%}")
        records[plan.id], stats["trained"] = record, stats["trained"] + 1
    return {p.id: records[p.id] for p in sorted(plans, key=lambda p: _position(loaded, p.id))}, stats


def _position(loaded: LoadedManifest, run_id: str) -> int:
    return next(i for i, r in enumerate(loaded.runs) if r.id == run_id)


def cached_runs(loaded: LoadedManifest, datasets: Datasets, cache: RunCache, smoke: bool) -> dict:
    """Every run's record from the cache; ResultsMissing names the runs that are not there."""
    plans = plan_runs(loaded, datasets, smoke)
    records = {p.id: cache.get(p.key) for p in sorted(plans, key=lambda p: _position(loaded, p.id))}
    missing = [pid for pid, rec in records.items() if rec is None]
    if missing:
        build = "reportgen run" + (" --smoke" if smoke else "")
        raise ResultsMissing(
            f"no cached results for {len(missing)} of {len(plans)} runs ({', '.join(missing)}) in {cache.root}; "
            f"run `{build} {loaded.path.name}` first (or `reportgen build`)")
    return records
