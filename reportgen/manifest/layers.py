"""The custom-CNN layer language: one YAML item per layer (residual and branches blocks hold layers of their own),
validated into typed specs."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, WithJsonSchema, model_validator

ACTIVATIONS = ("relu", "leaky_relu", "gelu", "tanh", "sigmoid", "relu6", "elu", "silu")
BARE_LAYERS = ("batchnorm", "flatten", "global_avgpool", "dropout", *ACTIVATIONS)
BLOCKS = ("residual", "branches")
# nn.Sequential's own attributes (torch 2.6 to 2.14): a layer of that name could not be registered
RESERVED_NAMES = frozenset(
    "T_destination add_module append apply bfloat16 buffers call_super_init children compile cpu cuda double "
    "dump_patches eval extend extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half "
    "insert ipu load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters "
    "pop register_backward_hook register_buffer register_forward_hook register_forward_pre_hook "
    "register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook "
    "register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook "
    "register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty "
    "train training type xpu zero_grad".split())


class Strict(BaseModel):
    """Base for manifest objects: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


MAX_SIZE = 65_536  # widths, kernels, strides: far beyond any real CNN, and small enough that building stays cheap
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.=-]*$"  # run ids and model names: safe in file names, LaTeX and CSV
ModelName = Annotated[str, Field(pattern=ID_PATTERN, max_length=80)]  # reaches tables, figure names, the export
LayerName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                                 description="display name: letters, digits and _, as PyTorch module names allow")]


def _pair(v: Any) -> Any:
    """A kernel or stride as an (h, w) pair of positive sizes; a single integer stands for both."""
    if isinstance(v, bool):
        raise ValueError("expected a positive integer or a pair [h, w]")
    if isinstance(v, int):
        v = (v, v)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        if min(v) < 1:
            raise ValueError("sizes must be at least 1")
        if max(v) > MAX_SIZE:
            raise ValueError(f"sizes must be at most {MAX_SIZE:,}")
        return tuple(v)
    raise ValueError("expected a positive integer or a pair [h, w]")


def _out(v: Any) -> Any:
    """A linear layer's `out`: a width from 1 to MAX_SIZE, or `classes`."""
    if v == "classes" or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIZE):
        return v
    raise ValueError(f"out must be an integer from 1 to {MAX_SIZE:,} or `classes` (the dataset's number of classes)")


IntPair = Annotated[
    tuple[int, int], BeforeValidator(_pair),
    WithJsonSchema({"oneOf": [{"type": "integer", "minimum": 1},
                              {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2}]}),
]
OutFeatures = Annotated[
    Union[int, Literal["classes"]], BeforeValidator(_out),
    WithJsonSchema({"oneOf": [{"type": "integer", "minimum": 1}, {"const": "classes"}]}),
]


def check_padding(v: Any) -> Any:
    """A conv padding: a non-negative integer, `same` or `valid`."""
    if v in ("same", "valid") or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_SIZE):
        return v
    raise ValueError("padding is a non-negative integer, `same` or `valid`")


def _shorthand(field: str, short: Any = Any):
    """Let `maxpool: 2`, `linear: 64` stand for `{kernel: 2}`, `{out: 64}`; `short` types the shorthand in the JSON Schema."""
    return BeforeValidator(lambda v: {field: v} if not isinstance(v, dict) else v, json_schema_input_type=short)


class ConvParams(Strict):
    """2-D convolution; `in` channels are inferred from the previous layer."""

    out: int = Field(ge=1, le=MAX_SIZE, description="output channels (filters)")
    kernel: IntPair = Field(description="kernel size, e.g. 5 or [3, 5]")
    stride: IntPair = Field(default=(1, 1), description="step of the kernel, e.g. 2 or [2, 1]")
    padding: Annotated[Union[int, Literal["same", "valid"]], BeforeValidator(check_padding),
                       WithJsonSchema({"oneOf": [{"type": "integer", "minimum": 0}, {"enum": ["same", "valid"]}]})] = \
        Field(default=0, description="zeros added on each side: N pixels, same (the output keeps the input's height "
              "and width; stride 1 only) or valid (none)")
    bias: bool = Field(default=True, description="learn one bias per output channel (false is usual before batchnorm)")
    name: LayerName | None = None


class PoolParams(Strict):
    """Max or average pooling; stride defaults to the kernel size."""

    kernel: IntPair = Field(default=(2, 2), description="window size, e.g. 2 or [2, 3]")
    stride: IntPair | None = Field(default=None, description="step of the window (default: the kernel size)")
    padding: Annotated[int, Field(ge=0, le=MAX_SIZE)] = Field(
        default=0, description="pixels added on each side, at most half the kernel (maxpool pads with −∞, avgpool "
        "with zeros that count in the average)")
    name: LayerName | None = None


class LinearParams(Strict):
    """Fully connected layer; `in` features are inferred from the flattened shape."""

    out: OutFeatures = Field(description="output features, or `classes` (the dataset's number of classes)")
    bias: bool = Field(default=True, description="learn one bias per output feature")
    name: LayerName | None = None


class DropoutParams(Strict):
    """Dropout with probability p."""

    p: float = Field(default=0.5, ge=0.0, lt=1.0, description="probability of zeroing each element in training (the "
                     "others are scaled by 1 / (1 − p))")
    name: LayerName | None = None


class BatchNormParams(Strict):
    """Batch normalisation over channels (2-D) or features (1-D), chosen from the input shape."""

    eps: float = Field(default=1e-5, gt=0, description="added to the variance for numerical stability")
    momentum: float = Field(default=0.1, gt=0, le=1, description="weight of each training batch in the running mean "
                            "and variance (PyTorch's convention: Keras's momentum is 1 − this)")
    name: LayerName | None = None


class ActivationParams(Strict):
    """An activation with options (e.g. leaky_relu's negative slope)."""

    negative_slope: float | None = Field(default=None, description="leaky_relu: the slope for negative inputs "
                                         "(default 0.01); other activations refuse it")
    alpha: float | None = Field(default=None, description="elu: α in α·(exp(x) − 1) for negative inputs (default 1.0); "
                                "other activations refuse it")
    name: LayerName | None = None


class NamedOnly(Strict):
    """A parameterless layer that only takes a display name."""

    name: LayerName | None = None


class Conv(Strict):
    """2-D convolution (nn.Conv2d)."""

    conv: ConvParams


class MaxPool(Strict):
    """Max pooling (nn.MaxPool2d); `maxpool: 2` is {kernel: 2}."""

    maxpool: Annotated[PoolParams, _shorthand("kernel", Union[IntPair, PoolParams])]


class AvgPool(Strict):
    """Average pooling (nn.AvgPool2d); `avgpool: 2` is {kernel: 2}."""

    avgpool: Annotated[PoolParams, _shorthand("kernel", Union[IntPair, PoolParams])]


class Linear(Strict):
    """Fully connected layer (nn.Linear); `linear: 64` is {out: 64}, `linear: classes` the output layer."""

    linear: Annotated[LinearParams, _shorthand("out", Union[OutFeatures, LinearParams])]


class Dropout(Strict):
    """Dropout (nn.Dropout); `dropout: 0.3` is {p: 0.3}."""

    dropout: Annotated[DropoutParams, _shorthand("p", Union[Annotated[float, Field(ge=0.0, lt=1.0)], DropoutParams])]


class BatchNorm(Strict):
    """Batch normalisation: BatchNorm2d on (C, H, W) inputs, BatchNorm1d on flat ones."""

    batchnorm: BatchNormParams


class Flatten(Strict):
    """(C, H, W) → C·H·W features (nn.Flatten)."""

    flatten: NamedOnly


class GlobalAvgPool(Strict):
    """The mean over height and width: (C, H, W) → C features."""

    global_avgpool: NamedOnly


Activation = Literal[ACTIVATIONS]  # type: ignore[valid-type]


class ResidualParams(Strict):
    """A residual block: `layers(x) + shortcut(x)`, then an optional activation; the shortcut defaults to x itself."""

    layers: list[LayerItem] = Field(min_length=1, description="the block's body, from the block's input on")
    shortcut: list[LayerItem] | None = Field(
        default=None, min_length=1, description="layers mapping the block's input to the body's output shape, e.g. "
        "[{conv: {out: 64, kernel: 1, stride: 2, bias: false}}, batchnorm]; default: the input itself (identity)")
    activation: Activation | None = Field(default=None, description="applied after the sum, e.g. relu")
    name: LayerName | None = None


class BranchesParams(Strict):
    """Parallel paths from the same input whose outputs are concatenated on channels (features after flatten)."""

    paths: list[Annotated[list[LayerItem], Field(min_length=1)]] = Field(
        min_length=2, description="two or more layer lists, each applied to the block's input; their outputs are "
        "concatenated")
    name: LayerName | None = None


class Residual(Strict):
    """A residual block, layers(x) + shortcut(x); `residual: [layers]` adds x itself, with no activation after."""

    residual: Annotated[ResidualParams, _shorthand("layers", Union[list[LayerItem], ResidualParams])]


class Branches(Strict):
    """Parallel paths from one input, concatenated; `branches: [[layers], [layers]]` is {paths: [...]}."""

    branches: Annotated[BranchesParams, _shorthand("paths", Union[list[list[LayerItem]], BranchesParams])]


ACTIVATION_DOCS = {  # each activation's row in the JSON Schema (and so the manifest reference)
    "relu": "ReLU: max(0, x).", "leaky_relu": "LeakyReLU: x, or negative_slope · x below 0 (default 0.01).",
    "gelu": "GELU: x · Φ(x), Φ the standard normal CDF.", "tanh": "tanh(x).", "sigmoid": "Sigmoid: 1 / (1 + exp(−x)).",
    "relu6": "ReLU6: min(max(0, x), 6).", "elu": "ELU: x, or alpha · (exp(x) − 1) below 0 (default 1.0).",
    "silu": "SiLU (swish): x · sigmoid(x).",
}


ACTIVATION_OPTIONS = {"leaky_relu": ("negative_slope",), "elu": ("alpha",)}  # the options each one uses


def _options_it_takes(kind: str):
    """A validator refusing an option this activation would ignore (Keras's LeakyReLU(alpha=…) is negative_slope)."""
    def check(self):
        params = getattr(self, kind)
        for option in ("negative_slope", "alpha"):
            if getattr(params, option) is not None and option not in ACTIVATION_OPTIONS.get(kind, ()):
                takes = ACTIVATION_OPTIONS.get(kind)
                raise ValueError(f"{kind} has no option {option}" + (
                    "; its slope for negative inputs is negative_slope (Keras's alpha)" if kind == "leaky_relu"
                    else f"; it takes {takes[0]}" if takes else "; it takes only name"))
        return self
    return model_validator(mode="after")(check)


def _activation_item(kind: str) -> type[BaseModel]:
    """The one-key layer item class of an activation, e.g. `gelu: {...}`."""
    return type(kind.title().replace("_", ""), (Strict,),
                {"__annotations__": {kind: ActivationParams}, "__doc__": ACTIVATION_DOCS[kind],
                 "_options_it_takes": _options_it_takes(kind)})


_ITEMS: dict[str, type[BaseModel]] = {
    "conv": Conv, "maxpool": MaxPool, "avgpool": AvgPool, "linear": Linear, "dropout": Dropout,
    "batchnorm": BatchNorm, "flatten": Flatten, "global_avgpool": GlobalAvgPool,
    **{a: _activation_item(a) for a in ACTIVATIONS}, "residual": Residual, "branches": Branches,
}
BareLayer = Literal[BARE_LAYERS]  # type: ignore[valid-type]


def _layer_tag(value: Any) -> str | None:
    """Which layer kind an item is, for the discriminated union (None: not a layer)."""
    if isinstance(value, str):
        return "bare"
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if key in _ITEMS else None
    if isinstance(value, BaseModel):
        return next(iter(type(value).model_fields))
    return None


LayerItem = Annotated[
    Union[tuple(Annotated[cls, Tag(kind)] for kind, cls in _ITEMS.items()) + (Annotated[BareLayer, Tag("bare")],)],
    Discriminator(
        _layer_tag,
        custom_error_type="layer",
        custom_error_message=f"a layer is one of {', '.join(sorted(_ITEMS))}, written as `kind` or `kind: {{options}}`",
    ),
]


for _cls in (ResidualParams, BranchesParams, Residual, Branches):
    _cls.model_rebuild()


def normalize(item: Any) -> tuple[str, dict]:
    """Turn a validated layer item into (kind, options dict) with defaults filled in; a block's layers normalised too."""
    if isinstance(item, str):
        kind = item
        params: Any = None
    else:
        kind = next(iter(type(item).model_fields))
        params = getattr(item, kind)
    if params is None:
        params = _ITEMS[kind].model_fields[kind].annotation
        params = getattr(params, "__origin__", params)()
    if kind == "residual":
        return kind, {"layers": [normalize(x) for x in params.layers],
                      "shortcut": None if params.shortcut is None else [normalize(x) for x in params.shortcut],
                      "activation": params.activation, "name": params.name}
    if kind == "branches":
        return kind, {"paths": [[normalize(x) for x in path] for path in params.paths], "name": params.name}
    return kind, params.model_dump()


def inner_layers(kind: str, opts: dict) -> list[list[tuple[str, dict]]]:
    """The layer lists a block holds (body and shortcut, or each path); none for a plain layer."""
    if kind == "residual":
        return [opts["layers"]] + ([opts["shortcut"]] if opts["shortcut"] else [])
    return list(opts["paths"]) if kind == "branches" else []


def walk(layers: list[tuple[str, dict]]):
    """Every (kind, options) of a layer list, blocks first and then their layers, depth first."""
    for kind, opts in layers:
        yield kind, opts
        for inner in inner_layers(kind, opts):
            yield from walk(inner)


def in_blocks(layers: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """The layers that sit inside residual or branches blocks, at any depth."""
    return [layer for kind, opts in layers for inner in inner_layers(kind, opts) for layer in walk(inner)]


# what each variant override changes, and so may not change inside a block (its shapes must keep fitting together)
_SHAPING = {"channels": ("conv",), "kernel": ("conv",), "padding": ("conv",), "pool": ("maxpool", "avgpool"),
            "dense": ("linear",)}


def blocked_override(layers: list[tuple[str, dict]], overrides: dict) -> tuple[str, str] | None:
    """(override, why) for the first override that a model's residual or branches blocks rule out, else None."""
    blocks = [opts.get("name") or kind for kind, opts in layers if kind in BLOCKS]
    if not blocks:
        return None
    for key in overrides:
        if key in ("blocks", "drop_blocks"):
            return key, (f"`{key}` counts conv blocks of a plain layer list; this model has residual/branches blocks "
                         f"({', '.join(blocks[:3])}): write the variant's layers out (YAML anchors &name and *name "
                         "repeat a block)")
        kinds = _SHAPING.get(key, ())
        if any(kind in kinds and (key != "dense" or opts["out"] != "classes") for kind, opts in in_blocks(layers)):
            return key, (f"`{key}` would change layers inside residual/branches blocks, whose shapes must keep "
                         "fitting their shortcut or the other paths; write the variant's layers out (YAML anchors "
                         "&name and *name repeat a block). `activation` and `dropout` apply inside blocks too")
    return None


def replace_activations(layers: list[tuple[str, dict]], new: str) -> list[tuple[str, dict]]:
    """The layers with every activation, inside blocks too (and a residual's after the sum), replaced by `new`."""
    out = []
    for kind, opts in layers:
        if kind in ACTIVATIONS:
            out.append((new, {"negative_slope": None, "alpha": None, "name": None}))
        elif kind == "residual":
            out.append((kind, {**opts, "layers": replace_activations(opts["layers"], new),
                               "shortcut": opts["shortcut"] and replace_activations(opts["shortcut"], new),
                               "activation": opts["activation"] and new}))
        elif kind == "branches":
            out.append((kind, {**opts, "paths": [replace_activations(p, new) for p in opts["paths"]]}))
        else:
            out.append((kind, opts))
    return out
