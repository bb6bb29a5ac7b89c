"""`reportgen grade` against a hostile class (tests/grading/hostile_class.py): every forged report and every file that is not
what it claims is a finding or an error, nothing a submission holds reaches the grader's terminal or files, nothing is
written outside the outputs, no process outlives grade, and `--verify` runs no hostile module to any effect."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import select
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO
from hostile_class import (BOMB_BYTES, DATA, ESCAPES, FILE, FORGED, GOOD, MODULE, NAME, PWNED, Sources,
                           build_sources, plant_secret, write_hostile_class, write_verify_class)

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
NOT_REPRODUCED = ("could not run", "differs")


@pytest.fixture(scope="module")
def sources(tiny_build, tmp_path_factory) -> Sources:
    """The builds the class is copied from: the session's tiny build, and the module, CIFAR and escaped ones."""
    return build_sources(tmp_path_factory.mktemp("hostile-sources"), tiny_build.out, tiny_build.manifest)


@pytest.fixture
def listener():
    """A listening socket on 127.0.0.1 that a hostile module tries to reach."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server
    server.close()


@dataclass
class Scene:
    """One test's layout: tmp/class (the submissions), tmp/secret.txt beside it, tmp/out for grade's outputs."""

    tmp: Path
    class_dir: Path
    out: Path
    marker: str
    kinds: dict[str, str]
    server: socket.socket

    @property
    def skipped(self) -> set[Path]:
        """What grade may write under tmp: its outputs, temporary folders, the grader's own cache."""
        return {self.out, self.tmp / "tmp", self.tmp / "home-cache"}


def _scene(tmp_path: Path, sources: Sources, server: socket.socket, write) -> Scene:
    """Plant the secret, write a class with `write`, and make grade's temporary and cache folders."""
    marker = plant_secret(tmp_path / "secret.txt")
    kinds = write(tmp_path / "class", sources, tmp_path / "secret.txt", server.getsockname()[1])
    for name in ("tmp", "home-cache"):
        (tmp_path / name).mkdir()
    return Scene(tmp_path, tmp_path / "class", tmp_path / "out", marker, kinds, server)


def _grade(scene: Scene, *args: str) -> tuple[int, str, str]:
    """`reportgen grade CLASS --out OUT/grades.csv ARGS` as a subprocess: exit code, stdout, stderr. Temporary files
    (verify's scratch folders) go under tmp/tmp, so processes left behind can be found by that path."""
    env = {**os.environ, "TMPDIR": str(scene.tmp / "tmp"), "XDG_CACHE_HOME": str(scene.tmp / "home-cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-m", "reportgen.cli", "grade", str(scene.class_dir), "--out",
                           str(scene.out / "grades.csv"), *args], cwd=REPO, env=env, capture_output=True, timeout=600)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def _snapshot(top: Path, skipped: set[Path]) -> dict[str, tuple]:
    """Every name under top (links not followed, skipped folders left out): kind, size, mtime."""
    found = {}
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if Path(root, d) not in skipped]
        for name in dirs + files:
            st = os.lstat(Path(root, name))
            found[str(Path(root, name).relative_to(top))] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)
    return found


def _changes(before: dict, after: dict) -> list[str]:
    """What differs between two snapshots, by name."""
    return sorted(f"{'+' if k not in before else '-' if k not in after else '~'} {k}"
                  for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _rows(out: Path) -> dict[str, dict]:
    """grades.csv's rows by folder."""
    return {r["folder"]: r for r in csv.DictReader(io.StringIO((out / "grades.csv").read_text("utf-8")))}


def _has_problem(row: dict) -> bool:
    """Whether a row carries findings or an error."""
    return bool(row["error"]) or row["findings"] not in ("", "0")


def _connected(server: socket.socket) -> bool:
    """Whether anything connected to the listener (a finished connection waits in its backlog)."""
    return bool(select.select([server], [], [], 0)[0])


def _ancestors() -> set[int]:
    """This process and its ancestors (pytest, xdist's worker and whatever started them)."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        with open(f"/proc/{pid}/stat", "rb") as fh:
            pid = int(fh.read().rsplit(b")", 1)[1].split()[1])
    return pids


def _read(path: str) -> str:
    """A /proc entry as text ('' when the process is gone or not ours to read)."""
    try:
        if path.endswith("/cwd"):
            return os.readlink(path) + os.sep  # a folder's path ends in a separator, as the marks do
        with open(path, "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _strays(mark: str) -> list[str]:
    """Processes (not pytest's) whose command line, environment or working folder mention `mark`."""
    mine = _ancestors()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) in mine:
            continue
        seen = [_read(f"/proc/{pid}/{part}") for part in ("cmdline", "environ", "cwd")]
        if any(mark in text for text in seen):
            found.append(f"{pid}: {seen[0][:300]}")
    return found


def _no_strays(mark: str, seconds: float = 10) -> list[str]:
    """The processes still mentioning mark after up to `seconds` (empty: none): a poll while killed processes finish
    dying, not a wait for strays to end by themselves (the class's stray, module-fork-sleeper, sleeps 600 s)."""
    deadline = time.monotonic() + seconds
    while (found := _strays(mark)) and time.monotonic() < deadline:
        time.sleep(0.25)
    return found


def _files(top: Path) -> dict[Path, bytes]:
    """Every regular file under top, read."""
    return {Path(root, n): Path(root, n).read_bytes() for root, _, names in os.walk(top) for n in names
            if stat.S_ISREG(os.lstat(Path(root, n)).st_mode)}


def _leaves_no_trace(scene: Scene, before: dict, stdout: str, stderr: str) -> None:
    """Nothing changed outside the outputs, nothing was written outside, the secret was read by nobody, no process
    lives on, and nothing reached the listener."""
    assert _changes(before, _snapshot(scene.tmp, scene.skipped)) == [], "written outside the outputs"
    assert not (scene.tmp / PWNED).exists()
    leaked = [str(p) for p, data in _files(scene.out).items() if scene.marker.encode() in data]
    assert leaked == [] and scene.marker not in stdout and scene.marker not in stderr
    assert _no_strays(str(scene.tmp) + os.sep) == [], "processes outlived grade"
    assert not _connected(scene.server), "a submission's code reached the network"


def _printable_everywhere(scene: Scene, stdout: str, stderr: str) -> None:
    """No control character in stdout, stderr, any grades.csv cell, or any findings file."""
    assert not CONTROL.findall(stdout) and not CONTROL.findall(stderr), (CONTROL.findall(stdout + stderr))
    cells = [c for row in csv.reader(io.StringIO((scene.out / "grades.csv").read_text("utf-8"))) for c in row]
    assert [c for c in cells if CONTROL.search(c)] == []
    texts = {p.name: p.read_text("utf-8") for p in (scene.out / "grades-findings").iterdir() if p.suffix == ".txt"}
    assert len(texts) == len(scene.kinds)
    assert {n: CONTROL.findall(t) for n, t in texts.items() if CONTROL.search(t)} == {}


@pytest.mark.slow
def test_the_hostile_class_holds_every_attack(sources, listener, tmp_path):
    scene = _scene(tmp_path, sources, listener, write_hostile_class)
    kinds = scene.kinds
    assert len(kinds) >= 30 and sorted(p.name for p in scene.class_dir.iterdir()) == sorted(kinds)
    assert {k: sum(v == k for v in kinds.values()) for k in (GOOD, FORGED, MODULE, FILE, DATA, NAME)} == {
        GOOD: 7, FORGED: 7, MODULE: 7, FILE: 8, DATA: 2, NAME: 5}
    folder = scene.class_dir
    assert os.readlink(folder / "file-html-dev-zero" / "report.html") == "/dev/zero"
    assert os.readlink(folder / "file-results-secret-link" / "results.json") == str(tmp_path / "secret.txt")
    other = (folder / "file-results-other-team" / "results.json").resolve()
    assert other == (folder / "good-1" / "results.json").resolve()
    assert stat.S_ISFIFO(os.lstat(folder / "file-html-fifo" / "report.html").st_mode)
    assert stat.S_ISFIFO(os.lstat(folder / "data-fifo" / "data" / "cifar-10-python.tar.gz").st_mode)
    assert (folder / "file-html-40mb" / "report.html").stat().st_size == 40 << 20
    bomb = folder / "data-archive-bomb" / "data" / "cifar-10-python.tar.gz"
    with tarfile.open(bomb) as tar:
        assert tar.next().size == BOMB_BYTES
    assert bomb.stat().st_size < 16 << 20
    with pytest.raises(RecursionError):
        json.loads((folder / "file-results-deep-json" / "results.json").read_text("utf-8"))
    title = json.loads((folder / "name-terminal-escapes" / "results.json").read_text("utf-8"))["report"]["title"]
    assert ESCAPES in title
    assert "epochs: 5" in (folder / "forged-manifest-epochs" / "tiny.yaml").read_text("utf-8")
    assert "Content-Security-Policy" not in (folder / "forged-csp-removed-script" / "report.html").read_text("utf-8")
    assert "sendall" in (folder / "module-socket" / "net.py").read_text("utf-8")


@pytest.mark.slow
def test_grade_finds_every_attack_prints_no_escape_and_leaves_no_trace(sources, listener, tmp_path):
    scene = _scene(tmp_path, sources, listener, write_hostile_class)
    before = _snapshot(tmp_path, scene.skipped)
    code, stdout, stderr = _grade(scene, "--jobs", "2")
    assert code == 1 and "Traceback" not in stderr, stderr[-5000:]
    rows = _rows(scene.out)
    assert sorted(rows) == sorted(scene.kinds), "every folder holding files is a row; none can hide"
    missed = {n: (rows[n]["findings"], rows[n]["findings_summary"]) for n, k in scene.kinds.items()
              if k in (FORGED, FILE) and not _has_problem(rows[n])}
    assert missed == {}, "forged or swapped files that grade found nothing in"
    crashed = {n: r["error"][:200] for n, r in rows.items() if "internal error" in r["error"]}
    assert crashed == {}, "a file that is not what it claims makes an unusable row with a reason, not a crash"
    unclean = {n: (rows[n]["findings_summary"], rows[n]["error"][:200]) for n, k in scene.kinds.items()
               if k == GOOD and _has_problem(rows[n])}
    assert unclean == {}
    hidden = {n: (rows[n]["findings_summary"], rows[n]["error"][:200]) for n in
              (".sneaky", "name-grade-marker", "grades-findings", "gradescope") if _has_problem(rows[n])}
    assert hidden == {}, "real submissions under hiding names are checked like any other"
    assert rows["name-terminal-escapes"]["error"] == ""
    _printable_everywhere(scene, stdout, stderr)
    _leaves_no_trace(scene, before, stdout, stderr)


def _bubblewrap_works() -> str | None:
    """Why module files cannot be run isolated here, or None when bubblewrap can make its namespaces."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed: grade --verify does not run module files without it"
    done = subprocess.run([exe, "--unshare-all", "--ro-bind", "/", "/", "true"], capture_output=True, timeout=30)
    if done.returncode != 0:
        return f"bwrap cannot create namespaces here: {done.stderr.decode(errors='replace').strip()[-200:]}"
    return None


@pytest.mark.slow
def test_verify_runs_hostile_modules_to_no_effect_and_reproduces_the_honest_one(sources, listener, tmp_path):
    why = _bubblewrap_works()
    if why:
        pytest.skip(why)
    scene = _scene(tmp_path, sources, listener, write_verify_class)
    before = _snapshot(tmp_path, scene.skipped)
    code, stdout, stderr = _grade(scene, "--jobs", "2", "--verify", "--sample", "1", "--time-limit", "90",
                                  "--memory-limit", "6")
    assert code == 1 and "Traceback" not in stderr, stderr[-5000:]
    rows = _rows(scene.out)
    assert sorted(rows) == sorted(scene.kinds)
    findings = scene.out / "grades-findings"
    assert rows["module-good"]["verification"] == "reproduced", (findings / "module-good.txt").read_text("utf-8")
    ran = {n: rows[n]["verification"] for n, k in scene.kinds.items() if k == MODULE}
    assert {n: v for n, v in ran.items() if v not in NOT_REPRODUCED} == {}, {
        n: (findings / f"{n}.txt").read_text("utf-8")[-600:] for n, v in ran.items() if v not in NOT_REPRODUCED}
    _printable_everywhere(scene, stdout, stderr)
    _leaves_no_trace(scene, before, stdout, stderr)


@pytest.mark.slow
def test_benchmark_grades_the_hostile_class(sources, listener, tmp_path):
    """The benchmark script on a part of the class (the whole class is graded above; this checks what it prints)."""
    import shutil

    scene = _scene(tmp_path, sources, listener, write_hostile_class)
    kept = {"good-1", "good-2", "file-html-fifo", "file-results-deep-json", "file-html-40mb", "forged-svg-text"}
    for name in list(scene.kinds):
        if name not in kept:
            path = scene.class_dir / name
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            del scene.kinds[name]
    report_file = tmp_path / "bench.json"
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "XDG_CACHE_HOME": str(tmp_path / "home-cache")}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "grade.py"), "--class", str(scene.class_dir),
                           "--json", str(report_file)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(report_file.read_text("utf-8"))["hostile"]
    assert report["submissions"] == len(scene.kinds) and report["grade_exit"] == 1 and report["wall_s"] > 0
    assert f"| submissions | {len(scene.kinds)} |" in proc.stdout
    slowest = report["slowest"]
    if slowest is None:
        assert "not reported" in proc.stdout
    else:
        assert slowest["folder"] in scene.kinds and slowest["seconds"] > 0 and slowest["folder"] in proc.stdout
    assert ("peak memory per worker" in proc.stdout) and report["max_child_rss_mb"] > 0
