"""The training losses: cross-entropy (label smoothing, class weights) and the focal loss, built from a TrainSpec."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from reportgen.manifest.schema import TrainSpec


def class_weights(spec: TrainSpec, train_y: torch.Tensor, classes: list[str]) -> list[float] | None:
    """One weight per class: `balanced` is n / (classes × count of the class) over the training labels; a list is
    checked against the number of classes; None without class weights."""
    wanted, k = spec.class_weights, len(classes)
    if wanted is None:
        return None
    if wanted == "balanced":
        counts = torch.bincount(train_y.long().cpu(), minlength=k)[:k]
        absent = [name for name, c in zip(classes, counts.tolist()) if c == 0]
        if absent:
            raise ValueError(f"class_weights: balanced needs every class in the training split; "
                             f"{', '.join(absent)} has no training images")
        return (len(train_y) / (k * counts.double())).tolist()
    if len(wanted) != k:
        raise ValueError(f"class_weights lists {len(wanted)} weight{'s' if len(wanted) != 1 else ''}, but the dataset "
                         f"has {k} classes ({', '.join(classes)}): give one weight per class, in that order")
    return [float(w) for w in wanted]


class FocalLoss(nn.Module):
    """FL = -α_t (1 - p_t)^γ log p_t, the mean over the batch; α_t is the true class's weight (1 without weights)."""

    def __init__(self, gamma: float, weight: torch.Tensor | None = None):
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_pt = -F.cross_entropy(logits.float(), target, reduction="none")
        # 1 - p_t from log p_t without cancellation; the floor keeps the gradient of (1 - p_t)^γ finite for γ < 1
        # when p_t rounds to 1 (where the loss, and its true gradient, are 0)
        away = (-torch.expm1(log_pt)).clamp_min(torch.finfo(torch.float32).tiny)
        loss = -away.pow(self.gamma) * log_pt
        if self.weight is not None:
            loss = loss * self.weight[target]
        return loss.mean()


def make_loss(spec: TrainSpec, weights: list[float] | None, device: torch.device) -> nn.Module:
    """The loss the manifest trains with, on the device."""
    weight = torch.tensor(weights, dtype=torch.float32, device=device) if weights is not None else None
    if spec.loss == "focal":
        return FocalLoss(spec.focal_gamma, weight)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=spec.label_smoothing)


def chance_loss(spec: TrainSpec, weights: list[float] | None, train_y: torch.Tensor, num_classes: int) -> float:
    """The training loss of a network that predicts every class with probability 1/classes."""
    if spec.loss != "focal":
        return math.log(num_classes)  # weighted or smoothed, cross-entropy of the uniform prediction is ln(classes)
    alpha = torch.tensor(weights, dtype=torch.float64)[train_y.long().cpu()].mean().item() if weights else 1.0
    return alpha * (1 - 1 / num_classes) ** spec.focal_gamma * math.log(num_classes)
