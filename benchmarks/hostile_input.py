"""Hostile input, measured: the time and the work (calls made) reportgen spends on each attack that the hostile-input
tests make, at a size n beside 4n, and beside a harmless input of the same kind.

    python benchmarks/hostile_input.py                 # median of 5 timed runs of each
    python benchmarks/hostile_input.py --quick         # 1 run each, the old title pattern at smaller sizes
                                                       # (what tests/grading/test_hostile_benchmark.py runs)
    python benchmarks/hostile_input.py --json hostile.json --markdown hostile.md

The tests (tests/manifest/test_hostile_manifest.py, tests/manifest/test_manifest.py, tests/report/test_hostile_prose.py) assert on what does
not depend on the machine: the calls counted here, the bytes read, the limits that stop each attack. The seconds
are printed here, measured side by side in one run, never asserted.

Growth, n against 4n (linear work: calls ×4 at most; quadratic: ×16):
  - prose nesting bombs (`>`, `> `, `- `, `*` repeated) and bracket bombs (`*[`, `![`, `[`, refused by the bracket
    limit before parsing), rendered by reportgen.report.prose.markdown.to_html;
  - a title line of n spaces, split by reportgen.report.prose.markdown.split_title, and by the pattern it once used
    (`\\A\\s*#\\s+(.+?)\\s*#*\\s*(?:\\n|\\Z)`, about n**3 steps: at small n, which is enough to see it).
    The regex engine runs in C: its work shows in the seconds only, one call either way.

Against a harmless input (load_manifest, or to_html with the manifest's folder):
  - YAML alias bombs (the tests' billion laughs, nested and wide ones) against the same text with every alias written
    out as one plain value;
  - a manifest over the 1,000,000-byte limit against a one-line manifest;
  - a 64 MiB image file, and PNG headers claiming 30 and 10,000 megapixels, against a small PNG embedded.

Each case runs once untimed first (imports, caches), then `--repeats` timed runs (the median is reported), then once
under cProfile for the calls.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import re
import statistics
import struct
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from html import unescape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reportgen.errors import ManifestError  # noqa: E402
from reportgen.manifest.loaded import load_manifest  # noqa: E402
from reportgen.report.prose import markdown as prose  # noqa: E402

OLD_TITLE = re.compile(r"\A\s*#\s+(.+?)\s*#*\s*(?:\n|\Z)")
LINEAR = 5  # calls at 4n over calls at n, at most, for work that grows linearly (the tests' bound)


@dataclass
class Measured:
    seconds: float
    calls: int


@dataclass
class Growth:
    attack: str
    n: int
    at_n: Measured
    at_4n: Measured

    @property
    def time_ratio(self) -> float:
        return self.at_4n.seconds / self.at_n.seconds

    @property
    def calls_ratio(self) -> float:
        return self.at_4n.calls / self.at_n.calls


@dataclass
class Against:
    attack: str
    harmless: str
    attacked: Measured
    baseline: Measured
    outcome: str  # what the attack got: the refusal, shortened

    @property
    def time_ratio(self) -> float:
        return self.attacked.seconds / self.baseline.seconds

    @property
    def calls_ratio(self) -> float:
        return self.attacked.calls / self.baseline.calls


def measure(fn, repeats: int) -> Measured:
    """Median seconds of `repeats` runs of fn() after an untimed one, and the calls of one more run, profiled."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    profile = cProfile.Profile()
    with profile:
        fn()
    return Measured(statistics.median(times), pstats.Stats(profile).total_calls)


def refusal(fn) -> str:
    """The message of the ManifestError fn() raises (its first problem), or 'accepted'."""
    try:
        fn()
    except ManifestError as exc:
        return exc.problems[0].message
    return "accepted"


def quiet(fn, *args):
    """fn(*args), a ManifestError taken as the expected answer."""
    def run():
        try:
            fn(*args)
        except ManifestError:
            pass
    return run


# ---------------------------------------------------------------- the attacks (as the tests make them)

def billion_laughs(levels: int = 10, width: int = 10) -> str:
    lines = ['lol0: &lol0 ["lol"]']
    lines += [f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def wide_bomb(count: int = 500) -> str:
    return "lol: &lol [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\nlols: [" + ", ".join(["*lol"] * count) + "]\n"


MANIFEST = """\
report: {title: Hostile input, team: [{name: A. Student}], date: 2024-01-15}
dataset: {name: digits, image_size: 8, channels: 1}
models:
  base:
    layers: [{conv: {out: 4, kernel: 3, padding: same}}, relu, {maxpool: 2}, flatten, {linear: classes}]
experiments:
  - {id: a, model: base}
sections: [cover, results_table]
"""


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def small_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- the measurements

def growth(repeats: int, quick: bool) -> list[Growth]:
    rows = []
    prose.to_html("warm *up* [x](https://x.example/) > q")
    for unit in (">", "> ", "- ", "*", "*[", "![", "["):
        n = 25_000
        rows.append(Growth(f"prose: {unit!r} × n", n, measure(lambda: prose.to_html(unit * n), repeats),
                           measure(lambda: prose.to_html(unit * 4 * n), repeats)))
    n = 250_000
    rows.append(Growth("title line of n spaces: split_title", n,
                       measure(lambda: prose.split_title("# a" + " " * n + "b\nbody"), repeats),
                       measure(lambda: prose.split_title("# a" + " " * 4 * n + "b\nbody"), repeats)))
    n = 100 if quick else 250
    rows.append(Growth("title line of n spaces: the old pattern", n,
                       measure(lambda: OLD_TITLE.match("# a" + " " * n + "b\nbody"), repeats),
                       measure(lambda: OLD_TITLE.match("# a" + " " * 4 * n + "b\nbody"), repeats)))
    return rows


def against(folder: Path, repeats: int) -> list[Against]:
    rows = []
    for name, bomb in (("YAML alias bomb: billion laughs (10 × 10, 90 aliases)", billion_laughs()),
                       ("YAML alias bomb: nested (9 × 9, 72 aliases)", billion_laughs(9, 9)),
                       ("YAML alias bomb: wide (500 aliases)", wide_bomb())):
        text = MANIFEST.replace("dataset:", bomb + "dataset:", 1)
        attacked, defused = folder / "bomb.yaml", folder / "defused.yaml"
        attacked.write_text(text, "utf-8")
        defused.write_text(re.sub(r"\*lol\d*", "lol", text), "utf-8")
        rows.append(Against(name, "the same text, aliases written out",
                            measure(quiet(load_manifest, attacked), repeats),
                            measure(quiet(load_manifest, defused), repeats), refusal(lambda: load_manifest(attacked))))
    big, one_line = folder / "big.yaml", folder / "one-line.yaml"
    big.write_text(MANIFEST + ("#" + "x" * 98 + "\n") * 10_000, "utf-8")
    one_line.write_text("42\n", "utf-8")
    rows.append(Against(f"manifest of {big.stat().st_size:,} bytes", "a one-line manifest",
                        measure(quiet(load_manifest, big), repeats), measure(quiet(load_manifest, one_line), repeats),
                        refusal(lambda: load_manifest(big))))
    (folder / "small.png").write_bytes(small_png())
    with open(folder / "huge.png", "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.truncate(64 << 20)  # sparse
    (folder / "pixels.png").write_bytes(png_header_only(6000, 5000))
    (folder / "bomb.png").write_bytes(png_header_only(100_000, 100_000))
    baseline = measure(lambda: prose.to_html("![a](small.png)", base_dir=folder), repeats)
    for name, src in (("image file of 64 MiB", "huge.png"), ("PNG header: 6000 × 5000 (30 megapixels)", "pixels.png"),
                      ("PNG header: 100,000 × 100,000", "bomb.png")):
        html = prose.to_html(f"![a]({src})", base_dir=folder)
        shown = re.search(r'class="image-refused">image not embedded: ([^<]*?)(?: \(alt text: a\))?<', html)
        rows.append(Against(name, "a 40 × 30 PNG embedded",
                            measure(lambda: prose.to_html(f"![a]({src})", base_dir=folder), repeats), baseline,
                            unescape(shown.group(1)) if shown else "embedded"))
    return rows


# ---------------------------------------------------------------- output

def _s(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def markdown(grown: list[Growth], compared: list[Against], repeats: int) -> str:
    out = [f"Hostile input (Python {sys.version.split()[0]}, median of {repeats} run(s); calls: one profiled run)", "",
           "| growth | n | time at n | time at 4n | time × | calls at n | calls at 4n | calls × |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for g in grown:
        out.append(f"| {g.attack} | {g.n:,} | {_s(g.at_n.seconds)} | {_s(g.at_4n.seconds)} | {g.time_ratio:.2f}× | "
                   f"{g.at_n.calls:,} | {g.at_4n.calls:,} | {g.calls_ratio:.2f}× |")
    out += ["", "| attack | against | time | its time | time × | calls | its calls | calls × | outcome |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for a in compared:
        out.append(f"| {a.attack} | {a.harmless} | {_s(a.attacked.seconds)} | {_s(a.baseline.seconds)} | "
                   f"{a.time_ratio:.2f}× | {a.attacked.calls:,} | {a.baseline.calls:,} | {a.calls_ratio:.2f}× | "
                   f"{a.outcome[:70]} |")
    return "\n".join(out) + "\n"


def report(grown: list[Growth], compared: list[Against], repeats: int, quick: bool) -> dict:
    return {"python": sys.version.split()[0], "repeats": repeats, "quick": quick, "linear_bound": LINEAR,
            "growth": [{**asdict(g), "time_ratio": g.time_ratio, "calls_ratio": g.calls_ratio} for g in grown],
            "against": [{**asdict(a), "time_ratio": a.time_ratio, "calls_ratio": a.calls_ratio} for a in compared]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=None, help="timed runs of each case (default 5; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="one timed run each, the old title pattern at n = 100")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = ap.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    grown = growth(repeats, args.quick)
    with tempfile.TemporaryDirectory(prefix="reportgen-hostile-") as tmp:
        compared = against(Path(tmp), repeats)
    text = markdown(grown, compared, repeats)
    print(text, end="", flush=True)
    figures = report(grown, compared, repeats, args.quick)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", "utf-8")
    if args.markdown:
        args.markdown.write_text(text, "utf-8")
    return figures


if __name__ == "__main__":
    main()
