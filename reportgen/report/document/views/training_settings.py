"""The training-settings table's words for a run's schedule, loss, gradient clipping and tested weights."""

from __future__ import annotations

from markupsafe import Markup

from reportgen.report.wording.formatting import sig
from reportgen.report.document.keyed import at_in
from reportgen.results.run_record import EpochRow, RunRecord

PLATEAU_DEFAULTS = {"threshold": 1e-4, "threshold_mode": "rel", "cooldown": 0, "min_lr": 0.0}
LISTED_WEIGHTS = 12  # more class weights than this print as their range


def _epochs(n) -> str:
    return f"{n} epoch{'s' if n != 1 else ''}"


def _reductions(rows: list[EpochRow]) -> str:
    """'; reduced before epochs 6 (to 0.0001) and 9 (to 1e-05)' from the epoch rows' learning rates."""
    cuts = [(b.epoch, b.lr) for a, b in zip(rows, rows[1:]) if a.lr is not None and b.lr is not None and b.lr < a.lr]
    if not rows or rows[0].lr is None:
        return ""
    if not cuts:
        return "; not reduced"
    said = [f"{epoch} (to {sig(lr)})" for epoch, lr in cuts]
    listed = said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]
    return f"; reduced before epoch{'s' if len(said) > 1 else ''} {listed}"


def schedule_text(s: dict | None, rows: list[EpochRow] | None = None) -> str | None:
    """The learning-rate schedule in words (for plateau, where it cut the rate), None without one."""
    if not s:
        return None
    name = s.get("name")
    if name == "step":
        return f"step: × {sig(s.get('gamma'))} every {s.get('step_size')} epochs"
    if name == "cosine":
        return f"cosine annealing to {sig(s.get('eta_min'))}"
    if name == "one_cycle":
        return "one-cycle" + (f", peak {sig(s['max_lr'])}" if s.get("max_lr") else "")
    if name == "plateau":
        text = (f"reduce on plateau: × {sig(s.get('factor'))} after {_epochs(s.get('patience'))} without improvement "
                "of the validation loss")
        if (s.get("threshold"), s.get("threshold_mode")) != (PLATEAU_DEFAULTS["threshold"], "rel"):
            how = "absolute" if s.get("threshold_mode") == "abs" else "relative"
            text += f" (by at least {sig(s.get('threshold'))}, {how})"
        if s.get("cooldown"):
            text += f", then {_epochs(s['cooldown'])} of cooldown"
        if s.get("min_lr"):
            text += f", down to at least {sig(s['min_lr'])}"
        return text + _reductions(rows or [])
    return str(name)


def _weights_text(config: dict, used: list[float] | None) -> str:
    declared = config.get("class_weights")
    if declared is None:
        return ""
    values = used if used is not None else (declared if isinstance(declared, list) else None)
    shown = ""
    if values:
        shown = (", ".join(sig(w) for w in values) if len(values) <= LISTED_WEIGHTS
                 else f"from {sig(min(values))} to {sig(max(values))}")
    if declared == "balanced":
        return ("balanced class weights (n / (classes × images of the class) over the training split"
                + (f": {shown}" if shown else "") + ")")
    return f"class weights {shown}"


def trains_other_loss(config: dict) -> bool:
    """Whether the training loss differs from the plain cross-entropy the validation and test losses are."""
    return config.get("loss") == "focal" or bool(config.get("class_weights")) or bool(config.get("label_smoothing"))


def loss_text(config: dict, used_weights: list[float] | None = None) -> str:
    """The loss trained, e.g. 'focal loss −α_t (1 − p_t)^γ log p_t, γ = 2, ...' (`used_weights`: as computed)."""
    weights = _weights_text(config, used_weights)
    if config.get("loss") == "focal":
        alpha, gamma = "α_t " if weights else "", sig(config.get("focal_gamma"))
        parts = [f"focal loss −{alpha}(1 − p_t)^γ log p_t, γ = {gamma}, mean over the batch (sparse integer labels)"]
        if weights:
            parts.append(f"α_t: the true class's weight, {weights}")
    else:
        parts = ["cross-entropy (sparse integer labels)"]
        if config.get("label_smoothing"):
            parts.append(f"label smoothing {sig(config['label_smoothing'])}")
        if weights:
            parts.append(weights + ", as PyTorch's weighted mean")
    text = "; ".join(parts)
    return text + ("; the validation and test losses are plain cross-entropy" if trains_other_loss(config) else "")


def clip_text(clip: dict | None) -> str | None:
    """Gradient clipping in words, None without it."""
    if not clip:
        return None
    if clip.get("max_norm") is not None:
        return f"total L2 norm of the gradients clipped to {sig(clip['max_norm'])} before each step"
    return f"each gradient element clipped to ±{sig(clip.get('value'))} before each step"


def tested_weights(run: RunRecord) -> Markup | str | None:
    """Which epoch's weights were tested under `checkpoint: best`, None for the default (the last epoch's)."""
    if run.config.get("checkpoint") != "best":
        return None
    if run.best_epoch is not None:
        return Markup("those of epoch {}, the lowest validation loss (checkpoint: best)").format(
            at_in(run, ("runs", run.id), "best_epoch"))
    if run.status == "diverged":
        return "the last finite weights: the run diverged (checkpoint: best applies to runs that finish)"
    return None
