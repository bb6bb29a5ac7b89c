"""GPU check: the figures the README's Performance section asks for, measured in one prepared run on one GPU.

    benchmarks/gpu_check.sh                  # on the GPU machine (installs the wheels, then runs this)
    python benchmarks/gpu_check.py --quick   # dry run: tiny sizes on the CPU, in seconds

It measures, within its own time budget (--budget; items that no longer fit are skipped, and the table says so):
  1. the classic torchvision DataLoader pipeline against reportgen's device pipeline for the EN3150 CNN at full
     CIFAR-10 size (50,000 synthetic CIFAR-shaped training images; benchmarks/throughput.py's comparison);
  2. the first epochs of every run of experiments/en3150.yaml on synthetic CIFAR-10 (45,000 / 5,000 / 10,000
     images), built, trained, tested and measured as a build does (benchmarks/throughput.py's time_run); the
     fine-tuned torchvision networks at 224 px with random weights (nothing can be downloaded there); 2 epochs
     each (the second without the first one's warm-up), 1 for a 224-px network when the budget is short;
  3. the whole manifest's predicted wall time: dataset loading + for each run the time outside its epochs
     (building, testing, measuring) + its epochs × the timed epoch time; rendering not included.
It prints the figures as markdown and writes them to OUT/gpu_check.md and OUT/gpu_check.json after every item, so
a run cut short still leaves what it measured.
"""

from __future__ import annotations

import time

_T0 = time.monotonic()  # the budget counts from here, before torch is imported

import argparse  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]
os.environ.setdefault("REPORTGEN_OFFLINE", "1")  # nothing to download from the GPU machine
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

import throughput as tp  # noqa: E402

TARGETS = {"ratio": 5.0, "cnn_run_s": 10.0, "manifest_s": 300.0}  # README: GPU targets, on one H100
RESERVE_S = 8.0  # an item starts only with at least this much budget left
TWO_EPOCHS_S = 110.0  # budget per 224-px run still to come for it to be timed over 2 epochs rather than 1


class OutOfTime(Exception):
    """The budget ran out while an item was being measured."""


class Budget:
    """A deadline in seconds from the script's start; SIGALRM interrupts the item that runs when it passes."""

    def __init__(self, seconds: float):
        self.seconds, self.deadline = seconds, _T0 + seconds
        if hasattr(signal, "setitimer"):
            signal.signal(signal.SIGALRM, self._expire)
            signal.setitimer(signal.ITIMER_REAL, max(self.left(), 0.01))

    def _expire(self, *_):
        raise OutOfTime(f"the {self.seconds:.0f}-s budget ran out")

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def stop(self) -> None:
        if hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, 0)


def _cmd(args: list[str]) -> str | None:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, cwd=REPO)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: torch.device) -> dict:
    """The machine and software the figures come from."""
    import torchvision

    env = {"device": tp.device_name(device), "device_type": device.type, "torch": torch.__version__,
           "torchvision": torchvision.__version__, "python": platform.python_version(),
           "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
           "commit": _cmd(["git", "rev-parse", "--short", "HEAD"])}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env |= {"gpu": props.name, "gpu_memory_gib": props.total_memory / 2**30,
                "driver": _cmd(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])}
    return env


class Check:
    """The figures so far, written as markdown and JSON after every item."""

    def __init__(self, out: Path, args, env: dict, budget: Budget):
        self.out, self.args, self.budget = out, args, budget
        self.data = {"mode": "quick (CPU dry run)" if args.quick else "full", "manifest": str(args.manifest),
                     "budget_s": budget.seconds, "env": env, "items": [], "synthetic": None, "pipeline": None,
                     "dataset": None, "runs": [], "prediction": None, "targets": [], "notes": []}

    def item(self, name: str, status: str, seconds: float | None = None, detail: str | None = None) -> None:
        self.data["items"].append({"item": name, "status": status, "seconds": seconds, "detail": detail})
        print(f"[gpu-check] {name}: {status}" + (f" ({seconds:.1f} s)" if seconds is not None else "")
              + (f": {detail}" if detail else ""), flush=True)

    def run(self, name: str, fn) -> object | None:
        """fn() unless the budget is spent; records done / failed / interrupted / skipped; returns fn's value."""
        if self.budget.left() < (RESERVE_S if not self.args.quick else 0.5):
            self.item(name, "skipped", detail=f"budget spent ({self.budget.seconds:.0f} s)")
            return None
        t0 = time.monotonic()
        try:
            value = fn()
        except OutOfTime as exc:
            self.item(name, "interrupted", time.monotonic() - t0, str(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - one failing item must not cost the others' figures
            traceback.print_exc()
            self.item(name, "failed", time.monotonic() - t0, f"{type(exc).__name__}: {str(exc)[:300]}")
            return None
        self.item(name, "done", time.monotonic() - t0)
        return value

    def write(self) -> str:
        """Write gpu_check.md and gpu_check.json (each atomically); returns the markdown."""
        self.data["elapsed_s"] = time.monotonic() - _T0
        text = markdown(self.data)
        for name, body in (("gpu_check.md", text), ("gpu_check.json", json.dumps(self.data, indent=2) + "\n")):
            tmp = self.out / (name + ".part")
            tmp.write_text(body, "utf-8")
            tmp.replace(self.out / name)
        return text


def _n(v, digits: int = 1, unit: str = "") -> str:
    if v is None:
        return "—"
    return f"{v:,.{digits}f}{unit}"


def _target(value: float | None, limit: float, below: bool, quick: bool) -> str:
    if quick:
        return "target n/a in a dry run"
    if value is None:
        return "target not measured"
    met = value < limit if below else value >= limit
    return f"target {'<' if below else '≥'} {limit:g}{' s' if below else '×'}: {'met' if met else 'NOT met'}"


def markdown(d: dict) -> str:
    """The figures as a markdown document: environment, (1) pipelines, (2) runs, (3) prediction, notes."""
    env, quick = d["env"], d["mode"] != "full"
    gpu = env.get("gpu") or env["device"]
    lines = [f"## reportgen GPU check: {gpu}, torch {env['torch']}", "", "| What | Figure |", "|---|---|",
             f"| Device | {env['device']}" + (f", {env['gpu_memory_gib']:.0f} GiB" if env.get("gpu_memory_gib") else "")
             + (f", driver {env['driver']}" if env.get("driver") else "") + " |",
             f"| torch / torchvision / Python | {env['torch']} (CUDA {env['cuda'] or '—'}, "
             f"cuDNN {env['cudnn'] or '—'}) / {env['torchvision']} / {env['python']} |",
             f"| Host | {env['cpu_cores']} CPU cores, {env['torch_threads']} torch threads |",
             f"| Mode | {d['mode']}; budget {d['budget_s']:.0f} s, {d.get('elapsed_s', 0):.0f} s used |"]
    if env.get("commit"):
        lines.append(f"| Commit | {env['commit']} |")
    if d["synthetic"]:
        s = d["synthetic"]
        lines.append(f"| Synthetic CIFAR-10 | {s['train']:,} training + {s['test']:,} test images, "
                     f"written in {s['seconds']:.1f} s |")
    p = d["pipeline"]
    lines += ["", "### 1. Input pipeline, EN3150 CNN", ""]
    if p:
        lines += [f"{p['images']:,} training images, batch {p['batch']}, {p['epochs']} timed epoch(s) after one "
                  f"untimed; same network, optimizer and augmentation (crop 4 px reflect, flip).", "",
                  "| Pipeline | Precision | images/s |", "|---|---|---:|",
                  f"| classic: torchvision CIFAR10 + DataLoader ({p['workers']} workers), per-image transforms | fp32 "
                  f"| {p['classic_images_per_s']:,.0f} |",
                  f"| reportgen: uint8 images on the device, batch-wise augmentation | {p['reportgen_precision']} "
                  f"| {p['reportgen_images_per_s']:,.0f} |",
                  f"| **ratio** | | **{p['ratio']:.2f}×** ({_target(p['ratio'], TARGETS['ratio'], False, quick)}) |"]
    else:
        lines.append("not measured (see Items)")
    ds = d["dataset"]
    lines += ["", f"### 2. Timed epochs of every run of {Path(d['manifest']).name}", ""]
    if ds:
        lines += [f"Synthetic CIFAR-10: {ds['train']:,} train / {ds['validation']:,} validation / {ds['test']:,} test "
                  f"images, loaded (and the runs planned) in {ds['seconds']:.1f} s; {ds['note']}. Epoch times include "
                  "the validation pass; 'other' is the run's time outside its epochs (build, data to device, test, "
                  "measurement).", ""]
    if d["runs"]:
        lines += ["| Run | Model | Input px | Batch | Epochs | Timed | First epoch s | Epoch s | Train images/s "
                  "| Other s | Predicted run s | Status |", "|---|---|" + "---:|" * 9 + "---|"]
        for r in d["runs"]:
            status = r["status"] or "—"
            if r.get("error"):
                status += f": {r['error'][:120]}"
            lines.append(f"| {r['id']} | {r['model']} | {r.get('input') or '—'} | {r.get('batch') or '—'} "
                         f"| {r.get('epochs') or '—'} | {r.get('timed_epochs', 0)} | {_n(r.get('first_epoch_s'), 2)} "
                         f"| {_n(r.get('epoch_s'), 2)} | {_n(r.get('images_per_s'), 0)} | {_n(r.get('other_s'), 2)} "
                         f"| {_n(r.get('predicted_s'), 1)} | {status} |")
        lines += ["", "Predicted run = other + first epoch + (epochs − 1) × epoch, where 'epoch' is the mean of the "
                  "timed epochs after the first (the first when only one was timed)."]
        once = [r["id"] for r in d["runs"] if r.get("timed_epochs") == 1 and (r.get("epochs") or 0) > 1]
        if once:
            lines.append(f"Timed over one epoch only (budget): {', '.join(once)}; their prediction repeats the first "
                         "epoch's warm-up (cuDNN autotuning, allocator) in every epoch, so it is an upper bound.")
    elif not ds:
        lines.append("not measured (see Items)")
    pr = d["prediction"]
    lines += ["", f"### 3. Predicted wall time of {Path(d['manifest']).name}", ""]
    if pr:
        whole = pr["total_s"]
        lines += ["| What | Figure |", "|---|---|",
                  f"| Dataset loading and run planning | {pr['dataset_s']:.1f} s |",
                  f"| Runs predicted | {pr['measured']} of {pr['runs']}: {pr['runs_s']:,.1f} s |",
                  f"| **Whole manifest** (rendering not included) | **{whole:,.1f} s** "
                  + ("" if pr["complete"] else f"(at least: {pr['runs'] - pr['measured']} run(s) not measured) ")
                  + f"({_target(whole if pr['complete'] else None, TARGETS['manifest_s'], True, quick)}) |"]
        if pr.get("cnn_run"):
            c = pr["cnn_run"]
            lines.append(f"| {c['id']}, {c['epochs']} epochs | {_n(c['predicted_s'], 1, ' s')} "
                         f"({_target(c['predicted_s'], TARGETS['cnn_run_s'], True, quick)}) |")
    else:
        lines.append("not computed (see Items)")
    lines += ["", "### Items", "", "| Item | Status | Seconds | Detail |", "|---|---|---:|---|"]
    lines += [f"| {i['item']} | {i['status']} | {_n(i['seconds'], 1)} | {i['detail'] or ''} |" for i in d["items"]]
    if d["notes"]:
        lines += ["", *[f"- {n}" for n in d["notes"]]]
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="dry run: tiny sizes, on the CPU, in seconds")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or REPO / "output" / "gpu-check"),
                    help="folder for gpu_check.md and gpu_check.json (default $OUT, else output/gpu-check)")
    ap.add_argument("--budget", type=float, help="seconds from this script's start (default 420; quick 120)")
    ap.add_argument("--manifest", type=Path, default=REPO / "experiments" / "en3150.yaml")
    ap.add_argument("--images", type=int, help="synthetic CIFAR-10 training images (default 50,000; quick 40)")
    ap.add_argument("--test-images", type=int, help="synthetic test images (default 10,000; quick 20)")
    ap.add_argument("--pipeline-epochs", type=int, help="timed epochs of each pipeline (default 2; quick 1)")
    ap.add_argument("--batch", type=int, default=256, help="batch size of the pipeline comparison (default 256)")
    ap.add_argument("--workers", type=int, help="classic DataLoader workers (default one per core; quick 1)")
    ap.add_argument("--timed-epochs", type=int, default=0,
                    help="epochs timed per run (default 0: 2; for 224-px networks 2 while the budget leaves "
                         f"{TWO_EPOCHS_S:.0f} s for each one still to come, else 1)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default torch's; quick 1: a busy 2-core machine "
                    "runs small networks many times faster on one thread than on two)")
    ap.add_argument("--skip-pipeline", action="store_true", help="leave out item 1")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="manifest override KEY=VALUE")
    args = ap.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    args.budget = args.budget or (120.0 if args.quick else 420.0)
    args.images = args.images or (40 if args.quick else 50_000)
    args.test_images = args.test_images or (20 if args.quick else 10_000)
    args.pipeline_epochs = args.pipeline_epochs or (1 if args.quick else 2)
    args.workers = args.workers if args.workers is not None else (1 if args.quick else cores)
    args.threads = args.threads or (1 if args.quick else None)
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    budget = Budget(args.budget)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu") if args.quick else tp.pick_device("auto")
    check = Check(args.out, args, environment(device), budget)
    notes = check.data["notes"]
    if not args.quick and device.type != "cuda":
        notes.append(f"no CUDA GPU was found: these figures are from {device.type}, not a GPU")
    print(f"[gpu-check] {check.data['env']['device']}; torch {torch.__version__}; budget {args.budget:.0f} s; "
          f"writing to {args.out}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        _measure(check, args, device, tmp, notes)
    except OutOfTime as exc:  # between two items
        check.item("measuring", "interrupted", detail=str(exc))
    except Exception as exc:  # noqa: BLE001 - outside any item: still write what was measured
        traceback.print_exc()
        check.item("measuring", "failed", detail=f"{type(exc).__name__}: {str(exc)[:300]}")
    finally:
        budget.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        text = check.write()
        print("\n" + text, flush=True)
        print(f"[gpu-check] wrote {args.out / 'gpu_check.md'} and {args.out / 'gpu_check.json'} "
              f"({time.monotonic() - _T0:.0f} s in all)", flush=True)
    return check.data


def _measure(check: Check, args, device: torch.device, tmp: Path, notes: list) -> None:
    from reportgen import build

    # synthetic CIFAR-10 in its python format: read by the classic pipeline and by reportgen's CIFAR loader alike
    def synthetic():
        t0 = time.perf_counter()
        folder = tp.write_cifar(tmp, args.images, args.test_images, seed=2).parent
        check.data["synthetic"] = {"train": args.images, "test": args.test_images, "seconds": time.perf_counter() - t0}
        return folder

    folder = check.run("write synthetic CIFAR-10", synthetic)
    if folder is None:
        return _skip(check, args, "no synthetic data")
    check.write()

    overrides = [f"dataset.root={folder}", "dataset.download=false", *tp.random_weights(args.manifest),
                 *(_dry_run(args.manifest) if args.quick else []), *args.overrides]
    loaded = check.run("load manifest", lambda: build.Pipeline.open(args.manifest, overrides).loaded)
    if loaded is None:
        return _skip(check, args, "the manifest did not load")
    notes.append("pretrained networks get random weights (" + ", ".join(o.split("=")[0] for o in overrides
                                                                       if o.endswith(".weights=none")) +
                 "): the same arithmetic as fine-tuning from ImageNet weights")

    if not args.skip_pipeline:
        def pipeline():
            data = tp.SyntheticCIFAR10(str(folder), train=True)
            x = torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous()
            y = torch.tensor(data.targets)
            make = functools.partial(tp.en3150_cnn, loaded)
            row, = tp.compare([("EN3150 CNN", make, folder, x, y, args.batch, None)], device, args.pipeline_epochs,
                              args.workers)
            check.data["pipeline"] = {**row, "epochs": args.pipeline_epochs, "workers": args.workers}

        check.run("1. pipelines: classic vs reportgen, EN3150 CNN", pipeline)
        check.write()

    smoke = args.quick  # dry run: reportgen's smoke settings (1 epoch, short measurements; _dry_run: 32 px)
    loaded_runs = check.run("2. load dataset and plan runs", lambda: tp.load_runs(loaded, smoke))
    if loaded_runs is None:
        return _skip(check, args, "the dataset did not load", pipeline=False)
    datasets, plans, load_s = loaded_runs
    splits = datasets.get()
    sizes = splits.sizes()
    check.data["dataset"] = {**sizes, "seconds": load_s, "source": splits.source,
                             "note": "smoke build settings, networks at 32 px (dry run)" if smoke
                             else "the manifest's own settings"}
    check.write()

    rows: dict[str, dict] = {}

    def guard(plan, fn):
        out = check.run(f"2. run {plan.id}", fn)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return out

    resized = [p.id for p in plans if p.input_size]

    def timed_epochs(plan) -> int:
        """--timed-epochs, else 2 for the 32-px runs, and 2 for the 224-px ones too while the budget leaves each
        resized run still to come TWO_EPOCHS_S (else 1: its first epoch then includes the warm-up)."""
        if args.timed_epochs or not plan.input_size:
            return args.timed_epochs or 2
        left = len(resized) - resized.index(plan.id)
        return 2 if check.budget.left() >= TWO_EPOCHS_S * left else 1

    for plan, row in tp.time_runs(loaded, datasets, plans, smoke, timed_epochs, _progress, guard):
        last = check.data["items"][-1]
        rows[plan.id] = row or {"id": plan.id, "model": plan.model, "input": plan.input_size,
                                "batch": plan.spec.batch_size, "epochs": plan.run.train.epochs, "timed_epochs": 0,
                                "status": last["status"], "error": last["detail"]}
        check.data["runs"] = list(rows.values())
        _predict(check, plans, rows, load_s)
        check.write()


def _skip(check: Check, args, why: str, pipeline: bool = True) -> None:
    """Record the parts left out after one they need did not finish."""
    parts = (["1. pipelines: classic vs reportgen, EN3150 CNN"] if pipeline and not args.skip_pipeline else [])
    for name in [*parts, "2. runs", "3. prediction"]:
        check.item(name, "skipped", detail=why)


def _dry_run(manifest: Path) -> list[str]:
    """Dry-run overrides: every run on the CPU, resized networks at 32 px (they take it; the smoke build's 64 px
    costs a CPU several times as much)."""
    import yaml

    models = (yaml.safe_load(manifest.read_text("utf-8")) or {}).get("models") or {}
    return ["train.device=cpu", *(f"models.{name}.input_size=32" for name, spec in models.items()
                                  if isinstance(spec, dict) and spec.get("input_size"))]


def _progress(message, *_, **__) -> None:
    """reportgen's progress lines (one per epoch), indented under the item."""
    print(f"    {message}", flush=True)


def _predict(check: Check, plans: list, rows: dict, load_s: float) -> None:
    """Part 3 from the runs measured so far."""
    measured = [r["predicted_s"] for r in rows.values() if r.get("predicted_s") is not None]
    cnn = next((r for r in rows.values() if r["id"] == "adam_lr_0.00025"), None) or \
        next((r for r in rows.values() if r.get("input") == 32), None)
    check.data["prediction"] = {
        "dataset_s": load_s, "runs": len(plans), "measured": len(measured), "runs_s": sum(measured),
        "total_s": load_s + sum(measured), "complete": len(measured) == len(plans),
        "cnn_run": {k: cnn.get(k) for k in ("id", "epochs", "predicted_s")} if cnn else None}
    quick = check.args.quick
    p, pr = check.data["pipeline"], check.data["prediction"]
    check.data["targets"] = [
        {"target": f"custom-CNN pipeline ratio ≥ {TARGETS['ratio']:g}×", "value": p["ratio"] if p else None,
         "met": None if quick or not p else p["ratio"] >= TARGETS["ratio"]},
        {"target": f"20-epoch EN3150 run < {TARGETS['cnn_run_s']:g} s",
         "value": cnn.get("predicted_s") if cnn else None,
         "met": None if quick or not cnn or cnn.get("predicted_s") is None
         else cnn["predicted_s"] < TARGETS["cnn_run_s"]},
        {"target": f"whole manifest < {TARGETS['manifest_s']:g} s", "value": pr["total_s"],
         "met": None if quick or not pr["complete"] else pr["total_s"] < TARGETS["manifest_s"]}]


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        figures = main()
        sys.exit(1 if any(i["status"] == "failed" for i in figures["items"]) else 0)
