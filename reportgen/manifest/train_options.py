"""Specs of the training options beside the optimizer: the loss names, the learning-rate schedule, gradient clipping."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from reportgen.manifest.layers import Strict

LOSS_ALIASES = {
    "cross_entropy": "cross_entropy",
    "sparse_categorical_crossentropy": "cross_entropy",
    "categorical_crossentropy": "cross_entropy",
    "nll": "cross_entropy",
    "focal": "focal",
    "focal_loss": "focal",
    "categorical_focal_crossentropy": "focal",
    "sparse_categorical_focal_crossentropy": "focal",
}

CacheFeatures = Annotated[Literal["auto", False], Field(description=(
    "auto: when every trainable parameter follows a frozen part (e.g. freeze: backbone) and nothing random happens "
    "in it (no augmentation, dropout or batch normalisation in training mode), that part runs once per image and "
    "the epochs train the rest on its cached outputs (same results within floating-point tolerance; "
    "compute.features in results.json says whether and why not); false: always run the whole network"))]


class ScheduleSpec(Strict):
    """Learning-rate schedule: step (every step_size epochs × gamma), cosine (to eta_min), one_cycle (per batch),
    plateau (× factor when the validation loss has stopped improving; PyTorch's ReduceLROnPlateau and its defaults)."""

    name: Literal["step", "cosine", "one_cycle", "plateau"] = Field(
        description="step, cosine, one_cycle or plateau; each key below names the schedule it applies to")
    step_size: int = Field(default=10, ge=1, description="step: epochs between two decays")
    gamma: float = Field(default=0.1, gt=0, description="step: the factor the learning rate is multiplied by every "
                         "step_size epochs")
    eta_min: float = Field(default=0.0, ge=0, description="cosine: the learning rate it anneals to over `epochs` "
                           "epochs (CosineAnnealingLR's T_max)")
    max_lr: float | None = Field(default=None, gt=0, description="one_cycle peak (default: the optimizer's lr)")
    factor: float = Field(default=0.1, gt=0, lt=1, description="plateau: the learning rate is multiplied by this")
    patience: int = Field(default=10, ge=0, description="plateau: epochs without improvement before a reduction")
    threshold: float = Field(default=1e-4, ge=0, description="plateau: the improvement that counts, relative "
                             "(threshold_mode: rel) or absolute (abs, as Keras's min_delta)")
    threshold_mode: Literal["rel", "abs"] = Field(default="rel", description="plateau: rel (an improvement of "
                                                  "threshold × the best loss) or abs (of threshold itself)")
    cooldown: int = Field(default=0, ge=0, description="plateau: epochs after a reduction before counting again")
    min_lr: float = Field(default=0.0, ge=0, description="plateau: the learning rate is never reduced below this")


class GradClipSpec(Strict):
    """Gradient clipping before every optimizer step (after fp16 loss scaling is undone): by total norm or by value."""

    max_norm: float | None = Field(default=None, gt=0, description="scale the gradients so that their total L2 "
                                   "norm is at most this (clip_grad_norm_; Keras's global_clipnorm)")
    value: float | None = Field(default=None, gt=0, description="clamp every gradient element to ±value "
                                "(clip_grad_value_; Keras's clipvalue)")

    @model_validator(mode="after")
    def _one_way(self) -> "GradClipSpec":
        """Exactly one of max_norm and value."""
        if self.max_norm is None and self.value is None:
            raise ValueError("grad_clip takes one of `max_norm` (clip the total norm) or `value` (clip each element)")
        if self.max_norm is not None and self.value is not None:  # often an experiment's override merged into train's
            raise ValueError("grad_clip takes one of `max_norm` (clip the total norm) or `value` (clip each element), "
                             "not both; to switch from one to the other in an experiment, set the first to null, e.g. "
                             "{max_norm: null, value: 0.5}")
        return self
