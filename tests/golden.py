"""The committed golden results and the manifest that made them (tests/fixtures/results-small.*), torch-free:
what the unit tier renders reports from (tests' helper; a test module imports the fixtures `loaded` and
`results` to use them)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from reportgen.manifest.loaded import LoadedManifest, load_manifest
from reportgen.results.record import Results, parse_results

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MANIFEST = FIXTURES / "results-small.yaml"
RESULTS = FIXTURES / "results-small.json"


@functools.cache
def golden_manifest() -> LoadedManifest:
    """The fixture's manifest (its sections and folder), loaded once."""
    return load_manifest(MANIFEST)


def golden_results() -> dict:
    """The committed, hand-checked results of two 2-epoch runs of one model on the bundled digits: a fresh copy."""
    return json.loads(RESULTS.read_text("utf-8"))


def golden_record() -> Results:
    """The golden results as the typed record the report reads: a fresh copy."""
    return parse_results(golden_results())


@pytest.fixture(scope="module")
def loaded() -> LoadedManifest:
    return golden_manifest()


@pytest.fixture(scope="module")
def results() -> dict:
    return golden_results()


@pytest.fixture(scope="module")
def record() -> Results:
    return golden_record()
