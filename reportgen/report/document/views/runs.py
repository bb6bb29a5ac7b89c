"""Section builders over runs: training, evaluation and lab notebook (comparisons: views.comparison)."""

from __future__ import annotations

from markupsafe import Markup

from reportgen.report.document.selection import runs_for
from reportgen.report.figures import keys
from reportgen.report.wording.findings import show_value, varied_value
from reportgen.report.wording.formatting import dec, pct, sig
from reportgen.report.document.keyed import Joined, at, at_in
from reportgen.report.document.tree import Table, num, row, rowhead, td, th
from reportgen.report.document.views.model_tables import model_summary
from reportgen.report.document.views.training_settings import clip_text, loss_text, schedule_text, tested_weights, \
    trains_other_loss
from reportgen.report.wording.describe import smoke_random_weights
from reportgen.results.record import Results
from reportgen.results.run_record import Compute, RunRecord

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad",
              "adadelta": "Adadelta"}


def optimizer_name(o: dict) -> str:
    """The optimizer as printed: 'Adam', 'SGD'."""
    return OPTIMIZERS.get(o.get("name"), str(o.get("name")))


def config_rows(run: RunRecord, sizes: tuple) -> list[tuple]:
    """The training settings table of a run; `sizes` is the results path of its split sizes."""
    c, o, key = run.config, run.config["optimizer"], ("runs", run.id)
    extras = [f"momentum {sig(o['momentum'])}"] if o["name"] in ("sgd", "rmsprop") and o.get("momentum") else []
    extras += [f"weight decay {sig(o['weight_decay'])}"] if o.get("weight_decay") else []
    rows = [("Model", run.model), ("Optimizer", optimizer_name(o) + (f" ({', '.join(extras)})" if extras else "")),
            ("Learning rate", at_in(run, key, "config", "optimizer", "lr", fmt="sig", digits=4))]
    schedule = schedule_text(c.get("schedule"), run.epochs)
    if schedule:
        rows.append(("Learning-rate schedule", schedule))
    rows += [("Loss", loss_text(c, run.class_weights)), ("Epochs", at_in(run, key, "config", "epochs"))]
    es = c.get("early_stopping")
    if es:
        rows.append(("Early stopping",
                     f"patience {es.get('patience')} epochs, min. improvement {sig(es.get('min_delta'))}"))
    if clip_text(c.get("grad_clip")):
        rows.append(("Gradient clipping", clip_text(c["grad_clip"])))
    if tested_weights(run):
        rows.append(("Weights tested", tested_weights(run)))
    if run.varied:
        rows.insert(0, ("Varied", ", ".join(f"{k} = {show_value(v)}" for k, v in run.varied.items())))
    rows += network_rows(run)
    seeds = [str(s.seed) for s in run.repeats or []]
    rows += [("Batch size", at_in(run, key, "config", "batch_size")),
             ("Seeds" if len(seeds) > 1 else "Seed", f"{', '.join(seeds)} ({len(seeds)} repeats; the first is the "
              "manifest's, the others derived from it)" if len(seeds) > 1 else str(c["seed"]))]
    rows += compute_rows(run)
    rows += [("Training / validation images", (sizes, "train"), (sizes, "validation")),
             ("Training time", at_in(run, key, "train_seconds", fmt="secs"))]
    speeds = [e.images_per_s for e in run.epochs if e.images_per_s]
    if speeds:
        rows.append(("Training throughput", f"{sum(speeds) / len(speeds):,.0f} images/s (mean over epochs)"))
    return rows


def compute_rows(run: RunRecord) -> list[tuple[str, str]]:
    """How the run computed, its augmentation and whether its frozen features were cached; its device if unrecorded."""
    comp = run.compute
    if comp is None:
        return [("Device", run.device)]
    rows = [("Computation", compute_text(comp))]
    if comp.augment:
        rows.append(("Augmentation", augment_text(comp.augment)))
    if comp.features and not comp.features.startswith("not applicable"):
        rows.append(("Frozen features", comp.features))  # cached, or why not
    return rows


def compute_text(c: Compute) -> str:
    """How a run computed, e.g. 'bf16 autocast, channels-last, on cuda (NVIDIA H100); images held on the device'."""
    parts = [c.precision + (" autocast" if c.autocast else "") + (" with loss scaling" if c.loss_scaling else "")]
    parts += ["TF32"] if c.tf32 else []
    parts += ["channels-last"] if c.channels_last else []
    mode = c.compile
    parts += [f"compiled ({mode})" if isinstance(mode, str) and mode != "default" else "compiled"] if mode else []
    where = c.device + (f" ({c.device_name})" if c.device_name else "")
    held = {"device": "images held on the device", "host": "images streamed from pinned host memory"}
    return ", ".join(parts) + f" on {where}" + (f"; {held[c.data_on]}" if c.data_on in held else "")


def augment_text(a: dict) -> str:
    """The declared augmentation in words."""
    parts = []
    if a.get("crop"):
        parts.append(f"random crop with {a['crop']['padding']} px {a['crop'].get('mode', 'reflect')} padding")
    if a.get("flip"):
        parts.append("horizontal flip")
    if a.get("cutout"):
        parts.append(f"{a['cutout']}×{a['cutout']} cutout")
    return ", ".join(parts) + " (training batches only, on the device)"


def precision_note(runs: list[RunRecord]) -> str:
    """'; trained and tested in fp32 on cpu' for a caption (grouped by run when runs differ); '' if unrecorded."""
    groups: dict[str, list[str]] = {}
    for r in runs:
        if r.compute is not None:
            groups.setdefault(f"{r.compute.precision} on {r.compute.device}", []).append(r.id)
    if len(groups) == 1:
        return f"; trained and tested in {next(iter(groups))}"
    return "".join(f"; {how}: {', '.join(ids)}" for how, ids in groups.items())


def network_rows(run: RunRecord) -> list[tuple[str, str]]:
    """Where a network's weights came from, how its inputs were prepared, what a transfer carried over."""
    w, inp, t, rows = run.weights if run.weights is not None else {}, run.input, run.transfer, []
    if w.get("source") in ("torchvision", "timm"):
        start = {"imagenet": f"ImageNet ({w.get('weights_file') or w.get('weights_tag')})",
                 "none": "random initialisation"}.get(w.get("weights"), str(w.get("weights")))
        if t is not None:
            start = f"the final weights of {t.origin}"
        rows.append(("Network", f"{w['source']} {w.get('name')}, starting from {start}"))
        if w.get("frozen"):
            rows.append(("Frozen blocks", ", ".join(w["frozen"])))
        if w.get("random_in_smoke"):
            rows.append(("Note", smoke_random_weights(w["random_in_smoke"])))
    if t is not None:
        rows.append(("Transfer", f"from the final weights of {t.origin}: {t.tensors} tensors carried over; "
                                 f"re-initialised: {', '.join(t.reinitialised) or 'none'}"))
    if inp is not None:
        how = {"weights": "the pretrained weights' statistics", "dataset": "the training split's statistics",
               "none": "none (pixels scaled to 0–1)"}.get(inp.normalization, "")
        size = " × ".join(map(str, inp.shape))
        grey = ", the grey channel repeated to 3" if inp.channels_repeated else ""
        rows.append(("Input", f"{size}{', resized on the device' if inp.resized else ''}{grey}; "
                              f"standardised with {how}"))
    return rows


def _stall(run: RunRecord, classes: int) -> str:
    """What a stalled run's last epoch shows: its validation accuracy against guessing, its loss hardly fallen."""
    rows = run.epochs
    if not rows or not classes:
        return "Training stalled: it ended at chance level."
    last, start = rows[-1], f" (from {dec(rows[0].train_loss)})" if len(rows) > 1 else ""
    return (f"Training stalled: after {len(rows)} epoch{'s' if len(rows) != 1 else ''} the validation accuracy was "
            f"{pct(last.val_acc)}, close to the {pct(1 / classes, 0)} of guessing among {classes} classes, and "
            f"the training loss {dec(last.train_loss)}{start}.")


def status_note(run: RunRecord, classes: int = 0) -> str | None:
    """A note on a run that did not simply complete (`classes`: how many its dataset has)."""
    if run.status == "failed":
        done = len(run.epochs)
        return (f"This run failed: {run.error or 'no reason was recorded'}. It has no test results"
                + (f"; the {done} epoch{'s' if done != 1 else ''} before the failure are shown." if done else "."))
    if run.status == "diverged":
        return (f"Training diverged at epoch {run.diverged_epoch}: the loss became infinite or NaN, so training "
                "stopped there; the epochs before it and the test metrics of the last finite weights are shown.")
    if run.status == "stalled":
        return _stall(run, classes)
    if run.stopped_epoch is not None:
        return f"Early stopping ended training at epoch {run.stopped_epoch} of {run.config['epochs']}."
    return None


def class_count(results: Results, run: RunRecord) -> int:
    """How many classes the run's dataset has (its own dataset's, when it has one)."""
    return len((run.dataset if run.dataset is not None else results.dataset).classes)


def _sizes_path(run: RunRecord) -> tuple:
    """The results path of the split sizes a run trained on: its own dataset's, else the build's."""
    own = run.dataset is not None and run.dataset.sizes
    return ("runs", run.id, "dataset", "sizes") if own else ("dataset", "sizes")


def training(view, sec, results: Results, figures, num_):
    view["runs"] = []
    i = view["index"]
    for run in runs_for(results, sec.options.get("experiments")):
        rid = run.id
        seeds, first = run.repeats or [], first_seed(run)
        band = f"; the mean over its {len(seeds)} seeds, shaded ± one standard deviation" if len(seeds) > 1 else ""
        heading = num_.sub(view, run.title or rid)
        note = num_.text(status_note(run, class_count(results, run)))
        config = _keyed_sizes(config_rows(run, _sizes_path(run)), results)
        config_table = num_.tab(f"Training settings of {rid}", rid, "settings", classes="data config")
        config_table.body = [row(rowhead(label), td(value)) for label, value in config]
        view["runs"].append({
            "run": run, "sub": heading, "note": note, "config_table": config_table,
            "log_table": epoch_log(num_.tab(f"Epoch log of {rid}{first}", rid, "log", classes="data log"), results,
                                   run),
            "loss_fig": num_.fig(keys.loss_key(i, rid), f"Training and validation loss of {rid}{band}"
                                 + ("; the training loss is the one trained, the validation loss plain cross-entropy"
                                    if trains_other_loss(run.config) else ""), figures[keys.loss_key(i, rid)]),
            "acc_fig": num_.fig(keys.acc_key(i, rid), f"Training and validation accuracy of {rid}{band}",
                                figures[keys.acc_key(i, rid)]),
        })


LOG_HEADS = ("Train loss", "Val loss", "Train accuracy", "Val accuracy", "Time")


def epoch_log(table: Table, results: Results, run: RunRecord) -> Table:
    """The epoch log: per epoch, its number of the planned, losses, accuracies and time."""
    table.head = [row(th("Epoch"), *(th(h, numeric=True) for h in LOG_HEADS))]
    planned = at(results, "runs", run.id, "config", "epochs")
    rows = []
    for i in range(len(run.epochs)):
        k = ("runs", run.id, "epochs", i)
        rows.append(row(num(Joined([at(results, *k, "epoch"), planned], "/", ("", "planned"))),
                        num(at(results, *k, "train_loss", fmt="dec")), num(at(results, *k, "val_loss", fmt="dec")),
                        num(at(results, *k, "train_acc", fmt="pct")), num(at(results, *k, "val_acc", fmt="pct")),
                        num(at(results, *k, "seconds", fmt="secs"))))
    table.body = rows
    return table


def _keyed_sizes(rows: list[tuple], results: Results) -> list[tuple]:
    """Rows with a (path, name) pair per number become (label, 'n / m') with each number keyed."""
    out = []
    for label, *cells in rows:
        if len(cells) == 2:
            out.append((label, Joined([at(results, path, name) for path, name in cells], " / ",
                                      tuple(name for _, name in cells))))
        else:
            out.append((label, cells[0]))
    return out


METRICS = (("Test accuracy", "accuracy", "pct"), ("Test loss", "loss", "dec"),
           ("Weighted precision", "precision_weighted", "dec"), ("Weighted recall", "recall_weighted", "dec"),
           ("Weighted F1", "f1_weighted", "dec"))


def test_metrics(table: Table, results: Results, run: RunRecord) -> Table:
    """A run's test metrics, one per row."""
    r = ("runs", run.id, "test")
    table.body = [*(row(rowhead(label), num(at(results, *r, key, fmt=fmt), data_metric=key))
                    for label, key, fmt in METRICS), row(rowhead("Test images"), num(at(results, *r, "support")))]
    return table


def class_report(table: Table, results: Results, run: RunRecord) -> Table:
    """Precision, recall, F1 and support per class on the test set, then their macro and weighted averages."""
    r = ("runs", run.id, "test")
    table.head = [row(th("Class"), *(th(h, numeric=True) for h in ("Precision", "Recall", "F1", "Support")))]
    rows = []
    for i, c in enumerate(run.test.per_class if run.test is not None else []):
        k = (*r, "per_class", i)
        rows.append(row(td(c.name), *(num(at(results, *k, m, fmt="dec")) for m in ("precision", "recall", "f1")),
                        num(at(results, *k, "support"))))
    table.body = rows
    table.foot = [row(th(f"{name.capitalize()} average"),
                      *(num(at(results, *r, f"{m}_{name}", fmt="dec")) for m in ("precision", "recall", "f1")),
                      num(at(results, *r, "support"))) for name in ("macro", "weighted")]
    return table


def first_seed(run: RunRecord) -> str:
    """' (its first seed, 0, of 3)' for what a repeated run's per-run tables and figures show; '' for one seed."""
    seeds = run.repeats or []
    return f" (its first seed, {seeds[0].seed}, of {len(seeds)})" if len(seeds) > 1 else ""


def evaluation(view, sec, results: Results, figures, num_):
    view["runs"] = []
    i = view["index"]
    for run in runs_for(results, sec.options.get("experiments")):
        rid, first = run.id, first_seed(run)
        view["runs"].append({
            "run": run, "sub": num_.sub(view, run.title or rid),
            "note": num_.text(status_note(run, class_count(results, run))),
            "metrics_table": test_metrics(num_.tab(f"Test metrics of {rid}{first}", rid, "metrics",
                                                   classes="data metrics"), results, run),
            "report_table": class_report(num_.tab(f"Classification report of {rid} on the test set{first}", rid,
                                                  "report", classes="data report"), results, run),
            "cm_fig": num_.fig(keys.cm_key(i, rid), f"Confusion matrix of {rid} on the test set{first}",
                               figures[keys.cm_key(i, rid)]) if keys.cm_key(i, rid) in figures else None,
        })


def _last(results: Results, run: RunRecord, key: str):
    return at(results, "runs", run.id, "epochs", -1, key, fmt="dec")


def _params(results: Results, run: RunRecord):
    if run.measured is not None and run.measured.params:
        return at(results, "runs", run.id, "measured", "params")
    return at(results, "models", run.model, "total_params")


def _epochs_text(run: RunRecord):
    """Epochs trained: the configured number (keyed) when all ran, else 'done of planned'."""
    done, planned = len(run.epochs), run.config.get("epochs")
    if done == planned:
        return at_in(run, ("runs", run.id), "config", "epochs")
    return str(done) if planned is None else f"{done} of {planned}"


def _status_text(run: RunRecord) -> str:
    if run.status == "diverged" and run.diverged_epoch is not None:
        return f"diverged (epoch {run.diverged_epoch})"
    if run.status == "completed" and run.stopped_epoch is not None:
        return f"stopped early (epoch {run.stopped_epoch})"
    return run.status


def _varied_cell(results: Results, run: RunRecord, label: str):
    """A varied value as a cell: a float from the run's `varied` record keyed, anything else as text."""
    if isinstance(run.varied.get(label), float):
        return at(results, "runs", run.id, "varied", label, fmt="sig", digits=4)
    return show_value(varied_value(run, label))


def notebook(view, sec, results: Results, figures, num_):
    i = view["index"]
    view["questions"] = []
    for j, item in enumerate(sec.options.get("items") or []):
        entry = {"sub": num_.sub(view, item.get("title") or f"Question {j + 1}"), "runs": [],
                 "question": None, "comment": None,  # Markdown, rendered with the document's other prose
                 "_question": item.get("question"), "_comment": item.get("comment")}
        num_.later(entry, "question")
        shown: dict[str, dict] = {}  # a model's summary is printed once per item, then referred to
        for run in runs_for(results, item["experiments"]):
            rid = run.id
            table = None
            heading = num_.text(Markup('{} <span class="run-ref">({})</span>').format(run.title or rid, rid))
            note = num_.text(status_note(run, class_count(results, run)))
            if run.model not in shown:
                table = shown[run.model] = model_summary(
                    num_.tab(f"Summary of model {run.model}", run.model, classes="data summary"), results, run.model)
            ref = shown[run.model]
            model_ref = None if table else num_.text(Markup('Model {}: see <a href="#{}">Table {}</a>.').format(
                run.model, ref.id, ref.number))
            time = num_.text(Markup('Training time: <span data-fact="time">{}</span> for {} epoch(s).').format(
                at(results, "runs", rid, "train_seconds", fmt="secs"), len(run.epochs)))
            entry["runs"].append({
                "run": run, "heading": heading, "note": note, "time": time, "table": table, "model_ref": model_ref,
                "fig": num_.fig(keys.notebook_key(i, j, rid), f"Loss (left) and accuracy (right) per epoch of {rid}",
                                figures[keys.notebook_key(i, j, rid)]),
            })
            entry["runs"][-1]["accuracy"] = num_.text(Markup(
                'Test accuracy: <strong data-metric="notebook-accuracy">{}</strong>').format(
                at(results, "runs", rid, "test", "accuracy", fmt="pct")))
        num_.later(entry, "comment")
        view["questions"].append(entry)
