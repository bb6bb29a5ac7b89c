"""Cost of grading a class: `check` time per report, and `reportgen grade` wall time on many submissions.

    python benchmarks/grade.py                              # builds experiments/digits.yaml (with PDF) once
    python benchmarks/grade.py --submission experiments/output/digits   # an existing build (report.html, report.pdf, results.json)
    python benchmarks/grade.py --copies 50 --repeats 3 --json grade.json

Measured side by side in one run: `check_submission` on the one submission, in this process, `--check-repeats`
times (the median is reported, after one untimed warm-up); then `reportgen grade` as a subprocess (as a grader
types it, start-up included, `--fresh` so nothing is reused) on `--copies` copies of the submission, with
--jobs 1 and --jobs 2 alternately, `--repeats` rounds (the median of each is reported), the ratio, the CPU
seconds each used (workers included) and the load average, since other processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FILES = ("report.html", "report.pdf", "results.json")


def _env() -> dict:
    """The environment for subprocesses: the project on PYTHONPATH, matplotlib headless, CI quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("MPLBACKEND", "Agg")
    return env


def build_submission(manifest: Path, tmp: Path) -> Path:
    """Build the manifest once, with its PDF, into tmp/build; the folder holding the three files."""
    out = tmp / "build"
    cmd = [sys.executable, "-m", "reportgen.cli", "build", str(manifest), "--out", str(out)]
    print(f"building {manifest} (with PDF) into {out} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=REPO, env={**_env(), "CI": "1"}, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"build failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return out


def make_class(submission: Path, copies: int, tmp: Path) -> Path:
    """A class folder of `copies` copies of the submission's report.html, report.pdf and results.json."""
    folder = tmp / "class"
    for i in range(1, copies + 1):
        team = folder / f"team{i:03d}"
        team.mkdir(parents=True)
        for name in FILES:
            if (submission / name).is_file():
                shutil.copy2(submission / name, team / name)
    return folder


def time_check(submission: Path, repeats: int) -> list[float]:
    """Seconds per `check_submission` call on the submission, in this process (after one warm-up call)."""
    sys.path.insert(0, str(REPO))
    from reportgen.grading.check.command import check_submission

    check_submission(submission)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        check_submission(submission)
        times.append(time.perf_counter() - t0)
    return times


def _children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process so far, their workers included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_grade(folder: Path, jobs: int, out: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (workers included) and exit code of `reportgen grade FOLDER --fresh --jobs N`."""
    cmd = [sys.executable, "-m", "reportgen.cli", "grade", str(folder), "--fresh", "--jobs", str(jobs),
           "--out", str(out / f"jobs{jobs}" / "grades.csv")]
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if proc.returncode not in (0, 1):
        sys.exit(f"grade failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, cpu, proc.returncode


def measure(submission: Path, copies: int, repeats: int, check_repeats: int, tmp: Path) -> dict:
    """Every figure, measured in this one run."""
    check = time_check(submission, check_repeats)
    folder = make_class(submission, copies, tmp)
    grade: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    exits = set()
    load = [os.getloadavg()[0]]
    for r in range(repeats):
        for jobs in (1, 2):
            seconds, used, code = time_grade(folder, jobs, tmp / "out")
            grade[jobs].append(seconds)
            cpu[jobs].append(used)
            exits.add(code)
        print(f"round {r + 1}/{repeats} done", file=sys.stderr, flush=True)
    one, two = statistics.median(grade[1]), statistics.median(grade[2])
    return {"submission": str(submission), "copies": copies, "cpu_cores": os.cpu_count(),
            "python": sys.version.split()[0], "check_s": check, "check_median_s": statistics.median(check),
            "grade_s": {str(k): v for k, v in grade.items()}, "grade_jobs1_s": one, "grade_jobs2_s": two,
            "ratio": one / two if two else None, "grade_exit": sorted(exits),
            "grade_cpu_s": {str(k): statistics.median(v) for k, v in cpu.items()},
            "load_average": load + [os.getloadavg()[0]]}


def markdown(r: dict) -> str:
    """The figures as a small Markdown table."""
    load = " → ".join(f"{x:.1f}" for x in r["load_average"])
    lines = [f"{r['copies']} copies of {r['submission']}; Python {r['python']}, {r['cpu_cores']} CPU cores, "
             f"1-minute load average {load} (other processes included).", "",
             "| What | Figure |", "|---|---|",
             f"| check, per report (median of {len(r['check_s'])}) | {r['check_median_s']:.3f} s |",
             f"| grade of {r['copies']}, --jobs 1 (median of {len(r['grade_s']['1'])}) | {r['grade_jobs1_s']:.2f} s "
             f"({r['grade_cpu_s']['1']:.1f} CPU s) |",
             f"| grade of {r['copies']}, --jobs 2 (median of {len(r['grade_s']['2'])}) | {r['grade_jobs2_s']:.2f} s "
             f"({r['grade_cpu_s']['2']:.1f} CPU s) |",
             f"| speed-up of --jobs 2 (--jobs 1 time ÷ --jobs 2 time) | {r['ratio']:.2f}× |"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    """Parse the options, measure, print the table (and write the JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--submission", type=Path, help="an existing build folder (default: build --manifest once)")
    ap.add_argument("--manifest", type=Path, default=REPO / "experiments" / "digits.yaml",
                    help="what to build when no --submission is given (default experiments/digits.yaml)")
    ap.add_argument("--copies", type=int, default=50, help="submissions in the class (default 50)")
    ap.add_argument("--repeats", type=int, default=1, help="timed grade runs per --jobs setting (default 1)")
    ap.add_argument("--check-repeats", type=int, default=10, help="timed check calls (default 10)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)
    if min(args.copies, args.repeats, args.check_repeats) < 1:
        ap.error("--copies, --repeats and --check-repeats must be at least 1")
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        tmp = Path(tmp)
        submission = args.submission.resolve() if args.submission else build_submission(args.manifest.resolve(), tmp)
        missing = [n for n in FILES if not (submission / n).is_file()]
        if missing:
            ap.error(f"{submission} lacks {', '.join(missing)}")
        report = measure(submission, args.copies, args.repeats, args.check_repeats, tmp)
    print(markdown(report), end="", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    return report


if __name__ == "__main__":
    main()
