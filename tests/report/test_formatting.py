"""Percentages print as percentages; gaps print as dashes."""

import pytest

from reportgen.report.wording.formatting import dec, num, pct, secs, shape, sig

pytestmark = pytest.mark.unit  # torch-free: the unit tier (`-m unit`) runs it with torch blocked


def test_percentages_are_percentages():
    assert pct(0.7414) == "74.14\u00a0%"
    assert pct(1.0) == "100.00\u00a0%" and pct(0.0069) == "0.69\u00a0%"
    assert pct(None) == "—" and pct(float("nan")) == "—"


def test_numbers():
    assert num(390858) == "390,858" and dec(0.744312) == "0.7443" and sig(0.00025) == "0.00025"
    assert secs(4.24) == "4.2\u00a0s" and secs(185) == "3\u00a0min 05\u00a0s" and secs(3720) == "1\u00a0h 02\u00a0min"
    assert shape([32, 16, 16]) == "32 × 16 × 16"
