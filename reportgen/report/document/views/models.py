"""Section builders for per-model tables (architecture, parameters), from results.models, worded by wording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from reportgen.report.document.keyed import Joined, at
from reportgen.report.document.views import model_tables as tables
from reportgen.report.document.views import model_words as words
from reportgen.report.wording.formatting import shape
from reportgen.report.wording import describe as wording
from reportgen.results.record import GroupRow, LayerModel, ModelRecord, NetworkModel, Results

MAX_DEPTH = 4  # deeper blocks are indented as much as the fourth level


def model_names(results: Results, names: list[str] | None) -> list[str]:
    """The models a section shows: the ones named (that have a record), or every model a run used."""
    used = list(dict.fromkeys(r.model for r in results.runs.values()))
    return [n for n in (names or used) if n in results.models]


def block_text(config: dict) -> str:
    """A layer-language block's configuration in words (residual, branches, a shortcut or a path)."""
    kind = config.get("kind")
    if kind == "residual":
        after = f", then {config['activation']}" if config.get("activation") else ""
        short = "its shortcut" if config.get("shortcut") == "layers" else "the block's input (identity shortcut)"
        return f"its layers + {short}{after}"
    if kind == "branches":
        return f"{config['paths']} paths from the same input, concatenated on channels"
    if kind == "shortcut":
        return "maps the block's input to the shape of its layers' output"
    if kind == "path":
        return f"path {config['index']}"
    return ""


def segments(m: LayerModel) -> list[dict]:
    """The table's row groups in order: each top-level block one group (its head, then its rows and inner blocks,
    with their depth), the plain layers between blocks another."""
    groups = m.groups
    heads: dict[int, list[int]] = {}
    for j, g in enumerate(groups):
        heads.setdefault(g.start, []).append(j)
    out: list[dict] = []
    open_ends: list[int] = []  # ends of the blocks the current row is in, innermost last
    for i, layer in enumerate(m.layers):
        while open_ends and i >= open_ends[-1]:
            open_ends.pop()
        for j in heads.get(i, []):
            if not open_ends:
                out.append({"block": j, "rows": []})
            out[-1]["rows"].append({"group": j, "depth": min(len(open_ends), MAX_DEPTH)})
            open_ends.append(groups[j].end)
        if not open_ends and (not out or out[-1]["block"] is not None):
            out.append({"block": None, "rows": []})
        own = bool(open_ends) and layer.name == groups[_innermost(groups, i)].name
        out[-1]["rows"].append({"layer": i, "depth": min(len(open_ends), MAX_DEPTH), "own": own})
    return out


def _innermost(groups: list[GroupRow], i: int) -> int:
    """The innermost block holding row i."""
    return max((j for j, g in enumerate(groups) if g.start <= i < g.end), key=lambda j: groups[j].depth)


def sum_terms(m: LayerModel) -> list[tuple[str, int]]:
    """What the total adds up: top-level blocks and the rows outside blocks that hold parameters."""
    groups = m.groups
    outer = [g for g in groups if g.depth == 0]
    terms: list[tuple[int, tuple[str, int]]] = [(g.start, ("groups", j)) for j, g in enumerate(groups)
                                                if g.depth == 0 and g.params]
    for i, layer in enumerate(m.layers):
        if layer.params and not any(g.start <= i < g.end for g in outer):
            terms.append((i, ("layers", i)))
    return [t for _, t in sorted(terms)]


TOTALS = ("total_params", "trainable_params", "non_trainable_params", "keras_total_params",
          "keras_non_trainable_params")


def _blocked(m: ModelRecord) -> bool:
    """Whether a model's layers are grouped in blocks (residual blocks, modules holding others)."""
    return isinstance(m, LayerModel) and bool(m.groups)


def counts(results: Results, name: str) -> dict:
    """A model's totals (keyed), its input shape in words and the sum of the counts its total is checked by."""
    m, mk = results.models[name], ("models", name)
    out = {total: at(results, *mk, total) for total in TOTALS}
    out["input_shape"] = shape(m.input_shape)
    if _blocked(m):
        terms = [at(results, *mk, part, i, "params") for part, i in sum_terms(m)]
    else:
        terms = [at(results, *mk, "layers", i, "params") for i, layer in enumerate(m.layers) if layer.params]
    out["sum"] = Joined(terms, " + ", tuple(f"term {i + 1}" for i in range(len(terms))))
    return out


def worded(m: ModelRecord) -> dict:
    """The model record's structured facts in the report's words: each layer's and block's configuration (in the
    record's order), the freezing policy and the new head."""
    network = isinstance(m, NetworkModel)
    return {"layer_config": [wording.layer_config(layer) for layer in m.layers],
            "group_config": [] if network else [block_text(g.config) for g in m.groups],
            "segments": segments(m) if _blocked(m) else None,
            "freeze_text": wording.freeze_policy(m.freeze) if network else None,
            "head_text": wording.head_layers(m.head_dense) if network else None}


@dataclass(frozen=True)
class ModelSection:
    """What a per-model section shows of each model: its table's caption, class and rows, and its sentences."""

    caption: str  # names the model ({name}) and its input shape ({shape})
    classes: str
    blocks: Callable  # fills a network's table
    layers: Callable  # fills a layer model's table
    intro: Callable  # the paragraphs before the table
    closing: Callable | None = None  # the sentence after it
    settings: bool = False  # a MobileNetV2's inverted-residual settings, before the table

    def __call__(self, view: dict, sec, results: Results, figures, num):
        view["models"] = []
        for name in model_names(results, sec.options.get("models")):
            m = results.models[name]
            network = isinstance(m, NetworkModel)
            text = self.caption.format(name=name, shape=shape(m.input_shape))
            if network:
                text = text.replace("layer by layer", "block by block").replace("Layers of", "Blocks of")
            entry = {"name": name, "summary": m, "sub": num.sub(view, name), "counts": counts(results, name),
                     **worded(m)}
            entry["intro"] = [num.text(p) for p in self.intro(entry)]
            settings = m.inverted_residual if self.settings and network else None
            entry["settings_table"] = (num.unnumbered(tables.inverted_residual(settings), "settings", name)
                                       if settings else None)
            entry["table"] = num.tab(text, name, classes=self.classes)
            (self.blocks if network else self.layers)(entry["table"], results, entry)
            entry["closing"] = num.text(self.closing(entry)) if self.closing else None
            view["models"].append(entry)


architecture = ModelSection("Layers of {name}, input {shape}", "data", tables.network_blocks, tables.layer_list,
                            words.architecture_intro, settings=True)
parameters = ModelSection("Parameters of {name}, layer by layer", "data params", tables.block_counts,
                          tables.layer_counts, words.parameters_intro, words.parameters_sum)
