"""Per-layer parameter tables, torchinfo-style: forward hooks -> plain JSON-able records."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

TIMES = " \u00d7 "
Terms = list[list[int]]  # a formula's left side: a sum of products of factors


def format_int(n: int) -> str:
    """Integer with comma thousands separators: 2432 -> '2,432'."""
    return f"{int(n):,}"


def render(terms: Terms) -> tuple[str, int]:
    """Render terms as 'a × b + c = N' and return (text, N)."""
    total = sum(math.prod(t) for t in terms)
    left = " + ".join(TIMES.join(format_int(f) for f in t) for t in terms)
    return f"{left} = {format_int(total)}", total


def _checked(terms: Terms, measured: int, what: str) -> str:
    """Render terms and raise AssertionError unless the result equals the measured numel."""
    text, total = render(terms)
    if total != measured:
        raise AssertionError(f"{what}: formula {text!r} gives {total:,}, but the tensors hold {measured:,} elements")
    return text


def _own_params(m: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Parameters registered directly on the module (recurse=False)."""
    return list(m.named_parameters(recurse=False))


def _own_buffers(m: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Persistent floating-point buffers registered directly on the module (BN running stats, ...)."""
    skip = getattr(m, "_non_persistent_buffers_set", set())
    return [(n, b) for n, b in m.named_buffers(recurse=False) if b.is_floating_point() and n not in skip]


def _present(m: nn.Module, *names: str) -> set[str]:
    """The subset of `names` that are non-None attributes of the module."""
    return {n for n in names if getattr(m, n, None) is not None}


def _conv_terms(m: nn.modules.conv._ConvNd) -> Terms:
    """Conv: in/groups × out × k… (+ out); transposed: in × out/groups × k… (+ out)."""
    g, cin, cout = m.groups, m.in_channels, m.out_channels
    weight = [cin, cout // g] if m.transposed else [cin // g, cout]
    return [weight + list(m.kernel_size)] + ([[cout]] if m.bias is not None else [])


def _linear_terms(m: nn.Linear) -> Terms:
    """Linear: in × out (+ out)."""
    return [[m.in_features, m.out_features]] + ([[m.out_features]] if m.bias is not None else [])


def _norm_size(m: nn.Module) -> list[int]:
    """The per-tensor shape of a normalisation layer's affine weight γ and bias β."""
    if isinstance(m, nn.GroupNorm):
        return [m.num_channels]
    if hasattr(m, "normalized_shape"):
        return list(m.normalized_shape)
    return [m.num_features]


def _norm_terms(m: nn.Module) -> Terms:
    """Norm layers: 2 × C (γ and β), or just C when only one of them exists."""
    size, count = _norm_size(m), len(_present(m, "weight", "bias"))
    return [[2, *size]] if count == 2 else [size] if count == 1 else []


def _embedding_terms(m: nn.Module) -> Terms:
    """Embedding: V × D."""
    return [[m.num_embeddings, m.embedding_dim]]


NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()))
BUILDERS = (
    (nn.modules.conv._ConvNd, _conv_terms),
    (nn.Linear, _linear_terms),
    (NORMS, _norm_terms),
    ((nn.Embedding, nn.EmbeddingBag), _embedding_terms),
)


def _known_terms(m: nn.Module) -> tuple[set[str], Terms] | None:
    """(expected own parameter names, terms) for layer types with a dedicated formula, else None."""
    for types, build in BUILDERS:
        if isinstance(m, types):
            return _present(m, "weight", "bias"), build(m)
    return None


def known_formula(m: nn.Module) -> bool:
    """Whether the module's parameters are written out by a formula of its kind (else by its tensors' sizes)."""
    known = _known_terms(m)
    return known is not None and known[0] == {n for n, _ in _own_params(m)}


def _generic_terms(tensors: Sequence[torch.Tensor]) -> Terms:
    """Fallback: one product term per tensor, its shape written out (a scalar counts as 1)."""
    return [[int(s) for s in t.shape] or [1] for t in tensors]


def param_formula(m: nn.Module, params: list[tuple[str, nn.Parameter]], what: str) -> str:
    """Formula for the parameters counted on this row, derived from module attributes and checked."""
    if not params:
        return ""
    measured = sum(p.numel() for _, p in params)
    known = _known_terms(m)
    if known is not None and known[0] == {n for n, _ in params} == {n for n, _ in _own_params(m)}:
        return _checked(known[1], measured, what)
    return _checked(_generic_terms([p for _, p in params]), measured, what)


def buffer_formula(m: nn.Module, buffers: list[tuple[str, torch.Tensor]], what: str) -> str:
    """Formula for the float buffers counted on this row: '2 × C = N' for running mean and variance."""
    if not buffers:
        return ""
    measured = sum(b.numel() for _, b in buffers)
    if isinstance(m, nn.modules.batchnorm._NormBase) and {n for n, _ in buffers} == {"running_mean", "running_var"}:
        return _checked([[2, m.num_features]], measured, what)
    return _checked(_generic_terms([b for _, b in buffers]), measured, what)


def _shape(out: Any) -> list[int] | None:
    """Output shape without the batch dim; for tuples/lists/dicts the first tensor found."""
    if isinstance(out, torch.Tensor):
        return [int(s) for s in out.shape[1:]]
    items = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else ()
    for item in items:
        shape = _shape(item)
        if shape is not None:
            return shape
    return None


def _targets(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf modules plus any module that directly owns parameters or float buffers."""
    return [(name, m) for name, m in model.named_modules()
            if next(m.children(), None) is None or _own_params(m) or _own_buffers(m)]


def _probe_input(model: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    """torch.zeros(1, *input_shape) on the model's device, in its floating dtype."""
    ref = next((t for t in [*model.parameters(), *model.buffers()] if t.is_floating_point()), None)
    dtype = ref.dtype if ref is not None else torch.get_default_dtype()
    return torch.zeros(1, *input_shape, dtype=dtype, device=ref.device if ref is not None else "cpu")


def trace(model: nn.Module, input_shape: Sequence[int], containers: bool = False
          ) -> tuple[list[nn.Module], dict[nn.Module, list[int]]]:
    """One eval-mode, no-grad forward pass; returns hooked modules in first-call order and their output shapes
    (with `containers`, the output shapes of the modules that hold others too)."""
    order: dict[nn.Module, None] = {}  # insertion-ordered set
    shapes: dict[nn.Module, list[int]] = {}

    def pre(m: nn.Module, _args: Any) -> None:
        order.setdefault(m, None)

    def post(m: nn.Module, _args: Any, out: Any) -> None:
        shapes.setdefault(m, _shape(out) or [])

    handles = []
    targets = {m for _, m in _targets(model)}
    for m in targets:
        handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    if containers:
        handles += [m.register_forward_hook(post) for m in model.modules() if m not in targets and m is not model]
    probe(model, input_shape, handles)
    return list(order), shapes


def probe(model: nn.Module, input_shape: Sequence[int], handles: list) -> None:
    """One eval-mode, no-grad forward pass of a zero image; then remove the hooks and restore train modes."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            model(_probe_input(model, input_shape))
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training


def _row(name: str, m: nn.Module, shape: list[int], params: list, buffers: list) -> dict:
    """One JSON-able table row for a module (params/buffers are the ones not counted on earlier rows)."""
    what = f"layer {name or '<model>'!r} ({type(m).__name__})"
    n_params = sum(p.numel() for _, p in params)
    return {
        "name": name,
        "type": type(m).__name__,
        "output_shape": [int(s) for s in shape],
        "params": int(n_params),
        "trainable": int(sum(p.numel() for _, p in params if p.requires_grad)),
        "buffers": int(sum(b.numel() for _, b in buffers)),
        "formula": param_formula(m, params, what),
        "buffer_formula": buffer_formula(m, buffers, what),
    }


def _fresh(items: list[tuple[str, torch.Tensor]], seen: set[int]) -> list[tuple[str, torch.Tensor]]:
    """Items whose tensors were not counted yet (tied weights count once, on their first row); marks them seen."""
    fresh = [(n, t) for n, t in items if id(t) not in seen]
    seen.update(id(t) for _, t in fresh)
    return fresh


def build_rows(model: nn.Module, order: list[nn.Module], shapes: dict[nn.Module, list[int]]) -> list[dict]:
    """Rows for executed modules in call order, then for never-called modules that still hold tensors."""
    targets = _targets(model)
    names = {m: n for n, m in targets}
    idle = [m for _, m in targets if m not in shapes and (_own_params(m) or _own_buffers(m))]
    seen_p: set[int] = set()
    seen_b: set[int] = set()
    rows = []
    for m in [m for m in order if m in names] + idle:
        params, buffers = _fresh(_own_params(m), seen_p), _fresh(_own_buffers(m), seen_b)
        rows.append(_row(names[m], m, shapes.get(m, []), params, buffers))
    return rows


def _unique_numel(tensors: Any) -> int:
    """Total numel of distinct tensors."""
    return sum({id(t): t.numel() for t in tensors}.values())


def _check_totals(rows: list[dict], total: int, buffers: int) -> None:
    """Raise AssertionError unless the table's rows add up to PyTorch's own counts."""
    row_params, row_buffers = sum(r["params"] for r in rows), sum(r["buffers"] for r in rows)
    if row_params != total:
        raise AssertionError(f"rows hold {row_params:,} parameters, model.parameters() holds {total:,}")
    if row_buffers != buffers:
        raise AssertionError(f"rows hold {row_buffers:,} buffer values, the model holds {buffers:,}")


def summarize(model: nn.Module, input_shape: Sequence[int], nested: bool = False) -> dict:
    """Per-layer table (execution order) and totals, PyTorch- and Keras-style, as plain JSON-able data; `nested`
    orders the rows module by module and adds `groups`, the modules that hold them (when there are any)."""
    shape = [int(s) for s in input_shape]
    if not shape or min(shape) < 1:
        raise ValueError(f"input_shape must be positive sizes without the batch dim, got {input_shape!r}")
    order, shapes = trace(model, shape, containers=nested)
    rows = build_rows(model, order, shapes)
    groups: list[dict] = []
    if nested:
        rows, groups = nest(model, rows, shapes)
    total = int(sum(p.numel() for p in model.parameters()))
    trainable = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    buffers = int(_unique_numel(b for m in model.modules() for _, b in _own_buffers(m)))
    _check_totals(rows, total, buffers)
    return {
        "input_shape": shape,
        "layers": rows,
        **({"groups": groups} if groups else {}),
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": total - trainable,
        "buffer_params": buffers,
        "keras_total_params": total + buffers,
        "keras_non_trainable_params": total - trainable + buffers,
    }


def nest(model: nn.Module, rows: list[dict], shapes: dict[nn.Module, list[int]]) -> tuple[list[dict], list[dict]]:
    """(rows in module order, groups): every module holding counted rows is a group over a contiguous range of
    them (`start`, `end`), with its sum written out over its direct parts, outermost first."""
    modules = dict(model.named_modules())
    first: dict[str, int] = {}  # module name → its first row in call order
    for i, row in enumerate(rows):
        parts = row["name"].split(".") if row["name"] else []
        for depth in range(len(parts) + 1):
            first.setdefault(".".join(parts[:depth]), i)
    children: dict[str, list[str]] = {}
    for name in first:
        if name:
            children.setdefault(name.rpartition(".")[0], []).append(name)
    own = {row["name"]: row for row in rows}
    ordered: list[dict] = []
    groups: list[dict] = []

    def visit(name: str, depth: int) -> int:
        """Append the rows under `name` (and its group); returns their parameter count."""
        grouped = bool(name) and name in children
        start, index = len(ordered), len(groups)
        if grouped:
            groups.append({})
        terms = []
        if name in own:
            ordered.append(own[name])
            terms.append(own[name]["params"])
        for child in sorted(children.get(name, []), key=first.__getitem__):
            terms.append(visit(child, depth + grouped))
        total = sum(terms)
        if grouped:
            part = ordered[start:]
            shown = [t for t in terms if t]
            groups[index] = {
                "name": name, "type": type(modules[name]).__name__, "output_shape": shapes.get(modules[name], []),
                "params": int(total), "trainable": int(sum(r["trainable"] for r in part)),
                "buffers": int(sum(r["buffers"] for r in part)), "depth": depth, "start": start, "end": len(ordered),
                "formula": _checked([[t] for t in shown], total, f"block {name!r}") if len(shown) > 1 else ""}
        return total

    visit("", 0)
    return ordered, groups


def block_summary(model: nn.Module, input_shape: Sequence[int], blocks: list[str], head: str) -> dict:
    """A network's table block by block (its backbone's parts, then the head), with totals checked."""
    shape = [int(s) for s in input_shape]
    names = [*blocks, head]
    modules = {n: model.get_submodule(n) for n in names}
    shapes: dict[str, list[int]] = {}

    def hook(name: str):
        def record(_m, _args, out) -> None:  # a hook that returns a value would replace the output
            shapes.setdefault(name, _shape(out) or [])
        return record

    probe(model, shape, [m.register_forward_hook(hook(n)) for n, m in modules.items()])
    seen: set[int] = set()
    rows = []
    for n in names:
        params = [p for p in modules[n].parameters() if id(p) not in seen]
        seen.update(id(p) for p in params)
        rows.append({"name": n, "type": type(modules[n]).__name__, "output_shape": shapes.get(n, []),
                     "params": int(sum(p.numel() for p in params)),
                     "trainable": int(sum(p.numel() for p in params if p.requires_grad)), "head": n == head})
    rest = [p for p in model.parameters() if id(p) not in seen]
    if rest:
        rows.insert(len(rows) - 1, {"name": "(elsewhere)", "type": "", "output_shape": [],
                                    "params": int(sum(p.numel() for p in rest)),
                                    "trainable": int(sum(p.numel() for p in rest if p.requires_grad)), "head": False})
    total = int(sum(p.numel() for p in model.parameters()))
    trainable = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    if sum(r["params"] for r in rows) != total or sum(r["trainable"] for r in rows) != trainable:
        raise AssertionError("the block table does not add up to model.parameters()")
    buffers = int(_unique_numel(b for m in model.modules() for _, b in _own_buffers(m)))
    return {"input_shape": shape, "layers": [], "blocks": rows, "total_params": total, "trainable_params": trainable,
            "non_trainable_params": total - trainable, "buffer_params": buffers, "keras_total_params": total + buffers,
            "keras_non_trainable_params": total - trainable + buffers}
