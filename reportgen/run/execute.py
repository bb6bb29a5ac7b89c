"""Run every experiment of a manifest (or take it from the cache) into plain run records."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from reportgen.run import checkpoint
from reportgen.errors import UserError
from reportgen.run.evaluate import test_metrics
from reportgen.run.statistics import encode_predictions
from reportgen.run.progress import Detail, duration
from reportgen.manifest.loaded import LoadedManifest
from reportgen.run.measure import measure
from reportgen.models.build import build_manifest_model, input_shape_of, state_bytes
from reportgen.results.cache import RunCache
from reportgen.results.run_record import RunRecord
from reportgen.results.store import finite
from reportgen.run.environment import run_environment
from reportgen.run.plan import RunPlan
from reportgen.run.input_pipeline import InputPipeline, resolve_compute
from reportgen.run.train import fit, pick_device, predict

Progress = Callable[..., None]  # (message) or (message, detail=...): see reportgen.run.progress


def _build(loaded: LoadedManifest, plan: RunPlan, smoke: bool) -> tuple[torch.nn.Module, dict]:
    run = plan.run
    if run.network is None or run.network.source == "module":  # a `module:` file is imported here
        from reportgen.models.build import module_info

        return build_manifest_model(loaded, plan.model, run.dataset), module_info(loaded, run.network, run.dataset)
    from reportgen.models.pretrained import build_network

    return build_network(run.network, run.dataset.num_classes(), smoke=smoke,
                         allow_download=os.environ.get("REPORTGEN_OFFLINE") != "1")


def _statistics(plan: RunPlan, info: dict, splits, parent: RunRecord | None) -> tuple[str, list, list]:
    """(which statistics, mean, std) that standardise this run's inputs."""
    if parent is not None:  # a child sees its inputs as its parent did
        return parent.input.normalization, parent.input.mean, parent.input.std
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


def run_record(plan: RunPlan, **fields) -> RunRecord:
    """The typed record of a run of `plan`: its names and settings from the plan, the rest as given (a run that
    did not get that far has None there)."""
    empty = dict.fromkeys(("error", "diverged_epoch", "stopped_epoch", "stopped_after", "best_epoch", "class_weights",
                           "device", "environment", "dataset", "input", "weights", "transfer", "compute", "execution",
                           "train_seconds", "test", "measured", "repeats", "aggregate", "predictions"))
    return RunRecord.model_validate(finite({
        **empty, "id": plan.id, "experiment": plan.experiment, "group": plan.experiment, "varied": plan.varied,
        "model": plan.model, "title": plan.title, "digest": plan.digest, "cache_key": plan.key,
        "config": plan.spec.model_dump(mode="json"), "epochs": [], **fields}))


def failed_record(plan: RunPlan, error: str, **fields) -> RunRecord:
    """The record of a run that could not finish: no test metrics, no measurements, never cached."""
    return run_record(plan, status="failed", error=error, **fields)


def _fit(model, splits, plan: RunPlan, compute, pipe, forward, on_epoch, path, partial, progress: Progress,
         done: list, stop_after: int | None = None) -> dict:
    """train.fit, starting afresh when the partial checkpoint does not fit the model."""
    try:
        try:
            return fit(model, splits, plan.spec, compute, pipe, on_epoch, path, partial, forward, stop_after)
        except checkpoint.Corrupt as exc:  # raised before anything was loaded: the fresh model is intact
            progress(f"  cache entry for {plan.id} is corrupt ({exc}); recomputing")
            checkpoint.remove(path)
            done.clear()
            return fit(model, splits, plan.spec, compute, pipe, on_epoch, path, None, forward, stop_after)
    except ValueError as exc:
        raise UserError(f"run {plan.id}: {exc}") from None


def execute(loaded: LoadedManifest, plan: RunPlan, splits, progress: Progress, cache: RunCache | None = None,
            smoke: bool = False, parent: tuple[RunRecord, dict] | None = None, resume: bool = True,
            stop_after: int | None = None) -> tuple[RunRecord, dict | None]:
    """Train, test and measure one run; returns (record, final state dict), or (failed record, None) when the
    device runs out of memory. With a cache, each epoch is checkpointed and an interrupted run resumes.
    `stop_after` K < epochs trains only the first K epochs (same schedule) and skips testing and measuring:
    the record (`stopped_after`: K, no `test`, no `measured`) is for comparison, never for the cache."""
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
        "environment": run_environment(device),
        "dataset": {"name": splits.name, "classes": list(splits.classes), "sizes": splits.sizes(),
                    "source": splits.source},
        "input": {"shape": list(shape), "normalization": which, "mean": list(mean), "std": list(std),
                  "resized": bool(plan.input_size) and plan.input_size != splits.train_x.shape[-1],
                  "channels_repeated": splits.train_x.shape[1] == 1 and shape[0] == 3},  # grey into an RGB network
        "weights": {k: v for k, v in info.items() if k not in ("blocks",)},
        "transfer": transfer,
        "compute": {**compute.record(), "data_on": pipe.placement_of(splits.train_x),
                    "augment": plan.spec.augment.model_dump(mode="json") if plan.spec.augment.active() else None},
    }
    batch, knob, error = plan.spec.batch_size, "batch_size", None
    early = stop_after is not None and stop_after < n
    try:
        with compute.numerics():
            forward = compute.prepare(model)
            fit_out = _fit(model, splits, plan, compute, pipe, forward, on_epoch, path, partial, progress, done,
                           stop_after if early else None)
            test, measured, predictions = None, None, None  # early: neither tested nor measured
            if not early:
                test_loss, pred = predict(model, pipe.hold(splits.test_x, splits.test_y), pipe,
                                          plan.spec.batch_size, compute, forward)
                test = test_metrics(splits.test_y.numpy(), pred.numpy(), list(splits.classes), test_loss)
                predictions = encode_predictions(pred.numpy(), splits.test_y.numpy())
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
    if measured is not None:
        measured["epoch_seconds"] = sum(e["seconds"] for e in epochs) / len(epochs) if epochs else None
    record = run_record(
        plan, status=fit_out["status"], diverged_epoch=fit_out["diverged_epoch"],
        stopped_epoch=fit_out["stopped_epoch"], best_epoch=fit_out["best_epoch"],
        class_weights=fit_out["class_weights"], epochs=epochs, train_seconds=fit_out["seconds"], test=test,
        measured=measured, predictions=predictions,  # the run cache keeps predictions for paired tests
        stopped_after=stop_after if early else None, **common)
    return record, model.state_dict()
