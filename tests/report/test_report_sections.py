"""Comparison, findings, results table and lab notebook: a real tiny build read back, plus pure findings tests."""

from __future__ import annotations

import copy
import re

import pytest
from bs4 import BeautifulSoup

from reportgen.report.document import assemble as document
from reportgen.report.figures import draw as figures
from reportgen.report.wording import findings
from reportgen.report.writers import html as render
from reportgen.report.wording.formatting import dec, num, pct, secs, sig
from reportgen.manifest.sections import RESULT_COLUMNS, SECTION_KINDS, Section
from reportgen.results.record import parse_results

from conftest import Built, cli, write_manifest
from manifests import TINY, manifest_text
from planted import planted_model, planted_run

RUNS = ["base", "sgd", "wild", "wide"]
WIDE_CNN = {"description": "A wider <b>net</b> without batch normalisation",
            "layers": [{"conv": {"out": 8, "kernel": 3, "padding": "same"}}, "relu", {"maxpool": 2}, "flatten",
                       {"linear": 32}, "relu", {"linear": "classes"}]}
NOTEBOOK = [{"title": "Does the optimizer matter?", "question": "Is **Adam** better than <i>SGD</i> here?",
             "experiments": ["base", "sgd"], "comment": "Adam *wins* on this tiny set."},
            {"question": "What does a wider model buy?", "experiments": ["wide", "wild"],
             "comment": "Width helps; a huge learning rate does not."}]
MANIFEST = manifest_text(  # the tiny manifest with a wider second network, every result column and a notebook
    models={**TINY["models"], "wide_cnn": WIDE_CNN}, train={"epochs": 2},
    experiments=[{"id": "base", "model": "tiny_cnn", "title": "Adam at 0.01"},
                 {"id": "sgd", "model": "tiny_cnn", "title": "Plain SGD",
                  "train": {"optimizer": {"name": "sgd", "lr": 0.05}, "epochs": 1}},
                 {"id": "wild", "model": "tiny_cnn", "title": "A learning rate that diverges",
                  "train": {"optimizer": {"name": "sgd", "lr": 1.0e+12}}},
                 {"id": "wide", "model": "wide_cnn", "title": "A wider model"}],
    sections=["contents", {"comparison": {"experiments": RUNS}}, {"results_table": {"columns": list(RESULT_COLUMNS)}},
              {"notebook": {"items": NOTEBOOK}}])


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    folder = tmp_path_factory.mktemp("sections")
    manifest = write_manifest(folder, MANIFEST)
    result = cli("build", manifest, "--out", folder / "out")
    assert result.exit_code == 0, result.output
    return Built(manifest, folder / "out", result.output)


@pytest.fixture(scope="module")
def soup(built) -> BeautifulSoup:
    return BeautifulSoup(built.html, "html.parser")


def _best(results: dict, ids: list[str]) -> str:
    return max(ids, key=lambda r: results["runs"][r]["test"]["accuracy"])


def _clear_lead(results: dict, ids: list[str]) -> dict | None:
    """The paired test of the best run against the runner-up when it holds up (Holm p < 0.05, CI clear of 0)."""
    ranked = sorted(ids, key=lambda r: -results["runs"][r]["test"]["accuracy"])
    (entry,) = [e for e in results["paired"] if e["runs"] == ids]
    (pair,) = [p for p in entry["pairs"] if {p["a"], p["b"]} == set(ranked[:2])]
    sign = 1 if pair["a"] == ranked[0] else -1
    low, high = sorted((sign * pair["ci_low"], sign * pair["ci_high"]))
    return pair if pair["p_holm"] < 0.05 and low > 0 else None


# ---- comparison --------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_comparison_table_has_one_row_per_run_and_marks_the_best(built, soup):
    runs = built.results["runs"]
    assert runs["wild"]["status"] == "diverged" and runs["wild"]["diverged_epoch"] == 1
    rows = soup.select("section.comparison table.compare tbody tr")
    assert [r["data-run"] for r in rows] == RUNS
    best = _best(built.results, RUNS)
    expected = [best] if _clear_lead(built.results, RUNS) else []  # a star only for a lead that holds up
    starred = [r["data-run"] for r in rows if "★" in r.td.text]
    assert starred == expected and [r["data-run"] for r in rows if "best" in r.get("class", [])] == expected
    caption = _norm(soup.select_one("section.comparison table.compare caption").text)
    assert ("significantly ahead of the runner-up" in caption) == bool(expected)
    assert ("no clear winner" in caption) == (not expected)
    pairs = soup.select("section.comparison table.pairs tbody tr")
    assert len(pairs) == len(RUNS) * (len(RUNS) - 1) // 2
    for row in rows:
        run = runs[row["data-run"]]
        assert _norm(row.select_one('td[data-metric="cmp-accuracy"]').text) == _norm(pct(run["test"]["accuracy"]))
    wild = rows[RUNS.index("wild")]
    assert "(diverged)" in _norm(wild.td.text) and "0 of 2" in _norm(wild.text)
    # no run varies anything yet: model / optimizer / learning-rate columns instead of varied values
    headers = [_norm(th.text) for th in soup.select("section.comparison table.compare thead th")]
    assert headers[:4] == ["Run", "Model", "Optimizer", "Learning rate"]


def test_findings_agree_with_results_json(built, soup):
    runs, models = built.results["runs"], built.results["models"]
    items = [_norm(li.text) for li in soup.select("section.comparison .findings li")]
    accs = {r: runs[r]["test"]["accuracy"] for r in RUNS}
    best = max(RUNS, key=accs.get)
    lead = _clear_lead(built.results, RUNS)
    if lead is None:
        assert items[0].startswith(f"No clear winner: {best} ({_norm(pct(accs[best]))}) and the runner-up")
    else:
        assert items[0].startswith(f"{best} has the best test accuracy, {_norm(pct(accs[best]))}, and beats")
    assert "McNemar's exact test, Holm-corrected over 6 pairs" in items[0]
    assert any(s.startswith("wild diverged at epoch 1:") and _norm(pct(accs["wild"])) in s for s in items)
    wide_params = models["wide_cnn"]["total_params"]  # two network sizes: the efficiency sentence compares them
    assert any(s.startswith("Accuracy per million parameters") and
               f"wide (wide_cnn), {_norm(pct(accs['wide']))} with {num(wide_params)} parameters" in s for s in items)
    parsed = parse_results(built.results)
    expected = findings.findings([parsed.runs[r] for r in RUNS], parsed.models, parsed)
    assert items == [_norm(s) for s in expected]


def test_comparison_figures_overlay_bars_and_confusion_grid(soup):
    figs = soup.select("section.comparison figure.figure")
    keys = [f["data-key"].split("/")[0] for f in figs]
    assert keys == ["cmp", "bars", "cmgrid"]
    captions = [_norm(f.figcaption.text) for f in figs]
    assert "Training (dashed) and validation (solid)" in captions[0] and "× marks" in captions[0]
    assert "Confusion matrices on the test set, one per run" in captions[2]
    assert all(f.find("svg") is not None for f in figs)


# ---- results table -----------------------------------------------------------------------------------------------

def test_results_table_columns_and_values_match_results_json(built, soup):
    table = soup.select_one("section.results-table table.results")
    assert [th["data-col"] for th in table.select("thead th")] == list(RESULT_COLUMNS)
    rows = table.select("tbody tr")
    assert [r["data-run"] for r in rows] == RUNS
    res = built.results
    for row in rows:
        run = res["runs"][row["data-run"]]
        model = res["models"][run["model"]]
        cell = {td["data-col"]: _norm(td.text) for td in row.select("td")}
        assert cell["run"] == run["id"] and cell["model"] == run["model"]
        assert cell["architecture"] == _norm(model["description"] or run["model"])
        assert cell["params"] == num(model["total_params"])
        assert cell["lr"] == sig(run["config"]["optimizer"]["lr"], 4)
        assert cell["batch_size"] == num(run["config"]["batch_size"])
        assert cell["accuracy"] == _norm(pct(run["test"]["accuracy"]))
        assert cell["f1"] == dec(run["test"]["f1_weighted"])
        assert cell["time"] == _norm(secs(run["train_seconds"]))
        assert cell["varied"] == "—"
        last = run["epochs"][-1] if run["epochs"] else {}
        assert cell["val_loss"] == dec(last.get("val_loss"))
        assert cell["status"] == ("diverged (epoch 1)" if run["status"] == "diverged" else "completed")
    bold = [td.find_parent("tr")["data-run"] for td in table.select("td strong")]
    assert bold == ([_best(res, RUNS)] if _clear_lead(res, RUNS) else [])
    assert "<b>net</b>" in table.text and not table.find("b")  # descriptions are escaped


# ---- notebook ----------------------------------------------------------------------------------------------------

def test_notebook_items_in_order_with_summaries_and_accuracy(built, soup):
    res = built.results
    items = soup.select("section.notebook .notebook-item")
    assert [_norm(i.h3.text) for i in items] == ["3.1 Does the optimizer matter?", "3.2 Question 2"]
    first = _norm(items[0].text)
    assert first.index("Is Adam better than <i>SGD</i> here?") < first.index("Adam wins on this tiny set.")
    assert items[0].select_one(".question strong").text == "Adam" and items[0].select_one(".comment em")
    for item, ids in zip(items, (["base", "sgd"], ["wide", "wild"])):
        runs = item.select(".notebook-run")
        assert [r["data-run"] for r in runs] == ids
        for r in runs:
            run = res["runs"][r["data-run"]]
            assert _norm(r.select_one('[data-metric="notebook-accuracy"]').text) == _norm(pct(run["test"]["accuracy"]))
            assert _norm(r.select_one('[data-fact="time"]').text) == _norm(secs(run["train_seconds"]))
            assert r.select_one("figure.figure svg") is not None
        parts = [div["class"][0] for div in item.find_all("div", recursive=False)]
        assert parts == ["question", "notebook-run", "notebook-run", "comment"]
    # tiny_cnn is summarised once in the first item (the second run refers to that table), wide_cnn in the second
    tables = soup.select("section.notebook table.summary")
    assert len(tables) == 3
    for table, name in zip(tables, ["tiny_cnn", "wide_cnn", "tiny_cnn"]):
        m = res["models"][name]
        assert _norm(table.select_one('[data-total="total_params"]').text) == num(m["total_params"])
        assert _norm(table.select_one('[data-total="trainable_params"]').text) == num(m["trainable_params"])
        assert len(table.select("tbody tr")) == len(m["layers"])
    assert "see Table" in _norm(soup.select(".notebook-run")[1].text)
    assert "diverged at epoch 1" in _norm(soup.select('.notebook-run[data-run="wild"]')[0].text)


def test_numbering_and_ids_across_new_sections(soup):
    figs = [_norm(f.figcaption.text).split(".")[0] for f in soup.select("figure.figure")]
    assert figs == [f"Figure {i}" for i in range(1, len(figs) + 1)] and len(figs) == 3 + 4
    tabs = [_norm(c.text).split(".")[0] for c in soup.select("table.data caption")]
    assert tabs == [f"Table {i}" for i in range(1, len(tabs) + 1)] and len(tabs) == 2 + 1 + 3
    ids = [t["id"] for t in soup.find_all(id=True)]
    assert len(ids) == len(set(ids))
    assert all(tag.get("type") == "application/json" for tag in soup.find_all("script"))
    assert "<i>SGD</i>" not in str(soup.select_one("section.notebook"))


def test_pdf_shows_findings_results_and_notebook(built):
    from pypdf import PdfReader

    pages = [_norm(p) for p in built.pdf_pages()]
    text = " ".join(pages)
    runs = built.results["runs"]
    best = _best(built.results, RUNS)
    shown = _norm(pct(runs[best]["test"]["accuracy"]))
    if _clear_lead(built.results, RUNS):  # the paired test decides which sentence the report may write
        assert f"{best} has the best test accuracy, {shown}, and beats the runner-up" in text
    else:
        assert f"{best} ({shown}) and the runner-up" in text
    assert "Paired differences of test accuracy" in text
    assert "wild diverged at epoch 1" in text
    for s in ("Is Adam better than <i>SGD</i> here?", "Adam wins on this tiny set.", "What does a wider model buy?",
              "Width helps; a huge learning rate does not."):
        assert s in text
    assert text.index("Adam wins on this tiny set.") < text.index("What does a wider model buy?")
    # the 17-column results table gets a landscape page
    reader = PdfReader(str(built.pdf_path))
    at = next(i for i, p in enumerate(pages) if "Results of the runs" in p)
    box = reader.pages[at].mediabox
    assert box.width > box.height
    assert all(reader.pages[i].mediabox.width < reader.pages[i].mediabox.height for i in range(len(pages)) if i != at)


# ---- the document builder on sweep-shaped records (group / varied), from the real build ------------------------------

def _section(kind: str, **options) -> Section:
    return Section(kind=kind, options=SECTION_KINDS[kind].model_validate(options).model_dump())


def _swept(results: dict) -> dict:
    out = copy.deepcopy(results)
    runs, out["runs"] = out["runs"], {}
    for rid, lr in zip(RUNS, (0.001, 0.01, 0.1, 1.0)):
        out["runs"][f"lr_sweep/lr={lr:g}"] = runs[rid] | {"id": f"lr_sweep/lr={lr:g}", "group": "lr_sweep",
                                                          "varied": {"lr": lr}}
    for rid, act in (("base", "relu"), ("wide", "gelu")):
        out["runs"][f"act/activation={act}"] = runs[rid] | {"id": f"act/activation={act}", "group": "act",
                                                            "varied": {"activation": act}}
    return out


def test_runs_for_resolves_groups_and_run_ids(built):
    res = parse_results(_swept(built.results))
    ids = lambda names: [r.id for r in document.runs_for(res, names)]  # noqa: E731
    assert ids(None) == list(res.runs)
    assert ids(["act"]) == ["act/activation=relu", "act/activation=gelu"]
    assert ids(["lr_sweep/lr=0.1", "lr_sweep", "act/activation=gelu", "act"]) == [
        "lr_sweep/lr=0.1", "lr_sweep/lr=0.001", "lr_sweep/lr=0.01", "lr_sweep/lr=1", "act/activation=gelu",
        "act/activation=relu"]
    plain = document.runs_for(parse_results(built.results), ["wild"])[0]
    assert plain.group == "wild" and plain.varied == {} and plain.stopped_epoch is None


@pytest.mark.slow
def test_document_builder_uses_varied_values(built):
    res = _swept(built.results)
    sections = [_section("comparison", experiments=["lr_sweep"]), _section("comparison", experiments=["act"]),
                _section("comparison"), _section("training", experiments=["act"]),
                _section("results_table", columns=["run", "varied", "accuracy"])]
    from reportgen.results.record import parse_results

    figs = figures.draw_all(parse_results(res), sections)
    assert sorted(figs) == sorted(["cmp/0", "vary/0", "cmgrid/0", "cmp/1", "vary/1", "cmgrid/1", "cmp/2", "bars/2",
                                   "cmgrid/2"] + [f"{k}/3/act/activation={a}" for k in ("loss", "acc")
                                                  for a in ("relu", "gelu")])
    doc = document.build(parse_results(res), sections, figs, built.manifest.parent)
    lr, act, both, train, table = doc["sections"]

    def varied(view) -> tuple[list[str], list[list[str]]]:  # the comparison table's varied columns: heads, cells
        heads = [c.text for c in view["table"].head[0].cells if "varied" in c.classes]
        return heads, [[c.text for c in r.cells if "varied" in c.classes] for r in view["table"].body]

    assert lr["axis"] == {"label": "lr", "scale": "log"} and varied(lr) == (["lr"], [["0.001"], ["0.01"], ["0.1"], ["1"]])
    assert "logarithmic" in lr["figures"][1]["caption"]
    assert act["axis"] == {"label": "activation", "scale": "category"}
    heads, cells = varied(both)
    assert both["axis"] is None and heads == ["lr", "activation"]
    # a run that does not vary lr shows the lr of its config
    assert cells[0] == ["0.001", "—"] and cells[-1] == ["0.01", "gelu"]
    config = [(r.cells[0].text, r.cells[1].text) for r in train["runs"][0]["config_table"].body]
    assert ("Varied", "activation = relu") in config
    assert [r.cells[1].text for r in table["table"].body][-2:] == ["activation=relu", "activation=gelu"]
    soup = BeautifulSoup(render.render_html(doc), "html.parser")
    first = soup.select("section.comparison")[0]
    assert [_norm(th.text) for th in first.select("thead th")][:3] == ["Run", "lr", "Epochs"]
    assert [f["data-key"] for f in first.select("figure")] == ["cmp/0", "vary/0", "cmgrid/0"]
    ids = [t["id"] for t in soup.find_all(id=True)]
    assert len(ids) == len(set(ids))


# ---- findings: pure functions on constructed records --------------------------------------------------------------

def _run(rid, acc, epochs=(), status="completed", **extra):
    model = extra.pop("model", "m")
    return planted_run(rid, acc, epochs, status, model, classes=10, **({"config": {"epochs": 10}} | extra))


@pytest.mark.unit
def test_best_and_worst_sentence():
    runs = [_run("lr_sweep/lr=0.001", 0.712), _run("lr_sweep/lr=0.01", 0.5), _run("lr_sweep/lr=0.1", 0.101)]
    assert _norm(findings.best_and_worst(runs)) == ("lr_sweep/lr=0.001 has the best test accuracy, 71.20 %, 61.10 "
                                                     "percentage points above the worst, lr_sweep/lr=0.1 (10.10 %).")
    assert _norm(findings.best_and_worst(runs[:1])) == "lr_sweep/lr=0.001 has a test accuracy of 71.20 %."
    tied = runs + [_run("x", 0.101), _run("y", 0.712)]
    assert _norm(findings.best_and_worst(tied)) == ("lr_sweep/lr=0.001 and y share the best test accuracy, 71.20 %, "
                                                     "61.10 percentage points above the worst, lr_sweep/lr=0.1 and x "
                                                     "(10.10 %).")
    assert _norm(findings.best_and_worst(tied[-2:-1] * 2)) == "All 2 runs have the same test accuracy, 10.10 %."


@pytest.mark.unit
def test_overfitting_needs_a_rise_over_the_patience_window_while_training_loss_falls():
    # val loss bottoms out at epoch 3 and rises for 4 epochs, training loss keeps falling: over-fitting from epoch 4
    curve = [(2.0, 1.8), (1.5, 1.2), (1.0, 0.9), (0.7, 1.0), (0.5, 1.3), (0.4, 1.6), (0.3, 1.9)]
    assert findings.overfitting_onset(_run("a", 0.5, curve).epochs) == 3
    assert "over-fitting from epoch 4." in _norm(findings.overfitting(_run("a", 0.5, curve)))
    assert findings.overfitting(_run("b", 0.5, curve[:5])) is None  # two epochs after the low: within patience
    assert findings.overfitting(_run("c", 0.5, [(2, 2), (1, 1), (0.5, 0.5)])) is None  # still improving
    rising = [(1, 1), (1.2, 1.1), (1.3, 1.2), (1.4, 1.3), (1.5, 1.4), (1.6, 1.5)]
    assert findings.overfitting(_run("d", 0.5, rising)) is None  # training loss rose too
    assert findings.overfitting(_run("e", 0.5, curve, status="diverged")) is None


@pytest.mark.unit
def test_status_sentences():
    assert _norm(findings.diverged(_run("w", 0.0972, [(2.3, 2.2)], status="diverged", diverged_epoch=2))) == (
        "w diverged at epoch 2: its loss became infinite or NaN; 1 finite epoch is kept, and its test accuracy, "
        "9.72 %, is that of the last finite weights.")
    assert _norm(findings.stalled([_run("s", 0.1013, status="stalled"), _run("ok", 0.9)], 10)) == (
        "s stayed at chance level (10 % for 10 classes): its test accuracy is 10.13 %.")
    flat = [_run(r, a, status="stalled") for r, a in (("a", 0.1), ("b", 0.0977), ("c", 0.1016))]
    assert _norm(findings.stalled(flat, 10)) == ("3 runs stayed at chance level (10 % for 10 classes): a (10.00 %), "
                                                 "b (9.77 %) and c (10.16 %).")
    assert findings.stalled([_run("ok", 0.9)], 10) is None
    early = _run("e", 0.8, stopped_epoch=7, config={"epochs": 20, "early_stopping": {"patience": 3}})
    assert findings.early_stopped(early) == ("e stopped early at epoch 7 of 20 after validation loss had not "
                                             "improved for 3 epoch(s).")
    assert findings.early_stopped(_run("f", 0.8)) is None


@pytest.mark.unit
def test_efficiency_and_full_list():
    two = [_run("x", 0.7414), _run("z", 0.9, model="big")]
    assert _norm(findings.efficiency(two, {"m": planted_model(390_000), "big": planted_model(2_000_000)})) == (
        "Accuracy per million parameters, best run of each network size: x (m), 74.14 % with 390,000 parameters "
        "(0.39 M), 190.1 % per million; z (big), 90.00 % with 2,000,000 parameters (2.00 M), 45.0 % per million.")
    assert findings.efficiency([_run("y", 0.1, status="diverged")] + two[1:], {"big": planted_model(9)}) is None
    runs = [_run("a", 0.9, model="big"),
            _run("b", 0.1, status="stalled")]
    out = findings.findings(runs, {"big": planted_model(2_000_000), "m": planted_model(1000)})
    assert [s.split(" ")[0] for s in out] == ["a", "b"]


@pytest.mark.unit
def test_sweep_axis_kinds():
    def runs(*values, label="lr"):
        return [planted_run(str(v), 0.5, varied={label: v}) for v in values]

    assert findings.sweep_axis(runs(0.001, 0.01)) == {"label": "lr", "scale": "log"}
    assert findings.sweep_axis(runs(32, 64, label="batch_size")) == {"label": "batch_size", "scale": "linear"}
    assert findings.sweep_axis(runs(1e-5, 1e-3, label="weight_decay")) == {"label": "weight_decay", "scale": "log"}
    assert findings.sweep_axis(runs("relu", "gelu", label="activation")) == {"label": "activation", "scale": "category"}
    assert findings.sweep_axis(runs(0.1)) is None
    assert findings.sweep_axis([planted_run("a", 0.5, varied={"lr": 0.1, "batch_size": 32}),
                                planted_run("b", 0.5, varied={"lr": 0.2, "batch_size": 32})]) is None
    assert findings.sweep_axis(runs(0.1, 0.2) + [planted_run("plain", 0.5, varied={})]) is None  # no lr to read
    # a plain run of the same model joins the lr axis with the lr of its config; another model does not
    plain = planted_run("plain", 0.5, varied={}, model="m", config={"optimizer": {"lr": 0.00025}})
    swept = runs(0.1, 0.01)  # of model m, as the plain run
    assert findings.sweep_axis(swept + [plain]) == {"label": "lr", "scale": "log"}
    assert findings.sweep_axis(swept + [planted_run("plain", 0.5, varied={}, model="other",
                                                    config={"optimizer": {"lr": 0.00025}})]) is None
    assert findings.show_value(0.00025) == "0.00025" and findings.show_value([32, 64]) == "32×64"


@pytest.mark.slow
def test_a_failed_run_renders_as_failed_without_metrics(tiny_build):
    """A run that failed (say, out of GPU memory) keeps its epochs and error; every section shows it, none crashes."""
    import copy

    from bs4 import BeautifulSoup

    from reportgen.report.document import assemble as document
    from reportgen.report.figures import draw as figures
    from reportgen.report.writers import html as render
    from reportgen.build import load

    loaded = load(tiny_build.manifest)
    results = copy.deepcopy(tiny_build.results)
    failed = next(iter(results["runs"]))
    run = results["runs"][failed]
    error = f"{failed}: out of memory at batch size 64 on cuda, try a smaller batch_size"
    run.update(status="failed", error=error, test=None, measured=None, epochs=run["epochs"][:1])
    from reportgen.results.record import parse_results

    record = parse_results(results)
    figs = figures.draw_all(record, loaded.sections)
    html = render.render_html(document.build(record, loaded.sections, figs, loaded.base_dir))
    soup = BeautifulSoup(html, "html.parser")
    notes = [p.get_text(" ", strip=True) for p in soup.select("p.status-failed")]
    assert notes and all(error in n for n in notes)
    assert "cm/" not in " ".join(f["data-key"] for f in soup.select("figure[data-key]") if failed in f["data-key"])
    assert any(f"{failed} failed" in li.get_text() for li in soup.select("li"))


@pytest.mark.slow
def test_the_built_report_checks_clean_with_every_result_column_keyed(built, soup):
    from reportgen.grading.check.command import check_submission

    report = check_submission(built.out)
    assert not report.findings, [f.message for f in report.findings]
    table = soup.find("section", class_="results-table").table
    keyed = {td["data-col"] for td in table.select("tbody td") if td.find("span", attrs={"data-key": True})}
    numeric = {th["data-col"] for th in table.select("thead th.num")}
    assert numeric - keyed <= {"epochs"}  # a run that stopped early shows "done of planned", not a recorded number
