"""Every figure's text alternative, computed from the data it plots: what it shows and its extremes in the report's
number formats (expected values computed here from the results), the accessible name of each on-screen <svg>, the
alt of each printed <img>, the Markdown export's image text, and a prose figure's own alt text or caption."""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import replace

import pytest
from bs4 import BeautifulSoup
from PIL import Image

from golden import MANIFEST, golden_results, loaded, record, results  # noqa: F401 (fixtures)
from reportgen.manifest.loaded import load_manifest
from reportgen.report.document import assemble as document
from reportgen.report.figures import draw as figures
from reportgen.report.figures import plots
from reportgen.report.figures.cache import Entry, FigureCache, labelled_svg
from reportgen.report.figures.plots import plotted
from reportgen.report.prose import markdown as prose_markdown
from reportgen.report.wording.alt import alt_text
from reportgen.report.wording.findings import show_value
from reportgen.report.wording.formatting import dec, num, pct
from reportgen.report.writers import html as render
from reportgen.report.writers.export.markdown import figure_md, text
from reportgen.results.record import Results, parse_results, parse_run
from reportgen.run.repeats import aggregate

PACKS = ("assignment", "paper", "lab")
HOSTILE = '</title><script>alert(1)</script> "q" & <b>x</b>'


@pytest.fixture(scope="module")
def drawn(record, loaded) -> dict[str, Entry]:
    """The fixture's figures as a build with a PDF draws them: SVG for the screen, PNG for print."""
    return figures.draw_all(record, loaded.sections, FigureCache(None, raster=True))


@pytest.fixture(scope="module")
def alts(record, loaded, drawn) -> dict[str, str]:
    """Each figure's text alternative in the document, by its key with the section index left out."""
    doc = document.build(record, loaded.sections, drawn, loaded.base_dir)
    return {re.sub(r"/\d+", "", f["key"], count=1): f["alt"] for f in doc["figures"]}


def _with(results: dict, pack: str) -> Results:
    return parse_results(results | {"report": results["report"] | {"template": pack}})


def _runs(results: dict) -> list[tuple[str, dict]]:
    return [(rid, results["runs"][rid]) for rid in results["run_order"]]


def _confusions(run: dict) -> tuple[int, int, list[tuple[int, str, str]]]:
    """(images, images on the diagonal, off-diagonal cells as (count, true, predicted), largest first)."""
    matrix, names = run["test"]["confusion_matrix"], [c["class"] for c in run["test"]["per_class"]]
    cells = [(n, names[t], names[p]) for t, row in enumerate(matrix) for p, n in enumerate(row) if t != p and n]
    return sum(map(sum, matrix)), sum(matrix[i][i] for i in range(len(matrix))), \
        sorted(cells, key=lambda c: -c[0])


# ---- what each figure kind's words state -------------------------------------------------------------------------

@pytest.mark.unit
def test_curves_name_the_run_and_state_the_recorded_ranges_and_extremes(results, alts):
    for rid, run in _runs(results):
        epochs = run["epochs"]
        low, high = min(epochs, key=lambda e: e["val_loss"]), max(epochs, key=lambda e: e["val_acc"])
        loss, acc = alts[f"loss/{rid}"], alts[f"acc/{rid}"]
        assert loss == (f"Validation loss of {rid} over {len(epochs)} epochs from {dec(epochs[0]['val_loss'])} to "
                        f"{dec(epochs[-1]['val_loss'])}, lowest {dec(low['val_loss'])} at epoch {low['epoch']}; "
                        f"training loss from {dec(epochs[0]['train_loss'])} to {dec(epochs[-1]['train_loss'])}.")
        assert acc == (f"Validation accuracy of {rid} over {len(epochs)} epochs from {pct(epochs[0]['val_acc'])} to "
                       f"{pct(epochs[-1]['val_acc'])}, highest {pct(high['val_acc'])} at epoch {high['epoch']}; "
                       f"training accuracy from {pct(epochs[0]['train_acc'])} to {pct(epochs[-1]['train_acc'])}.")
        assert alts[f"nb/0/{rid}"] == f"{loss} {acc}"  # the notebook's pair: both panels


@pytest.mark.unit
def test_confusion_matrices_state_the_diagonal_share_and_the_largest_confusions(results, alts):
    for rid, run in _runs(results):
        total, right, cells = _confusions(run)
        assert pct(right / total) == pct(run["test"]["accuracy"])  # the diagonal share is the accuracy printed
        said = alts[f"cm/{rid}"]
        assert said.startswith(f"Confusion matrix of {rid} on the test set, {num(total)} images of "
                               f"{len(run['test']['per_class'])} classes: {pct(run['test']['accuracy'])} on the "
                               f"diagonal")
        top = [f"true {t} predicted as {p} ({n} images)" for n, t, p in cells[:3]]
        assert said.endswith(f"most frequent confusions: {', '.join(top)}.")
        assert f"{rid} {pct(run['test']['accuracy'])} on the diagonal, most often {top[0]}" in alts["cmgrid"]
    assert alts["cmgrid"].startswith(f"Confusion matrices on the test set of {len(results['runs'])} runs: ")


@pytest.mark.unit
def test_the_overlay_states_each_runs_best_validation_accuracy_and_where(results, alts):
    said = alts["cmp"]
    assert said.startswith(f"Training and validation loss and accuracy per epoch of {len(results['runs'])} runs.")
    lows = []
    for rid, run in _runs(results):
        best = max(run["epochs"], key=lambda e: e["val_acc"])
        assert f"{rid} {pct(best['val_acc'])} at epoch {best['epoch']}" in said
        lows += [(e["val_loss"], e["epoch"], rid) for e in run["epochs"]]
    loss, epoch, rid = min(lows, key=lambda low: low[0])
    assert said.endswith(f"Lowest validation loss: {rid}, {dec(loss)} at epoch {epoch}.")


@pytest.mark.unit
def test_accuracy_bars_state_each_runs_test_accuracy_the_highest_and_the_lowest(results, alts):
    accs = {rid: run["test"]["accuracy"] for rid, run in _runs(results)}
    high, low = max(accs, key=accs.get), min(accs, key=accs.get)
    each = ", ".join(f"{rid} {pct(acc)}" for rid, acc in accs.items())
    assert alts["bars"] == (f"Test accuracy of {len(accs)} runs: {each}; highest {high} ({pct(accs[high])}), "
                            f"lowest {low} ({pct(accs[low])}).")


@pytest.mark.unit
@pytest.mark.parametrize("label, scale", [("lr", "log"), ("optimizer", "category")])
def test_accuracy_against_a_varied_setting_states_each_value_and_the_extremes(label, scale, results):
    runs = [run for _, run in _runs(results)]
    value = {"lr": lambda r: r["config"]["optimizer"]["lr"], "optimizer": lambda r: r["config"]["optimizer"]["name"]}
    # as comparison_figures hands them, the runs of one swept experiment
    swept = [plotted(parse_run(r)) | {"group": "sweep", "varied": {label: value[label](r)}} for r in runs]
    said = alt_text(plots.accuracy_vs, (swept, {"label": label, "scale": scale}))
    at = {r["id"]: show_value(value[label](r)) if scale == "category" else f"{label} {show_value(value[label](r))}"
          for r in runs}
    order = runs if scale == "category" else sorted(runs, key=value[label])
    each = ", ".join(f"{at[r['id']]} {pct(r['test']['accuracy'])}" for r in order)
    high, low = max(runs, key=lambda r: r["test"]["accuracy"]), min(runs, key=lambda r: r["test"]["accuracy"])
    assert said == (f"Test accuracy against {label}{' (log scale)' if scale == 'log' else ''} of {len(runs)} runs: "
                    f"{each}; highest {at[high['id']]} ({pct(high['test']['accuracy'])}), lowest {at[low['id']]} "
                    f"({pct(low['test']['accuracy'])}).")


@pytest.mark.unit
def test_tradeoff_scatters_state_each_runs_point_and_the_best(results, alts):
    runs = [run for _, run in _runs(results)]
    best = max(runs, key=lambda r: r["test"]["accuracy"])
    for key, measure, shown in (("tradeoff-lat", "latency_ms", lambda v: f"{dec(v, 2)} ms"),
                                ("tradeoff-par", "params", lambda v: f"{num(v)} parameters")):
        said = alts[key]
        for run in runs:
            assert f"{run['id']} ({shown(run['measured'][measure])}, {pct(run['test']['accuracy'])})" in said
        assert f"most accurate {best['id']} ({pct(best['test']['accuracy'])})" in said
        least = [r for r in runs if shown(r["measured"][measure]) == shown(min(r["measured"][measure] for r in runs))]
        assert said.endswith(f"all at {shown(least[0]['measured'][measure])}." if len(least) == len(runs) else
                             f" {' and '.join(r['id'] for r in least)} ({shown(least[0]['measured'][measure])}).")
    assert alts["tradeoff-lat"].startswith("Test accuracy against inference latency at batch size 1 (log scale)")


@pytest.mark.unit
def test_a_repeated_run_is_described_by_its_mean_over_seeds_and_its_interval(results):
    seeds = [results["runs"]["adam"] | {"seed": 0}, results["runs"]["sgd"] | {"seed": 1}]
    run = results["runs"]["adam"] | {"aggregate": aggregate(seeds)}
    curves, acc = run["aggregate"]["curves"], run["aggregate"]["accuracy"]
    mean = curves["val_loss"]["mean"]
    said = alt_text(plots.curves, (plotted(parse_run(run)), "loss"))
    assert said.startswith(f"Validation loss of adam over {len(mean)} epochs (mean of {len(seeds)} seeds) from "
                           f"{dec(mean[0])} to {dec(mean[-1])}, lowest {dec(min(mean))} at epoch "
                           f"{curves['epoch'][mean.index(min(mean))]}")
    bars = alt_text(plots.accuracy_bars, ([plotted(parse_run(run))],))
    assert bars == (f"Test accuracy of 1 run (mean over seeds of the repeated runs): adam {pct(acc['mean'])} "
                    f"(95 % CI {pct(acc['ci_low'])}–{pct(acc['ci_high'])}).")


@pytest.mark.unit
def test_a_diverged_run_says_where_its_curves_end(results):
    run = results["runs"]["sgd"]
    cut = [run["epochs"][0], {**run["epochs"][1], "train_loss": None, "val_loss": None}]
    cut_run = parse_run(run | {"epochs": cut, "status": "diverged", "diverged_epoch": 2})
    said = alt_text(plots.curves, (plotted(cut_run), "loss"))
    assert said == (f"Validation loss of sgd over 1 epoch from {dec(cut[0]['val_loss'])} to {dec(cut[0]['val_loss'])}, "
                    f"lowest {dec(cut[0]['val_loss'])} at epoch 1; training loss from {dec(cut[0]['train_loss'])} to "
                    f"{dec(cut[0]['train_loss'])}; the run diverged at epoch 2.")
    blank = [{**e, "train_loss": None, "val_loss": None} for e in cut]
    blank_run = parse_run(run | {"epochs": blank, "status": "diverged", "diverged_epoch": 1})
    said = alt_text(plots.curves, (plotted(blank_run), "loss"))
    assert said == "Loss of sgd: no finite epoch to plot (diverged at epoch 1)."


def test_dataset_figures_state_counts_splits_samples_and_projections():
    """Real exploration numbers (the digits, no training): torch loads the data, scikit-learn projects it."""
    from reportgen.data.exploration import explore
    from reportgen.data.load import load_dataset
    from reportgen.manifest.schema import DatasetSpec
    from reportgen.report.figures.dataset import dataset_figures

    splits = load_dataset(DatasetSpec(name="digits", image_size=8, channels=1, seed=7), ".")
    ex = explore(splits, {"grid": [3, 4], "sample": 300, "tsne_sample": 120}, 7)
    golden = golden_results()
    explored = parse_results(golden | {"dataset": golden["dataset"] | {"exploration": ex}})
    said = {key.split("/")[0]: entry.alt for key, entry in
            dataset_figures(explored, 0, {}, FigureCache(None)).items()}
    classes, counts = ex["classes"], ex["counts"]["per_class"]

    def having(count: int) -> str:  # the classes with that many images: "3", "3 and 8", "1, 3, 8 and 2 more"
        names = [c for c, n in zip(classes, counts) if n == count]
        return " and ".join(names) if len(names) <= 2 else ", ".join(names[:3]) + (
            f" and {len(names) - 3} more" if len(names) > 3 else "")

    assert said["ds-counts"] == (
        f"Images per class, all splits together, {len(classes)} classes and {num(sum(counts))} images: "
        f"{', '.join(f'{c} {num(n)}' for c, n in zip(classes, counts))}; fewest {num(min(counts))} (class "
        f"{having(min(counts))}), most {num(max(counts))} (class {having(max(counts))}).")
    for split, word in (("train", "training"), ("validation", "validation"), ("test", "test")):
        shares = ex["counts"]["split_share"][split]
        assert (f"{word} {num(ex['counts']['split_totals'][split])} images "
                f"({pct(ex['counts']['split_share_total'][split], 1)} of all, {pct(min(shares), 1)} to "
                f"{pct(max(shares), 1)} of a class)") in said["ds-splits"]
    per = Counter(item["label"] for item in ex["grid"]["images"])
    each = (f"{min(per.values())} per class" if min(per.values()) == max(per.values())
            else f"{min(per.values())} to {max(per.values())} per class")
    assert said["ds-grid"].startswith(f"{len(ex['grid']['images'])} sample training images in 3 rows of 4, {each}, of")
    for key, kind in (("ds-pca", "PCA"), ("ds-tsne", "t-SNE")):
        points = ex[kind.lower().replace("-", "")]
        assert said[key].startswith(f"{kind} of {num(len(points['labels']))} training images, one point each "
                                    f"coloured by class, {len(set(points['labels']))} classes")
    ev = ex["pca"]["explained_variance"]
    assert f"PC 1 ({ev[0] * 100:.1f} % of variance) against PC 2 ({ev[1] * 100:.1f} % of variance)" in said["ds-pca"]


# ---- where the words go ------------------------------------------------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize("pack", PACKS)
def test_every_figure_is_an_image_named_by_its_text_alternative_on_screen_and_in_print(pack, results, loaded, drawn):
    doc = document.build(_with(results, pack), loaded.sections, drawn, loaded.base_dir)
    alt = {f["id"]: f["alt"] for f in doc["figures"]}
    screen = BeautifulSoup(render.render_html(doc), "html.parser")
    shown = screen.select("figure.figure")
    assert len(shown) == len(drawn) > 0
    for fig in shown:
        svg = fig.find("svg")
        assert svg["role"] == "img", fig["id"]
        name = " ".join(screen.find(id=i).get_text() for i in svg["aria-labelledby"].split())
        assert name.strip() and name == alt[fig["id"]]
    printed = BeautifulSoup(render.render_html(doc, medium="print"), "html.parser")
    images = [(fig["id"], fig.find("img", class_="figure-raster")) for fig in printed.select("figure.figure")]
    assert len(images) == len(drawn) and all(img is not None for _, img in images)
    assert all(img["alt"].strip() and img["alt"] == alt[fid] for fid, img in images)


@pytest.mark.unit
def test_a_text_alternative_is_escaped_on_screen_in_print_and_in_the_markdown_export(record, loaded, drawn):
    key = next(k for k in drawn if k.startswith("loss/"))
    doc = document.build(record, loaded.sections, drawn | {key: replace(drawn[key], alt=HOSTILE)}, loaded.base_dir)
    fig = next(f for f in doc["figures"] if f["key"] == key)
    for medium in ("screen", "print"):
        soup = BeautifulSoup(render.render_html(doc, medium=medium), "html.parser")
        shown = soup.find("figure", id=fig["id"])
        assert not shown.find("script") and not shown.find("b")
        named = shown.svg.title.get_text() if medium == "screen" else shown.img["alt"]
        assert named == HOSTILE
    md = figure_md(fig, {fig["number"]: "figures/f.png"})
    assert md.startswith(f"![{text(HOSTILE)}](figures/f.png)\n\n*Figure {fig['number']}. ") and "<" not in md
    bare = BeautifulSoup(labelled_svg('<svg viewBox="0 0 1 1"><path d="M0 0"/></svg>', HOSTILE, "a"), "html.parser")
    assert bare.svg["aria-labelledby"] == "a" and bare.svg.title["id"] == "a" and bare.svg.title.get_text() == HOSTILE


@pytest.mark.unit
def test_the_markdown_export_names_each_figure_image_by_its_text_alternative(record, loaded, drawn):
    doc = document.build(record, loaded.sections, drawn, loaded.base_dir)
    for fig in doc["figures"]:
        assert figure_md(fig, {fig["number"]: "figures/x.png"}).startswith(f"![{text(fig['alt'])}](figures/x.png)")


@pytest.mark.unit
def test_a_prose_figures_alt_is_its_own_alt_text_else_its_caption(results, drawn, tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 30, 30)).save(buf, "PNG")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "red.png").write_bytes(buf.getvalue())
    prose = ("![A *red* bar](img/red.png){#fig:own alt='A red bar, 20 × 10 pixels <b>&</b> \"q\"'}\n\n"
             "        ![Test accuracy of adam: @{adam.accuracy}, $x^2$](img/red.png){#fig:plain}\n")
    manifest = MANIFEST.read_text("utf-8").replace(
        "A **tiny** network on the bundled digits; the [code](https://example.org/small) is public.\n", prose)
    (tmp_path / "small.yaml").write_text(manifest, "utf-8")
    loaded = load_manifest(tmp_path / "small.yaml")
    doc = document.build(parse_results(results), loaded.sections, drawn, tmp_path)
    own = 'A red bar, 20 × 10 pixels <b>&</b> "q"'
    caption = f"Test accuracy of adam: {pct(results['runs']['adam']['test']['accuracy'])}, x^2"  # a formula: TeX
    assert [f["alt"] for f in doc["figures"] if f["key"].startswith("prose-")] == [own, caption]
    soup = BeautifulSoup(render.render_html(doc), "html.parser")
    assert [soup.find("figure", id=f"fig-{n}").img["alt"] for n in (1, 2)] == [own, caption]
    assert not soup.find("figure", id="fig-1").find("b")
    assert soup.find("figure", id="fig-2").figcaption.select("span.math svg")  # the caption shows it typeset


@pytest.mark.unit
def test_a_prose_figures_alt_text_holding_a_reference_is_a_located_warning():
    [spec] = prose_markdown.find_figures("Text.\n\n![Caption](img/red.png){#fig:a alt='as @fig:b shows'}\n")
    assert spec.alt == "as @fig:b shows" and spec.problems == [
        "figure attribute \"alt='as @fig:b shows'\": alt text is plain text, without references"]
