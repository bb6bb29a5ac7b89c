"""Start-up cost of reportgen's commands: wall time of each, against `python -c "import torch"` on the same machine.

    python benchmarks/startup.py                 # median of 5 runs of each command
    python benchmarks/startup.py --repeats 1     # one run each (what tests/test_benchmark.py runs)
    python benchmarks/startup.py --json startup.json --markdown startup.md

Each command runs as a subprocess from the project root, as a user types it (`python -m reportgen.cli ...`, with
the project on PYTHONPATH), round-robin so that a change in the machine's load touches every command alike; the
table gives the median. Whether a command imported torch comes from one more, untimed run of it under
`python -X importtime`, which logs every module imported while the process runs (at start-up or later, lazily,
however the command exits); that run also warms the disk cache, and its log names the import chain that brought
torch in. The spec's target: `--help`, `schema` and `diff` take at most a quarter of `import torch`.

Commands: --help, --version, schema, validate experiments/digits.yaml, diff A B (tests/fixtures/results-small.json
and a copy of it, in a temporary folder) and, when a build of experiments/digits.yaml is at experiments/output/digits, render
(with --no-pdf, into a temporary copy of that folder, so the build itself is left alone).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.25  # of `import torch`, for the commands in TARGETED
TARGETED = ("--help", "schema", "diff")
_IMPORT = re.compile(r"^import time:\s*(\d+)\s*\|\s*(\d+)\s*\|( *)(\S+)\s*$")


@dataclass
class Command:
    name: str
    args: list[str]
    note: str | None = None
    times: list[float] = field(default_factory=list)
    exits: list[int] = field(default_factory=list)
    torch: bool | None = None
    torch_s: float | None = None  # torch's cumulative import time in the (untimed, maybe concurrent) importtime run
    chain: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def target(self) -> bool:
        return self.name.split()[0] in TARGETED


def torch_import(stderr: str) -> tuple[bool, float | None, list[str]]:
    """(torch imported?, its cumulative import seconds, the chain of imports that brought it in, outermost first)
    from a `python -X importtime` log. The log lists a module after everything it imported, indented by depth."""
    rows = []
    for line in stderr.splitlines():
        m = _IMPORT.match(line)
        if m:
            rows.append((len(m.group(3)), m.group(4), int(m.group(2))))
    at = next((i for i, r in enumerate(rows) if r[1] == "torch"), None)
    if at is None:
        return False, None, []
    depth, chain = rows[at][0], ["torch"]
    for d, name, _ in rows[at + 1:]:
        if d < depth:  # the next shallower module is the one whose import was running
            chain.append(name)
            depth = d
    return True, rows[at][2] / 1e6, chain[::-1]


def commands(python: str, tmp: Path) -> list[Command]:
    """The commands to time, the `import torch` baseline first; diff's files and render's folder go into tmp."""
    cli = [python, "-m", "reportgen.cli"]
    a, b = tmp / "a" / "results.json", tmp / "b" / "results.json"
    for path in (a, b):
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "tests" / "fixtures" / "results-small.json", path)
    out = [Command("import torch", [python, "-c", "import torch"]),
           Command("--help", [*cli, "--help"]),
           Command("--version", [*cli, "--version"]),
           Command("schema", [*cli, "schema"]),
           Command("validate experiments/digits.yaml", [*cli, "validate", "experiments/digits.yaml"]),
           Command("diff A B", [*cli, "diff", str(a), str(b)], note="tests/fixtures/results-small.json and a copy")]
    built = REPO / "experiments" / "output" / "digits"
    render = Command("render experiments/digits.yaml", [], note="--no-pdf, into a copy of experiments/output/digits")
    if (built / "cache").is_dir():
        shutil.copytree(built, tmp / "digits", symlinks=True)
        render.args = [*cli, "render", "experiments/digits.yaml", "--no-pdf", "--out", str(tmp / "digits")]
    else:
        render.note = "skipped: no cached build at experiments/output/digits (run `reportgen build experiments/digits.yaml`)"
    out.append(render)
    return out


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("MPLBACKEND", "Agg")
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def _run(args: list[str], timeout: float, env: dict) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - t0, proc.returncode, proc.stderr


def measure(cmds: list[Command], repeats: int, timeout: float, jobs: int) -> None:
    """The importtime run of every command (several at once: they are not timed), then `repeats` timed rounds."""
    env = _env()
    todo = [c for c in cmds if c.args]

    def detect(c: Command) -> None:
        try:
            _, code, err = _run([c.args[0], "-X", "importtime", *c.args[1:]], timeout, env)
        except subprocess.TimeoutExpired:
            c.error = f"timed out after {timeout:.0f} s"
            return
        c.torch, c.torch_s, c.chain = torch_import(err)
        messages = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("import time:")]
        if code not in (0, 1) and messages:
            c.error = messages[-1][:200]

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        list(pool.map(detect, todo))
    for r in range(repeats):
        for c in todo:
            if c.error and c.error.startswith("timed out"):
                continue
            try:
                seconds, code, _ = _run(c.args, timeout, env)
            except subprocess.TimeoutExpired:
                c.error = f"timed out after {timeout:.0f} s"
                continue
            c.times.append(seconds)
            c.exits.append(code)
        print(f"round {r + 1}/{repeats} done", file=sys.stderr, flush=True)


def rows(cmds: list[Command]) -> list[dict]:
    """One row per command: median seconds, ratio to `import torch`, whether it imported torch, target."""
    base = statistics.median(cmds[0].times) if cmds[0].times else None
    out = []
    for c in cmds:
        median = statistics.median(c.times) if c.times else None
        ratio = median / base if median is not None and base else None
        out.append({"command": c.name, "argv": c.args[1:] if c.args else None, "median_s": median, "times_s": c.times,
                    "ratio": ratio, "imports_torch": c.torch, "torch_import_s": c.torch_s, "torch_via": c.chain,
                    "exit": sorted(set(c.exits)), "target": f"≤ {TARGET:g}× import torch" if c.target else None,
                    "target_met": None if not c.target or ratio is None else ratio <= TARGET,
                    "note": c.note, "error": c.error})
    return out


def markdown(table: list[dict], repeats: int, python: str) -> str:
    def torch_cell(r):
        if r["imports_torch"] is None:
            return "—"
        if not r["imports_torch"]:
            return "no"
        via = " → ".join(r["torch_via"][:-1][-4:])
        return "yes" + (f", via {via}" if via else "")

    lines = [f"Start-up, median of {repeats} run(s) each; {python} (Python {sys.version.split()[0]}), "
             f"{os.cpu_count()} CPU cores.", "",
             "| Command | Median s | × import torch | Imports torch | Exit | Target |", "|---|---:|---:|---|---|---|"]
    for r in table:
        name = "python -c 'import torch'" if r["command"] == "import torch" else f"reportgen {r['command']}"
        if r["median_s"] is None:
            lines.append(f"| {name} | — | — | {torch_cell(r)} | — | {r['error'] or r['note'] or ''} |")
            continue
        target = "" if r["target"] is None else f"{r['target']}: {'met' if r['target_met'] else 'NOT met'}"
        exit_ = ", ".join(map(str, r["exit"])) + (f" ({r['error']})" if r["error"] else "")
        lines.append(f"| {name} | {r['median_s']:.2f} | {r['ratio']:.2f} | {torch_cell(r)} | {exit_} | {target} |")
    notes = [f"{r['command']}: {r['note']}" for r in table if r["note"]]
    notes.append("Imports torch: from an untimed `python -X importtime` run of the same command; 'via' is the chain "
                 "of imports that brought torch in (the CLI module itself runs as __main__)")
    return "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each command; the median is reported")
    ap.add_argument("--python", default=sys.executable, help="the interpreter to run (default: this one)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds before one command is given up")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="untimed importtime runs at once (default one per core; the timed runs are one at a time)")
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        cmds = commands(args.python, Path(tmp))
        measure(cmds, args.repeats, args.timeout, args.jobs)
    table = rows(cmds)
    text = markdown(table, args.repeats, args.python)
    print(text, end="", flush=True)
    if args.markdown:
        args.markdown.write_text(text, "utf-8")
    if args.json:
        args.json.write_text(json.dumps({"repeats": args.repeats, "python": args.python, "rows": table}, indent=2)
                             + "\n", "utf-8")
    return table


if __name__ == "__main__":
    main()
