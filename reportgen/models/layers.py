"""Torch modules the layer language needs beyond torch.nn's own: global average pooling, activations by name,
residual and branches blocks."""

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


class Residual(nn.Module):
    """A layer-language residual block: its layers(x) + shortcut(x) (x itself without one), then an activation."""

    def __init__(self, body: list[tuple[str, nn.Module]], shortcut: nn.Module | None,
                 post: tuple[str, nn.Module] | None):
        super().__init__()
        for name, module in body:
            self.add_module(name, module)
        self._body = [name for name, _ in body]
        self.shortcut = shortcut
        self._post = post[0] if post else None
        if post:
            self.add_module(*post)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for name in self._body:
            y = self._modules[name](y)
        y = y + (x if self.shortcut is None else self.shortcut(x))
        return y if self._post is None else self._modules[self._post](y)


class Branches(nn.Module):
    """A layer-language branches block: parallel paths from one input, concatenated on channels."""

    def __init__(self, paths: list[nn.Module]):
        super().__init__()
        for i, path in enumerate(paths, 1):
            self.add_module(f"path{i}", path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([path(x) for path in self.children()], dim=1)
