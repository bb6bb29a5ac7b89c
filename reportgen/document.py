"""Turn results + figures into the document the templates print: numbered sections, tables, figures."""

from __future__ import annotations

from pathlib import Path

from . import prose
from .formatting import pct, secs, sig
from .manifest import Section

DEFAULT_TITLES = {
    "contents": "Table of Contents", "architecture": "CNN Model", "parameters": "Model Parameters",
    "training": "Model Training", "evaluation": "Model Evaluation", "comparison": "Comparison",
    "repository": "Code Repository", "provenance": "Provenance", "prose": "Notes",
}


class Numbering:
    """Hands out section, figure and table numbers in document order."""

    def __init__(self):
        self.section = self.figure = self.table = 0

    def next_section(self) -> int:
        self.section += 1
        return self.section

    def fig(self, key: str, caption: str, svg: str) -> dict:
        self.figure += 1
        return {"number": self.figure, "id": f"fig-{self.figure}", "key": key, "caption": caption, "svg": svg}

    def tab(self, caption: str) -> dict:
        self.table += 1
        return {"number": self.table, "id": f"tab-{self.table}", "caption": caption}


def _selected(results: dict, names: list[str] | None, kind: str) -> list:
    pool = results[kind]
    return [pool[n] | {"name": n} for n in (names or pool) if n in pool]


def _model_names(results: dict, names: list[str] | None) -> list[str]:
    used = list(dict.fromkeys(r["model"] for r in results["runs"].values()))
    return [n for n in (names or used) if n in results["models"]]


def _config_rows(run: dict, sizes: dict) -> list[tuple[str, str]]:
    c, o = run["config"], run["config"]["optimizer"]
    opt = o["name"].upper() if o["name"] in ("sgd",) else {"adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
                                                             "adagrad": "Adagrad", "adadelta": "Adadelta"}[o["name"]]
    extras = [f"momentum {sig(o['momentum'])}" for _ in [0] if o["name"] in ("sgd", "rmsprop") and o["momentum"]]
    extras += [f"weight decay {sig(o['weight_decay'])}"] if o["weight_decay"] else []
    return [
        ("Model", run["model"]), ("Optimizer", opt + (f" ({', '.join(extras)})" if extras else "")),
        ("Learning rate", sig(o["lr"], 4)), ("Loss", "cross-entropy (sparse integer labels)"),
        ("Epochs", str(c["epochs"])), ("Batch size", str(c["batch_size"])), ("Seed", str(c["seed"])),
        ("Device", run["device"]), ("Training / validation images", f"{sizes['train']:,} / {sizes['validation']:,}"),
        ("Training time", secs(run["train_seconds"])),
    ]


def _status_note(run: dict) -> str | None:
    if run["status"] == "diverged":
        return (f"Training diverged at epoch {run['diverged_epoch']}: the loss became infinite or NaN, so training "
                "stopped there; the epochs before it and the test metrics of the final weights are shown.")
    return None


def _best(runs: list[dict]) -> str | None:
    ranked = [r for r in runs if r["test"]["accuracy"] is not None]
    return max(ranked, key=lambda r: r["test"]["accuracy"])["id"] if ranked else None


def build(results: dict, sections: list[Section], figures: dict[str, str], base_dir: Path) -> dict:
    """The document: report metadata and a list of numbered section views."""
    num = Numbering()
    views = []
    for index, sec in enumerate(sections):
        view = {"kind": sec.kind, "index": index, "title": sec.options.get("title") or DEFAULT_TITLES.get(sec.kind)}
        if sec.kind in ("cover", "contents"):
            views.append(view)
            continue
        if sec.kind == "prose":
            text = sec.options["text"] if sec.options.get("text") is not None else \
                (base_dir / sec.options["file"]).read_text("utf-8")
            md_title, body = prose.split_title(text)
            view["title"] = sec.options.get("title") or md_title or DEFAULT_TITLES["prose"]
            # with its `# Title` taken as the section title, a file's `##` headings become h3
            view["html"] = prose.to_html(body, shift=1 if md_title else 2)
        view["number"] = num.next_section()
        view["anchor"] = f"sec-{view['number']}"
        view["subsections"] = []
        builder = _BUILDERS.get(sec.kind)
        if builder:
            builder(view, sec, results, figures, num)
        views.append(view)
    return {"report": results["report"], "smoke": results["smoke"], "dataset": results["dataset"],
            "environment": results["environment"], "sections": views, "runs": list(results["runs"].values()),
            "toc": [v for v in views if "number" in v]}


def _sub(view: dict, title: str) -> dict:
    n = len(view["subsections"]) + 1
    sub = {"title": title, "number": f"{view['number']}.{n}", "anchor": f"{view['anchor']}-{n}"}
    view["subsections"].append(sub)
    return sub


def _model_tables(caption: str):
    """Section builder for per-model tables (architecture, parameters)."""

    def builder(view, sec, results, figures, num):
        view["models"] = []
        for name in _model_names(results, sec.options.get("models")):
            m = results["models"][name]
            view["models"].append({"name": name, "summary": m, "sub": _sub(view, name),
                                   "table": num.tab(caption.format(name=name, shape=m["input_shape"]))})

    return builder


def _training(view, sec, results, figures, num):
    view["runs"] = []
    for run in _selected(results, sec.options.get("experiments"), "runs"):
        rid = run["id"]
        view["runs"].append({
            "run": run, "sub": _sub(view, run["title"]), "note": _status_note(run),
            "config": _config_rows(run, results["dataset"]["sizes"]),
            "config_table": num.tab(f"Training settings of {rid}"),
            "log_table": num.tab(f"Epoch log of {rid}"),
            "loss_fig": num.fig(f"loss/{rid}", f"Training and validation loss of {rid}", figures[f"loss/{rid}"]),
            "acc_fig": num.fig(f"acc/{rid}", f"Training and validation accuracy of {rid}", figures[f"acc/{rid}"]),
        })


def _evaluation(view, sec, results, figures, num):
    view["runs"] = []
    for run in _selected(results, sec.options.get("experiments"), "runs"):
        rid = run["id"]
        view["runs"].append({
            "run": run, "sub": _sub(view, run["title"]), "note": _status_note(run),
            "metrics_table": num.tab(f"Test metrics of {rid}"),
            "report_table": num.tab(f"Classification report of {rid} on the test set"),
            "cm_fig": num.fig(f"cm/{rid}", f"Confusion matrix of {rid} on the test set", figures[f"cm/{rid}"]),
        })


def _comparison(view, sec, results, figures, num):
    runs = _selected(results, sec.options.get("experiments"), "runs")
    view["runs"] = runs
    view["best"] = _best(runs)
    view["params"] = {r["id"]: results["models"][r["model"]]["total_params"] for r in runs}
    view["table"] = num.tab("Comparison of runs (best test accuracy marked ★)")
    i = view["index"]
    view["bars_fig"] = num.fig(f"bars/{i}", "Test accuracy of each run", figures[f"bars/{i}"])
    view["overlay_fig"] = num.fig(f"cmp/{i}", "Validation loss and accuracy per epoch, all runs", figures[f"cmp/{i}"])
    if view["best"]:
        best = results["runs"][view["best"]]
        view["summary"] = (f"The best test accuracy, {pct(best['test']['accuracy'])}, comes from "
                           f"{view['best']}.")


def _provenance(view, sec, results, figures, num):
    view["table"] = num.tab("Environment and cache keys")


_BUILDERS = {"architecture": _model_tables("Layers of {name}, input {shape}"),
             "parameters": _model_tables("Parameters of {name}, layer by layer"), "training": _training,
             "evaluation": _evaluation, "comparison": _comparison, "provenance": _provenance}
