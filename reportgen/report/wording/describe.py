"""The report's words for the structured facts of results.json: layer options, freezing, heads, dataset sources.

results.json holds the data (reportgen.models.build.layer_config / freeze_policy); the sentences live here, so
rewording them changes the HTML and never a run's cache key."""

from __future__ import annotations

from reportgen.results.record import LayerRow

def _size(v) -> str:
    """A stride as printed: '2' for [2, 2], '1×2' for [1, 2]."""
    if isinstance(v, (list, tuple)):
        return f"{v[0]}×{v[1]}" if v[0] != v[1] else f"{v[0]}"
    return f"{v}"


def _bias(config: dict) -> str:
    return "" if config.get("bias", True) else ", no bias"


def layer_config(layer: LayerRow) -> str:
    """A layer's configuration in words, as the architecture table prints it, from its record
    (`config`, and `output_shape` for a dense layer with one output per class)."""
    config = layer.config
    kind = config.get("kind")
    if kind is None:
        return ""
    if kind == "conv":
        k = config["kernel"]
        return (f"{config['out']} filters, kernel {k[0]}×{k[1]}, stride {_size(config['stride'])}, "
                f"padding {config['padding']}" + _bias(config))
    if kind in ("maxpool", "avgpool"):
        k = config["kernel"]
        return (f"kernel {k[0]}×{k[1]}, stride {_size(config['stride'])}"
                + (f", padding {config['padding']}" if config.get("padding") else ""))
    if kind == "linear":
        out = f"{layer.output_shape[-1]} (one per class)" if config["out"] == "classes" else str(config["out"])
        return f"{out} outputs" + _bias(config)
    if kind == "dropout":
        return f"p = {config['p']}"
    if kind == "batchnorm":
        return f"eps {config['eps']:g}, momentum {config['momentum']:g}"
    if kind == "flatten":
        return "to a vector"
    if kind == "global_avgpool":
        return "mean over height and width"
    if kind == "leaky_relu":
        return f"negative slope {config['negative_slope']:g}"
    return "activation"


def freeze_policy(freeze: dict | None) -> str:
    """A network's freezing policy in words, as the architecture section's sentence ends."""
    policy = (freeze or {}).get("policy", "none")
    if policy == "backbone":
        return "backbone frozen: only the new head is trained"
    if policy == "train_last":
        return f"all but the last {freeze['blocks']} blocks frozen"
    if policy == "modules":
        return "frozen: " + ", ".join(freeze["modules"])
    return "nothing frozen: every layer is fine-tuned"


def head_layers(dense: list | None) -> str:
    """A new classifier head: 'linear', or its hidden widths then the classes ('128 → classes')."""
    return "linear" if not dense else " → ".join([*map(str, dense), "classes"])


def smoke_random_weights(file: str) -> str:
    """Why a smoke build's network has random weights."""
    return f"smoke build: {file} not in the cache, so the weights are random"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _split(split: dict) -> str:
    if "ratios" in split:
        return f"split {'/'.join(f'{v:g}' for v in split['ratios'])} (train/validation/test) by class"
    return f"validation carved from {split['carved_from']} by class"


def source_text(source: dict) -> str:
    """One line: 'CIFAR-10 from data/cifar-10-batches-py; validated on the test set', and the like."""
    kind = source.get("kind")
    if kind == "digits":
        text = f"scikit-learn bundled digits ({source['images']:,} images)"
    elif kind in ("cifar", "torchvision"):
        text = f"{source['format']} from {source['path']}" + (f", {source['labels']} labels" if source.get("labels") else "")
    elif kind == "imagefolder":
        text = (f"image folders from {' and '.join(source['paths'])} ({source['images']:,} images, "
                f"{source['classes']} classes; {_split(source['split'])})")
        if source.get("ignored"):
            text += f"; ignored folders not in `classes:`: {', '.join(source['ignored'])}"
        if source.get("skipped"):
            text += f"; {_plural(source['skipped'], 'unreadable file')} skipped"
    elif kind == "synthetic":
        missing = (f"image folder {source['path']} not found" if source.get("missing") == "image folder"
                   else f"{source.get('missing')} files not found in {source.get('path')}")
        text = f"synthetic images (smoke build; {missing})"
    else:
        text = str(kind or "unknown source")
    if source.get("validated_on_test"):
        text += "; validated on the test set"
    if source.get("smoke_limit"):
        text += f"; smoke subset of at most {source['smoke_limit']} images per split"
    return text
