"""Train, test and measure one run into its typed record, resuming from its partial checkpoint where it has one."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from reportgen.run import allocator, checkpoint
from reportgen.errors import UserError
from reportgen.run.evaluate import test_metrics
from reportgen.run.statistics import encode_predictions
from reportgen.run.progress import EpochDone
from reportgen.manifest.loaded import LoadedManifest
from reportgen.run.measure import measure
from reportgen.models.build import build_manifest_model, input_shape_of, state_bytes
from reportgen.results.cache import RunCache
from reportgen.results.run_record import RunRecord
from reportgen.results.store import finite
from reportgen.run.environment import run_environment
from reportgen.run.plan import RunPlan
from reportgen.run.features import frozen_features
from reportgen.run.input_pipeline import Compute, Held, InputPipeline, resolve_compute
from reportgen.run.train import TrainState, Trained, fit, pick_device, predict, train_state

Progress = Callable[..., None]  # (message) or (message, detail=...); message: a line or an EpochDone


def _build(loaded: LoadedManifest, plan: RunPlan) -> tuple[torch.nn.Module, dict]:
    run = plan.run
    if run.network is None or run.network.source == "module":  # a `module:` file is imported here
        from reportgen.models.build import module_info

        return build_manifest_model(loaded, plan.model, run.dataset), module_info(loaded, run.network, run.dataset)
    from reportgen.models.pretrained import build_network

    return build_network(run.network, run.dataset.num_classes(), smoke=plan.smoke,
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


@dataclass
class Prepared:
    """A run before training: its network (seeded, with its parent's weights), what its inputs look like and how
    they are standardised, how it computes and the pipeline that feeds it."""

    model: torch.nn.Module
    info: dict  # what _build says of the network (weights, head, blocks)
    transfer: dict | None  # the parent's weights carried over
    shape: tuple[int, int, int]  # the network's input
    normalization: str
    mean: list[float]
    std: list[float]
    compute: Compute
    pipe: InputPipeline


def _prepare(loaded: LoadedManifest, plan: RunPlan, splits, parent: tuple[RunRecord, dict] | None) -> Prepared:
    """The run's network and input pipeline on its device, built from its seed."""
    try:
        device = pick_device(plan.spec.device)
    except RuntimeError as exc:
        raise UserError(f"run {plan.id}: {exc}") from None
    torch.manual_seed(plan.spec.seed)
    model, info = _build(loaded, plan)
    transfer = None
    if parent is not None:
        from reportgen.models.pretrained import carry_over

        transfer = {"from": plan.parent, **carry_over(model, parent[1])}
    shape = input_shape_of(plan.run.dataset, plan.run.network)
    if plan.input_size:
        shape = (shape[0], plan.input_size, plan.input_size)
    which, mean, std = _statistics(plan, info, splits, parent[0] if parent else None)
    compute = resolve_compute(plan.spec, device)
    on = which != "none"
    pipe = InputPipeline(mean if on else [0.0] * len(mean), std if on else [1.0] * len(std), device,
                         plan.input_size, shape[0], plan.spec.augment, compute.channels_last)
    return Prepared(model, info, transfer, shape, which, mean, std, compute, pipe)


def _described(plan: RunPlan, splits, prep: Prepared) -> dict:
    """The record's fields on the run's device, environment, data, inputs, weights and way of computing."""
    device, spec = prep.compute.device, plan.spec
    return {
        "device": device.type,
        "environment": run_environment(device),
        "dataset": {"name": splits.name, "classes": list(splits.classes), "sizes": splits.sizes(),
                    "source": splits.source},
        "input": {"shape": list(prep.shape), "normalization": prep.normalization, "mean": list(prep.mean),
                  "std": list(prep.std),
                  "resized": bool(plan.input_size) and plan.input_size != splits.train_x.shape[-1],
                  "channels_repeated": splits.train_x.shape[1] == 1 and prep.shape[0] == 3},  # grey into RGB
        "weights": {k: v for k, v in prep.info.items() if k not in ("blocks",)},
        "transfer": prep.transfer,
        "compute": {**prep.compute.record(), "data_on": prep.pipe.placement_of(splits.train_x, spec.data_on),
                    "augment": spec.augment.model_dump(mode="json") if spec.augment.active() else None},
    }


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


@contextlib.contextmanager
def _named(plan: RunPlan):
    """A setting that cannot train (a ValueError) stops the build with the run named."""
    try:
        yield
    except ValueError as exc:
        raise UserError(f"run {plan.id}: {exc}") from None


def _begin(run: TrainState, plan: RunPlan, path: Path | None, partial: dict | None, progress: Progress) -> Trained:
    """What the run had done: its partial checkpoint's epochs, or none (a checkpoint that does not fit the model
    is reported and removed; nothing was loaded from it)."""
    if partial is None:
        return Trained.fresh(run)
    try:
        return Trained.resumed(run, partial)
    except checkpoint.Corrupt as exc:
        progress(f"  cache entry for {plan.id} is corrupt ({exc}); recomputing")
        checkpoint.remove(path)
        return Trained.fresh(run)


def _tested(run: TrainState, splits, test: Held) -> dict:
    """The record's test metrics and the test predictions (kept by the run cache for paired tests)."""
    test_loss, pred = predict(run.model, test, run.pipe, run.spec.batch_size, run.compute, run.forward)
    return {"test": test_metrics(splits.test_y.numpy(), pred.numpy(), list(splits.classes), test_loss),
            "predictions": encode_predictions(pred.numpy(), splits.test_y.numpy())}


def _measured(run: TrainState, prep: Prepared, trained: Trained) -> dict:
    """The trained model's measured cost, with the mean time of its epochs."""
    measured = measure(run.model, prep.shape, run.compute.device, run.spec.measure, state_bytes(run.model),
                       run.compute, run.forward)
    epochs = trained.epochs
    measured["epoch_seconds"] = sum(e["seconds"] for e in epochs) / len(epochs) if epochs else None
    return measured


def execute(loaded: LoadedManifest, plan: RunPlan, splits, progress: Progress, cache: RunCache | None = None,
            parent: tuple[RunRecord, dict] | None = None, resume: bool = True) -> tuple[RunRecord, dict | None]:
    """Train, test and measure one run; returns (record, final state dict), or (failed record, None) when the
    device runs out of memory. With a cache, each epoch is checkpointed and an interrupted run resumes (unless
    `resume` is false). A plan with `stop_after` K < epochs trains only its first K epochs (same schedule) and is
    neither tested nor measured: the record (`stopped_after`: K, no `test`, no `measured`) is for comparison,
    never for the cache."""
    prep = _prepare(loaded, plan, splits, parent)
    path = cache.partial_path(plan.key) if cache is not None else None
    partial = _partial(plan, path, progress) if path is not None and resume else None
    fields, device = _described(plan, splits, prep), prep.compute.device
    early = plan.stop_after is not None and plan.stop_after < plan.spec.epochs
    run, trained, results, error = None, None, {}, None
    batch, knob = plan.spec.batch_size, "batch_size"
    try:
        with prep.compute.numerics():
            with _named(plan):
                run = train_state(prep.model, splits, plan.spec, prep.compute, prep.pipe)
                trained = _begin(run, plan, path, partial, progress)  # the clock starts: features count
                test = run.pipe.hold(splits.test_x, splits.test_y, plan.spec.data_on)
                cached = frozen_features(run, test, progress)  # the run over cached features, or none
                fields["compute"]["features"] = cached.choice
                fit(cached.run or run, trained,
                    lambda _: progress(EpochDone.last_of(plan.id, plan.spec.epochs, trained.epochs)),
                    path, plan.stop_after if early else None)
            if not early:  # a shortened run is neither tested nor measured
                results = _tested(cached.run or run, splits, cached.test or test)
                batch, knob = plan.spec.measure.throughput_batch, "measure.throughput_batch"
                results["measured"] = _measured(run, prep, trained)
    except RuntimeError as exc:
        if not _out_of_memory(exc):
            raise
        error = f"{plan.id}: out of memory at batch size {batch} on {device} — try a smaller {knob}"
    if error is not None:  # outside the except block, so that the traceback no longer holds device memory
        epochs = trained.epochs if trained is not None else list(partial["epochs"]) if partial else []
        prep = run = trained = None  # nothing holds the model, its optimizer or its weights any more
        if device.type == "cuda":
            torch.cuda.empty_cache()
        allocator.give_back()
        return failed_record(plan, error, epochs=epochs, train_seconds=sum(e["seconds"] for e in epochs),
                             **fields), None
    record = run_record(
        plan, status=trained.status, diverged_epoch=trained.diverged_epoch, stopped_epoch=trained.stopped_epoch,
        best_epoch=trained.best_epoch, class_weights=run.class_weights, epochs=trained.epochs,
        train_seconds=trained.seconds, stopped_after=plan.stop_after if early else None, **results, **fields)
    run = trained = cached = None  # the optimizer's state and the steps' memory: free before the heap is trimmed
    allocator.give_back()
    return record, prep.model.state_dict()
