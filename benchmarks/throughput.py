"""Training throughput: the classic DataLoader pipeline against reportgen's device-resident one, and a manifest's wall time.

    python benchmarks/throughput.py                      # full size, on the GPU if there is one
    python benchmarks/throughput.py --quick              # a reduced size on the CPU, in seconds (what CI runs)
    python benchmarks/throughput.py --manifest experiments/en3150.yaml --synthetic-cifar
                                                         # also every run of a manifest, on CIFAR-shaped synthetic data
    python benchmarks/throughput.py --skip-resnet --manifest experiments/en3150.yaml --synthetic-cifar \
        --random-weights --timed-epochs 1                # one timed epoch per run instead, and the manifest's
                                                         # predicted wall time (epochs × epoch time + the rest)

Both pipelines train the same network with the same batch size, optimizer and augmentation (random crop with 4 px
reflect padding, horizontal flip), in one process on one device:
  classic   — torchvision's CIFAR10 dataset, a DataLoader with one worker per core, per-image RandomCrop,
              RandomHorizontalFlip, (Resize,) ToTensor and Normalize, fp32;
  reportgen — uint8 images held on the device, batches gathered by permuted indices and augmented, resized and
              normalised there, in the precision and memory format reportgen picks for the device.
The data is synthetic (CIFAR-10's format and shapes; speed does not depend on the pixels). Prints images/s and ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision import transforms as T

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from cpu_limits import kept_step, limits, ratios, sync  # noqa: E402
from reportgen.manifest.schema import AugmentSpec, TrainSpec  # noqa: E402
from reportgen.run import allocator  # noqa: E402
from reportgen.run.input_pipeline import InputPipeline, resolve_compute  # noqa: E402
from reportgen.run.train import TrainState, make_optimizer, pick_device, train_epoch  # noqa: E402

MEAN, STD = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar(folder: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """A CIFAR-10 python-format folder of learnable synthetic images (a pattern per class plus noise)."""
    rng = np.random.default_rng(seed)
    patterns = rng.integers(30, 226, size=(10, 3072))
    out = folder / "cifar-10-batches-py"
    out.mkdir(parents=True, exist_ok=True)

    def batch(n: int) -> dict:
        y = rng.integers(0, 10, size=n)
        x = np.clip(patterns[y] + rng.normal(0, 40, size=(n, 3072)), 0, 255).astype(np.uint8)
        return {"batch_label": "synthetic", "data": x, "labels": [int(v) for v in y], "filenames": ["x.png"] * n}

    per = -(-n_train // 5)
    for i in range(1, 6):
        (out / f"data_batch_{i}").write_bytes(pickle.dumps(batch(min(per, n_train - per * (i - 1))), protocol=4))
    (out / "test_batch").write_bytes(pickle.dumps(batch(n_test), protocol=4))
    (out / "batches.meta").write_bytes(pickle.dumps({"label_names": CLASSES, "num_vis": 3072}, protocol=4))
    return out


class SyntheticCIFAR10(torchvision.datasets.CIFAR10):
    """torchvision's CIFAR10 dataset, minus the MD5 check of the original files (these are synthetic)."""

    def _check_integrity(self) -> bool:
        return True

    def _load_meta(self) -> None:
        meta = pickle.loads((Path(self.root) / self.base_folder / self.meta["filename"]).read_bytes())
        self.classes = meta[self.meta["key"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


def en3150_cnn(loaded=None) -> nn.Module:
    """The EN3150 report's CNN, built by reportgen from experiments/en3150.yaml (or from `loaded`, that manifest
    already loaded)."""
    from reportgen.build import Pipeline
    from reportgen.models.build import build_manifest_model

    loaded = loaded or Pipeline.open(REPO / "experiments" / "en3150.yaml").loaded
    return build_manifest_model(loaded, "en3150_cnn", loaded.manifest.dataset)


def resnet18() -> nn.Module:
    """ResNet-18 with a 10-way head, every layer trained (the cost of fine-tuning from ImageNet weights)."""
    return torchvision.models.resnet18(num_classes=10)


def classic_rate(make_model, root: Path, device: torch.device, batch: int, epochs: int, workers: int,
                 size: int | None) -> float:
    """Images/s of the classic pipeline (after one untimed epoch that starts the workers and warms the device)."""
    steps = [T.RandomCrop(32, padding=4, padding_mode="reflect"), T.RandomHorizontalFlip()]
    steps += [T.Resize(size, antialias=True)] if size else []
    steps += [T.ToTensor(), T.Normalize(MEAN, STD)]
    data = SyntheticCIFAR10(str(root), train=True, transform=T.Compose(steps))
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, num_workers=workers,
                                         pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                                         generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = make_model().to(device)
    opt = make_optimizer(model.parameters(), TrainSpec().optimizer)
    loss_fn = nn.CrossEntropyLoss()

    def epoch() -> int:
        model.train()
        seen = 0
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss.item()  # what a logging training loop reads every batch
            seen += len(y)
        return seen

    epoch()
    sync(device)
    t0, seen = time.perf_counter(), sum(epoch() for _ in range(epochs))
    sync(device)
    return seen / (time.perf_counter() - t0)


def reportgen_rate(make_model, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch: int, epochs: int,
                   size: int | None) -> tuple[float, str]:
    """Images/s of reportgen's pipeline (after one untimed epoch) and the precision it used, with glibc's thresholds
    raised as a run raises them (train_state) where it trains on the CPU."""
    if device.type == "cpu":
        allocator.keep_freed_memory()
    spec = TrainSpec(batch_size=batch)
    compute = resolve_compute(spec, device)
    pipe = InputPipeline(MEAN, STD, device, size=size, augment=AugmentSpec(crop=4, flip=True),
                         channels_last=compute.channels_last)
    torch.manual_seed(0)
    model = make_model()
    forward = compute.prepare(model)
    run = TrainState(model, make_optimizer(model.parameters(), spec.optimizer), nn.CrossEntropyLoss(), pipe,
                     pipe.hold(x, y), spec, compute, forward, generator=torch.Generator().manual_seed(0))
    with compute.numerics():
        train_epoch(run)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(epochs):
            train_epoch(run)
        sync(device)
    return run.train.n * epochs / (time.perf_counter() - t0), compute.precision


def compare(cases: list[tuple], device, epochs: int, workers: int, kept_first=None) -> list[dict]:
    """Both pipelines on each network (name, make_model, folder, x, y, batch, size): every classic script first, with
    glibc's defaults, then `kept_first()` (the bare step with memory kept), then reportgen on each; prints and
    returns the rows."""
    classic = [classic_rate(make, root, device, batch, epochs, workers, size) for _, make, root, _, _, batch, size
               in cases]
    if kept_first is not None:
        kept_first()
    rows = []
    for (name, make, _, x, y, batch, size), slow in zip(cases, classic):
        fast, precision = reportgen_rate(make, x, y, device, batch, epochs, size)
        rows.append({"network": name, "images": len(y), "batch": batch, "input": size or 32,
                     "classic_images_per_s": slow, "reportgen_images_per_s": fast, "reportgen_precision": precision,
                     "ratio": fast / slow})
        print(f"{name:<28} {size or 32:>4} px  batch {batch:<4} classic {slow:>10,.0f} images/s   "
              f"reportgen ({precision}) {fast:>10,.0f} images/s   ratio {fast / slow:5.2f}×", flush=True)
    return rows


def whole_manifest(path: Path, overrides: list[str], smoke: bool) -> dict:
    """Every run of a manifest (forced, nothing from the cache) and its rendering: wall time per run and in total."""
    from reportgen import build
    with tempfile.TemporaryDirectory() as tmp:
        pipe = build.Pipeline.open(path, overrides, Path(tmp), smoke)
        outcome = pipe.outcome
        t0 = time.perf_counter()
        results = pipe.run(lambda *_: None, force=True)
        t_runs = time.perf_counter() - t0
        pipe.render(results, with_pdf=True)
        total = time.perf_counter() - t0
    runs = {rid: r.train_seconds for rid, r in results.runs.items()}
    for rid, seconds in runs.items():
        print(f"  {rid:<40} {seconds:8.1f} s" if seconds is not None else f"  {rid:<40} failed")
    print(f"{path.name}: {len(runs)} runs in {t_runs:.1f} s; HTML {outcome.timings['html']:.1f} s, "
          f"PDF {outcome.timings['pdf']:.1f} s; {total:.1f} s in all", flush=True)
    return {"manifest": str(path), "smoke": smoke, "runs": runs, "runs_seconds": t_runs, "total_seconds": total,
            "html_seconds": outcome.timings["html"], "pdf_seconds": outcome.timings["pdf"]}


def random_weights(path: Path) -> list[str]:
    """`--set` overrides that give the manifest's pretrained networks random weights (`weights: none`): fine-tuning
    from ImageNet weights costs the same arithmetic, and where nothing can be downloaded the files are missing."""
    import yaml

    data = yaml.safe_load(Path(path).read_text("utf-8")) or {}
    sets = [f"models.{name}.weights=none" for name, spec in (data.get("models") or {}).items()
            if isinstance(spec, dict) and spec.get("weights") == "imagenet"]
    return sets + [f"experiments.{e['id']}.weights=none" for e in data.get("experiments") or []
                   if isinstance(e, dict) and e.get("weights") == "imagenet" and "id" in e]


def _runner():
    """reportgen's run planning and execution (plan_runs and Datasets live in reportgen.run.plan or, before it,
    in reportgen.run.execute)."""
    try:
        from reportgen.run.plan import Datasets, plan_runs
    except ImportError:
        from reportgen.run.execute import Datasets, plan_runs
    from reportgen.run.execute import execute
    return Datasets, plan_runs, execute


def load_runs(loaded, smoke: bool = False) -> tuple[object, list, float]:
    """(datasets, run plans in execution order, seconds to load the datasets and plan the runs, as a build does
    before its first run) of a loaded manifest; nothing is read from or written to a cache."""
    Datasets, plan_runs, _ = _runner()
    datasets = Datasets(loaded, smoke)
    t0 = time.perf_counter()
    for run in loaded.runs:  # each distinct dataset once (Datasets keeps them)
        datasets.get(run.dataset)
    plans = plan_runs(loaded, datasets, smoke)
    return datasets, plans, time.perf_counter() - t0


def timed_epochs_of(plan, timed_epochs=None) -> int:
    """Epochs to time of a run: `timed_epochs` (a number, or a function of the plan), or by default 2 for networks
    at their dataset's own size (short epochs: the second shows the steady speed without the first one's warm-up)
    and 1 for resized networks (224 px: long epochs, in which the warm-up is a smaller share). Never more than the
    run trains."""
    if callable(timed_epochs):
        timed_epochs = timed_epochs(plan)
    k = timed_epochs or (1 if plan.input_size else 2)
    return max(1, min(k, plan.run.train.epochs))


def time_run(loaded, plan, datasets, smoke: bool = False, timed_epochs=None, progress=None,
             parent: tuple[dict, dict] | None = None) -> tuple[dict, dict, dict | None]:
    """Run one planned run for a few epochs (built, trained, tested and measured as a build does) and predict its
    wall time at its full epoch count: the time outside the epochs (building, testing, measuring) + the first
    epoch + (epochs - 1) × the later epochs' mean (the first epoch's when only one was timed).

    Returns (row, the run's record, its final state dict); the row's predicted_s is None when the run failed."""
    _, _, execute = _runner()
    epochs = plan.run.train.epochs
    k = timed_epochs_of(plan, timed_epochs)
    short = dataclasses.replace(plan, spec=plan.spec.model_copy(update={"epochs": k}), smoke=smoke)
    splits = datasets.get(plan.run.dataset)
    t0 = time.perf_counter()
    if parent is not None:
        from reportgen.results.run_record import RunRecord

        parent = (RunRecord.model_validate(parent[0]), parent[1])
    typed, state = execute(loaded, short, splits, progress or (lambda *_, **__: None), None, parent)
    record = typed.model_dump(mode="json", by_alias=True)
    wall = time.perf_counter() - t0
    secs = [e["seconds"] for e in record.get("epochs") or []]
    row = {"id": plan.id, "model": plan.model, "input": plan.input_size or int(splits.train_x.shape[-1]),
           "batch": plan.spec.batch_size, "epochs": epochs, "timed_epochs": len(secs),
           "train_images": int(len(splits.train_y)), "status": record.get("status"), "error": record.get("error"),
           "device": record.get("device"), "precision": (record.get("compute") or {}).get("precision"),
           "wall_s": wall, "first_epoch_s": None, "epoch_s": None, "images_per_s": None, "other_s": None,
           "predicted_s": None}
    if secs and record.get("status") != "failed":
        steady = sum(secs[1:]) / len(secs[1:]) if len(secs) > 1 else secs[0]
        other = max(wall - sum(secs), 0.0)
        row |= {"first_epoch_s": secs[0], "epoch_s": steady, "images_per_s": record["epochs"][-1].get("images_per_s"),
                "other_s": other, "predicted_s": other + secs[0] + (epochs - 1) * steady}
    return row, record, state


def time_runs(loaded, datasets, plans: list, smoke: bool = False, timed_epochs=None, progress=None,
              guard=None):
    """time_run for every plan in order (a child gets its parent's record and final weights); yields (plan, row).

    `guard(plan, fn)` calls fn() and returns its value, or None when it did not run or failed (e.g. to keep to a
    time budget and to go on after a failure); the row is then None."""
    guard = guard or (lambda plan, fn: fn())
    parents = {p.parent for p in plans if p.parent}
    done: dict[str, tuple[dict, dict]] = {}
    for plan in plans:
        parent = done.get(plan.parent) if plan.parent else None
        out = guard(plan, functools.partial(time_run, loaded, plan, datasets, smoke, timed_epochs, progress, parent))
        if out is None:
            yield plan, None
            continue
        row, record, state = out
        if plan.id in parents and state is not None:
            done[plan.id] = (record, state)
        yield plan, row


def predict_manifest(path: Path, overrides: list[str], smoke: bool, timed_epochs: int | None) -> dict:
    """A few timed epochs of every run of a manifest, and the manifest's predicted wall time (datasets, then each
    run at its full epoch count; rendering not included)."""
    from reportgen import build
    loaded = build.Pipeline.open(path, overrides).loaded
    datasets, plans, load_seconds = load_runs(loaded, smoke)
    rows = []
    for _, row in time_runs(loaded, datasets, plans, smoke, timed_epochs):
        rows.append(row)
        if row["predicted_s"] is None:
            print(f"  {row['id']:<40} {row['status']}: {row['error']}", flush=True)
        else:
            print(f"  {row['id']:<40} {row['first_epoch_s']:7.2f} s + {row['epochs'] - 1:>3} × {row['epoch_s']:7.2f} s"
                  f" + {row['other_s']:5.1f} s → {row['predicted_s']:8.1f} s", flush=True)
    measured = [r["predicted_s"] for r in rows if r["predicted_s"] is not None]
    total = load_seconds + sum(measured)
    print(f"{path.name}: datasets and planning {load_seconds:.1f} s; {len(measured)} of {len(rows)} runs predicted; "
          f"{total:.1f} s predicted in all (rendering not included)", flush=True)
    return {"manifest": str(path), "smoke": smoke, "timed_epochs": timed_epochs, "dataset_seconds": load_seconds,
            "runs": {r["id"]: r for r in rows}, "predicted_seconds": total, "complete": len(measured) == len(rows)}


def device_name(device: torch.device) -> str:
    """A readable name of the device the figures come from."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def main(argv: list[str] | None = None) -> dict:
    """Parse the options, run the comparisons, print and return the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--quick", action="store_true", help="reduced sizes, CPU: for CI and a first look")
    ap.add_argument("--images", type=int, help="training images for the custom CNN (default 50,000; quick 128)")
    ap.add_argument("--epochs", type=int, help="timed epochs (default 2; quick 1)")
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="DataLoader workers (default: one per core)")
    ap.add_argument("--manifest", type=Path, help="also time every run of this manifest end to end")
    ap.add_argument("--smoke", action="store_true", help="time the manifest as a smoke build")
    ap.add_argument("--synthetic-cifar", action="store_true",
                    help="point the manifest's dataset at a synthetic, full-size CIFAR-10 folder")
    ap.add_argument("--random-weights", action="store_true",
                    help="give the manifest's pretrained networks random weights (weights: none; nothing downloaded)")
    ap.add_argument("--timed-epochs", type=int, metavar="N",
                    help="with --manifest: time N epochs of each run (0: 2 for networks at the dataset's size, 1 for "
                         "resized ones) and predict the manifest's wall time, instead of running it whole")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="manifest override KEY=VALUE")
    ap.add_argument("--resnet-images", type=int, help="training images for ResNet-18 (default 10,000; quick 16)")
    ap.add_argument("--skip-resnet", action="store_true", help="leave out the 224-px ResNet-18 comparison")
    ap.add_argument("--batch", type=int, default=64, help="batch size of the EN3150 CNN (its manifest's: 64)")
    ap.add_argument("--compile", action="store_true",
                    help="also time the bare step compiled with torch.compile (about 30 s to compile on a CPU)")
    ap.add_argument("--all", action="store_true",
                    help="then, in this process: the frozen-feature speed-up, the estimate's error per run (digits) "
                         "and the PDF stage of the committed fixture's report")
    ap.add_argument("--json", type=Path, help="write the figures to this file")
    args = ap.parse_args(argv)
    device = torch.device("cpu") if args.quick else pick_device(args.device)
    images = args.images or (128 if args.quick else 50_000)
    epochs = args.epochs or (1 if args.quick else 2)
    report = {"device": device_name(device), "torch": torch.__version__, "workers": args.workers, "comparisons": []}
    print(f"device: {report['device']}; torch {torch.__version__}; DataLoader workers {args.workers}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_cifar(Path(tmp), images, max(images // 5, 10)).parent
        data = SyntheticCIFAR10(str(folder), train=True)
        x = torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous()
        y = torch.tensor(data.targets)
        print("EN3150 CNN, what the hardware allows:", flush=True)
        report["limits"] = limits(en3150_cnn, (3, 32, 32), device, args.batch, args.compile,
                                  5 if args.quick else 60, 1 if args.quick else 3)
        cases = [("EN3150 CNN", en3150_cnn, folder, x, y, args.batch, None)]
        if not args.skip_resnet:
            n = args.resnet_images or (16 if args.quick else min(images, 10_000))
            small = Path(tmp) / "small"
            write_cifar(small, n, 10, seed=1)
            sub = SyntheticCIFAR10(str(small), train=True)
            xs = torch.from_numpy(sub.data).permute(0, 3, 1, 2).contiguous()
            cases.append(("ResNet-18 fine-tune", resnet18, small, xs, torch.tensor(sub.targets),
                          16 if args.quick else 128, 48 if args.quick else 224))
        kept = functools.partial(kept_step, en3150_cnn, (3, 32, 32), device, args.batch, 5 if args.quick else 60,
                                 1 if args.quick else 3, report["limits"]) if device.type == "cpu" else None
        report["comparisons"] = compare(cases, device, epochs, args.workers, kept)
        if device.type != "cpu":  # no allocator to tune: the same step
            report["limits"]["step_channels_last_memory_kept_images_per_s"] = report["limits"][
                "step_channels_last_images_per_s"]
        print(ratios(report["comparisons"][0], report["limits"]), flush=True)
        if args.manifest:
            overrides = list(args.overrides)
            if args.synthetic_cifar:
                full = write_cifar(Path(tmp) / "cifar", 50_000, 10_000, seed=2).parent
                overrides.append(f"dataset.root={full}")
            if args.random_weights:
                overrides += random_weights(args.manifest)
            if args.timed_epochs is None:
                report["manifest"] = whole_manifest(args.manifest, overrides, args.smoke)
            else:
                report["manifest"] = predict_manifest(args.manifest, overrides, args.smoke, args.timed_epochs or None)
    if args.all:
        report.update(the_rest(args.quick))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", "utf-8")
    return report


def the_rest(quick: bool) -> dict:
    """--all: the other benchmarks of issue 26 in this process, one after the other (imported here: estimate.py
    imports this module)."""
    import estimate
    import frozen_features
    import pdf_speed

    print("\nFrozen features (benchmarks/frozen_features.py):", flush=True)
    frozen_features.main(["--quick"] if quick else ["--images", "512"])
    print("\nThe estimate before training (benchmarks/estimate.py --only digits):", flush=True)
    rows = estimate.main(["--only", "digits"])
    print("\nThe PDF stage (benchmarks/pdf_speed.py):", flush=True)
    return {"estimate": rows, "pdf": pdf_speed.main(["--rounds", "1" if quick else "3"])}


if __name__ == "__main__":
    main()
