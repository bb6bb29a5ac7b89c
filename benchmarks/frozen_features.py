"""Frozen features computed once: a head-only ResNet-18 fine-tune at 224 px, per epoch, with and without the cache.

    python benchmarks/frozen_features.py              # 2,048 training images, 3 epochs
    python benchmarks/frozen_features.py --quick      # 128 training images, 2 epochs: seconds to a minute on a CPU

Both fits train the same network (torchvision resnet18, random weights: speed does not depend on the values,
`freeze: backbone`, a new 10-class head) with the same batches, seeds and optimizer on CIFAR-shaped synthetic images
(32 px, resized to 224 on the device as reportgen does), one after the other in one process on one device. Prints
each epoch's time (training and validation, as a run's record has it), the time the cached run spent computing
its features (before its first epoch), and the ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reportgen.data.load import DatasetSplits  # noqa: E402
from reportgen.manifest.schema import ModelSpec, TrainSpec  # noqa: E402
from reportgen.models.pretrained import IMAGENET_MEAN, IMAGENET_STD, build_network  # noqa: E402
from reportgen.run.features import frozen_features  # noqa: E402
from reportgen.run.input_pipeline import InputPipeline, resolve_compute  # noqa: E402
from reportgen.run.train import Trained, fit, pick_device, train_state  # noqa: E402


def synthetic(n_train: int, n_eval: int, seed: int = 0) -> DatasetSplits:
    """CIFAR-shaped uint8 images (a pattern per class plus noise) in 10 classes."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randint(30, 226, (10, 3, 32, 32), generator=g)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=g)
        return (patterns[y] + 40 * torch.randn(n, 3, 32, 32, generator=g)).clamp(0, 255).to(torch.uint8), y

    (tx, ty), (vx, vy), (sx, sy) = split(n_train), split(n_eval), split(n_eval)
    return DatasetSplits("synthetic", [str(c) for c in range(10)], tx, ty, vx, vy, sx, sy, IMAGENET_MEAN,
                         IMAGENET_STD, True, {"kind": "synthetic"})


def one_fit(splits: DatasetSplits, spec: TrainSpec, size: int) -> dict:
    """Train the head-only ResNet-18 as a run would; returns its epoch times and the features' time (None: uncached)."""
    device = pick_device(spec.device)
    compute = resolve_compute(spec, device)
    torch.manual_seed(spec.seed)
    model, _ = build_network(ModelSpec(torchvision="resnet18", weights="none", freeze="backbone"), 10)
    pipe = InputPipeline(IMAGENET_MEAN, IMAGENET_STD, device, size, 3, None, compute.channels_last)
    with compute.numerics():
        run = train_state(model, splits, spec, compute, pipe)
        done = Trained.fresh(run)
        t0 = time.perf_counter()
        cached = frozen_features(run, pipe.hold(splits.test_x, splits.test_y), lambda line: print(line, flush=True))
        features = time.perf_counter() - t0 if cached.run is not None else None
        done = fit(cached.run or run, done, lambda row: print(f"    epoch {row['epoch']}: {row['seconds']:.2f} s "
                                                                f"(train loss {row['train_loss']:.4f})", flush=True))
    return {"choice": cached.choice, "features": features, "epochs": [row["seconds"] for row in done.epochs],
            "losses": [row["train_loss"] for row in done.epochs]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 training images, 2 epochs")
    parser.add_argument("--images", type=int, help="training images (default 2,048; --quick 128)")
    parser.add_argument("--epochs", type=int, help="epochs (default 3; --quick 2)")
    parser.add_argument("--size", type=int, default=224, help="the network's input size (default 224)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    n = args.images or (128 if args.quick else 2048)
    epochs = args.epochs or (2 if args.quick else 3)
    splits = synthetic(n, max(n // 8, 16))
    base = {"epochs": epochs, "batch_size": 64, "seed": 0, "device": args.device,
            "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9}}
    print(f"head-only ResNet-18 at {args.size} px: {n} training, {len(splits.val_x)} validation images, {epochs} epochs, "
          f"{torch.get_num_threads()} threads", flush=True)
    results = {}
    for name, cache in (("uncached", False), ("cached", "auto")):
        print(f"  {name}:", flush=True)
        results[name] = one_fit(splits, TrainSpec.model_validate({**base, "cache_features": cache}), args.size)
    report(results)


def report(results: dict) -> None:
    """The side-by-side table and the ratios."""
    whole, cached = results["uncached"], results["cached"]
    first = cached["epochs"][0] + (cached["features"] or 0.0)
    later = lambda r: sum(r["epochs"][1:]) / max(len(r["epochs"]) - 1, 1)  # noqa: E731
    print(f"\n  the cached run's choice: {cached['choice']}")
    print(f"  {'':28} {'uncached':>10} {'cached':>10} {'ratio':>8}")
    print(f"  {'first epoch (with features)':28} {whole['epochs'][0]:>9.2f}s {first:>9.2f}s "
          f"{whole['epochs'][0] / first:>7.1f}×")
    print(f"  {'later epochs (mean)':28} {later(whole):>9.2f}s {later(cached):>9.3f}s "
          f"{later(whole) / later(cached):>7.0f}×")
    gap = max(abs(a - b) for a, b in zip(whole["losses"], cached["losses"]))
    print(f"  largest difference of an epoch's training loss: {gap:.2e}")


if __name__ == "__main__":
    main()
