"""Every figure's key, spelled once: figures/ draws under it, views/ look the drawing up by it, and the templates
and stylesheets select on its prefix (`data-key^="tradeoff-"`). `i` is the section's index in the manifest."""

from __future__ import annotations


def loss_key(i: int, rid: str) -> str:
    """A training section's loss curves of one run."""
    return f"loss/{i}/{rid}"


def acc_key(i: int, rid: str) -> str:
    """A training section's accuracy curves of one run."""
    return f"acc/{i}/{rid}"


def cm_key(i: int, rid: str) -> str:
    """An evaluation section's confusion matrix of one run."""
    return f"cm/{i}/{rid}"


def overlay_key(i: int) -> str:
    """A comparison's overlaid curves of every run."""
    return f"cmp/{i}"


def vary_key(i: int) -> str:
    """A comparison's accuracy against the varied value."""
    return f"vary/{i}"


def bars_key(i: int) -> str:
    """A comparison's accuracy bars (when no one value is varied)."""
    return f"bars/{i}"


def cm_grid_key(i: int) -> str:
    """A comparison's confusion matrices as small multiples."""
    return f"cmgrid/{i}"


def notebook_key(i: int, item: int, rid: str) -> str:
    """A notebook item's loss-and-accuracy pair of one run."""
    return f"nb/{i}/{item}/{rid}"


DATASET_FIGURES = ("counts", "splits", "grid", "pca", "tsne")


def dataset_key(name: str, i: int) -> str:
    """A dataset section's figure: one of DATASET_FIGURES."""
    assert name in DATASET_FIGURES, name
    return f"ds-{name}/{i}"


TRADEOFF_FIGURES = ("lat", "par")


def tradeoff_key(name: str, i: int) -> str:
    """A trade-off section's scatter plot: accuracy against latency ('lat') or parameters ('par')."""
    assert name in TRADEOFF_FIGURES, name
    return f"tradeoff-{name}/{i}"
