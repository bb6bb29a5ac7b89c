"""Measured cost of a trained model: parameters, size on disk, FLOPs per image, latency and throughput."""

from __future__ import annotations

import contextlib
import statistics
import time

import torch
from torch import nn

from reportgen.manifest.schema import MeasureSpec
from reportgen.run.input_pipeline import Compute


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def flops_per_image(model: nn.Module, input_shape: tuple[int, ...], device: torch.device) -> int:
    """Forward FLOPs of one image, counted by torch.utils.flop_counter (a multiply-add counts as 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, *input_shape, device=device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return int(counter.get_total_flops())


def _timed(model: nn.Module, x: torch.Tensor, device: torch.device, compute: Compute | None) -> float:
    _sync(device)
    t0 = time.perf_counter()
    with compute.autocast() if compute is not None else contextlib.nullcontext():
        model(x)
    _sync(device)
    return time.perf_counter() - t0


def _inputs(n: int, input_shape: tuple[int, ...], device: torch.device, compute: Compute | None) -> torch.Tensor:
    x = torch.randn(n, *input_shape, device=device)
    return x.contiguous(memory_format=torch.channels_last) if compute is not None and compute.channels_last else x


def measure(model: nn.Module, input_shape: tuple[int, ...], device: torch.device, spec: MeasureSpec,
            size_bytes: int, compute: Compute | None = None, forward: nn.Module | None = None) -> dict:
    """Every measured column of the trade-off table for one model, on the device it was trained on, timed in the
    run's precision and memory format (and compiled, when the run was): the model's forward pass in eval mode on
    preprocessed inputs, the median of the repeats after warm-up (the report says so in words)."""
    modes = {m: m.training for m in model.modules()}
    net = forward or model
    model.eval()
    try:
        with torch.no_grad():
            one = _inputs(1, input_shape, device, compute)
            for _ in range(spec.warmup):
                _timed(net, one, device, compute)
            latencies = [_timed(net, one, device, compute) for _ in range(spec.latency_repeats)]
            batch = _inputs(spec.throughput_batch, input_shape, device, compute)
            _timed(net, batch, device, compute)  # warm-up at the large batch size (allocator, kernel selection)
            batch_times = [_timed(net, batch, device, compute) for _ in range(spec.throughput_repeats)]
        flops = flops_per_image(model, input_shape, device)
    finally:
        for m, training in modes.items():
            m.training = training
    total = int(sum(p.numel() for p in model.parameters()))
    return {
        "params": total,
        "trainable_params": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "size_mb": size_bytes / 1e6,
        "flops": flops,
        "macs": flops // 2,
        "latency_ms": statistics.median(latencies) * 1e3,
        "latency_repeats": spec.latency_repeats,
        "throughput": spec.throughput_batch / statistics.median(batch_times),
        "throughput_batch": spec.throughput_batch,
        "input_shape": list(input_shape),
        "device": device.type,
        "precision": compute.precision if compute is not None else "fp32",
    }
