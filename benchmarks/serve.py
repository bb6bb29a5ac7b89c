"""How long a prose edit takes to reach the page of `reportgen serve`: edit, then poll over HTTP until it shows.

    python benchmarks/serve.py                 # builds the tiny test manifest (--no-pdf) in a temporary folder
    python benchmarks/serve.py --folder DIR    # reuse DIR (a built tiny manifest) and its caches
    python benchmarks/serve.py --edits 10

Starts `reportgen serve --port 0` in a subprocess on the built manifest, appends a marker to its prose file, polls
the page every 20 ms until the marker appears, and prints each edit's latency, the median and the worst; the goal
is under 2 s on 2 cores.
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

GOAL_S = 2.0


def build_tiny(folder: Path) -> Path:
    """The test suite's tiny manifest, built (trained once, no PDF) into folder/out."""
    from conftest import write_manifest  # tests/conftest.py: the tiny manifest and its prose

    manifest = folder / "tiny.yaml"
    if not (folder / "out" / "results.json").is_file():
        write_manifest(folder)
        subprocess.run([sys.executable, "-m", "reportgen.cli", "build", str(manifest), "--out", str(folder / "out"),
                        "--no-pdf", "--quiet"], check=True)
    return manifest


def measure(manifest: Path, edits: int) -> list[float]:
    proc = subprocess.Popen([sys.executable, "-m", "reportgen.cli", "serve", str(manifest), "--out",
                             str(manifest.parent / "out"), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(line.rstrip() for line in proc.stdout), daemon=True).start()
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            url = next((m[1] for m in map(re.compile(r"serving (http://\S+)").search, list(lines)) if m), None)
            time.sleep(0.05)
        while not any("rendered (start)" in line for line in list(lines)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("serve did not start:\n" + "\n".join(lines))
            time.sleep(0.05)
        prose = manifest.parent / "intro.md"
        original = prose.read_text("utf-8")
        latencies = []
        for i in range(edits):
            marker = f"BENCH-EDIT-{i}-{time.time_ns()}"
            time.sleep(0.5)  # let the previous render settle, as a person typing would
            t0 = time.perf_counter()
            prose.write_text(original + f"\n{marker}\n", "utf-8")
            while True:
                with urllib.request.urlopen(url, timeout=10) as r:
                    if marker.encode() in r.read():
                        break
                if time.perf_counter() - t0 > 30:
                    raise SystemExit(f"edit {i} did not show within 30 s:\n" + "\n".join(lines[-20:]))
                time.sleep(0.02)
            latencies.append(time.perf_counter() - t0)
            print(f"edit {i + 1}: {latencies[-1]:.2f} s", flush=True)
        prose.write_text(original, "utf-8")
        return latencies
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None, help="a folder for the tiny build (kept)")
    parser.add_argument("--edits", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        latencies = measure(build_tiny(folder), args.edits)
    median, worst = statistics.median(latencies), max(latencies)
    print(f"prose edit → page: median {median:.2f} s, worst {worst:.2f} s over {len(latencies)} edits "
          f"(goal < {GOAL_S:.0f} s): {'ok' if worst < GOAL_S else 'SLOWER THAN THE GOAL'}")


if __name__ == "__main__":
    main()
