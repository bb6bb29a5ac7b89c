"""Torch modules the layer language needs beyond torch.nn's own: global average pooling, activations by name."""

from __future__ import annotations

import torch
from torch import nn


class GlobalAvgPool(nn.Module):
    """Average over the spatial dimensions: (N, C, H, W) → (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def activation_module(kind: str, opts: dict) -> nn.Module:
    """The activation layer of a layer-language item (`relu`, `leaky_relu: {negative_slope}`, ...)."""
    if kind == "leaky_relu":
        return nn.LeakyReLU(opts["negative_slope"] if opts["negative_slope"] is not None else 0.01)
    if kind == "elu":
        return nn.ELU(opts["alpha"] if opts["alpha"] is not None else 1.0)
    return {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
            "relu6": nn.ReLU6, "silu": nn.SiLU}[kind]()
