"""What the hardware allows a training step, measured side by side: the compute-bound limit in images/s (the best
fp32 FLOP rate the device's libraries reach, a matrix multiply's or a channels-last convolution's, over the network's
FLOPs per image), and the bare training step on tensors already in memory in each memory format (eager, and
compiled when asked), then channels-last again with glibc's thresholds raised as a reportgen run raises them.

Used by benchmarks/throughput.py, which prints these next to the classic script's rate and reportgen's own.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from reportgen.run import allocator


def sync(device: torch.device) -> None:
    """Wait for the device to finish what it was given (timings on a GPU end there)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_flops_per_s(device: torch.device, size: int = 2048, seconds: float = 1.5) -> float:
    """The fp32 matrix-multiply rate (FLOP/s) of the device: square products repeated for about `seconds`."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    sync(device)
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        sync(device)
        done += 1
    return done * 2 * size ** 3 / (time.perf_counter() - t0)


def conv_flops_per_s(device: torch.device, seconds: float = 1.5) -> float:
    """The fp32 rate (FLOP/s) of a 64-channel 3×3 convolution over 64 images of 32 px in channels-last, as counted by
    PyTorch's FLOP counter (oneDNN's convolutions can outrun its matrix multiply on a CPU)."""
    conv = nn.Conv2d(64, 64, 3, padding=1).to(device).to(memory_format=torch.channels_last)
    x = torch.randn(64, 64, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        conv(x)
    flops = counter.get_total_flops()
    with torch.no_grad():
        conv(x)
        sync(device)
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            conv(x)
            sync(device)
            done += 1
    return done * flops / (time.perf_counter() - t0)


def train_flops_per_image(make_model, shape: tuple[int, int, int]) -> float:
    """FLOPs of one image's forward and backward pass, counted by PyTorch's FLOP counter on a batch of 8."""
    model = make_model().train()
    x = torch.randn(8, *shape)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return counter.get_total_flops() / 8


def step_rate(make_model, x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool,
              compiled: bool = False, steps: int = 20) -> tuple[float, float]:
    """Images/s of a bare SGD training step on one batch already in memory, and the seconds spent compiling (0
    when eager); the first steps (and the compilation) are not timed."""
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = make_model().to(device).to(memory_format=fmt).train()
    x, y = x.to(device).contiguous(memory_format=fmt), y.to(device)
    forward = torch.compile(model) if compiled else model
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(forward(x), y).backward()
        opt.step()

    t0 = time.perf_counter()
    step()
    sync(device)
    warm = time.perf_counter() - t0
    for _ in range(2):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * len(y) / (time.perf_counter() - t0), warm if compiled else 0.0


def limits(make_model, shape: tuple[int, int, int], device: torch.device, batch: int, compiled: bool,
           steps: int, rounds: int = 3) -> dict:
    """The limit and the bare steps of one network, printed and returned (images/s, and each as a share of the
    limit)."""
    flops = train_flops_per_image(make_model, shape)
    matmul, conv = matmul_flops_per_s(device), conv_flops_per_s(device)
    rate = max(matmul, conv)
    x, y = torch.randn(batch, *shape), torch.randint(0, 10, (batch,))
    out = {"train_flops_per_image": flops, "matmul_flops_per_s": matmul, "conv_flops_per_s": conv,
           "peak_flops_per_s": rate, "limit_images_per_s": rate / flops}
    print(f"  limit: {rate / 1e9:,.0f} GFLOP/s fp32 (matrix multiply {matmul / 1e9:,.0f}, channels-last convolution "
          f"{conv / 1e9:,.0f}) / {flops / 1e6:,.1f} MFLOP per image (forward + backward) = {rate / flops:,.0f} images/s",
          flush=True)
    variants = [("NCHW", False, False), ("channels-last", True, False)] + ([("channels-last, compiled", True, True)]
                                                                          if compiled else [])
    seen: dict[str, list] = {name: [] for name, _, _ in variants}
    for _ in range(rounds):  # alternated, so that the machine's load touches each alike
        for name, cl, comp in variants:
            seen[name].append(step_rate(make_model, x, y, device, cl, comp, steps))
    for name, _, comp in variants:
        images = statistics.median(r[0] for r in seen[name])
        key = name.replace(", ", "_").replace("-", "_")
        out[f"step_{key}_images_per_s"] = images
        extra = f"; {max(r[1] for r in seen[name]):.0f} s to compile" if comp else ""
        print(f"  bare step, {name:<24} {images:>8,.0f} images/s  ({images / out['limit_images_per_s']:.2f} of the "
              f"limit, median of {rounds}{extra})", flush=True)
        if comp:
            out["compile_seconds"] = max(r[1] for r in seen[name])
    return out


def kept_step(make_model, shape: tuple[int, int, int], device: torch.device, batch: int, steps: int, rounds: int,
              out: dict) -> None:
    """The bare channels-last step with the memory a step frees kept (reportgen.run.allocator), added to `out` and
    printed. For the rest of the process: glibc's own adaptive thresholds cannot be put back, so everything timed
    with glibc's defaults (the steps above, the classic script) goes first."""
    kept = allocator.keep_freed_memory()
    x, y = torch.randn(batch, *shape), torch.randint(0, 10, (batch,))
    images = statistics.median(step_rate(make_model, x, y, device, True, False, steps)[0] for _ in range(rounds))
    out["memory_kept"] = kept
    out["step_channels_last_memory_kept_images_per_s"] = images
    print(f"  bare step, {'channels-last, memory kept' if kept else 'channels-last (glibc not tuned here)':<24} "
          f"{images:>8,.0f} images/s  ({images / out['limit_images_per_s']:.2f} of the limit, median of {rounds})",
          flush=True)


def ratios(row: dict, limit: dict) -> str:
    """reportgen's rate against the bare channels-last step (with memory kept, as a run, and glibc's defaults), the
    classic script and the limit, on one line."""
    fast = row["reportgen_images_per_s"]
    return (f"  reportgen / bare channels-last step {fast / limit['step_channels_last_memory_kept_images_per_s']:.2f} "
            f"with memory kept ({fast / limit['step_channels_last_images_per_s']:.2f} of the step with glibc's "
            f"defaults), / classic {fast / row['classic_images_per_s']:.2f}, / limit "
            f"{fast / limit['limit_images_per_s']:.2f}")
