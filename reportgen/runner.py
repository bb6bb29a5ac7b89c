"""Run every experiment of a manifest (or take it from the cache) into plain run records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from .errors import ResultsMissing, UserError
from .evaluate import test_metrics
from .manifest import LoadedManifest, TrainSpec
from .models import build_manifest_model
from .results import RunCache, code_version, finite, run_key
from .train import Normalizer, fit, pick_device, predict

Progress = Callable[[str], None]


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


def plan_runs(loaded: LoadedManifest, data_fingerprint: str, smoke: bool) -> list[RunPlan]:
    """Every run of the manifest (smoke builds: one epoch) with its cache key."""
    plans = []
    for run in loaded.runs:
        spec = run.train.model_copy(update={"epochs": 1}) if smoke else run.train
        key = run_key({
            "train": spec.model_dump(), "layers": run.layers, "dataset": loaded.manifest.dataset.model_dump(),
            "data": data_fingerprint, "code": code_version(), "smoke": smoke,
        })
        plans.append(RunPlan(run.id, run.group, run.model, run.title, spec, key, run.varied))
    return plans


def execute(loaded: LoadedManifest, plan: RunPlan, splits, progress: Progress) -> tuple[dict, dict]:
    """Train and test one run; returns (record, final state dict)."""
    try:
        device = pick_device(plan.spec.device)
    except RuntimeError as exc:
        raise UserError(f"run {plan.id}: {exc}") from None
    torch.manual_seed(plan.spec.seed)
    model = build_manifest_model(loaded, plan.model)
    normalize_inputs = loaded.manifest.dataset.normalize
    n = plan.spec.epochs

    def on_epoch(row: dict) -> None:
        progress(f"  {plan.id}: epoch {row['epoch']}/{n}  train loss {row['train_loss']:.4f}  "
                 f"val loss {row['val_loss']:.4f}  val acc {row['val_acc']:.2%}  ({row['seconds']:.1f} s)")

    fit_out = fit(model, splits, plan.spec, device, normalize_inputs, on_epoch)
    norm = Normalizer(splits.mean, splits.std, device, normalize_inputs)
    test_loss, pred = predict(model, splits.test_x, splits.test_y, norm, plan.spec.batch_size, device)
    record = finite({
        "id": plan.id, "experiment": plan.experiment, "group": plan.experiment, "varied": plan.varied,
        "model": plan.model, "title": plan.title,
        "status": fit_out["status"], "diverged_epoch": fit_out["diverged_epoch"],
        "stopped_epoch": fit_out["stopped_epoch"],
        "config": plan.spec.model_dump(mode="json"), "device": device.type,
        "epochs": fit_out["epochs"], "train_seconds": fit_out["seconds"],
        "test": test_metrics(splits.test_y.numpy(), pred.numpy(), list(splits.classes), test_loss),
        "cache_key": plan.key,
    })
    return record, model.state_dict()


def run_all(loaded: LoadedManifest, splits, cache: RunCache, smoke: bool, progress: Progress,
            force: bool = False) -> tuple[dict, dict]:
    """Run what is not cached; returns (records by run id, {'trained': n, 'cached': n})."""
    plans = plan_runs(loaded, splits.fingerprint(), smoke)
    records, stats = {}, {"trained": 0, "cached": 0}
    for i, plan in enumerate(plans, 1):
        cached = None if force else cache.get(plan.key)
        if cached is not None:
            progress(f"[{i}/{len(plans)}] {plan.id}: cached ({cached['test']['accuracy']:.2%} test accuracy)")
            records[plan.id], stats["cached"] = cached, stats["cached"] + 1
            continue
        progress(f"[{i}/{len(plans)}] {plan.id}: training {plan.model} for {plan.spec.epochs} epochs")
        record, state = execute(loaded, plan, splits, progress)
        cache.put(plan.key, record, state)
        progress(f"[{i}/{len(plans)}] {plan.id}: {record['status']}, test accuracy {record['test']['accuracy']:.2%}")
        records[plan.id], stats["trained"] = record, stats["trained"] + 1
    return records, stats


def cached_runs(loaded: LoadedManifest, splits, cache: RunCache, smoke: bool) -> dict:
    """Every run's record from the cache; ResultsMissing names the runs that are not there."""
    plans = plan_runs(loaded, splits.fingerprint(), smoke)
    records = {p.id: cache.get(p.key) for p in plans}
    missing = [pid for pid, rec in records.items() if rec is None]
    if missing:
        build = "reportgen run" + (" --smoke" if smoke else "")
        raise ResultsMissing(
            f"no cached results for {len(missing)} of {len(plans)} runs ({', '.join(missing)}) in {cache.root}; "
            f"run `{build} {loaded.path.name}` first (or `reportgen build`)")
    return records
