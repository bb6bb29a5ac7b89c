"""The rows of one model's tables (architecture, parameters, and the notebook's summary): its layers (or blocks),
grouped by block, every shape and count keyed to its record in results.models.

The fillers take the model's entry of its section (views.models): its record (`summary`), its layers' and blocks'
configuration in words (`layer_config`, `group_config`, in the record's order) and its row groups (`segments`)."""

from __future__ import annotations

from markupsafe import Markup

from reportgen.report.document.keyed import at
from reportgen.report.document.tree import Body, Table, code, num, row, td, th
from reportgen.report.wording.formatting import DASH, dec
from reportgen.results.record import BlockRow, GroupRow, LayerRow, NetworkModel, Results

SUM_CODE = Markup("<code>sum(p.numel() for p in model.parameters())</code>")


def _trained(block: BlockRow) -> str:
    return "yes" if block.trainable == block.params else ("no (frozen)" if block.trainable == 0 else "partly")


def network_blocks(table: Table, results: Results, m: dict) -> None:
    """A network's blocks: name, type, output shape and whether it is trained."""
    mk = ("models", m["name"])
    table.head = [row(*map(th, ("#", "Block", "Type", "Output shape", "Trained")))]
    table.body = [row(num(str(i + 1)), td(code(b.name)), td(b.type),
                      num(at(results, *mk, "blocks", i, "output_shape", fmt="shape")), td(_trained(b)),
                      classes="head" if b.head else "")
                  for i, b in enumerate(m["summary"].blocks)]


def layer_list(table: Table, results: Results, m: dict) -> None:
    """A model's layers, in blocks where it has them: number, name, type, configuration, output shape."""
    mk, layers, words = ("models", m["name"]), m["summary"].layers, m["layer_config"]
    table.head = [row(*map(th, ("#", "Layer", "Type", "Configuration", "Output shape")))]
    if not m["segments"]:
        table.body = [row(num(str(i + 1)), td(code(layer.name)), td(layer.type), td(words[i]),
                          num(at(results, *mk, "layers", i, "output_shape", fmt="shape")))
                      for i, layer in enumerate(layers)]
        return
    bodies = []
    for seg in m["segments"]:
        rows = []
        for r in seg["rows"]:
            if "group" in r:
                g = m["summary"].groups[r["group"]]
                rows.append(row(td(), td(code(g.name), "layer-name"), td(g.type), td(m["group_config"][r["group"]]),
                                num(at(results, *mk, "groups", r["group"], "output_shape", fmt="shape")),
                                classes=f"block-head depth-{r['depth']}"))
            else:
                layer = layers[r["layer"]]
                rows.append(row(num(str(r["layer"] + 1)), td(code(layer.name or "(model)"), "layer-name"),
                                td(layer.type), td(words[r["layer"]]),
                                num(at(results, *mk, "layers", r["layer"], "output_shape", fmt="shape")),
                                classes=f"depth-{r['depth']}"))
        bodies.append(Body(rows))
    table.bodies = bodies


def block_counts(table: Table, results: Results, m: dict) -> None:
    """A network's parameters per block, trainable or frozen, with the totals."""
    mk = ("models", m["name"])
    table.head = [row(th("Block"), th("Type"), th("Output shape"), th("Parameters", numeric=True),
                      th("Trainable", numeric=True))]
    table.body = [row(td(code(b.name)), td(b.type),
                      num(at(results, *mk, "blocks", i, "output_shape", fmt="shape")),
                      num(at(results, *mk, "blocks", i, "params")), num(at(results, *mk, "blocks", i, "trainable")),
                      classes="" if b.trainable else "muted")
                  for i, b in enumerate(m["summary"].blocks)]
    table.foot = [row(th(Markup("Total (PyTorch: {})").format(SUM_CODE), span=3),
                      th(at(results, *mk, "total_params"), numeric=True),
                      th(at(results, *mk, "trainable_params"), numeric=True)),
                  row(th("BatchNorm running statistics (buffers, not learned)", span=3),
                      th(at(results, *mk, "buffer_params"), numeric=True), td())]


def _formula(item: LayerRow | GroupRow) -> str:
    unknown = "formula not known; tensors " if isinstance(item, LayerRow) and not item.formula_known else ""
    return unknown + (item.formula or DASH)


def _counts(results: Results, mk: tuple, part: str, i: int, item: LayerRow | GroupRow) -> list:
    """Output shape, formula, parameter count and running statistics of a layer or block."""
    return [num(at(results, *mk, part, i, "output_shape", fmt="shape")), td(_formula(item), "formula"),
            num(at(results, *mk, part, i, "params")),
            num(at(results, *mk, part, i, "buffers") if item.buffers else DASH)]


def _block_rows(results: Results, m: dict, seg: dict, fold_id: str | None) -> list:
    mk, rows, model = ("models", m["name"]), [], m["summary"]
    for r in seg["rows"]:
        if "group" in r:
            g = model.groups[r["group"]]
            name = code(g.name)
            if r["depth"] == 0 and fold_id:  # the label of the box that folds the block (sections/_table.html.j2)
                name = Markup('<label for="{}" class="fold-label">{}</label>').format(fold_id, name)
            rows.append(row(td(name, "layer-name"), td(g.type), *_counts(results, mk, "groups", r["group"], g),
                            classes=f"block-head depth-{r['depth']}"))
        else:
            layer = model.layers[r["layer"]]
            own = " (own parameters)" if r["own"] or not layer.name else ""
            muted = "" if layer.params or layer.buffers else " muted"
            rows.append(row(td(code(layer.name or "(model)") + own, "layer-name"), td(layer.type),
                            *_counts(results, mk, "layers", r["layer"], layer), classes=f"depth-{r['depth']}{muted}"))
    return rows


def _block_body(results: Results, m: dict, seg: dict, fold_id: str | None) -> Body:
    """A top-level block's rows (folding by its box when it has an id), or the plain layers between blocks."""
    name = m["summary"].groups[seg["block"]].name if seg["block"] is not None else None
    return Body(_block_rows(results, m, seg, fold_id), "block" if name is not None else "",
                fold=name if fold_id else None)


def layer_counts(table: Table, results: Results, m: dict) -> None:
    """A model's parameters layer by layer (blocks with their totals), with the formulas and the totals."""
    mk = ("models", m["name"])
    table.head = [row(th("Layer"), th("Type"), th("Output shape"), th("Learnable parameters"),
                      th("Count", numeric=True), th("Running statistics", numeric=True))]
    if m["segments"]:
        table.bodies = [_block_body(results, m, seg, table.fold_id(k) if seg["block"] is not None else None)
                        for k, seg in enumerate(m["segments"])]
    else:
        table.body = [row(td(code(layer.name or "(model)") + ("" if layer.name else " (own parameters)")),
                          td(layer.type), *_counts(results, mk, "layers", i, layer),
                          classes="" if layer.params or layer.buffers else "muted")
                      for i, layer in enumerate(m["summary"].layers)]
    table.foot = [
        row(th(Markup("Learnable parameters (PyTorch: {})").format(SUM_CODE), span=4),
            th(at(results, *mk, "total_params"), numeric=True), td()),
        row(th("of which trainable", span=4), th(at(results, *mk, "trainable_params"), numeric=True), td()),
        row(th("BatchNorm running mean and variance (buffers, not learned)", span=4), td(),
            th(at(results, *mk, "buffer_params"), numeric=True)),
        row(th("Total as Keras counts it (learnable + running statistics as “non-trainable”)", span=4),
            th(at(results, *mk, "keras_total_params"), numeric=True), td())]


def inverted_residual(settings: dict) -> Table:
    """MobileNetV2's inverted-residual settings (t, c, n, s) beside this model's, with their block counts."""
    table = Table(None, "Inverted-residual settings: expansion t, output channels c, repeats n, first stride s",
                  classes="data irtable")
    sides = (settings["original"], settings["custom"])
    table.head = [row(th("Original MobileNetV2", span=4), th("This model", span=4)),
                  row(*(th(h, numeric=True) for h in "tcns"), *(th(h, numeric=True) for h in "tcns"))]
    table.body = [row(*(cell for side in sides for cell in ([num(str(v)) for v in side[i]] if i < len(side)
                                                            else [td(span=4)])))
                  for i in range(max(map(len, sides)))]
    table.foot = [row(*(th(f"{sum(r[2] for r in side)} blocks", span=4, numeric=True) for side in sides))]
    return table


def _size(n) -> str | None:
    if n is None:
        return None
    return f"{dec(n / 1024, 1)} KB" if n < 1024 * 1024 else f"{dec(n / 1024 / 1024, 2)} MB"


def model_summary(table: Table, results: Results, name: str) -> Table:
    """A model's layers (or a network's blocks) with output shapes and parameters, then its totals (dashes for a
    model without a record)."""
    model, mk = results.models.get(name), ("models", name)
    part = "blocks" if isinstance(model, NetworkModel) else "layers"
    rows = [] if model is None else model.blocks if part == "blocks" else model.layers
    table.head = [row(th("Block" if part == "blocks" else "Layer"), th("Type"), th("Output shape", numeric=True),
                      th("Parameters", numeric=True))]
    table.body = [row(td(code(layer.name)), td(layer.type),
                      num(at(results, *mk, part, i, "output_shape", fmt="shape")),
                      num(at(results, *mk, part, i, "params")))
                  for i, layer in enumerate(rows)]
    table.foot = [row(th("Total parameters", span=3), num(at(results, *mk, "total_params"), data_total="total_params")),
                  row(th("Trainable parameters", span=3),
                      num(at(results, *mk, "trainable_params"), data_total="trainable_params"))]
    size = _size(model.size_bytes if model is not None else None)
    if size:
        table.foot.append(row(th("Size (1 KB = 1,024 bytes)", span=3), num(size, data_total="size")))
    return table
