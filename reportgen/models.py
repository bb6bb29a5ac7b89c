"""Build PyTorch modules from the manifest's layer lists, inferring every input size."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .errors import ManifestError, Problem
from .manifest import LoadedManifest


class LayerError(ValueError):
    """A layer that cannot follow the previous one (shape mismatch, too-large kernel, …)."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


class GlobalAvgPool(nn.Module):
    """Average over the spatial dimensions: (N, C, H, W) → (N, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def _activation(kind: str, opts: dict) -> nn.Module:
    if kind == "leaky_relu":
        return nn.LeakyReLU(opts["negative_slope"] if opts["negative_slope"] is not None else 0.01)
    if kind == "elu":
        return nn.ELU(opts["alpha"] if opts["alpha"] is not None else 1.0)
    return {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
            "relu6": nn.ReLU6, "silu": nn.SiLU}[kind]()


def _module(kind: str, opts: dict, shape: tuple, num_classes: int) -> nn.Module:
    """One layer for an input of `shape` (without the batch dimension)."""
    spatial = len(shape) == 3
    if kind == "conv":
        if not spatial:
            raise ValueError(f"conv needs an image-shaped input (C, H, W), got {list(shape)}; is it after flatten?")
        return nn.Conv2d(shape[0], opts["out"], opts["kernel"], stride=opts["stride"], padding=opts["padding"],
                         bias=opts["bias"])
    if kind in ("maxpool", "avgpool"):
        if not spatial:
            raise ValueError(f"{kind} needs an image-shaped input (C, H, W), got {list(shape)}")
        cls = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
        return cls(opts["kernel"], stride=opts["stride"] or opts["kernel"], padding=opts["padding"])
    if kind == "batchnorm":
        cls = nn.BatchNorm2d if spatial else nn.BatchNorm1d
        return cls(shape[0], eps=opts["eps"], momentum=opts["momentum"])
    if kind == "linear":
        if len(shape) != 1:
            raise ValueError(f"linear needs a flat input, got {list(shape)}; add `flatten` or `global_avgpool` before it")
        out = num_classes if opts["out"] == "classes" else opts["out"]
        return nn.Linear(shape[0], out, bias=opts["bias"])
    if kind == "dropout":
        return nn.Dropout(opts["p"])
    if kind == "flatten":
        return nn.Flatten()
    if kind == "global_avgpool":
        if not spatial:
            raise ValueError(f"global_avgpool needs an image-shaped input (C, H, W), got {list(shape)}")
        return GlobalAvgPool()
    return _activation(kind, opts)


SHORT_NAMES = {"conv": "conv", "batchnorm": "bn", "maxpool": "pool", "avgpool": "avgpool", "linear": "fc",
               "dropout": "dropout", "flatten": "flatten", "global_avgpool": "gap"}


def build_model(layers: list[tuple[str, dict]], input_shape: tuple[int, int, int], num_classes: int) -> nn.Sequential:
    """Instantiate a model from normalised layers; raise LayerError naming the first layer that cannot be built."""
    modules: "OrderedDict[str, nn.Module]" = OrderedDict()
    counts: dict[str, int] = {}
    shape: tuple = tuple(input_shape)
    probe = torch.zeros(1, *shape)
    for i, (kind, opts) in enumerate(layers):
        short = SHORT_NAMES.get(kind, kind)
        counts[short] = counts.get(short, 0) + 1
        name = opts.get("name") or f"{short}{counts[short]}"
        if name in modules:
            raise LayerError(i, f"duplicate layer name {name!r}")
        try:
            module = _module(kind, opts, shape, num_classes)
            with torch.no_grad():
                probe = module.eval()(probe)
        except (ValueError, RuntimeError) as exc:
            raise LayerError(i, f"{kind} cannot take an input of shape {list(shape)}: {_short(exc)}") from None
        if probe.numel() == 0 or 0 in probe.shape:
            raise LayerError(i, f"{kind} turns {list(shape)} into an empty output {list(probe.shape[1:])}")
        shape = tuple(probe.shape[1:])
        modules[name] = module.train()
    if len(shape) != 1 or shape[0] != num_classes:
        raise LayerError(len(layers) - 1,
                         f"the model must end in {num_classes} outputs (one per class), but it ends in {list(shape)}; "
                         "finish with `linear: classes`")
    return nn.Sequential(modules)


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200]


def _located(loaded: LoadedManifest, name: str, exc: LayerError) -> Problem:
    spec = loaded.manifest.models.get(name)
    if spec is not None and spec.layers is not None:
        return loaded.problem(("models", name, "layers", exc.index), str(exc))
    layers = loaded.layers_of(name)
    what = f"layer {exc.index + 1} ({layers[exc.index][0]}) of the variant {name}: {exc}"
    if spec is not None:
        return loaded.problem(("models", name), what)
    group = next(r.group for r in loaded.runs if r.model == name)
    index = next(i for i, e in enumerate(loaded.manifest.experiments) if e.id == group)
    return loaded.problem(("experiments", index, "sweep"), what)


def build_manifest_model(loaded: LoadedManifest, name: str) -> nn.Sequential:
    """Build a manifest's model (or a swept variant) for its dataset; shape errors become located manifest errors."""
    ds = loaded.manifest.dataset
    try:
        return build_model(loaded.layers_of(name), ds.input_shape(), ds.num_classes())
    except LayerError as exc:
        raise ManifestError([_located(loaded, name, exc)]) from None


def check_models(loaded: LoadedManifest) -> list[Problem]:
    """Build every model and swept variant once so shape mistakes surface before any training."""
    problems: list[Problem] = []
    for name in dict.fromkeys([*loaded.model_layers, *(r.model for r in loaded.runs)]):
        try:
            build_manifest_model(loaded, name)
        except ManifestError as exc:
            problems.extend(exc.problems)
    return problems


def _size(v) -> str:
    return f"{v[0]}×{v[1]}" if isinstance(v, (tuple, list)) and v[0] != v[1] else f"{v[0] if isinstance(v, (tuple, list)) else v}"


def describe(kind: str, opts: dict, num_classes: int) -> str:
    """A layer's configuration in words, as the architecture table prints it."""
    if kind == "conv":
        k = opts["kernel"]
        text = f"{opts['out']} filters, kernel {k[0]}×{k[1]}, stride {_size(opts['stride'])}, padding {opts['padding']}"
        return text + ("" if opts["bias"] else ", no bias")
    if kind in ("maxpool", "avgpool"):
        k = opts["kernel"]
        return f"kernel {k[0]}×{k[1]}, stride {_size(opts['stride'] or k)}" + (f", padding {opts['padding']}" if opts["padding"] else "")
    if kind == "linear":
        out = f"{num_classes} (one per class)" if opts["out"] == "classes" else str(opts["out"])
        return f"{out} outputs" + ("" if opts["bias"] else ", no bias")
    if kind == "dropout":
        return f"p = {opts['p']}"
    if kind == "batchnorm":
        return f"eps {opts['eps']:g}, momentum {opts['momentum']:g}"
    if kind == "flatten":
        return "to a vector"
    if kind == "global_avgpool":
        return "mean over height and width"
    if kind == "leaky_relu":
        return f"negative slope {opts['negative_slope'] if opts['negative_slope'] is not None else 0.01:g}"
    return "activation"


def model_record(loaded: LoadedManifest, name: str) -> dict:
    """The model's per-layer table (shapes, parameter arithmetic) plus each layer's configuration."""
    from .params import summarize

    ds = loaded.manifest.dataset
    spec = loaded.manifest.models.get(name)
    model = build_manifest_model(loaded, name)
    summary = summarize(model, ds.input_shape())
    configs = {}
    for (module_name, _), (kind, opts) in zip(model.named_children(), loaded.layers_of(name)):
        configs[module_name] = describe(kind, opts, ds.num_classes())
    for row in summary["layers"]:
        row["config"] = configs.get(row["name"], "")
    base = name.split("[", 1)[0]
    # a swept variant is not what its base's description says (another activation, other widths): its name says it
    summary["description"] = spec.description if spec else None
    summary["extends"] = spec.extends if spec else base
    summary["variant"] = spec.overrides() if spec else dict(next(r.model_overrides for r in loaded.runs if r.model == name))
    tensors = [*model.parameters(), *model.buffers()]
    summary["size_bytes"] = sum(t.numel() * t.element_size() for t in tensors)
    return summary
