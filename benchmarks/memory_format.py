"""Channels-last against NCHW on this machine: a bare training step of every network of the given manifests.

    python benchmarks/memory_format.py experiments/digits.yaml experiments/en3150.yaml experiments/cnn-lab.yaml \
        experiments/fashion-mnist.yaml experiments/fast-response.yaml

Each distinct (model, batch size) is built as reportgen builds it (networks with random weights), and an SGD step on
one batch of random images already in memory is timed in each format: two warm-up steps, then 6 timed, median of 3
rounds, the formats alternated. Inputs above 64 px are cut to 64 px to keep it short. Prints images/s and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reportgen.manifest.loaded import load_manifest  # noqa: E402
from reportgen.models.build import build_manifest_model, input_shape_of  # noqa: E402


def step_seconds(model: nn.Module, shape: tuple, batch: int, channels_last: bool, steps: int = 6) -> float:
    """Seconds of one SGD step on a batch in memory, in the given format."""
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.randn(batch, *shape).contiguous(memory_format=fmt)
    y = torch.randint(0, 2, (batch,))
    opt, loss_fn = torch.optim.SGD(model.parameters(), lr=0.01), nn.CrossEntropyLoss()

    def one() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(2):
        one()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return (time.perf_counter() - t0) / steps


def networks(path: Path):
    """(name, model, input shape, batch) of each distinct model and batch size of a manifest."""
    loaded, seen = load_manifest(path), set()
    for run in loaded.runs:
        if (run.model, run.train.batch_size) in seen:
            continue
        seen.add((run.model, run.train.batch_size))
        try:
            if run.network is None:
                model = build_manifest_model(loaded, run.model, run.dataset)
            else:
                from reportgen.models.pretrained import build_network

                model, _ = build_network(run.network.model_copy(update={"weights": "none"}), run.dataset.num_classes())
        except Exception as exc:  # noqa: BLE001 - a network this machine cannot build is reported, not fatal
            print(f"{path.name:<18} {run.model:<28} not built: {type(exc).__name__}: {str(exc)[:60]}")
            continue
        c, h, w = input_shape_of(run.dataset, run.network)
        yield run.model, model.train(), (c, min(h, 64), min(w, 64)), run.train.batch_size


def main(argv: list[str] | None = None) -> list[dict]:
    """Time every network of the manifests in both formats; print and return the rows."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifests", nargs="+", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    rows = []
    for path in args.manifests:
        for name, model, shape, batch in networks(path):
            times = {False: [], True: []}
            for _ in range(args.rounds):
                for cl in (False, True):
                    times[cl].append(step_seconds(model, shape, batch, cl))
            nchw, cl = statistics.median(times[False]), statistics.median(times[True])
            rows.append({"manifest": path.name, "model": name, "shape": shape, "batch": batch,
                         "nchw_images_per_s": batch / nchw, "channels_last_images_per_s": batch / cl})
            print(f"{path.name:<18} {name:<28} {str(shape):<13} batch {batch:<4} NCHW {batch / nchw:>8,.0f} images/s"
                  f"  channels-last {batch / cl:>8,.0f} images/s  ratio {nchw / cl:5.2f}", flush=True)
    faster = sum(r["channels_last_images_per_s"] > r["nchw_images_per_s"] for r in rows)
    print(f"channels-last faster for {faster} of {len(rows)} networks")
    return rows


if __name__ == "__main__":
    main()
