"""The custom-CNN layer language: one YAML item per layer, validated into typed specs."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, WithJsonSchema

ACTIVATIONS = ("relu", "leaky_relu", "gelu", "tanh", "sigmoid", "relu6", "elu", "silu")
BARE_LAYERS = ("batchnorm", "flatten", "global_avgpool", "dropout", *ACTIVATIONS)


class Strict(BaseModel):
    """Base for manifest objects: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


MAX_SIZE = 65_536  # widths, kernels, strides: far beyond any real CNN, and small enough that building stays cheap
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
    stride: IntPair = (1, 1)
    padding: Annotated[Union[int, Literal["same", "valid"]], BeforeValidator(check_padding),
                       WithJsonSchema({"oneOf": [{"type": "integer", "minimum": 0}, {"enum": ["same", "valid"]}]})] = 0
    bias: bool = True
    name: LayerName | None = None


class PoolParams(Strict):
    """Max or average pooling; stride defaults to the kernel size."""

    kernel: IntPair = (2, 2)
    stride: IntPair | None = None
    padding: Annotated[int, Field(ge=0, le=MAX_SIZE)] = 0
    name: LayerName | None = None


class LinearParams(Strict):
    """Fully connected layer; `in` features are inferred from the flattened shape."""

    out: OutFeatures
    bias: bool = True
    name: LayerName | None = None


class DropoutParams(Strict):
    """Dropout with probability p."""

    p: float = Field(default=0.5, ge=0.0, lt=1.0)
    name: LayerName | None = None


class BatchNormParams(Strict):
    """Batch normalisation over channels (2-D) or features (1-D), chosen from the input shape."""

    eps: float = Field(default=1e-5, gt=0)
    momentum: float = Field(default=0.1, gt=0, le=1)
    name: LayerName | None = None


class ActivationParams(Strict):
    """An activation with options (e.g. leaky_relu's negative slope)."""

    negative_slope: float | None = None
    alpha: float | None = None
    name: LayerName | None = None


class NamedOnly(Strict):
    """A parameterless layer that only takes a display name."""

    name: LayerName | None = None


class Conv(Strict):
    conv: ConvParams


class MaxPool(Strict):
    maxpool: Annotated[PoolParams, _shorthand("kernel", Union[IntPair, PoolParams])]


class AvgPool(Strict):
    avgpool: Annotated[PoolParams, _shorthand("kernel", Union[IntPair, PoolParams])]


class Linear(Strict):
    linear: Annotated[LinearParams, _shorthand("out", Union[OutFeatures, LinearParams])]


class Dropout(Strict):
    dropout: Annotated[DropoutParams, _shorthand("p", Union[Annotated[float, Field(ge=0.0, lt=1.0)], DropoutParams])]


class BatchNorm(Strict):
    batchnorm: BatchNormParams


class Flatten(Strict):
    flatten: NamedOnly


class GlobalAvgPool(Strict):
    global_avgpool: NamedOnly


def _activation_item(kind: str) -> type[BaseModel]:
    """The one-key layer item class of an activation, e.g. `gelu: {...}`."""
    return type(kind.title().replace("_", ""), (Strict,), {"__annotations__": {kind: ActivationParams}})


_ITEMS: dict[str, type[BaseModel]] = {
    "conv": Conv, "maxpool": MaxPool, "avgpool": AvgPool, "linear": Linear, "dropout": Dropout,
    "batchnorm": BatchNorm, "flatten": Flatten, "global_avgpool": GlobalAvgPool,
    **{a: _activation_item(a) for a in ACTIVATIONS},
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


def normalize(item: Any) -> tuple[str, dict]:
    """Turn a validated layer item into (kind, options dict) with defaults filled in."""
    if isinstance(item, str):
        kind = item
        params: Any = None
    else:
        kind = next(iter(type(item).model_fields))
        params = getattr(item, kind)
    if params is None:
        params = _ITEMS[kind].model_fields[kind].annotation
        params = getattr(params, "__origin__", params)()
    return kind, params.model_dump()
