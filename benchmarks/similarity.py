"""Cost of `reportgen grade --similarity`: `compare_class` on a generated class of 100 submissions.

    python benchmarks/similarity.py                       # 100 submissions, three prose files of 1,500 words each
    python benchmarks/similarity.py --submissions 200 --words 3000 --repeats 3

Each submission (tests/grading/similar_class.py) holds a manifest (the starter's model and experiment and two of its
own, one a sweep), the starter's introduction and three Markdown files of its own of `--words` words, a 100-line
`module:` file, the starter's module, a report.html whose prose sections repeat two of the Markdown files, and a
results.json of three runs with three seeds each; a fifth of the teams copy a neighbour's discussion, reworded.
The class is written once into a temporary folder (not timed); then `compare_class` runs `--repeats` times with
the starter as base and the median wall time is printed, with each stage's time of the median run and the pairs
found.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "grading")]

from similar_class import _words, own_team, prose, reworded, starter, write_team  # noqa: E402

from reportgen.grading.similar import compare_class  # noqa: E402


def write(root: Path, submissions: int, words: int) -> list[Path]:
    """The starter in root/starter and the class in root/class; the class's folders."""
    start = starter()
    write_team(root / "starter", start, start)
    teams = [own_team(f"team{i:03d}", 1000 + i, words) for i in range(submissions)]
    rng = random.Random(1)
    for i in range(0, submissions - 1, 5):  # a fifth of the class copies a neighbour's discussion
        teams[i + 1].discussion = reworded(teams[i].discussion, rng, _words(rng, 400))
    for i, team in enumerate(teams):
        folder = root / "class" / team.name
        write_team(folder, team, start)
        mine = random.Random(5000 + i)
        vocabulary = _words(mine, 400)
        for name in ("method.md", "results.md"):
            (folder / name).write_text(prose(mine, words, vocabulary), "utf-8")
    return sorted((root / "class").iterdir())


def main() -> None:
    """Write the class, time compare_class, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--words", type=int, default=1500, help="words of each Markdown file of a team's own")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clock = time.perf_counter()
        folders = write(Path(tmp), args.submissions, args.words)
        written = time.perf_counter() - clock
        size = sum(f.stat().st_size for d in folders for f in d.iterdir())
        runs = []
        for _ in range(args.repeats):
            clock = time.perf_counter()
            result = compare_class(folders, base=Path(tmp) / "starter")
            runs.append((time.perf_counter() - clock, result))
        runs.sort(key=lambda r: r[0])
        wall, result = runs[len(runs) // 2]
    print(f"class: {len(folders)} submissions, {size / 1e6:.1f} MB, written in {written:.1f} s "
          f"(not timed); {os.cpu_count()} CPUs")
    print(f"compare_class: {wall:.2f} s wall (median of {args.repeats}; "
          f"{statistics.mean(r[0] for r in runs):.2f} s mean)")
    for stage, seconds in result.seconds.items():
        print(f"  {stage:<16} {seconds:7.2f} s")
    print(f"pairs at or above {result.threshold}: {len(result.pairs)}; identical-run groups: "
          f"{len(result.groups_identical)}; unreadable: {len(result.unreadable)}")


if __name__ == "__main__":
    main()
