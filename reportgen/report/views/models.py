"""Section builders for per-model tables (architecture, parameters), from results["models"], worded by wording."""

from __future__ import annotations

from reportgen.report import wording
from reportgen.report.selection import sub


def model_names(results: dict, names: list[str] | None) -> list[str]:
    """The models a section shows: the ones named (that have a record), or every model a run used."""
    used = list(dict.fromkeys(r["model"] for r in results["runs"].values()))
    return [n for n in (names or used) if n in results["models"]]


def worded(m: dict) -> dict:
    """The model record's structured facts in the report's words: each layer's configuration, the freezing policy."""
    return {"layers": [layer | {"config_text": wording.layer_config(layer)} for layer in m.get("layers") or []],
            "param_layers": [i for i, layer in enumerate(m.get("layers") or []) if layer.get("params")],
            "freeze_text": wording.freeze_policy(m.get("freeze")) if m.get("blocks") else None,
            "head_text": wording.head_layers(m.get("head_dense")) if m.get("blocks") else None}


def model_tables(caption: str):
    """Section builder for per-model tables; `caption` names the model ({name}) and its input shape ({shape})."""

    def builder(view, sec, results, figures, num):
        view["models"] = []
        for name in model_names(results, sec.options.get("models")):
            m = results["models"][name]
            text = caption.format(name=name, shape=m["input_shape"])
            if m.get("blocks"):
                text = text.replace("layer by layer", "block by block").replace("Layers of", "Blocks of")
            view["models"].append({"name": name, "summary": m, "sub": sub(view, name), "table": num.tab(text),
                                   **worded(m)})

    return builder


architecture = model_tables("Layers of {name}, input {shape}")
parameters = model_tables("Parameters of {name}, layer by layer")
