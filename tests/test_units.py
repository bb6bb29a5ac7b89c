"""reportgen.units: the one test of a number and the one way to write seconds, shared by the run side (progress
lines), the report (formatting.secs) and the grading tools."""

from __future__ import annotations

import math

import pytest

from reportgen.report.wording.formatting import secs
from reportgen.units import duration, is_number

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("seconds, progress, report", [
    (4.24, "4 s", "4.2\u00a0s"), (59.4, "59 s", "59.4\u00a0s"), (185.0, "3 min 05 s", "3\u00a0min 05\u00a0s"),
    (3725.0, "1 h 02 min", "1\u00a0h 02\u00a0min"), (-2.0, "0 s", "0.0\u00a0s")])
def test_progress_lines_and_reports_write_durations_the_same_way(seconds, progress, report):
    assert duration(seconds) == progress and secs(seconds) == report


def test_numbers_are_ints_and_floats_not_bools_and_finite_unless_asked():
    assert is_number(3) and is_number(0.5) and not is_number(True) and not is_number("3") and not is_number(None)
    assert not is_number(math.nan) and not is_number(math.inf)
    assert is_number(math.nan, finite=False) and is_number(-math.inf, finite=False)
