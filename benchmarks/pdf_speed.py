"""The PDF stage alone, per report: wall and CPU seconds (median of rounds), pages and bytes.

    python benchmarks/pdf_speed.py                                   # the committed fixture's report, 3 rounds
    python benchmarks/pdf_speed.py --smoke experiments/en3150.yaml experiments/cnn-lab.yaml experiments/fast-response.yaml
    python benchmarks/pdf_speed.py experiments/digits.yaml --rounds 1   # a built report (OUT/results.json)

Each report is rendered from its recorded results (as `reportgen render`; its figures from OUT/cache/figures) and
only the PDF stage is timed.
"""

from __future__ import annotations

import argparse
import io
import statistics
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


def main(argv: list[str] | None = None) -> dict:
    """Parse the options, time each report's PDF, print and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="*", type=Path, help="built reports (default: the committed fixture's)")
    parser.add_argument("--smoke", action="store_true", help="their smoke builds (OUT: the smoke default)")
    parser.add_argument("--out", type=Path, action="append", help="each manifest's output folder, in order")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
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
