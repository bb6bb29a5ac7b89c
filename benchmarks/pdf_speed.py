"""The PDF stage alone, per report: wall and CPU seconds (median of rounds), pages and bytes.

    python benchmarks/pdf_speed.py                                   # the committed fixture's report, 3 rounds
    python benchmarks/pdf_speed.py --smoke experiments/en3150.yaml experiments/cnn-lab.yaml experiments/fast-response.yaml
    python benchmarks/pdf_speed.py experiments/digits.yaml --rounds 1   # a built report (OUT/results.json)
    python benchmarks/pdf_speed.py --smoke --against 28c5f19 experiments/en3150.yaml experiments/cnn-lab.yaml \
        experiments/fast-response.yaml                               # side by side with another commit's code

Each report is rendered from its recorded results (as `reportgen render`; its figures from OUT/cache/figures) and
only the PDF stage is timed. With --against, each version renders its own smoke build in a fresh process
(`reportgen render --smoke`, alternated round by round), and the PDF time each prints is compared: the other
commit is checked out in a temporary git worktree and its smoke builds are made there first (this tree's smoke
builds are made again too, into their usual folders; a dataset folder git ignores is in neither worktree's copy
unless the manifest names it by an absolute path, so both sides then build on the same synthetic images).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pdf import print_html

from reportgen import build
from reportgen.report.document import assemble as document
from reportgen.report.figures import draw as figures
from reportgen.report.figures.cache import FigureCache
from reportgen.report.writers import html as render
from reportgen.report.writers.pdf import render_pdf


def built_print_html(manifest: Path, smoke: bool, out: Path | None) -> tuple[str, str | None]:
    """A built report's print HTML and date, from OUT/results.json and the figure cache."""
    pipe = build.Pipeline.open(manifest, (), out, smoke, models=None)
    results = pipe.recorded()
    figs = figures.draw_all(results, pipe.loaded.sections, FigureCache(pipe.out_dir / "cache", raster=True))
    doc = document.build(results, pipe.loaded.sections, figs, pipe.loaded.base_dir)
    return render.render_html(doc, pipe.loaded.template_override(), medium="print"), (results.report or {}).get("date")


def pages(pdf: bytes) -> int:
    """The PDF's page count."""
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def timed(html: str, date: str | None, rounds: int) -> dict:
    """Median wall and CPU seconds, pages and bytes of the PDF of one report."""
    runs: list[tuple[float, float]] = []
    pdf = b""
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        pdf = render_pdf(html, date, "0" * 64)
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return {"wall": statistics.median(r[0] for r in runs), "cpu": statistics.median(r[1] for r in runs),
            "pages": pages(pdf), "bytes": len(pdf)}


REPO = Path(__file__).resolve().parent.parent
_PDF_SECONDS = re.compile(r"pdf ([0-9.]+) s")


def cli_pdf_seconds(tree: Path, manifest: Path, command: str = "render") -> float:
    """The PDF time a tree's own `reportgen COMMAND --smoke` prints for its copy of MANIFEST (a path inside the
    repository), run in a fresh process from that tree."""
    env = {**os.environ, "PYTHONPATH": str(tree), "CI": "1"}
    proc = subprocess.run([sys.executable, "-m", "reportgen.cli", command, "--smoke", str(tree / manifest)], cwd=tree,
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{command} {manifest} in {tree} failed:\n{proc.stderr[-2000:]}")
    found = _PDF_SECONDS.findall(proc.stdout + proc.stderr)
    if not found:
        raise RuntimeError(f"no PDF time in the output of {command} {manifest}:\n{proc.stderr[-2000:]}")
    return float(found[-1])


def side_by_side(revision: str, manifests: list[Path], rounds: int) -> dict:
    """Each manifest's smoke PDF time, this tree against REVISION's code, alternated; the medians and their ratio."""
    figures = {}
    with tempfile.TemporaryDirectory(prefix="pdf-speed-") as tmp:
        other = Path(tmp) / "tree"
        added = subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(other), revision],
                               capture_output=True, text=True)
        if added.returncode != 0:
            raise SystemExit(f"pdf_speed: --against {revision}: {added.stderr.strip()}")
        try:
            for manifest in manifests:
                cli_pdf_seconds(other, manifest, "build")  # its own smoke build: runs, figures, results.json
                cli_pdf_seconds(REPO, manifest, "build")
                times: dict[str, list[float]] = {"before": [], "now": []}
                for _ in range(rounds):
                    times["before"].append(cli_pdf_seconds(other, manifest))
                    times["now"].append(cli_pdf_seconds(REPO, manifest))
                before, now = (statistics.median(times[k]) for k in ("before", "now"))
                figures[manifest.stem] = {"before": before, "now": now, "ratio": before / now}
                print(f"PDF of {manifest.stem} (smoke): {revision} {before:.2f} s, now {now:.2f} s, "
                      f"{before / now:.2f}x faster (median of {rounds}, alternated)", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(other)], check=False)
    return figures


def main(argv: list[str] | None = None) -> dict:
    """Parse the options, time each report's PDF, print and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="*", type=Path, help="built reports (default: the committed fixture's)")
    parser.add_argument("--smoke", action="store_true", help="their smoke builds (OUT: the smoke default)")
    parser.add_argument("--out", type=Path, action="append", help="each manifest's output folder, in order")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", metavar="REV", help="time REV's code beside this tree's (smoke builds)")
    args = parser.parse_args(argv)
    if args.against:
        return side_by_side(args.against, [m.resolve().relative_to(REPO) for m in args.manifests], args.rounds)
    outs = list(args.out or []) + [None] * len(args.manifests)
    reports = [(m.stem, *built_print_html(m, args.smoke, o)) for m, o in zip(args.manifests, outs)]
    render_pdf(print_html() if not reports else reports[0][1])  # imports and fonts loaded before timing
    figures = {}
    for name, html, date in reports or [("fixture", print_html(), None)]:
        figures[name] = r = timed(html, date, args.rounds)
        print(f"PDF of {name}: {r['pages']} pages, {r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU, {r['bytes']:,} bytes "
              f"(median of {args.rounds})", flush=True)
    return figures


if __name__ == "__main__":
    main()
