"""Layer-language shapes by arithmetic: each layer's output and each shape mistake, as PyTorch would find them."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from reportgen.errors import Problem

if TYPE_CHECKING:
    from reportgen.manifest.loaded import LoadedManifest
    from reportgen.manifest.schema import DatasetSpec, ModelSpec

Shape = tuple[int, ...]  # (C, H, W) or (N,), without the batch dimension
SHORT_NAMES = {"conv": "conv", "batchnorm": "bn", "maxpool": "pool", "avgpool": "avgpool", "linear": "fc",
               "dropout": "dropout", "flatten": "flatten", "global_avgpool": "gap"}


class LayerError(ValueError):
    """A layer that cannot follow the previous one (shape mismatch, too-large kernel, …)."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


def _conv(shape: Shape, opts: dict) -> Shape:
    """nn.Conv2d's output shape, or ValueError with the message torch raises (dilation 1, one group)."""
    (kh, kw), (sh, sw), pad = opts["kernel"], opts["stride"], opts["padding"]
    if pad == "same":
        if (sh, sw) != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        return opts["out"], shape[1], shape[2]
    pad = 0 if pad == "valid" else pad
    h, w = shape[1] + 2 * pad, shape[2] + 2 * pad
    if h < kh or w < kw:
        raise ValueError(f"Calculated padded input size per channel: ({h} x {w}). Kernel size: ({kh} x {kw}). "
                         "Kernel size can't be greater than actual input size")
    return opts["out"], (h - kh) // sh + 1, (w - kw) // sw + 1


def _pool(shape: Shape, opts: dict) -> Shape:
    """nn.MaxPool2d's and nn.AvgPool2d's output shape (floor mode), or ValueError with torch's message."""
    kernel, pad = opts["kernel"], opts["padding"]
    stride = opts["stride"] or kernel
    out = []
    for size, k, s in zip(shape[1:], kernel, stride):  # torch checks the height, then the width
        if pad > k // 2:
            raise ValueError(f"pad should be at most half of effective kernel size, but got pad={pad}, "
                             f"kernel_size={k} and dilation=1")
        out.append((size + 2 * pad - k) // s + 1)
    if min(out) < 1:
        raise ValueError(f"Given input size: ({shape[0]}x{shape[1]}x{shape[2]}). Calculated output size: "
                         f"({shape[0]}x{out[0]}x{out[1]}). Output size is too small")
    return shape[0], out[0], out[1]


def output_shape(kind: str, opts: dict, shape: Shape, num_classes: int) -> Shape:
    """One layer's output for an input of `shape`; ValueError saying why it cannot take that input."""
    spatial = len(shape) == 3
    if kind == "conv":
        if not spatial:
            raise ValueError(f"conv needs an image-shaped input (C, H, W), got {list(shape)}; is it after flatten?")
        return _conv(shape, opts)
    if kind in ("maxpool", "avgpool"):
        if not spatial:
            raise ValueError(f"{kind} needs an image-shaped input (C, H, W), got {list(shape)}")
        return _pool(shape, opts)
    if kind == "linear":
        if len(shape) != 1:
            raise ValueError(f"linear needs a flat input, got {list(shape)}; add `flatten` or `global_avgpool` before it")
        return (num_classes if opts["out"] == "classes" else opts["out"],)
    if kind == "flatten":
        return (prod(shape),)
    if kind == "global_avgpool":
        if not spatial:
            raise ValueError(f"global_avgpool needs an image-shaped input (C, H, W), got {list(shape)}")
        return (shape[0],)
    return tuple(shape)  # batchnorm, dropout and activations keep the shape


def layer_name(kind: str, opts: dict, counts: dict[str, int], taken) -> str:
    """A layer's module name, `name:` or its short kind numbered (conv1, bn1, conv2); ValueError when taken."""
    short = SHORT_NAMES.get(kind, kind)
    counts[short] = counts.get(short, 0) + 1
    name = opts.get("name") or f"{short}{counts[short]}"
    if name in taken:
        raise ValueError(f"duplicate layer name {name!r}")
    return name


def check_ends_in_classes(layers: list, shape: Shape, num_classes: int) -> None:
    """LayerError on the last layer unless the model ends in one output per class."""
    if len(shape) != 1 or shape[0] != num_classes:
        raise LayerError(len(layers) - 1,
                         f"the model must end in {num_classes} outputs (one per class), but it ends in {list(shape)}; "
                         "finish with `linear: classes`")


def named_shapes(layers: list[tuple[str, dict]], input_shape: Shape, num_classes: int) -> list[tuple[str, Shape]]:
    """(module name, output shape) per layer, as build_model names and probes them; LayerError as it raises."""
    out: list[tuple[str, Shape]] = []
    counts: dict[str, int] = {}
    names: set[str] = set()
    shape: Shape = tuple(input_shape)
    for i, (kind, opts) in enumerate(layers):
        try:
            name = layer_name(kind, opts, counts, names)
        except ValueError as exc:
            raise LayerError(i, str(exc)) from None
        try:
            new = output_shape(kind, opts, shape, num_classes)
        except ValueError as exc:
            raise LayerError(i, f"{kind} cannot take an input of shape {list(shape)}: "
                                f"{str(exc).strip().splitlines()[0][:200]}") from None
        if prod(new) == 0:
            raise LayerError(i, f"{kind} turns {list(shape)} into an empty output {list(new)}")
        shape = new
        names.add(name)
        out.append((name, shape))
    check_ends_in_classes(layers, shape, num_classes)
    return out


def layer_shapes(layers: list[tuple[str, dict]], input_shape: Shape, num_classes: int) -> list[Shape]:
    """Each layer's output shape (C, H, W) or (N,); LayerError naming the first layer that cannot follow."""
    return [shape for _, shape in named_shapes(layers, input_shape, num_classes)]


def model_context(loaded: LoadedManifest, name: str) -> tuple[DatasetSpec, ModelSpec | None]:
    """(dataset spec, network spec or None) of a model name as its first run uses it."""
    run = next((r for r in loaded.runs if r.model == name), None) or \
        next((r for r in loaded.runs if r.model.split("@", 1)[0] == name), None)
    if run is not None:
        return run.dataset or loaded.manifest.dataset, run.network
    spec = loaded.manifest.models.get(name.split("@", 1)[0])
    return loaded.manifest.dataset, spec if spec is not None and spec.source != "custom" else None


def layer_problem(loaded: LoadedManifest, name: str, exc: LayerError) -> Problem:
    """A LayerError located at the layer of a model, the model of a variant, or the sweep of a swept variant."""
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


def _model_names(loaded: LoadedManifest) -> list[str]:
    """Every model and swept variant once, in the order check_models builds them."""
    return list(dict.fromkeys([*loaded.model_layers, *(r.model for r in loaded.runs)]))


def network_models(loaded: LoadedManifest) -> list[str]:
    """The model names whose runs use a torchvision/timm network: check_shapes leaves them to torch."""
    return [name for name in _model_names(loaded) if model_context(loaded, name)[1] is not None]


def check_shapes(loaded: LoadedManifest) -> list[Problem]:
    """Shape mistakes of every layer-language model and swept variant, located as check_models locates them."""
    problems: list[Problem] = []
    for name in _model_names(loaded):
        dataset, network = model_context(loaded, name)
        if network is not None:
            continue
        try:
            named_shapes(loaded.layers_of(name), dataset.input_shape(), dataset.num_classes())
        except LayerError as exc:
            problems.append(layer_problem(loaded, name.split("@", 1)[0] if "@" in name else name, exc))
    return problems
