"""The PDF's cost: a report's print HTML to PDF, tagged for screen readers (PDF/UA-1, what reportgen writes) and
untagged, alternated in one process so that the machine's load touches both alike.

    python benchmarks/pdf.py                                          # the committed fixture's report, 3 rounds
    python benchmarks/pdf.py --html experiments/output/digits/report.html   # a built report's HTML
    python benchmarks/pdf.py --rounds 1                               # one round

Prints the median seconds of each, their ratio, and the sizes of the two PDFs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from reportgen.manifest.loaded import load_manifest
from reportgen.report.document import assemble as document
from reportgen.report.figures import draw as figures
from reportgen.report.figures.cache import FigureCache
from reportgen.report.writers import html as render
from reportgen.report.writers.pdf import render_pdf
from reportgen.results.record import parse_results

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def print_html() -> str:
    """The print HTML of the committed fixture's report, with its real figures."""
    results = parse_results(json.loads((FIXTURES / "results-small.json").read_text("utf-8")))
    loaded = load_manifest(FIXTURES / "results-small.yaml")
    figs = figures.draw_all(results, loaded.sections, FigureCache(None, raster=True))  # PNGs in print, as a build
    doc = document.build(results, loaded.sections, figs, loaded.base_dir)
    return render.render_html(doc, medium="print")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, help="an HTML report (default: the committed fixture's print HTML)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    html = args.html.read_text("utf-8") if args.html else print_html()
    times: dict[bool, list[float]] = {True: [], False: []}
    sizes: dict[bool, int] = {}
    for _ in range(args.rounds):
        for tagged in (False, True):
            start = time.perf_counter()
            sizes[tagged] = len(render_pdf(html, tagged=tagged))
            times[tagged].append(time.perf_counter() - start)
    untagged, tagged = (statistics.median(times[k]) for k in (False, True))
    print(f"untagged PDF: {untagged:.2f} s, {sizes[False]:,} bytes")
    print(f"tagged PDF (PDF/UA-1): {tagged:.2f} s, {sizes[True]:,} bytes")
    print(f"tagged / untagged: time {tagged / untagged:.2f}x, size {sizes[True] / sizes[False]:.2f}x "
          f"(median of {args.rounds} rounds, alternated)")


if __name__ == "__main__":
    main()
