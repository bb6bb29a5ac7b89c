"""Shared fixtures: one tiny real build (real training, real HTML and PDF) reused by many tests."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import main

from manifests import TINY_MANIFEST  # tests/fixtures/tiny.yaml, verbatim

REPO = Path(__file__).resolve().parent.parent

TINY_PROSE = textwrap.dedent("""\
    # Introduction

    Some **bold** prose with a [link](https://example.org) and a [bad link](javascript:alert(1)).

    <script>alert("prose")</script>

    | Term | Meaning |
    |------|---------|
    | CNN  | convolutional network |
    """)


def write_manifest(folder: Path, text: str = TINY_MANIFEST, name: str = "tiny.yaml") -> Path:
    """Write a manifest (and the tiny prose file) into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "intro.md").write_text(TINY_PROSE, "utf-8")
    path = folder / name
    path.write_text(text, "utf-8")
    return path


HEAVY = ("torch", "torchvision", "timm", "sklearn")  # what the unit tier (-m unit) must never import


class _HeavyBlocked:
    """A meta-path finder refusing the heavy modules: the unit tier proves it needs none of them."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(f"{name} is blocked in the unit tier (-m unit): mark this test otherwise or keep it "
                              "torch-free")


def _unit_tier(config) -> bool:
    return (config.getoption("markexpr", "") or "").strip() == "unit"


def pytest_configure(config):
    """`-m unit`: the torch-free tier, run with torch, torchvision, timm and scikit-learn blocked."""
    if _unit_tier(config):
        sys.meta_path.insert(0, _HeavyBlocked())


def pytest_ignore_collect(collection_path, config):
    """In the unit tier, a test module with no unit test is not even imported (many import torch at the top)."""
    if _unit_tier(config) and collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return "mark.unit" not in collection_path.read_text("utf-8")
    return None


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging the suite if the block runs longer than seconds: a bound on a hang, not a timing."""
    def expired(*_):
        raise TimeoutError(f"took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def execute_json(*args, **kwargs) -> tuple[dict, dict | None]:
    """reportgen.run.execute.execute, its typed record given as results.json holds it (JSON, by key)."""
    from reportgen.run.execute import execute

    record, state = execute(*args, **kwargs)
    return record.model_dump(mode="json", by_alias=True), state


def cli(*args: str, env: dict | None = None):
    """Run the CLI in-process; returns click's Result (exit_code, output incl. stderr). The CI variable is unset
    (so per-epoch lines are printed, in CI too) unless env sets it; env's None values unset variables."""
    runner = CliRunner(env={"CI": None, **(env or {})})
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


class Built:
    """A finished build: paths and parsed outputs."""

    def __init__(self, manifest: Path, out: Path, log: str):
        self.manifest, self.out, self.log = manifest, out, log
        self.results = json.loads((out / "results.json").read_text("utf-8"))
        self.html = (out / "report.html").read_text("utf-8")
        self.pdf_path = out / "report.pdf"

    def pdf_pages(self) -> list[str]:
        from pypdf import PdfReader
        return [p.extract_text() for p in PdfReader(str(self.pdf_path)).pages]


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module's tests (`pytestmark = pytest.mark.usefixtures("one_thread")`): the same
    arithmetic in fits compared with each other, and faster epochs on a busy two-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory) -> Built:
    """The tiny manifest built once, end to end."""
    folder = tmp_path_factory.mktemp("tiny")
    manifest = write_manifest(folder)
    out = folder / "out"
    result = cli("build", manifest, "--out", out)
    assert result.exit_code == 0, result.output
    return Built(manifest, out, result.output)


@pytest.fixture(scope="session")
def tiny_smoke_build(tmp_path_factory) -> Built:
    """The tiny manifest built once with --smoke (a smoke report, PDF included)."""
    folder = tmp_path_factory.mktemp("tiny-smoke")
    manifest = write_manifest(folder)
    out = folder / "out"
    result = cli("build", manifest, "--smoke", "--out", out)
    assert result.exit_code == 0, result.output
    return Built(manifest, out, result.output)
