"""What the figures draw, read back from matplotlib's own objects."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from reportgen.report.figures.plots import _shade  # noqa: E402

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("key, low, high", [("val_acc", 0.0, 100.0), ("val_loss", 0.0, 2.9)])
def test_a_seed_band_stops_at_what_the_metric_can_be(key, low, high):
    """Three seeds, one far from the others: mean ± std reaches below 0 (and past 100 % for an accuracy)."""
    run = {"band": {"epoch": [1, 2, 3], key: {"mean": [0.362, 0.5, 0.9], "std": [0.4515, 0.6, 2.0]}}}
    fig, ax = plt.subplots()
    _shade(ax, run, key, "C0")
    ys = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert ys.min() == low and ys.max() == pytest.approx(high)  # 0.9 + 2.0: 290 % cut at 100 %, a loss of 2.9 kept
    plt.close(fig)
