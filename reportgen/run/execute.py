"""Run every experiment of a manifest (or take it from the cache) into plain run records."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from reportgen.run import checkpoint
from reportgen.data.load import load_dataset
from reportgen.errors import ResultsMissing, UserError
from reportgen.run.evaluate import test_metrics
from reportgen.report.formatting import Detail, duration
from reportgen.manifest.schema import DatasetSpec, LoadedManifest, TrainSpec
from reportgen.run.measure import measure
from reportgen.models.build import build_manifest_model, input_shape_of, state_bytes
from reportgen.results.store import RunCache, code_version, finite, run_key
from reportgen.run.input_pipeline import InputPipeline, resolve_compute
from reportgen.run.train import fit, pick_device, predict

Progress = Callable[..., None]  # (message) or (message, detail=...): see reportgen.progress
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
    from reportgen.models.pretrained import build_network

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
    from reportgen.models.pretrained import build_network

    return build_network(run.network, run.dataset.num_classes(), smoke=smoke,
                         allow_download=os.environ.get("REPORTGEN_OFFLINE") != "1")


def _statistics(plan: RunPlan, info: dict, splits, parent: dict | None) -> tuple[str, list, list]:
    """(which statistics, mean, std) that standardise this run's inputs."""
    if parent is not None:  # a child sees its inputs as its parent did
        return parent["input"]["normalization"], parent["input"]["mean"], parent["input"]["std"]
    if plan.run.network is None:
        return ("dataset", splits.mean, splits.std) if plan.run.dataset.normalize else ("none", splits.mean, splits.std)
    from reportgen.models.pretrained import normalization

    which = normalization(plan.run.network, info)
    if which == "weights":  # `normalize: imagenet` also applies without pretrained weights
        from reportgen.models.pretrained import IMAGENET_MEAN, IMAGENET_STD

        return which, info.get("weights_mean", IMAGENET_MEAN), info.get("weights_std", IMAGENET_STD)
    return which, splits.mean, splits.std


def _partial(plan: RunPlan, path: Path, progress: Progress) -> dict | None:
    """The run's partial checkpoint, or None (a corrupt one is reported and removed)."""
    try:
        state = checkpoint.load(path)
    except checkpoint.Corrupt as exc:
        progress(f"  cache entry for {plan.id} is corrupt ({exc}); recomputing")
        checkpoint.remove(path)
        return None
    if state is not None:
        done, stopped = len(state["epochs"]), state["stopped_epoch"]
        progress(f"  resuming {plan.id} from epoch {done + 1}" if done < plan.spec.epochs and stopped is None else
                 f"  resuming {plan.id} after its last epoch ({done}/{plan.spec.epochs})")
    return state


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (isinstance(exc, RuntimeError)
                                                            and "out of memory" in str(exc))


def failed_record(plan: RunPlan, error: str, **fields) -> dict:
    """The record of a run that could not finish: no test metrics, no measurements, never cached."""
    return finite({
        "id": plan.id, "experiment": plan.experiment, "group": plan.experiment, "varied": plan.varied,
        "model": plan.model, "title": plan.title, "status": "failed", "error": error, "diverged_epoch": None,
        "stopped_epoch": None, "config": plan.spec.model_dump(mode="json"), "device": None, "epochs": [],
        "train_seconds": None, "test": None, "measured": None, "transfer": None, "cache_key": plan.key, **fields})


def _fit(model, splits, plan: RunPlan, compute, pipe, forward, on_epoch, path, partial, progress: Progress,
         done: list) -> dict:
    """train.fit, starting afresh when the partial checkpoint does not fit the model."""
    try:
        try:
            return fit(model, splits, plan.spec, compute, pipe, on_epoch, path, partial, forward)
        except checkpoint.Corrupt as exc:  # raised before anything was loaded: the fresh model is intact
            progress(f"  cache entry for {plan.id} is corrupt ({exc}); recomputing")
            checkpoint.remove(path)
            done.clear()
            return fit(model, splits, plan.spec, compute, pipe, on_epoch, path, None, forward)
    except ValueError as exc:
        raise UserError(f"run {plan.id}: {exc}") from None


def execute(loaded: LoadedManifest, plan: RunPlan, splits, progress: Progress, cache: RunCache | None = None,
            smoke: bool = False, parent: tuple[dict, dict] | None = None, resume: bool = True
            ) -> tuple[dict, dict | None]:
    """Train, test and measure one run; returns (record, final state dict), or (failed record, None) when the
    device runs out of memory. With a cache, each epoch is checkpointed and an interrupted run resumes."""
    try:
        device = pick_device(plan.spec.device)
    except RuntimeError as exc:
        raise UserError(f"run {plan.id}: {exc}") from None
    torch.manual_seed(plan.spec.seed)
    model, info = _build(loaded, plan, smoke)
    transfer = None
    if parent is not None:
        from reportgen.models.pretrained import carry_over

        transfer = {"from": plan.parent, **carry_over(model, parent[1])}
    shape = input_shape_of(plan.run.dataset, plan.run.network)
    if plan.input_size:
        shape = (shape[0], plan.input_size, plan.input_size)
    which, mean, std = _statistics(plan, info, splits, parent[0] if parent else None)
    compute = resolve_compute(plan.spec, device)
    pipe = InputPipeline(mean, std, device, which != "none", plan.input_size, shape[0], plan.spec.augment,
                         compute.channels_last, plan.spec.data_on)
    n = plan.spec.epochs
    path = cache.partial_path(plan.key) if cache is not None else None
    partial = _partial(plan, path, progress) if path is not None and resume else None
    done = list(partial["epochs"]) if partial else []

    def on_epoch(row: dict) -> None:
        done.append(row)
        left = (n - row["epoch"]) * sum(e["seconds"] for e in done) / len(done)
        speed = f", {row['images_per_s']:,.0f} images/s" if row.get("images_per_s") else ""
        progress(Detail(f"  {plan.id}: epoch {row['epoch']}/{n}  train loss {row['train_loss']:.4f}  "
                        f"val loss {row['val_loss']:.4f}  val acc {row['val_acc']:.2%}  ({row['seconds']:.1f} s{speed}"
                        + (f"; {duration(left)} left in this run)" if row["epoch"] < n else ")")))

    common = {
        "device": device.type,
        "dataset": {"name": splits.name, "classes": list(splits.classes), "sizes": splits.sizes(),
                    "source": splits.source},
        "input": {"shape": list(shape), "normalization": which, "mean": list(mean), "std": list(std),
                  "resized": bool(plan.input_size) and plan.input_size != splits.train_x.shape[-1]},
        "weights": {k: v for k, v in info.items() if k not in ("blocks",)},
        "transfer": transfer,
        "compute": {**compute.record(), "data_on": pipe.placement_of(splits.train_x),
                    "augment": plan.spec.augment.model_dump(mode="json") if plan.spec.augment.active() else None},
    }
    batch, knob, error = plan.spec.batch_size, "batch_size", None
    try:
        with compute.numerics():
            forward = compute.prepare(model)
            fit_out = _fit(model, splits, plan, compute, pipe, forward, on_epoch, path, partial, progress, done)
            test_loss, pred = predict(model, pipe.hold(splits.test_x, splits.test_y), pipe, plan.spec.batch_size,
                                      compute, forward)
            batch, knob = plan.spec.measure.throughput_batch, "measure.throughput_batch"
            measured = measure(model, shape, device, plan.spec.measure, state_bytes(model), compute, forward)
    except RuntimeError as exc:
        if not _out_of_memory(exc):
            raise
        error = f"{plan.id}: out of memory at batch size {batch} on {device} — try a smaller {knob}"
    if error is not None:  # outside the except block, so that the traceback no longer holds device memory
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return failed_record(plan, error, epochs=done, train_seconds=sum(e["seconds"] for e in done), **common), None
    epochs = fit_out["epochs"]
    measured["epoch_seconds"] = sum(e["seconds"] for e in epochs) / len(epochs) if epochs else None
    record = finite({
        "id": plan.id, "experiment": plan.experiment, "group": plan.experiment, "varied": plan.varied,
        "model": plan.model, "title": plan.title,
        "status": fit_out["status"], "diverged_epoch": fit_out["diverged_epoch"],
        "stopped_epoch": fit_out["stopped_epoch"],
        "config": plan.spec.model_dump(mode="json"),
        "epochs": epochs, "train_seconds": fit_out["seconds"],
        "test": test_metrics(splits.test_y.numpy(), pred.numpy(), list(splits.classes), test_loss),
        **common,
        "measured": measured,
        "cache_key": plan.key,
    })
    return record, model.state_dict()


def run_all(loaded: LoadedManifest, datasets: Datasets, cache: RunCache, smoke: bool, progress: Progress,
            force: bool = False, execution=None) -> tuple[dict, dict]:
    """Run what is not cached; returns (records by run id, {'trained': n, 'cached': n, 'failed': n}).

    A corrupt cache entry is reported and recomputed; a run that fails (out of memory) is recorded as `failed`,
    is not cached, and the others go on; each failure is repeated as a warning at the end. `execution`
    (executor.Execution) runs independent runs at once; by default they run here, one after another."""
    from reportgen.run.scheduler import run_plans

    plans = plan_runs(loaded, datasets, smoke)
    records, stats = run_plans(loaded, plans, datasets, cache, smoke, progress, force, execution)
    for plan in plans:
        if records[plan.id]["status"] == "failed":
            progress(f"warning: {records[plan.id]['error']}")
    return {p.id: records[p.id] for p in sorted(plans, key=lambda p: _position(loaded, p.id))}, stats


def _position(loaded: LoadedManifest, run_id: str) -> int:
    return next(i for i, r in enumerate(loaded.runs) if r.id == run_id)


def cached_runs(loaded: LoadedManifest, datasets: Datasets, cache: RunCache, smoke: bool) -> dict:
    """Every run's record from the cache; ResultsMissing names the runs that are not there."""
    plans = plan_runs(loaded, datasets, smoke)
    found = {p.id: cache.lookup(p.key) for p in sorted(plans, key=lambda p: _position(loaded, p.id))}
    records = {pid: rec for pid, (rec, _) in found.items()}
    missing = [pid + (f" (corrupt: {why})" if why else "") for pid, (rec, why) in found.items() if rec is None]
    if missing:
        build = "reportgen run" + (" --smoke" if smoke else "")
        raise ResultsMissing(
            f"no cached results for {len(missing)} of {len(plans)} runs ({', '.join(missing)}) in {cache.root}; "
            f"run `{build} {loaded.path.name}` first (or `reportgen build`)")
    return records
