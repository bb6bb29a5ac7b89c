"""Cost of grading a class: `check` time per report, `reportgen grade` wall time on many copies of one submission,
and `reportgen grade` on the hostile class of tests/grading/hostile_class.py.

    python benchmarks/grade.py                              # builds experiments/digits.yaml (with PDF) once
    python benchmarks/grade.py --submission experiments/output/digits   # an existing build (report.html, report.pdf, results.json)
    python benchmarks/grade.py --copies 50 --repeats 3 --json grade.json
    python benchmarks/grade.py --hostile                    # builds the tests' tiny sources, writes the hostile class
    python benchmarks/grade.py --class DIR                  # a class folder already written (e.g. a hostile one)

Copies (the default), measured side by side in one run: `check_submission` on the one submission, in this process,
`--check-repeats` times (the median is reported, after one untimed warm-up); then `reportgen grade` as a subprocess
(as a grader types it, start-up included, `--fresh` so nothing is reused) on `--copies` copies of the submission, with
--jobs 1 and --jobs 2 alternately, `--repeats` rounds (the median of each is reported), the ratio, the CPU
seconds each used (workers included) and the load average, since other processes share the cores.

Hostile (`--hostile` or `--class DIR`): one `reportgen grade --jobs 2 --fresh --format json` of the class, its outputs
in a temporary folder outside it: wall and CPU seconds, submissions, exit code, the slowest submissions (the rows'
`seconds`, else the ones grade records in its state folder), peak memory per worker when grade's rows report it, and
the largest peak RSS of grade or any of its workers as the kernel counted it (wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import re
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


def _hostile_class_module():
    """tests/grading/hostile_class.py (the class's writer), imported from the tests folder, whose conftest it uses."""
    sys.path[:0] = [str(REPO / "tests" / "grading"), str(REPO / "tests")]
    import hostile_class

    return hostile_class


def write_hostile(tmp: Path) -> Path:
    """Build the tests' tiny sources once and write the hostile class, its planted secret beside it; the class."""
    hc = _hostile_class_module()
    print("building the tiny, module, CIFAR smoke and escaped builds ...", file=sys.stderr, flush=True)
    sources = hc.build_sources(tmp / "sources")
    hc.plant_secret(tmp / "secret.txt")
    # nothing listens on the discard port: without --verify no module file is imported anyway
    hc.write_hostile_class(tmp / "class", sources, tmp / "secret.txt", 9)
    return tmp / "class"


def run_grade_json(folder: Path, out: Path, jobs: int) -> tuple[int, dict | None, str, float, object]:
    """`reportgen grade FOLDER --fresh --jobs N --format json`: exit code, the JSON record, stderr, wall seconds and
    the resource usage of grade and its workers (wait4: their CPU time and the largest peak RSS among them)."""
    cmd = [sys.executable, "-m", "reportgen.cli", "grade", str(folder), "--fresh", "--jobs", str(jobs), "--format",
           "json", "--out", str(out / "grades.csv")]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "stdout.json", "wb") as stdout, open(out / "stderr.txt", "wb") as stderr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    proc.returncode = code = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    try:
        record = json.loads((out / "stdout.json").read_text("utf-8"))
    except ValueError:
        record = None
    return code, record, (out / "stderr.txt").read_text("utf-8", "replace"), seconds, usage


def row_seconds(rows: list[dict], out: Path) -> tuple[dict[str, float], str | None]:
    """Seconds per submission: from grade's rows, else from its state folder's outcomes; and where they came from."""
    found = {str(r.get("folder")): float(r["seconds"]) for r in rows if _number(r.get("seconds"))}
    if found:
        return found, "grade's rows"
    for path in sorted((out / ".reportgen-grade").glob("*.json")):
        try:
            outcome = json.loads(path.read_text("utf-8"))
        except ValueError:
            continue
        if isinstance(outcome, dict) and _number(outcome.get("seconds")):
            found[str(outcome.get("folder"))] = float(outcome["seconds"])
    return found, "grade's state files" if found else None


def _number(value) -> bool:
    """Whether value is a finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def worker_memory(rows: list[dict]) -> dict[str, dict[str, float]] | None:
    """Peak memory grade's rows report ({field: {worker: largest value}}, e.g. peak_rss), or None when they report
    none; rows without a worker field count as one worker, "all"."""
    keys = sorted({k for r in rows for k, v in r.items() if re.search("rss|memory|peak", k, re.I) and _number(v)})
    if not keys:
        return None
    found: dict[str, dict[str, float]] = {}
    for key in keys:
        for r in rows:
            if _number(r.get(key)):
                worker = str(r.get("worker", r.get("worker_pid", "all")))
                found.setdefault(key, {})[worker] = max(found.get(key, {}).get(worker, 0), r[key])
    return found


def measure_hostile(folder: Path, tmp: Path, jobs: int = 2) -> dict:
    """One graded run of the class and what it cost."""
    load = [os.getloadavg()[0]]
    code, record, stderr, seconds, usage = run_grade_json(folder, tmp / "hostile-out", jobs)
    if code not in (0, 1) or record is None:
        sys.exit(f"grade failed ({code}):\n{stderr[-3000:]}")
    rows = record.get("rows") or []
    seconds_by, source = row_seconds(rows, tmp / "hostile-out")
    ranked = sorted(seconds_by.items(), key=lambda kv: -kv[1])
    return {"class": str(folder), "jobs": jobs, "submissions": record.get("submissions", len(rows)),
            "grade_exit": code, "wall_s": seconds, "cpu_s": usage.ru_utime + usage.ru_stime,
            "slowest": {"folder": ranked[0][0], "seconds": ranked[0][1]} if ranked else None,
            "slowest_5": [{"folder": f, "seconds": s} for f, s in ranked[:5]], "seconds_source": source,
            "worker_memory": worker_memory(rows), "max_child_rss_mb": usage.ru_maxrss / 1024,
            "with_findings": sum(bool(r.get("findings")) and not r.get("error") for r in rows),
            "errors": sum(bool(r.get("error")) for r in rows), "traceback": "Traceback" in stderr,
            "cpu_cores": os.cpu_count(), "python": sys.version.split()[0], "load_average": load + [os.getloadavg()[0]]}


def hostile_markdown(r: dict) -> str:
    """The hostile class's figures as a small Markdown table."""
    load = " → ".join(f"{x:.1f}" for x in r["load_average"])
    slowest = (f"{r['slowest']['folder']} ({r['slowest']['seconds']:.2f} s, from {r['seconds_source']})"
               if r["slowest"] else "not reported (no seconds in grade's rows or state)")
    top = ", ".join(f"{s['folder']} {s['seconds']:.2f} s" for s in r["slowest_5"]) or "not reported"
    memory = ("; ".join(f"{key}: " + ", ".join(f"worker {w} {v:,.0f}" for w, v in sorted(by.items()))
                        for key, by in r["worker_memory"].items())
              if r["worker_memory"] else "not reported by grade's rows")
    lines = [f"{r['class']}: Python {r['python']}, {r['cpu_cores']} CPU cores, 1-minute load average {load} "
             "(other processes included).", "", "| What | Figure |", "|---|---|",
             f"| submissions | {r['submissions']} |",
             f"| grade --jobs {r['jobs']}, wall | {r['wall_s']:.2f} s ({r['cpu_s']:.1f} CPU s), exit {r['grade_exit']}"
             f"{', with a Traceback on stderr' if r['traceback'] else ''} |",
             f"| rows with findings / unusable | {r['with_findings']} / {r['errors']} |",
             f"| slowest submission | {slowest} |", f"| 5 slowest | {top} |",
             f"| peak memory per worker | {memory} |",
             f"| largest peak RSS, grade or a worker (wait4) | {r['max_child_rss_mb']:,.0f} MB |"]
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
    ap.add_argument("--hostile", action="store_true", help="grade the hostile class of tests/grading/hostile_class.py "
                    "(built and written in a temporary folder) instead of copies")
    ap.add_argument("--class", dest="class_dir", type=Path, help="grade this class folder instead of copies")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)
    if min(args.copies, args.repeats, args.check_repeats) < 1:
        ap.error("--copies, --repeats and --check-repeats must be at least 1")
    if args.class_dir is not None and not args.class_dir.is_dir():
        ap.error(f"--class {args.class_dir} is not a folder")
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        tmp = Path(tmp)
        if args.hostile or args.class_dir is not None:
            folder = args.class_dir.resolve() if args.class_dir is not None else write_hostile(tmp)
            report = {"hostile": measure_hostile(folder, tmp)}
            text = hostile_markdown(report["hostile"])
        else:
            report = copies(args, ap, tmp)
            text = markdown(report)
    print(text, end="", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    return report


def copies(args: argparse.Namespace, ap: argparse.ArgumentParser, tmp: Path) -> dict:
    """The copies benchmark: one submission (built or given), checked and graded in `--copies` copies."""
    submission = args.submission.resolve() if args.submission else build_submission(args.manifest.resolve(), tmp)
    missing = [n for n in FILES if not (submission / n).is_file()]
    if missing:
        ap.error(f"{submission} lacks {', '.join(missing)}")
    return measure(submission, args.copies, args.repeats, args.check_repeats, tmp)


if __name__ == "__main__":
    main()
