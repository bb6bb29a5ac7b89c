"""Build PyTorch modules from the manifest's layer lists, inferring every input size."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from reportgen.errors import ManifestError, Problem, UserError
from reportgen.manifest.loaded import LoadedManifest
from reportgen.manifest.shapes import LayerError, check_ends_in_classes, layer_name
from reportgen.manifest.shapes import layer_problem as _located, model_context as _context
from reportgen.models.layers import GlobalAvgPool, activation_module


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
    return activation_module(kind, opts)


def build_model(layers: list[tuple[str, dict]], input_shape: tuple[int, int, int], num_classes: int) -> nn.Sequential:
    """Instantiate a model from normalised layers; raise LayerError naming the first layer that cannot be built."""
    modules: "OrderedDict[str, nn.Module]" = OrderedDict()
    counts: dict[str, int] = {}
    shape: tuple = tuple(input_shape)
    probe = torch.zeros(1, *shape)
    for i, (kind, opts) in enumerate(layers):
        try:
            name = layer_name(kind, opts, counts, modules)
        except ValueError as exc:
            raise LayerError(i, str(exc)) from None
        try:
            module = _module(kind, opts, shape, num_classes)
            with torch.no_grad():
                probe = module.eval()(probe)
        except (ValueError, RuntimeError, TypeError, OverflowError) as exc:
            raise LayerError(i, f"{kind} cannot take an input of shape {list(shape)}: {_short(exc)}") from None
        if probe.numel() == 0 or 0 in probe.shape:
            raise LayerError(i, f"{kind} turns {list(shape)} into an empty output {list(probe.shape[1:])}")
        shape = tuple(probe.shape[1:])
        modules[name] = module.train()
    check_ends_in_classes(layers, shape, num_classes)
    return nn.Sequential(modules)


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200]


def input_shape_of(dataset, network) -> tuple[int, int, int]:
    """What the model sees: the dataset's shape, or 3 channels at the network's input size."""
    c, s, _ = dataset.input_shape()
    if network is None:
        return c, s, s
    size = network.input_size or s
    return 3, size, size


def build_manifest_model(loaded: LoadedManifest, name: str, dataset=None) -> nn.Sequential:
    """Build a manifest's layer-language model (or a swept variant); shape errors become located manifest errors."""
    ds = dataset or _context(loaded, name)[0]
    try:
        return build_model(loaded.layers_of(name), ds.input_shape(), ds.num_classes())
    except LayerError as exc:
        raise ManifestError([_located(loaded, name.split("@", 1)[0] if "@" in name else name, exc)]) from None


def build_named(loaded: LoadedManifest, name: str, smoke: bool = False, weights: bool = True,
                allow_download: bool = False) -> tuple[nn.Module, dict]:
    """Any model of the manifest by name, with info on where its weights came from."""
    from reportgen.models.pretrained import build_network

    ds, network = _context(loaded, name)
    if network is None:
        return build_manifest_model(loaded, name, ds), {"source": "custom"}
    spec = network if weights else network.model_copy(update={"weights": "none"})
    return build_network(spec, ds.num_classes(), allow_download=allow_download, smoke=smoke)


def _check_network(loaded: LoadedManifest, name: str) -> list[Problem]:
    base = name.split("@", 1)[0]
    ds, network = _context(loaded, name)
    try:
        model, _ = build_named(loaded, name, weights=False)
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape_of(ds, network)))
    except UserError as exc:
        return [loaded.problem(("models", base, network.source), str(exc))]
    except (RuntimeError, ValueError) as exc:
        size = input_shape_of(ds, network)[1]
        return [loaded.problem(("models", base), f"{network.source} {network.torchvision or network.timm} cannot take "
                               f"{size}×{size} images ({_short(exc)}); set a larger `input_size`, e.g. 224")]
    return []


def check_networks(loaded: LoadedManifest, names: list[str]) -> list[Problem]:
    """Build each named torchvision/timm network once (random weights) and feed it an input of its size."""
    problems: list[Problem] = []
    for name in names:
        problems.extend(p for p in _check_network(loaded, name) if p not in problems)
    return problems


def check_models(loaded: LoadedManifest) -> list[Problem]:
    """Build every model and swept variant once so shape mistakes surface before any training."""
    problems: list[Problem] = []
    for name in dict.fromkeys([*loaded.model_layers, *(r.model for r in loaded.runs)]):
        if _context(loaded, name)[1] is not None:
            problems.extend(p for p in check_networks(loaded, [name]) if p not in problems)
            continue
        try:
            build_manifest_model(loaded, name)
        except ManifestError as exc:
            problems.extend(exc.problems)
    return problems


def _json(v):
    return list(v) if isinstance(v, tuple) else v


ACTIVATION_OPTIONS = {"leaky_relu": {"negative_slope": 0.01}, "elu": {"alpha": 1.0}}  # the defaults used


def layer_config(kind: str, opts: dict) -> dict:
    """A layer's options as plain JSON with the defaults used filled in (a pooling stride is its kernel unless
    given): e.g. {"kind": "conv", "out": 32, "kernel": [5, 5], "stride": [1, 1], "padding": 2, "bias": true}.
    The report words it (reportgen.report.wording.layer_config)."""
    config = {"kind": kind, **{k: _json(v) for k, v in opts.items() if k not in ("name", "negative_slope", "alpha")}}
    if kind in ("maxpool", "avgpool") and config.get("stride") is None:
        config["stride"] = config["kernel"]
    for key, default in ACTIVATION_OPTIONS.get(kind, {}).items():
        config[key] = default if opts.get(key) is None else opts[key]
    return config


def model_record(loaded: LoadedManifest, name: str) -> dict:
    """The model's per-layer table (shapes, parameter arithmetic) plus each layer's configuration."""
    from reportgen.models.params import summarize

    ds, network = _context(loaded, name)
    if network is not None:
        return _network_record(loaded, name, ds, network)
    spec = loaded.manifest.models.get(name) or (loaded.manifest.models.get(name.split("@", 1)[0]) if "@" in name else None)
    model = build_manifest_model(loaded, name, ds)
    summary = summarize(model, ds.input_shape())
    configs = {}
    for (module_name, _), (kind, opts) in zip(model.named_children(), loaded.layers_of(name)):
        configs[module_name] = layer_config(kind, opts)
    for row in summary["layers"]:
        row["config"] = configs.get(row["name"], {})
    base = name.split("[", 1)[0].split("@", 1)[0]
    # a swept variant is not what its base's description says (another activation, other widths): its name says it
    summary["description"] = spec.description if spec else None
    summary["label"] = spec.label if spec else None
    summary["extends"] = spec.extends if spec else (base if base != name.split("@", 1)[0] else None)
    summary["variant"] = spec.overrides() if spec else dict(next(r.model_overrides for r in loaded.runs if r.model == name))
    summary["source"] = "custom"
    summary["size_bytes"] = state_bytes(model)
    return summary


def state_bytes(model: nn.Module) -> int:
    """Size of the model's state dict as torch.save writes it: what a checkpoint of it takes on disk."""
    import io

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


def _network_record(loaded: LoadedManifest, name: str, ds, network) -> dict:
    """A torchvision/timm network: block-level table, head, frozen blocks, and where its weights come from."""
    from reportgen.models.params import block_summary

    model, info = build_named(loaded, name, weights=False)
    base = name.split("@", 1)[0]
    summary = block_summary(model, input_shape_of(ds, network), info["blocks"], info["head"])
    summary.update({
        "source": network.source, "network": network.torchvision or network.timm,
        "description": network.description, "label": network.label, "extends": None, "variant": {},
        "weights": (network.weights if isinstance(network.weights, str) or network.weights is None
                    else "from") or "none",
        "weights_from": None if isinstance(network.weights, str) or network.weights is None else network.weights.from_,
        "head": info["head"], "head_dense": info["head_dense"], "frozen": info["frozen"],
        "freeze": freeze_policy(network.freeze), "input_size": input_shape_of(ds, network)[1],
        "dataset_size": ds.input_shape()[1], "base": base,
        "inverted_residual": info.get("inverted_residual"),
        "size_bytes": state_bytes(model),
    })
    return summary


def freeze_policy(freeze) -> dict:
    """The freezing policy as data: {"policy": "none" | "backbone"}, {"policy": "train_last", "blocks": K} or
    {"policy": "modules", "modules": [...]}; the report words it (reportgen.report.wording.freeze_policy)."""
    if freeze in (None, "none"):
        return {"policy": "none"}
    if freeze == "backbone":
        return {"policy": "backbone"}
    if hasattr(freeze, "train_last"):
        return {"policy": "train_last", "blocks": freeze.train_last}
    return {"policy": "modules", "modules": list(freeze.modules)}
