"""Build PyTorch modules from the manifest's layer lists, inferring every input size."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from reportgen.errors import ManifestError, Problem, UserError
from reportgen.manifest.loaded import LoadedManifest
from reportgen.manifest.digest import module_file_sha256
from reportgen.manifest.layers import BLOCKS
from reportgen.manifest.shapes import NO_OPTIONS, LayerError, check_ends_in_classes, walk_layers, weights
from reportgen.manifest.shapes import layer_problem as _located, model_context as _context
from reportgen.models.layers import Branches, GlobalAvgPool, Residual, activation_module
from reportgen.models.user_module import build_module_model


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


class _Torch:
    """What walk_layers does with each layer when building: the module, its output shape probed with zeros."""

    errors = (ValueError, RuntimeError, TypeError, OverflowError)

    def leaf(self, kind: str, opts: dict, shape: tuple, num_classes: int) -> tuple[nn.Module, tuple]:
        weights(kind, opts, shape, num_classes)  # a layer too large to allocate is refused before it is
        module = _module(kind, opts, shape, num_classes)
        with torch.no_grad():
            out = module.eval()(torch.zeros(1, *shape))
        return module.train(), tuple(out.shape[1:])

    def block(self, kind: str, name: str, parts: list, post) -> nn.Module:
        if kind == "residual":
            body, shortcut = parts
            return Residual([(n, m) for n, m, _ in body], _sequential(shortcut) if shortcut else None, post)
        return Branches([_sequential(path) for path in parts])


def _sequential(parts: list) -> nn.Sequential:
    return nn.Sequential(OrderedDict((name, module) for name, module, _ in parts))


def build_model(layers: list[tuple[str, dict]], input_shape: tuple[int, int, int], num_classes: int) -> nn.Sequential:
    """Instantiate a model from normalised layers; raise LayerError naming the first layer that cannot be built."""
    parts, shape, _ = walk_layers(layers, input_shape, num_classes, _Torch())
    check_ends_in_classes(layers, shape, num_classes)
    return _sequential(parts)


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200]


def input_shape_of(dataset, network) -> tuple[int, int, int]:
    """What the model sees: the dataset's shape, or 3 channels at the network's input size."""
    c, s, _ = dataset.input_shape()
    if network is None or network.source == "module":
        return c, s, s
    size = network.input_size or s
    return 3, size, size


def build_manifest_model(loaded: LoadedManifest, name: str, dataset=None) -> nn.Module:
    """Build a manifest's layer-language model (or a swept variant) or `module:` model; its mistakes become
    located manifest errors."""
    ds, network = _context(loaded, name)
    ds = dataset or ds
    if network is not None and network.source == "module":
        return build_module_model(loaded, name, ds)
    try:
        return build_model(loaded.layers_of(name), ds.input_shape(), ds.num_classes())
    except LayerError as exc:
        raise ManifestError([_located(loaded, name.split("@", 1)[0] if "@" in name else name, exc)]) from None


def build_named(loaded: LoadedManifest, name: str, smoke: bool = False, weights: bool = True,
                allow_download: bool = False) -> tuple[nn.Module, dict]:
    """Any model of the manifest by name, with info on where its weights came from."""
    from reportgen.models.pretrained import build_network

    ds, network = _context(loaded, name)
    if network is None or network.source == "module":
        return build_manifest_model(loaded, name, ds), module_info(loaded, network, ds)
    spec = network if weights else network.model_copy(update={"weights": "none"})
    return build_network(spec, ds.num_classes(), allow_download=allow_download, smoke=smoke)


def module_info(loaded: LoadedManifest, network, dataset) -> dict:
    """Where a layer-language or `module:` model comes from, as the run records it (`weights`)."""
    if network is None:
        return {"source": "custom"}
    path, cls = network.module_parts()
    return {"source": "module", "name": cls, "file": path, "file_sha256": module_file_sha256(loaded.base_dir, network),
            "weights": "none", "normalization": "dataset" if dataset.normalize else "none"}


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
    """Build every model and swept variant once so shape mistakes surface before any training (a `module:` model's
    file is imported here: building a manifest runs its modules' code)."""
    problems: list[Problem] = []
    for name in dict.fromkeys([*loaded.model_layers, *(r.model for r in loaded.runs)]):
        network = _context(loaded, name)[1]
        if network is not None and network.source != "module":
            problems.extend(p for p in check_networks(loaded, [name]) if p not in problems)
            continue
        try:
            build_manifest_model(loaded, name)
        except ManifestError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
    return problems


def _json(v):
    return list(v) if isinstance(v, tuple) else v


ACTIVATION_OPTIONS = {"leaky_relu": {"negative_slope": 0.01}, "elu": {"alpha": 1.0}}  # the defaults used


def layer_config(kind: str, opts: dict) -> dict:
    """A layer's options as plain JSON with the defaults used filled in (a pooling stride is its kernel unless
    given): e.g. {"kind": "conv", "out": 32, "kernel": [5, 5], "stride": [1, 1], "padding": 2, "bias": true}.
    The report words it (reportgen.report.wording.describe.layer_config)."""
    config = {"kind": kind, **{k: _json(v) for k, v in opts.items() if k not in ("name", "negative_slope", "alpha")}}
    if kind in ("maxpool", "avgpool") and config.get("stride") is None:
        config["stride"] = config["kernel"]
    for key, default in ACTIVATION_OPTIONS.get(kind, {}).items():
        config[key] = default if opts.get(key) is None else opts[key]
    return config


def _block_config(kind: str, opts: dict) -> dict:
    if kind == "residual":
        return {"kind": "residual", "shortcut": "layers" if opts["shortcut"] else "identity",
                "activation": opts["activation"]}
    return {"kind": "branches", "paths": len(opts["paths"])}


def layer_configs(module: nn.Module, layers: list, prefix: str = "") -> dict[str, dict]:
    """Dotted module name → configuration, for every layer and block a layer list built into `module`."""
    names = module._body if isinstance(module, Residual) else [n for n, _ in module.named_children()]
    out: dict[str, dict] = {}
    for name, (kind, opts) in zip(names, layers):
        child, full = module.get_submodule(name), prefix + name
        out[full] = _block_config(kind, opts) if kind in BLOCKS else layer_config(kind, opts)
        if kind == "residual":
            out |= layer_configs(child, opts["layers"], full + ".")
            if opts["shortcut"]:
                out[f"{full}.shortcut"] = {"kind": "shortcut"}
                out |= layer_configs(child.shortcut, opts["shortcut"], full + ".shortcut.")
            if opts["activation"]:
                out[f"{full}.{child._post}"] = layer_config(opts["activation"], NO_OPTIONS)
        elif kind == "branches":
            for j, path in enumerate(opts["paths"], 1):
                out[f"{full}.path{j}"] = {"kind": "path", "index": j}
                out |= layer_configs(child.get_submodule(f"path{j}"), path, f"{full}.path{j}.")
    return out


def model_record(loaded: LoadedManifest, name: str) -> dict:
    """The model's per-layer table (shapes, parameter arithmetic, the modules holding them) plus each layer's
    configuration."""
    from reportgen.models.params import known_formula, summarize

    ds, network = _context(loaded, name)
    if network is not None and network.source != "module":
        return _network_record(loaded, name, ds, network)
    spec = loaded.manifest.models.get(name) or (loaded.manifest.models.get(name.split("@", 1)[0]) if "@" in name else None)
    model = build_manifest_model(loaded, name, ds)
    summary = summarize(model, ds.input_shape(), nested=True)
    configs = layer_configs(model, loaded.layers_of(name)) if network is None else {}
    for row in [*summary["layers"], *summary.get("groups", [])]:
        row["config"] = configs.get(row["name"], {})
    for row in summary["layers"]:
        if row["params"] and not known_formula(model.get_submodule(row["name"])):
            row["formula_known"] = False  # the formula writes out the tensors' sizes
    base = name.split("[", 1)[0].split("@", 1)[0]
    # a swept variant is not what its base's description says (another activation, other widths): its name says it
    summary["description"] = spec.description if spec else None
    summary["label"] = spec.label if spec else None
    summary["extends"] = spec.extends if spec else (base if base != name.split("@", 1)[0] else None)
    summary["variant"] = spec.overrides() if spec else dict(next(r.model_overrides for r in loaded.runs if r.model == name))
    summary["source"] = "custom" if network is None else "module"
    if network is not None:
        path, cls = network.module_parts()
        summary.update({"module": path, "class": cls, "args": dict(network.args or {}),
                        "module_sha256": module_file_sha256(loaded.base_dir, network)})
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
    {"policy": "modules", "modules": [...]}; the report words it (reportgen.report.wording.describe.freeze_policy)."""
    if freeze in (None, "none"):
        return {"policy": "none"}
    if freeze == "backbone":
        return {"policy": "backbone"}
    if hasattr(freeze, "train_last"):
        return {"policy": "train_last", "blocks": freeze.train_last}
    return {"policy": "modules", "modules": list(freeze.modules)}
