"""Input stage of training: uint8 images held on the device → augmented, resized, standardised batches.

The images are decoded once into uint8 tensors (data.py); here they are moved to the device once (or pinned in host
memory when they do not fit) and every batch is gathered by index, augmented, converted and normalised there, so
no per-image Python work is done while training. The same code runs on the CPU.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from reportgen.manifest.schema import AugmentSpec, TrainSpec

# where channels-last is the default: oneDNN's and cuDNN's convolutions run NHWC natively (benchmarks/throughput.py
# measures both formats side by side); Apple's MPS converts it back and forth
CHANNELS_LAST_ON = ("cuda", "cpu")
DEVICE_FRACTION = 0.5  # data_on: auto keeps the images on the GPU when they take at most this share of free memory


@dataclass(frozen=True)
class Compute:
    """How a run computes: device, precision (fp32 or bf16/fp16 autocast), memory format, compilation."""

    device: torch.device
    precision: str
    channels_last: bool
    compile: str | None  # torch.compile's mode, None: not compiled

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, None for fp32."""
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def autocast(self):
        """The autocast context for forward passes (nothing for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """Loss scaling, enabled for fp16 only (bf16 has fp32's exponent range)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    @contextlib.contextmanager
    def numerics(self):
        """fp32 means fp32: TF32 tensor-core maths is switched off on CUDA while the run trains."""
        if self.device.type != "cuda":
            yield
            return
        saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark
        tf32 = self.precision != "fp32"
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = True
        try:
            yield
        finally:
            (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.benchmark) = saved

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """Move the model to the device and memory format; returns what to call forward on (compiled or not)."""
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return torch.compile(model, mode=self.compile) if self.compile else model

    def record(self) -> dict:
        """The settings as they appear in a run record."""
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None
        return {"device": self.device.type, "device_name": name, "precision": self.precision,
                "autocast": self.dtype is not None, "loss_scaling": self.precision == "fp16",
                "tf32": self.device.type == "cuda" and self.precision != "fp32",
                "channels_last": self.channels_last, "compile": self.compile}


def resolve_compute(spec: TrainSpec, device: torch.device) -> Compute:
    """The manifest's precision and memory format with `auto` decided for this device."""
    precision = spec.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    channels_last = spec.channels_last if spec.channels_last is not None else device.type in CHANNELS_LAST_ON
    mode = "default" if spec.compile is True else spec.compile or None
    return Compute(device, precision, channels_last, mode)


def placement(data_on: str, device: torch.device, nbytes: int) -> str:
    """'device' or 'host' for images of nbytes (on the CPU both are the same memory)."""
    if data_on != "auto":
        return data_on
    if device.type != "cuda":
        return "device"
    free, _ = torch.cuda.mem_get_info(device)
    return "device" if nbytes <= DEVICE_FRACTION * free else "host"


class Held:
    """One split's uint8 images and labels where batches are gathered from: device memory, or pinned host memory."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device, on: str):
        self.device, self.on, self.n = device, on, len(x)
        pin = on == "host" and device.type == "cuda"
        if on == "device":
            self.x, self.y = x.to(device), y.to(device)
        else:
            self.x, self.y = (x.pin_memory(), y.pin_memory()) if pin else (x, y)

    def batches(self, order: torch.Tensor, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images, labels) on the device, batch by batch in `order` (a CPU index tensor)."""
        if self.on == "device":
            order = order.to(self.device)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if self.on == "device":
                yield self.x[idx], self.y[idx]
                continue
            xb, yb = self.x[idx], self.y[idx]
            if self.device.type == "cuda":  # pinned pages let the copy run while the previous batch computes
                xb, yb = xb.pin_memory(), yb.pin_memory()
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)


def _reflect(i: torch.Tensor, n: int) -> torch.Tensor:
    """Indices reflected at the borders without repeating the edge (as F.pad's 'reflect')."""
    i = i.abs()
    return torch.where(i > n - 1, 2 * (n - 1) - i, i)


def crop_flip(x: torch.Tensor, offsets: torch.Tensor | None, flips: torch.Tensor | None, mode: str = "reflect"
              ) -> torch.Tensor:
    """Each image mirrored where flips is true, then shifted by offsets (dy, dx) with the border filled per mode.

    Equal to padding by max |offset| and cropping the original size at the shifted position: one gather, no padding
    copy."""
    b, c, h, w = x.shape
    dev = x.device
    rows = torch.arange(h, device=dev).expand(b, h)
    cols = torch.arange(w, device=dev).expand(b, w)
    if flips is not None:
        cols = torch.where(flips.to(dev)[:, None], w - 1 - cols, cols)
    valid = None
    if offsets is not None:
        offsets = offsets.to(dev)
        rows, cols = rows + offsets[:, :1], cols + offsets[:, 1:]
        if mode == "reflect":
            rows, cols = _reflect(rows, h), _reflect(cols, w)
        else:
            if mode == "zeros":
                valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
            rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    index = (rows[:, :, None] * w + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    out = x.reshape(b, c, h * w).gather(2, index).view(b, c, h, w)
    return out if valid is None else out.masked_fill(~valid[:, None], 0)


def cutout(x: torch.Tensor, centres: torch.Tensor, size: int, fill: torch.Tensor) -> torch.Tensor:
    """One size×size square per image (clipped at the border) around centres (cy, cx) set to fill (per channel)."""
    b, _, h, w = x.shape
    centres = centres.to(x.device)
    top, left = centres[:, :1] - size // 2, centres[:, 1:] - size // 2
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    inside_r = (rows >= top) & (rows < top + size)
    inside_c = (cols >= left) & (cols < left + size)
    mask = (inside_r[:, :, None] & inside_c[:, None, :])[:, None]
    return torch.where(mask, fill.to(x.dtype), x)


class InputPipeline:
    """uint8 batches on the device → float, `channels` channels, size×size, standardised, augmented when training."""

    def __init__(self, mean: list[float], std: list[float], device: torch.device, size: int | None = None,
                 channels: int | None = None, augment: AugmentSpec | None = None, channels_last: bool = False):
        self.channels = channels or len(mean)
        if len(mean) != self.channels:  # grayscale data into an RGB network: one statistic for every channel
            mean, std = [sum(mean) / len(mean)] * self.channels, [sum(std) / len(std)] * self.channels
        shape = (1, self.channels, 1, 1)
        self.mean = torch.tensor(mean, device=device).view(shape)
        self.std = torch.tensor(std, device=device).view(shape)
        self.size, self.device = size, device
        self.augment = augment if augment is not None and augment.active() else None
        self.channels_last = channels_last

    def placement_of(self, x: torch.Tensor, data_on: str = "auto") -> str:
        """Where images like x are held: 'device' or 'host' (data_on: auto decides by size and free memory)."""
        return placement(data_on, self.device, x.numel() * x.element_size())

    def hold(self, x: torch.Tensor, y: torch.Tensor, data_on: str = "auto") -> Held:
        """The split, placed where its batches will come from (the manifest's data_on)."""
        return Held(x, y, self.device, self.placement_of(x, data_on))

    def _float(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().div_(255.0)
        if x.shape[1] != self.channels:
            x = x.expand(-1, self.channels, -1, -1) if x.shape[1] == 1 else x.mean(dim=1, keepdim=True)
        return x

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        if self.size is not None and (x.shape[2] != self.size or x.shape[3] != self.size):
            shrink = self.size < x.shape[2]
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=shrink)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The evaluation transform: no augmentation."""
        return self._finish(self._float(x))

    def draw(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor] | None:
        """Every random choice of an epoch's augmentation for n images, drawn at once from the CPU generator (in a
        fixed order, so the CPU and the GPU augment alike) and moved to the device in one go; None without augment."""
        aug = self.augment
        if aug is None:
            return None
        draws = {}
        if aug.flip:
            draws["flips"] = torch.rand(n, generator=generator) < 0.5
        if aug.crop is not None:
            draws["offsets"] = torch.randint(-aug.crop.padding, aug.crop.padding + 1, (n, 2), generator=generator)
        if aug.cutout is not None:  # fractions of the height and width: the draw does not depend on the image size
            draws["centres"] = torch.rand(n, 2, generator=generator)
        return {k: v.to(self.device, non_blocking=True) for k, v in draws.items()}

    def train_batch(self, x: torch.Tensor, draws: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """The training transform of one batch with its slice of the epoch's draws."""
        aug = self.augment
        if aug is None or draws is None:
            return self(x)
        _, _, h, w = x.shape
        if aug.crop is not None and aug.crop.mode == "reflect" and aug.crop.padding >= min(h, w):
            raise ValueError(f"augment.crop.padding {aug.crop.padding} needs images larger than {aug.crop.padding} "
                             f"pixels for reflect padding (these are {h}×{w}); use a smaller padding or mode: zeros")
        if "flips" in draws or "offsets" in draws:
            x = crop_flip(x, draws.get("offsets"), draws.get("flips"), aug.crop.mode if aug.crop else "reflect")
        f = self._float(x)
        if "centres" in draws:
            scale = torch.tensor([h, w], device=draws["centres"].device)
            centres = (draws["centres"] * scale).long().minimum(scale - 1)
            f = cutout(f, centres, aug.cutout, self.mean)
        return self._finish(f)
