"""Layer-language shapes by arithmetic: each layer's output and each shape mistake, as PyTorch would find them."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from reportgen.errors import Problem
from reportgen.manifest.layers import BLOCKS, RESERVED_NAMES
from reportgen.manifest.static import module_problems

if TYPE_CHECKING:
    from reportgen.manifest.loaded import LoadedManifest
    from reportgen.manifest.schema import DatasetSpec, ModelSpec

Shape = tuple[int, ...]  # (C, H, W) or (N,), without the batch dimension
SHORT_NAMES = {"conv": "conv", "batchnorm": "bn", "maxpool": "pool", "avgpool": "avgpool", "linear": "fc",
               "dropout": "dropout", "flatten": "flatten", "global_avgpool": "gap", "residual": "res",
               "branches": "branch"}
NO_OPTIONS = {"negative_slope": None, "alpha": None, "name": None}  # a residual's activation after the sum


class LayerError(ValueError):
    """A layer that cannot follow the previous one (shape mismatch, too-large kernel, …); `sub` is the key path
    inside the item at `index` when the layer is inside a residual or branches block."""

    def __init__(self, index: int, message: str, sub: tuple = ()):
        super().__init__(message)
        self.index = index
        self.sub = tuple(sub)


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


MAX_LAYER_PARAMS = 2 ** 28  # 1 GiB of fp32 weights in one layer (VGG-16's largest has 103 M): beyond, a typo


def weights(kind: str, opts: dict, shape: Shape, num_classes: int) -> int:
    """How many parameters a conv or linear layer would have on an input of `shape` (others: 0); ValueError above
    MAX_LAYER_PARAMS, before anything is allocated."""
    if kind == "conv" and len(shape) == 3:
        (kh, kw), out = opts["kernel"], opts["out"]
        count = shape[0] * out * kh * kw + (out if opts.get("bias", True) else 0)
    elif kind == "linear" and len(shape) == 1:
        out = num_classes if opts["out"] == "classes" else opts["out"]
        count = shape[0] * out + (out if opts.get("bias", True) else 0)
    else:
        return 0
    if count > MAX_LAYER_PARAMS:
        raise ValueError(f"it would have {count:,} parameters; the limit is {MAX_LAYER_PARAMS:,} per layer")
    return count


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
    if name in RESERVED_NAMES or name.startswith("_"):
        raise ValueError(f"layer name {name!r} clashes with an attribute of PyTorch's nn.Module (as does every name "
                         "starting with _); choose another name")
    if name in taken:
        what = taken[name] if isinstance(taken, dict) and isinstance(taken[name], str) else None
        raise ValueError(f"layer name {name!r} is taken by {what}" if what else f"duplicate layer name {name!r}")
    return name


def check_ends_in_classes(layers: list, shape: Shape, num_classes: int) -> None:
    """LayerError on the last layer unless the model ends in one output per class."""
    if len(shape) != 1 or shape[0] != num_classes:
        raise LayerError(len(layers) - 1,
                         f"the model must end in {num_classes} outputs (one per class), but it ends in {list(shape)}; "
                         "finish with `linear: classes`")


class Arithmetic:
    """What walk_layers does with each layer when only the shapes are wanted: nothing is built."""

    errors: tuple = (ValueError,)

    def leaf(self, kind: str, opts: dict, shape: Shape, num_classes: int) -> tuple[None, Shape]:
        weights(kind, opts, shape, num_classes)
        return None, output_shape(kind, opts, shape, num_classes)

    def block(self, kind: str, name: str, parts: list, post) -> None:
        return None


def walk_layers(layers: list[tuple[str, dict]], shape: Shape, num_classes: int, make=Arithmetic(),
                reserved: dict | None = None) -> tuple[list[tuple[str, object, Shape]], Shape, dict]:
    """(name, what `make` built, output shape) per item, the list's output shape and its names; LayerError at the
    first item that cannot follow (inside a block: at the block, with `sub` leading to the layer)."""
    out: list[tuple[str, object, Shape]] = []
    counts: dict[str, int] = {}
    names: dict[str, object] = dict(reserved or {})
    shape = tuple(shape)
    for i, (kind, opts) in enumerate(layers):
        try:
            name = layer_name(kind, opts, counts, names)
        except ValueError as exc:
            raise LayerError(i, str(exc)) from None
        if kind in BLOCKS:
            built, new = _block(kind, opts, name, i, shape, num_classes, make)
        else:
            try:
                built, new = make.leaf(kind, opts, shape, num_classes)
            except make.errors as exc:
                raise LayerError(i, f"{kind} cannot take an input of shape {list(shape)}: "
                                    f"{str(exc).strip().splitlines()[0][:200]}") from None
            if prod(new) == 0:
                raise LayerError(i, f"{kind} turns {list(shape)} into an empty output {list(new)}")
        shape = tuple(new)
        names[name] = built
        out.append((name, built, shape))
    return out, shape, names


def _inner(layers: list, shape: Shape, num_classes: int, make, index: int, sub: tuple, where: str,
           reserved: dict | None = None):
    """walk_layers over a block's layer list, its errors moved to the block's item with the path inside it."""
    try:
        return walk_layers(layers, shape, num_classes, make, reserved)
    except LayerError as exc:
        raise LayerError(index, f"in {where}: {exc}", sub + (exc.index,) + exc.sub) from None


def _shortcut_hint(shape: Shape, body: Shape) -> str:
    """A shortcut that would map `shape` to `body`: a strided 1×1 conv, when one does."""
    if len(shape) != 3 or len(body) != 3:
        return ""
    stride = max(1, -(-shape[1] // body[1]))
    if ((shape[1] - 1) // stride + 1, (shape[2] - 1) // stride + 1) != tuple(body[1:]):
        return ""
    return (f"; e.g. `shortcut: [{{conv: {{out: {body[0]}, kernel: 1, stride: {stride}, bias: false}}}}, batchnorm]` "
            f"maps {list(shape)} to {list(body)}")


def _block(kind: str, opts: dict, name: str, index: int, shape: Shape, num_classes: int, make):
    """A residual or branches block: its inner lists walked, their shapes checked against each other."""
    if kind == "residual":
        body, out, names = _inner(opts["layers"], shape, num_classes, make, index, ("residual", "layers"), name,
                                  {"shortcut": "the block's shortcut"})
        short = None
        if opts["shortcut"]:
            short, end, _ = _inner(opts["shortcut"], shape, num_classes, make, index, ("residual", "shortcut"),
                                   f"the shortcut of {name}")
            if end != out:
                raise LayerError(index, f"residual block {name}: its shortcut gives {list(end)} but its layers give "
                                        f"{list(out)}; the two are added, so their shapes must be equal"
                                 + _shortcut_hint(shape, out), ("residual", "shortcut"))
        elif out != shape:
            raise LayerError(index, f"residual block {name}: its layers turn {list(shape)} into {list(out)}, but "
                                    f"without a `shortcut:` the input {list(shape)} itself is added to them, so the "
                                    "shapes must be equal" + _shortcut_hint(shape, out), ("residual",))
        post = None
        if opts["activation"]:
            act = _post_name(opts["activation"], names)
            post = (act, make.leaf(opts["activation"], NO_OPTIONS, out, num_classes)[0])
        return make.block(kind, name, [body, short], post), out
    paths = [_inner(path, shape, num_classes, make, index, ("branches", "paths", j), f"path {j + 1} of {name}")
             for j, path in enumerate(opts["paths"])]
    first = paths[0][1]
    for j, (_, end, _) in enumerate(paths[1:], 2):
        if len(end) != len(first) or end[1:] != first[1:]:
            raise LayerError(index, f"branches block {name}: path {j} gives {list(end)} but path 1 gives "
                                    f"{list(first)}; the paths are concatenated on channels, so every other size "
                                    "must be equal", ("branches", "paths", j - 1))
    return make.block(kind, name, [p[0] for p in paths], None), (sum(p[1][0] for p in paths), *first[1:])


def _post_name(kind: str, names: dict) -> str:
    """The name of a residual's activation after the sum: its kind with the first number the body left free."""
    n = 1
    while f"{kind}{n}" in names:
        n += 1
    return f"{kind}{n}"


def named_shapes(layers: list[tuple[str, dict]], input_shape: Shape, num_classes: int) -> list[tuple[str, Shape]]:
    """(module name, output shape) per layer, as build_model names and probes them; LayerError as it raises."""
    out, shape, _ = walk_layers(layers, input_shape, num_classes)
    check_ends_in_classes(layers, shape, num_classes)
    return [(name, s) for name, _, s in out]


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


def _written(loaded: LoadedManifest, path: tuple) -> tuple:
    """A key path as the YAML has it: keys a shorthand leaves out (`residual: [...]` has no `layers:`) dropped."""
    node, out = loaded.located.data, ()
    for seg in path:
        if isinstance(node, dict) and seg in node:
            node = node[seg]
        elif isinstance(node, list) and isinstance(seg, int) and seg < len(node):
            node = node[seg]
        else:
            continue
        out += (seg,)
    return out


def layer_problem(loaded: LoadedManifest, name: str, exc: LayerError) -> Problem:
    """A LayerError located at the layer of a model, the model of a variant, or the sweep of a swept variant."""
    spec = loaded.manifest.models.get(name)
    if spec is not None and spec.layers is not None:
        return loaded.problem(_written(loaded, ("models", name, "layers", exc.index, *exc.sub)), str(exc))
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
    return [name for name in _model_names(loaded)
            if (network := model_context(loaded, name)[1]) is not None and network.source != "module"]


def check_shapes(loaded: LoadedManifest) -> list[Problem]:
    """Shape mistakes of every layer-language model and swept variant, located as check_models locates them; a
    `module:` model's file is read (never imported) to check that it defines its class."""
    problems: list[Problem] = []
    for name in _model_names(loaded):
        dataset, network = model_context(loaded, name)
        if network is not None:
            if network.source == "module":
                problems.extend(p for p in module_problems(loaded, name.split("@", 1)[0]) if p not in problems)
            continue
        try:
            named_shapes(loaded.layers_of(name), dataset.input_shape(), dataset.num_classes())
        except LayerError as exc:
            found = layer_problem(loaded, name.split("@", 1)[0] if "@" in name else name, exc)
            problems += [found] if found not in problems else []  # a variant's mistake is its model's, once
    return problems
