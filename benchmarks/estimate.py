"""The estimate before training against the time the runs then take: predicted and measured seconds per run.

    python benchmarks/estimate.py                        # digits in full, en3150 on small synthetic CIFAR, the others smoke
    python benchmarks/estimate.py --only digits          # one case
    REPORTGEN_THREADS=1 python benchmarks/estimate.py    # one thread per run (steadier on cores other work shares)

For each case the manifest's runs are estimated (`reportgen build --plan`'s numbers, nothing cached), then every run
is built, trained, tested and measured in this process as a build does, timed from start to end. Prints a row per
run (predicted, measured, error in %) and per case the sums; `--json FILE` keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import random_weights, time_runs, write_cifar  # noqa: E402

FINETUNES = ("resnet18_finetuned", "densenet121_finetuned", "googlenet_finetuned")
# en3150 at its real sizes is days of CPU time: one epoch on 120 synthetic CIFAR images, a shorter measurement
EN3150 = ["train.epochs=1", "train.measure.throughput_batch=32", "train.measure.throughput_repeats=2",
          *(f"experiments.{e}.train.epochs=1" for e in FINETUNES)]
CASES = {"digits": ("digits.yaml", [], False), "en3150": ("en3150.yaml", EN3150, False),
         "cnn-lab": ("cnn-lab.yaml", [], True), "fashion-mnist": ("fashion-mnist.yaml", [], True),
         "fast-response": ("fast-response.yaml", [], True), "realwaste": ("realwaste.yaml", [], True)}


def measure_case(name: str, folder: Path) -> dict:
    """The estimate of one case's runs, then each run timed; a row per run."""
    from reportgen import build
    from reportgen.run.estimate import PlanDatasets, estimate_runs
    from reportgen.run.plan import plan_runs

    file, overrides, smoke = CASES[name]
    path = REPO / "experiments" / file
    overrides = list(overrides) + random_weights(path)
    if name == "en3150":
        overrides.append(f"dataset.root={write_cifar(folder / 'cifar', 120, 20).parent}")
    loaded = build.Pipeline.open(path, overrides, smoke=smoke).loaded
    datasets = PlanDatasets(loaded, smoke)
    estimate = estimate_runs(loaded, datasets, None, smoke)
    predicted = {r.id: r.seconds for r in estimate.runs}
    rows = []
    for plan, row in time_runs(loaded, datasets, plan_runs(loaded, datasets, smoke), smoke,
                               timed_epochs=lambda p: p.spec.epochs):
        measured = row["wall_s"] if row is not None and row["status"] != "failed" else None
        guess = predicted.get(plan.id)
        error = (guess - measured) / measured * 100 if guess and measured else None
        rows.append({"id": plan.id, "model": plan.model, "predicted_s": guess, "measured_s": measured,
                     "error_pct": error})
        print(f"  {plan.id:<28} {plan.model:<14} predicted {guess or 0:8.1f} s  measured {measured or 0:8.1f} s  "
              f"error {error if error is not None else float('nan'):+6.0f} %", flush=True)
    total_p = sum(r["predicted_s"] or 0 for r in rows)
    total_m = sum(r["measured_s"] or 0 for r in rows)
    print(f"{name}{' (smoke)' if smoke else ''}: {len(rows)} runs on {estimate.where()}: predicted {total_p:.1f} s, "
          f"measured {total_m:.1f} s, error {(total_p - total_m) / total_m * 100:+.0f} %", flush=True)
    return {"case": name, "smoke": smoke, "overrides": overrides, "where": estimate.where(), "runs": rows,
            "predicted_s": total_p, "measured_s": total_m}


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the cases, print and return the rows."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", choices=sorted(CASES), help="these cases only (repeatable)")
    ap.add_argument("--json", type=Path, help="write the rows to this file")
    args = ap.parse_args(argv)
    import torch

    from reportgen.run.worker import pinned_threads

    torch.set_num_threads(pinned_threads() or torch.get_num_threads())  # as a sequential build sets it
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or list(CASES):
            out.append(measure_case(name, Path(tmp)))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", "utf-8")
    return out


if __name__ == "__main__":
    main()
