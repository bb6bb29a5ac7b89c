"""Small, pure training and evaluation loops over tensors held in memory."""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

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


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, loss_fn: nn.Module, data: Held, pipe: InputPipeline,
                batch_size: int, generator: torch.Generator, compute: Compute, scaler=None, batch_scheduler=None,
                forward: nn.Module | None = None, clip: GradClipSpec | None = None) -> tuple[float, float]:
    """One pass over the training split; returns (mean loss, accuracy) measured during training.

    Loss and accuracy are summed on the device and read once at the end, so the host never waits for a batch; a
    non-finite loss shows in the sum and the caller treats the epoch as diverged."""
    train_mode(model)
    net = forward or model
    scaler = scaler or compute.scaler()
    loss_sum = torch.zeros((), dtype=torch.float64, device=compute.device)
    correct = torch.zeros((), dtype=torch.long, device=compute.device)
    order = _order(data.n, generator)
    draws = pipe.draw(data.n, generator)
    for k, (xb, yb) in enumerate(data.batches(order, batch_size)):
        part = slice(k * batch_size, k * batch_size + len(yb))
        xb = pipe.train_batch(xb, {key: v[part] for key, v in draws.items()} if draws else None)
        opt.zero_grad(set_to_none=True)
        with compute.autocast():
            logits = net(xb)
            loss = loss_fn(logits, yb)
        scaler.scale(loss).backward()
        if clip is not None:
            scaler.unscale_(opt)  # clip the true gradients, not the loss-scaled ones (a no-op without scaling)
            _clip(opt, clip)
        scaler.step(opt)
        scaler.update()
        if batch_scheduler is not None:
            batch_scheduler.step()
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


def at_chance(rows: list[dict], num_classes: int, chance: float | None = None) -> bool:
    """A run that ends where it started: training loss near its chance level (default ln(classes), the
    cross-entropy of a uniform prediction) and validation accuracy near 1/classes."""
    if not rows:
        return False
    last, chance = rows[-1], math.log(num_classes) if chance is None else chance
    return abs(last["train_loss"] - chance) <= 0.1 * chance and last["val_acc"] <= 1.5 / num_classes


class _Stopper:
    """Early stopping on validation loss with patience."""

    def __init__(self, spec):
        self.spec, self.best, self.waited = spec, math.inf, 0

    def should_stop(self, val_loss: float) -> bool:
        if self.spec is None:
            return False
        if val_loss < self.best - self.spec.min_delta:
            self.best, self.waited = val_loss, 0
            return False
        self.waited += 1
        return self.waited >= self.spec.patience


def _fits(saved: dict, own: dict) -> bool:
    return set(saved) == set(own) and all(saved[k].shape == v.shape and saved[k].dtype == v.dtype
                                          for k, v in own.items())


def _restore(state: dict, model: nn.Module, opt, scheduler, gen: torch.Generator, stopper: _Stopper,
             device: torch.device, scaler, keep_best: bool) -> dict | None:
    """Load a partial checkpoint into freshly built training objects, after checking that it fits them; returns the
    best epoch so far ({'epoch', 'val_loss', 'state'}) when `keep_best`."""
    own = model.state_dict()
    if not _fits(state["model"], own):
        raise Corrupt("partial checkpoint does not fit the model")
    best = state.get("best") if keep_best else None
    if keep_best and state["epochs"] and (best is None or not _fits(best["state"], own)):
        raise Corrupt("partial checkpoint lacks the weights of its best epoch")
    groups = state["optimizer"].get("param_groups", [])
    if [len(g["params"]) for g in groups] != [len(g["params"]) for g in opt.param_groups] or \
            (state["scheduler"] is None) != (scheduler is None):
        raise Corrupt("partial checkpoint does not fit the optimizer or schedule")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    gen.set_state(state["generator"])
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    set_rng_states(state["rng"], device)
    stopper.best, stopper.waited = state["stopper"]["best"], state["stopper"]["waited"]
    return best


def fit(model: nn.Module, splits, spec: TrainSpec, compute: Compute, pipe: InputPipeline,
        on_epoch: Callable[[dict], None] | None = None, checkpoint: Path | None = None,
        resume: dict | None = None, forward: nn.Module | None = None, stop_after: int | None = None) -> dict:
    """Train for spec.epochs; returns {'status', 'diverged_epoch', 'stopped_epoch', 'best_epoch', 'class_weights',
    'epochs', 'seconds'}.

    A run whose loss becomes NaN/inf is `diverged`: it stops, and the model is put back to its last finite
    weights so that its test metrics mean something. A run that ends at chance level is `stalled`.
    With `checkpoint: best` the model ends with the weights of its epoch of lowest validation loss (`best_epoch`;
    None when the final weights are kept, as in a diverged run).
    With `checkpoint`, every finished epoch is saved there; `resume` (a loaded checkpoint) continues after
    its last epoch, exactly as if training had not stopped (checkpoint.Corrupt if it does not fit the model).
    `forward` is what to call (the compiled model); `model` owns the weights. Epoch rows carry training throughput.
    `stop_after` ends the loop after that epoch, everything else (the schedule over spec.epochs) unchanged."""
    device = compute.device
    forward = forward or compute.prepare(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("every parameter is frozen: nothing to train")
    opt = make_optimizer(trainable, spec.optimizer, fused=device.type == "cuda")
    steps = max(1, math.ceil(len(splits.train_x) / spec.batch_size))
    scheduler, per_batch = make_scheduler(opt, spec, steps)
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    weights = class_weights(spec, splits.train_y, list(splits.classes))
    loss_fn = make_loss(spec, weights, device)
    gen = torch.Generator().manual_seed(spec.seed)
    scaler = compute.scaler()
    train, val = pipe.hold(splits.train_x, splits.train_y), pipe.hold(splits.val_x, splits.val_y)
    stopper = _Stopper(spec.early_stopping)
    epochs, status, diverged_at, stopped_at, started = [], "completed", None, None, time.perf_counter()
    keep_best = spec.checkpoint == "best"
    best = None  # {'epoch', 'val_loss', 'state'} of the epoch with the lowest validation loss, with checkpoint: best
    if resume is not None:
        best = _restore(resume, model, opt, scheduler, gen, stopper, device, scaler, keep_best)
        epochs, stopped_at, started = list(resume["epochs"]), resume["stopped_epoch"], started - resume["seconds"]
        last_good = resume["last_finite"]
    else:
        last_good = copy.deepcopy(model.state_dict())
    first = len(epochs) + 1 if stopped_at is None else spec.epochs + 1  # an early-stopped run has nothing left
    last = spec.epochs if stop_after is None else min(spec.epochs, stop_after)
    for epoch in range(first, last + 1):
        t0 = time.perf_counter()
        lr = opt.param_groups[0]["lr"]
        train_loss, train_acc = train_epoch(model, opt, loss_fn, train, pipe, spec.batch_size, gen, compute, scaler,
                                            scheduler if per_batch else None, forward, spec.grad_clip)
        train_seconds = time.perf_counter() - t0  # train_epoch ends by reading its sums: the device is done
        val_loss, val_pred = (predict(model, val, pipe, spec.batch_size, compute, forward)
                              if math.isfinite(train_loss) else (math.nan, None))
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            status, diverged_at = "diverged", epoch
            model.load_state_dict(last_good)
            break
        if plateau:
            scheduler.step(val_loss)
        elif scheduler is not None and not per_batch:
            scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "train_acc": train_acc,
               "val_acc": (val_pred == splits.val_y).float().mean().item(), "lr": lr,
               "seconds": time.perf_counter() - t0, "images": train.n,
               "images_per_s": train.n / train_seconds if train_seconds > 0 else None}
        epochs.append(row)
        last_good = copy.deepcopy(model.state_dict())
        if keep_best and (best is None or val_loss < best["val_loss"]):
            best = {"epoch": epoch, "val_loss": val_loss, "state": last_good}
        if stopper.should_stop(val_loss):
            stopped_at = epoch
        if checkpoint is not None:
            cpu = {k: v.detach().cpu() for k, v in last_good.items()}
            if best is not None and best["epoch"] == epoch:
                best = {**best, "state": cpu}  # the same tensors as the current weights: saved once
            save_checkpoint(checkpoint, {
                "model": cpu, "last_finite": cpu,  # the same tensors: the last finite weights are the current ones
                "optimizer": opt.state_dict(), "scheduler": scheduler.state_dict() if scheduler else None,
                "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                "generator": gen.get_state(), "rng": rng_states(device), "epochs": epochs,
                "stopper": {"best": stopper.best, "waited": stopper.waited}, "stopped_epoch": stopped_at,
                "seconds": time.perf_counter() - started, "best": best})
        if on_epoch:
            on_epoch(row)
        if stopped_at is not None:
            break
    best_epoch = None
    if best is not None and status != "diverged":
        model.load_state_dict(best["state"])
        best_epoch = best["epoch"]
    chance = chance_loss(spec, weights, splits.train_y, len(splits.classes))
    if status == "completed" and at_chance(epochs, len(splits.classes), chance):
        status = "stalled"
    return {"status": status, "diverged_epoch": diverged_at, "stopped_epoch": stopped_at, "best_epoch": best_epoch,
            "class_weights": weights, "epochs": epochs, "seconds": time.perf_counter() - started}
