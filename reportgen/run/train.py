"""Small, pure training and evaluation loops over tensors held in memory.

A run's training is two records: TrainState, what it trains (the model and what steps it, its data, its settings),
and Trained, what it has done (its epoch rows, best epoch, early stopping, last finite weights). `fit` is the loop
over epochs: it reads the one and adds to the other."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from reportgen.data.load import DatasetSplits
from reportgen.run import allocator
from reportgen.run.checkpoint import Corrupt, rng_states, set_rng_states
from reportgen.run.checkpoint import save as save_checkpoint
from reportgen.manifest.schema import OptimizerSpec, TrainSpec
from reportgen.manifest.train_options import GradClipSpec
from reportgen.run.input_pipeline import Compute, Held, InputPipeline
from reportgen.run.losses import chance_loss, class_weights, make_loss


def pick_device(name: str) -> torch.device:
    """`auto` picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was asked for, but no CUDA GPU is available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device: mps was asked for, but Apple's MPS is not available")
    return torch.device(name)


def make_optimizer(params, spec: OptimizerSpec, fused: bool = False) -> torch.optim.Optimizer:
    """The optimizer named in the manifest, with its options; `fused` (CUDA) updates every parameter in one kernel
    where PyTorch has a fused implementation (SGD, Adam, AdamW)."""
    kw: dict = {"lr": spec.lr, "weight_decay": spec.weight_decay}
    if fused and spec.name in ("sgd", "adam", "adamw"):
        kw["fused"] = True
    if spec.eps is not None and spec.name != "sgd":
        kw["eps"] = spec.eps
    if spec.name == "sgd":
        return torch.optim.SGD(params, momentum=spec.momentum, nesterov=spec.nesterov, **kw)
    if spec.name in ("adam", "adamw"):
        if spec.betas is not None:
            kw["betas"] = spec.betas
        return (torch.optim.Adam if spec.name == "adam" else torch.optim.AdamW)(params, **kw)
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(params, momentum=spec.momentum, **kw)
    if spec.name == "adagrad":
        return torch.optim.Adagrad(params, **kw)
    return torch.optim.Adadelta(params, **kw)


def train_mode(model: nn.Module) -> None:
    """model.train(), except BatchNorm layers whose parameters are all frozen keep their running statistics."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None and not m.weight.requires_grad:
            m.eval()


def _order(n: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)


@torch.no_grad()
def predict(model: nn.Module, data: Held, pipe: InputPipeline, batch_size: int, compute: Compute,
            forward: nn.Module | None = None) -> tuple[float, torch.Tensor]:
    """Mean cross-entropy and predicted labels over a whole split, in eval mode (one host sync at the end)."""
    model.eval()
    net = forward or model
    total = torch.zeros((), dtype=torch.float64, device=compute.device)
    preds = []
    for xb, yb in data.batches(_order(data.n, None), max(batch_size, 256)):
        with compute.autocast():
            logits = net(pipe(xb))
        total += nn.functional.cross_entropy(logits.float(), yb, reduction="sum").double()
        preds.append(logits.argmax(1))
    return total.item() / max(data.n, 1), torch.cat(preds).cpu() if preds else torch.empty(0, dtype=torch.long)


def make_scheduler(opt: torch.optim.Optimizer, spec: TrainSpec, steps_per_epoch: int):
    """(scheduler, steps per batch?) for the manifest's schedule, or (None, False); `plateau` steps with the
    validation loss."""
    sch = spec.schedule
    if sch is None:
        return None, False
    if sch.name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=sch.factor, patience=sch.patience, threshold=sch.threshold,
            threshold_mode=sch.threshold_mode, cooldown=sch.cooldown, min_lr=sch.min_lr), False
    if sch.name == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=sch.step_size, gamma=sch.gamma), False
    if sch.name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=spec.epochs, eta_min=sch.eta_min), False
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=sch.max_lr or spec.optimizer.lr,
                                               total_steps=spec.epochs * steps_per_epoch), True


@dataclass
class TrainState:
    """What a run trains: the model and what steps it (optimizer, schedule, loss scaling, loss), the input pipeline
    and the splits it holds, the generator of its shuffles and augmentation draws, and its settings."""

    model: nn.Module  # owns the weights
    optimizer: torch.optim.Optimizer
    loss: nn.Module
    pipe: InputPipeline
    train: Held
    spec: TrainSpec  # batch size, gradient clipping, epochs, early stopping, checkpoint
    compute: Compute
    forward: nn.Module | None = None  # what to call (the compiled model); None: the model
    generator: torch.Generator | None = None  # None: a new one seeded with spec.seed
    scaler: torch.amp.GradScaler | None = None  # None: compute's (loss scaling for fp16 only)
    scheduler: object | None = None
    per_batch: bool = False  # the scheduler steps after every batch (one cycle), else after every epoch
    val: Held | None = None
    splits: DatasetSplits | None = None  # the labels of validation and training, the classes
    class_weights: list[float] | None = None

    def __post_init__(self):
        if self.forward is None:
            self.forward = self.model
        if self.generator is None:
            self.generator = torch.Generator().manual_seed(self.spec.seed)
        if self.scaler is None:
            self.scaler = self.compute.scaler()


def train_state(model: nn.Module, splits: DatasetSplits, spec: TrainSpec, compute: Compute,
                pipe: InputPipeline) -> TrainState:
    """Everything `fit` needs to train model (moved to the device, compiled where spec says) on splits as spec
    says; ValueError when that cannot be (every parameter frozen, class weights that do not fit the classes)."""
    if compute.device.type == "cpu":  # the steps' activations reuse freed memory instead of faulting in fresh pages
        allocator.keep_freed_memory()
    forward = compute.prepare(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("every parameter is frozen: nothing to train")
    optimizer = make_optimizer(trainable, spec.optimizer, fused=compute.device.type == "cuda")
    scheduler, per_batch = make_scheduler(optimizer, spec, max(1, math.ceil(len(splits.train_x) / spec.batch_size)))
    weights = class_weights(spec, splits.train_y, list(splits.classes))
    return TrainState(model, optimizer, make_loss(spec, weights, compute.device), pipe,
                      pipe.hold(splits.train_x, splits.train_y, spec.data_on), spec, compute, forward,
                      scheduler=scheduler, per_batch=per_batch, val=pipe.hold(splits.val_x, splits.val_y, spec.data_on),
                      splits=splits, class_weights=weights)


def train_epoch(run: TrainState) -> tuple[float, float]:
    """One pass over the training split; returns (mean loss, accuracy) measured during training.

    Loss and accuracy are summed on the device and read once at the end, so the host never waits for a batch; a
    non-finite loss shows in the sum and the caller treats the epoch as diverged."""
    train_mode(run.model)
    data, size, opt, scaler = run.train, run.spec.batch_size, run.optimizer, run.scaler
    loss_sum = torch.zeros((), dtype=torch.float64, device=run.compute.device)
    correct = torch.zeros((), dtype=torch.long, device=run.compute.device)
    order = _order(data.n, run.generator)
    draws = run.pipe.draw(data.n, run.generator)
    for k, (xb, yb) in enumerate(data.batches(order, size)):
        part = slice(k * size, k * size + len(yb))
        xb = run.pipe.train_batch(xb, {key: v[part] for key, v in draws.items()} if draws else None)
        opt.zero_grad(set_to_none=True)
        with run.compute.autocast():
            logits = run.forward(xb)
            loss = run.loss(logits, yb)
        scaler.scale(loss).backward()
        if run.spec.grad_clip is not None:
            scaler.unscale_(opt)  # clip the true gradients, not the loss-scaled ones (a no-op without scaling)
            _clip(opt, run.spec.grad_clip)
        scaler.step(opt)
        scaler.update()
        if run.per_batch:
            run.scheduler.step()
        loss_sum += loss.detach().double() * len(yb)
        correct += (logits.argmax(1) == yb).sum()
    n = max(data.n, 1)
    return loss_sum.item() / n, correct.item() / n


def _clip(opt: torch.optim.Optimizer, clip: GradClipSpec) -> None:
    params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
    if clip.max_norm is not None:
        nn.utils.clip_grad_norm_(params, clip.max_norm)
    else:
        nn.utils.clip_grad_value_(params, clip.value)


def _step_schedule(run: TrainState, val_loss: float) -> None:
    """The end of an epoch for the schedule: `plateau` steps with the validation loss, per-batch ones not at all."""
    if isinstance(run.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        run.scheduler.step(val_loss)
    elif run.scheduler is not None and not run.per_batch:
        run.scheduler.step()


def at_chance(rows: list[dict], num_classes: int, chance: float | None = None) -> bool:
    """A run that ends where it started: training loss near its chance level (default ln(classes), the
    cross-entropy of a uniform prediction) and validation accuracy near 1/classes."""
    if not rows:
        return False
    last, chance = rows[-1], math.log(num_classes) if chance is None else chance
    return abs(last["train_loss"] - chance) <= 0.1 * chance and last["val_acc"] <= 1.5 / num_classes


class Stopper:
    """Early stopping on validation loss with patience."""

    def __init__(self, spec, best: float = math.inf, waited: int = 0):
        self.spec, self.best, self.waited = spec, best, waited

    def should_stop(self, val_loss: float) -> bool:
        """Count an epoch's validation loss; true once it has not improved for `patience` epochs."""
        if self.spec is None:
            return False
        if val_loss < self.best - self.spec.min_delta:
            self.best, self.waited = val_loss, 0
            return False
        self.waited += 1
        return self.waited >= self.spec.patience


@dataclass
class Trained:
    """What a run has done: its epoch rows, its last finite weights, early stopping's count, its best epoch, where
    it stopped or diverged, and (once `fit` returns) its status, kept epoch and training time."""

    epochs: list[dict]
    last_finite: dict  # the weights after the last finite epoch (before the first: the initial ones)
    stopper: Stopper
    started: float  # perf_counter() when training started (a resumed run: earlier by the time it had trained)
    best: dict | None = None  # {'epoch', 'val_loss', 'state'} of the lowest validation loss, with checkpoint: best
    stopped_epoch: int | None = None
    diverged_epoch: int | None = None
    status: str = "completed"  # or diverged, stalled
    best_epoch: int | None = None  # the epoch whose weights the model ends with (checkpoint: best), else None
    seconds: float | None = None  # training time, set when fit returns

    @classmethod
    def fresh(cls, run: TrainState) -> Trained:
        """Nothing done yet."""
        return cls([], copy.deepcopy(run.model.state_dict()), Stopper(run.spec.early_stopping), time.perf_counter())

    @classmethod
    def resumed(cls, run: TrainState, saved: dict) -> Trained:
        """What a partial checkpoint says the run had done, with its model, optimizer, schedule, generator, loss
        scaling and random states put back as they were; checkpoint.Corrupt, before anything is loaded, when it does
        not fit them."""
        best = _check_fits(run, saved)
        run.model.load_state_dict(saved["model"])
        run.optimizer.load_state_dict(saved["optimizer"])
        if run.scheduler is not None:
            run.scheduler.load_state_dict(saved["scheduler"])
        run.generator.set_state(saved["generator"])
        if saved.get("scaler"):
            run.scaler.load_state_dict(saved["scaler"])
        set_rng_states(saved["rng"], run.compute.device)
        stopper = Stopper(run.spec.early_stopping, saved["stopper"]["best"], saved["stopper"]["waited"])
        return cls(list(saved["epochs"]), saved["last_finite"], stopper, time.perf_counter() - saved["seconds"], best,
                   saved["stopped_epoch"])

    def add(self, row: dict, model: nn.Module, keep_best: bool) -> None:
        """A finished epoch: its row, the model's weights as the last finite ones (and the best ones, when its
        validation loss is the lowest), and whether early stopping ends the run with it."""
        self.epochs.append(row)
        self.last_finite = copy.deepcopy(model.state_dict())
        if keep_best and (self.best is None or row["val_loss"] < self.best["val_loss"]):
            self.best = {"epoch": row["epoch"], "val_loss": row["val_loss"], "state": self.last_finite}
        if self.stopper.should_stop(row["val_loss"]):
            self.stopped_epoch = row["epoch"]

    def diverge(self, epoch: int, model: nn.Module) -> None:
        """A loss became NaN/inf in this epoch: the model goes back to its last finite weights."""
        self.status, self.diverged_epoch = "diverged", epoch
        model.load_state_dict(self.last_finite)


def _fits(saved: dict, own: dict) -> bool:
    return set(saved) == set(own) and all(saved[k].shape == v.shape and saved[k].dtype == v.dtype
                                          for k, v in own.items())


def _check_fits(run: TrainState, saved: dict) -> dict | None:
    """The partial checkpoint's best epoch ({'epoch', 'val_loss', 'state'}, with checkpoint: best) after checking
    that it fits the run's model, optimizer and schedule (checkpoint.Corrupt where it does not)."""
    own = run.model.state_dict()
    if not _fits(saved["model"], own):
        raise Corrupt("partial checkpoint does not fit the model")
    keep_best = run.spec.checkpoint == "best"
    best = saved.get("best") if keep_best else None
    if keep_best and saved["epochs"] and (best is None or not _fits(best["state"], own)):
        raise Corrupt("partial checkpoint lacks the weights of its best epoch")
    groups = saved["optimizer"].get("param_groups", [])
    if [len(g["params"]) for g in groups] != [len(g["params"]) for g in run.optimizer.param_groups] or \
            (saved["scheduler"] is None) != (run.scheduler is None):
        raise Corrupt("partial checkpoint does not fit the optimizer or schedule")
    return best


def _save(path: Path, run: TrainState, done: Trained) -> None:
    """The partial checkpoint after the last epoch done: everything `Trained.resumed` puts back."""
    cpu = {k: v.detach().cpu() for k, v in done.last_finite.items()}
    if done.best is not None and done.best["epoch"] == done.epochs[-1]["epoch"]:
        done.best = {**done.best, "state": cpu}  # the same tensors as the current weights: saved once
    save_checkpoint(path, {
        "model": cpu, "last_finite": cpu,  # the same tensors: the last finite weights are the current ones
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
        "scaler": run.scaler.state_dict() if run.scaler.is_enabled() else None,
        "generator": run.generator.get_state(), "rng": rng_states(run.compute.device), "epochs": done.epochs,
        "stopper": {"best": done.stopper.best, "waited": done.stopper.waited}, "stopped_epoch": done.stopped_epoch,
        "seconds": time.perf_counter() - done.started, "best": done.best})


def fit(run: TrainState, done: Trained | None = None, on_epoch: Callable[[dict], None] | None = None,
        checkpoint: Path | None = None, stop_after: int | None = None) -> Trained:
    """Train for spec.epochs after what `done` had done (Trained.resumed; default: nothing); returns it, added to.

    A run whose loss becomes NaN/inf is `diverged`: it stops, and the model is put back to its last finite
    weights so that its test metrics mean something. A run that ends at chance level is `stalled`.
    With `checkpoint: best` the model ends with the weights of its epoch of lowest validation loss (`best_epoch`;
    None when the final weights are kept, as in a diverged run).
    With `checkpoint` (a path), every finished epoch is saved there, for Trained.resumed to go on exactly as if
    training had not stopped. Epoch rows carry training throughput.
    `stop_after` ends the loop after that epoch, everything else (the schedule over spec.epochs) unchanged."""
    done = done if done is not None else Trained.fresh(run)
    first = len(done.epochs) + 1 if done.stopped_epoch is None else run.spec.epochs + 1  # early-stopped: all done
    last = run.spec.epochs if stop_after is None else min(run.spec.epochs, stop_after)
    for epoch in range(first, last + 1):
        t0 = time.perf_counter()
        lr = run.optimizer.param_groups[0]["lr"]
        train_loss, train_acc = train_epoch(run)
        train_seconds = time.perf_counter() - t0  # train_epoch ends by reading its sums: the device is done
        val_loss, val_pred = (predict(run.model, run.val, run.pipe, run.spec.batch_size, run.compute, run.forward)
                              if math.isfinite(train_loss) else (math.nan, None))
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            done.diverge(epoch, run.model)
            break
        _step_schedule(run, val_loss)
        if run.compute.device.type == "cuda":
            torch.cuda.synchronize()
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "train_acc": train_acc,
               "val_acc": (val_pred == run.splits.val_y).float().mean().item(), "lr": lr,
               "seconds": time.perf_counter() - t0, "images": run.train.n,
               "images_per_s": run.train.n / train_seconds if train_seconds > 0 else None}
        done.add(row, run.model, run.spec.checkpoint == "best")
        if checkpoint is not None:
            _save(checkpoint, run, done)
        if on_epoch:
            on_epoch(row)
        if done.stopped_epoch is not None:
            break
    return _finish(run, done)


def _finish(run: TrainState, done: Trained) -> Trained:
    """The model with the weights it ends with; the run's status and training time."""
    if done.best is not None and done.status != "diverged":
        run.model.load_state_dict(done.best["state"])
        done.best_epoch = done.best["epoch"]
    classes = len(run.splits.classes)
    chance = chance_loss(run.spec, run.class_weights, run.splits.train_y, classes)
    if done.status == "completed" and at_chance(done.epochs, classes, chance):
        done.status = "stalled"
    done.seconds = time.perf_counter() - done.started
    return done
